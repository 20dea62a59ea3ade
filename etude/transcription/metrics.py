"""Note and frame F1 over a split of whole pieces, as a Routine metric.

A split of `SegmentDataset` items is the overlapping segments of some pieces (`piece` and `start` in each item's
targets). The metric keeps each segment's outputs (float16, the kept frames only), and at `compute` joins them back
into pieces in the order of their starts, decodes each piece with `NoteStream` exactly as `transcribe` does a file,
and scores it against the piece's notes with mir_eval (`scoring.score_piece`). The figures are the means over pieces;
`pieces` keeps each piece's own, for the worst-pieces list.

An untrained network's outputs hover around the thresholds and decode to thousands of notes per second, on which
mir_eval's matching takes minutes per piece (measured: 125,000 notes for a 42 s chorale, 25 s to match). So during
training a piece transcribed with more than `MAX_NOTES_PER_SECOND` notes per second (a pianist plays at most a few
dozen) is not matched: its note figures are 0, its frame figures are computed as usual, and `noise_pieces` counts it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self

import numpy as np

from ..metrics import Metric
from .decoding import OUTPUT_KEYS, NoteStream, segment_plan, stitched_frames
from .scoring import average_scores, frame_scores, score_piece
from .settings import DecodingSettings, FrontEnd

__all__ = ['MAX_NOTES_PER_SECOND', 'NoteMetrics']

MAX_NOTES_PER_SECOND = 100.0


class NoteMetrics(Metric):
    """mir_eval note and frame figures of the pieces in a split (see `scoring.FIGURES`), averaged over pieces.

    Only the pieces in `notes` are scored (segments of other pieces are passed over); `prefix` names the figures.
    """

    def __init__(self, notes: Mapping[int, np.ndarray], durations: Mapping[int, float], names: Mapping[int, str], front_end: FrontEnd,
                 settings: DecodingSettings, *, prefix: str = '') -> None:
        self.prefix = prefix
        self.notes, self.durations, self.names = dict(notes), dict(durations), dict(names)
        self.front_end, self.settings = front_end, settings
        self.segments: dict[int, list[tuple[float, dict[str, np.ndarray]]]] = {}
        self.pieces: dict[str, dict[str, float]] = {}
        self.estimates: dict[str, np.ndarray] = {}

    def update(self, predictions: Any, targets: Any) -> None:
        pieces, starts = targets['piece'].cpu().numpy(), targets['start'].cpu().numpy()
        outputs = {key: predictions[key].detach().float().cpu().numpy().astype(np.float16) for key in OUTPUT_KEYS}
        for row, (piece, start) in enumerate(zip(pieces.tolist(), starts.tolist(), strict=True)):
            if piece not in self.notes:
                continue  # another metric's pieces (the other soundfont's renders)
            self.segments.setdefault(piece, []).append((start, {key: outputs[key][row] for key in OUTPUT_KEYS}))

    def merge(self, other: Self) -> None:
        for piece, segments in other.segments.items():
            self.segments.setdefault(piece, []).extend(segments)

    def decode(self, piece: int) -> np.ndarray:
        """The notes of `piece` from its segments' outputs, stitched as `transcribe` stitches a file."""
        segments = sorted(self.segments[piece], key=lambda pair: pair[0])
        segment_frames = self.front_end.frames(self.front_end.segment_samples)
        num_frames = self.front_end.frames(round(self.durations[piece] * self.front_end.sample_rate))
        hop, _ = segment_plan(num_frames, segment_frames, self.settings.segment_overlap)
        stream = NoteStream(self.settings, self.front_end.frames_per_second)
        parts = []
        for index, (_, outputs) in enumerate(segments):
            begin, end = stitched_frames(index, len(segments), hop, segment_frames, num_frames)
            parts.append(stream.feed({key: values[begin:end].astype(np.float32) for key, values in outputs.items()}))
        parts.append(stream.finish())
        notes = np.concatenate(parts)
        return notes[np.lexsort((notes['pitch'], notes['start']))]

    def compute(self) -> dict[str, float]:
        """The means over the pieces seen; nothing when none of this metric's pieces was in the split."""
        self.pieces, self.estimates = {}, {}
        if not self.segments:
            return {}
        noise = 0
        for piece in sorted(self.segments):
            estimate = self.decode(piece)
            self.estimates[self.names[piece]] = estimate
            if len(estimate) > MAX_NOTES_PER_SECOND * max(self.durations[piece], 1.0):
                noise += 1
                figures = {f'{kind}_{figure}': 0.0 for kind in ('onset', 'onset_offset', 'onset_offset_velocity') for figure in ('precision', 'recall', 'f1')}
                self.pieces[self.names[piece]] = {**figures, **frame_scores(self.notes[piece], estimate, self.front_end.frames_per_second)}
            else:
                self.pieces[self.names[piece]] = score_piece(self.notes[piece], estimate, self.front_end.frames_per_second)
        figures = {**average_scores(list(self.pieces.values())), 'noise_pieces': float(noise)}
        return {self.prefix + key: value for key, value in figures.items()}
