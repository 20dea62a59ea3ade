"""Note and frame F1 over a split of whole pieces, as a Routine metric.

A split of `SegmentDataset` items is the overlapping segments of some pieces (`piece` and `start` in each item's
targets). The metric keeps the frames of each segment that `transcribe` keeps (`stitched_frames`), in float32 as
`transcribe` has them, and as soon as a piece's last segment has come it decodes the piece with `NoteStream` exactly as
`transcribe` does a file and keeps only its notes: so the figures are the ones `etude evaluate` computes from the
export, and memory holds the outputs of the pieces still coming in (about one piece with the evaluation loader's order),
not of the whole split — MAESTRO's validation split would be about 10 GB of outputs. At `compute` each piece is
scored with mir_eval against its notes under both offset conventions, key releases and pedal-extended
(`scoring.score_piece`); the figures are the means over pieces, and `pieces` keeps each piece's own, for the
worst-pieces list.

An untrained network's outputs hover around the thresholds and decode to thousands of notes per second, on which
mir_eval's matching takes minutes per piece (measured: 125,000 notes for a 42 s chorale, 25 s to match). So during
training a piece transcribed with more than `MAX_NOTES_PER_SECOND` notes per second (a pianist plays at most a few
dozen) is not matched: its note figures are 0, its frame figures are computed as usual, and `noise_pieces` counts it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self

import numpy as np

from ...metrics import Metric
from .decoding import OUTPUT_KEYS, NoteStream, segment_plan, stitched_frames
from .scoring import MEASURES, NOTE_KINDS, average_scores, frame_scores, named_by_convention, score_piece, truths_by_convention
from .settings import DecodingSettings, FrontEnd

if TYPE_CHECKING:
    from .offsets import OffsetConvention

__all__ = ['MAX_NOTES_PER_SECOND', 'NoteMetrics']

MAX_NOTES_PER_SECOND = 100.0


class NoteMetrics(Metric):
    """mir_eval note and frame figures of the pieces in a split (see `scoring.FIGURES`), averaged over pieces.

    Only the pieces in `truths` are scored (segments of other pieces are passed over); `prefix` names the figures.
    `truths` maps each piece to its notes under each offset convention (`Recording.truths`), or to one note array
    when the piece has no pedal (the truth under both).
    """

    def __init__(self, truths: Mapping[int, np.ndarray | Mapping[OffsetConvention, np.ndarray]], durations: Mapping[int, float], names: Mapping[int, str],
                 front_end: FrontEnd, settings: DecodingSettings, *, prefix: str = '') -> None:
        self.prefix = prefix
        self.truths: dict[int, dict[OffsetConvention, np.ndarray]] = {piece: truths_by_convention(notes) for piece, notes in truths.items()}
        self.durations, self.names = dict(durations), dict(names)
        self.front_end, self.settings = front_end, settings
        self.segment_frames = front_end.frames(front_end.segment_samples)
        self.segments: dict[int, dict[int, dict[str, np.ndarray]]] = {}  # piece -> segment index -> its kept frames
        self.decoded: dict[int, np.ndarray] = {}  # pieces whose segments have all come, as notes
        self.pieces: dict[str, dict[str, float]] = {}
        self.estimates: dict[str, np.ndarray] = {}

    def plan(self, piece: int) -> tuple[int, int, int]:
        """`(num_frames, hop, count)` of `piece`, exactly as `transcribe` plans the file."""
        num_frames = self.front_end.frames(round(self.durations[piece] * self.front_end.sample_rate))
        hop, count = segment_plan(num_frames, self.segment_frames, self.settings.segment_overlap)
        return num_frames, hop, count

    def update(self, predictions: Any, targets: Any) -> None:
        pieces, starts = targets['piece'].cpu().numpy(), targets['start'].cpu().numpy()
        outputs = {key: predictions[key].detach().float().cpu().numpy() for key in OUTPUT_KEYS}
        for row, (piece, start) in enumerate(zip(pieces.tolist(), starts.tolist(), strict=True)):
            if piece not in self.truths or piece in self.decoded:
                continue  # another metric's pieces (the other soundfont's renders), or a distributed sampler's repeat
            num_frames, hop, count = self.plan(piece)
            index = round(start * self.front_end.frames_per_second / hop)
            if not 0 <= index < count or abs(start * self.front_end.frames_per_second - index * hop) > 0.5:
                continue  # not one of the segments transcribe cuts (`planned_starts` gives those)
            begin, end = stitched_frames(index, count, hop, self.segment_frames, num_frames)
            self.segments.setdefault(piece, {})[index] = {key: outputs[key][row, begin:end].copy() for key in OUTPUT_KEYS}
            if len(self.segments[piece]) == count:  # complete: decode it now, and keep its notes only
                self.decoded[piece] = self.decode(piece)

    def merge(self, other: Self) -> None:
        self.decoded.update(other.decoded)
        for piece in other.decoded:
            self.segments.pop(piece, None)  # another process had all of this piece
        for piece, segments in other.segments.items():
            if piece not in self.decoded:
                self.segments.setdefault(piece, {}).update(segments)
                if len(self.segments[piece]) == self.plan(piece)[2]:
                    self.decoded[piece] = self.decode(piece)

    def decode(self, piece: int) -> np.ndarray:
        """The notes of `piece` from its segments' kept frames, in order (`transcribe` stitches a file the same way);
        its segments are dropped, so memory holds only the pieces still coming in."""
        segments = self.segments.pop(piece, {})
        stream = NoteStream(self.settings, self.front_end.frames_per_second)
        parts = [stream.feed(segments[index]) for index in sorted(segments)]
        parts.append(stream.finish())
        notes = np.concatenate(parts)
        return notes[np.lexsort((notes['pitch'], notes['start']))]

    def compute(self) -> dict[str, float]:
        """The means over the pieces seen; nothing when none of this metric's pieces was in the split."""
        self.pieces, self.estimates = {}, {}
        for piece in list(self.segments):  # pieces a split left incomplete: decoded from what came
            self.decoded[piece] = self.decode(piece)
        if not self.decoded:
            return {}
        noise = 0
        for piece in sorted(self.decoded):
            estimate = self.decoded[piece]
            self.estimates[self.names[piece]] = estimate
            if len(estimate) > MAX_NOTES_PER_SECOND * max(self.durations[piece], 1.0):
                noise += 1
                unmatched = {f'{kind}_{measure}': 0.0 for kind in NOTE_KINDS for measure in MEASURES}
                frames = {convention: frame_scores(truth, estimate, self.front_end.frames_per_second) for convention, truth in self.truths[piece].items()}
                self.pieces[self.names[piece]] = named_by_convention({convention: {**unmatched, **figures} for convention, figures in frames.items()})
            else:
                self.pieces[self.names[piece]] = score_piece(self.truths[piece], estimate, self.front_end.frames_per_second)
        figures = {**average_scores(list(self.pieces.values())), 'noise_pieces': float(noise)}
        return {self.prefix + key: value for key, value in figures.items()}
