"""From frame outputs to notes, for a segment or a file of any length.

The model gives, per frame and key, four numbers in [0, 1]: `onset` and `offset` (Kong's regression outputs, which
peak at the frame nearest a note's onset / offset and fall off linearly over J frames), `frame` (the key sounds) and
`velocity` (the onset's velocity / 127). Decoding (after Kong et al. 2021, section III-D):

- an onset is a local maximum of `onset` above `onset_threshold`; its exact time comes from the peak's two
  neighbours (for a triangle `1 - |t - t0| / J` sampled at frames i-1, i, i+1 the shift `d = t0 - i` is
  `(x[i+1] - x[i-1]) / (2 (x[i] - min(x[i-1], x[i+1])))`), so onsets are resolved well below the 10 ms frame;
- a note ends at the first of: the next onset of its key, a peak of `offset` above `offset_threshold` (refined the
  same way), or the first frame whose `frame` output is below `frame_threshold`;
- its velocity is `velocity` at the onset frame times 127.

`NoteStream` runs these rules over frames as they arrive, keeping only the notes still sounding and two frames of
context, so a file is decoded in one pass whatever its length, and `stitched_frames` says which frames of each
overlapping segment are kept, so every frame of the file is decoded exactly once: a note across a seam is one note.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ...data.midi import NOTE_DTYPE
from .settings import BEGIN_NOTE, DecodingSettings, FrontEnd

__all__ = ['OUTPUT_KEYS', 'NoteStream', 'decode_notes', 'refined_peaks', 'planned_starts', 'segment_plan', 'stitched_frames']

OUTPUT_KEYS = ('onset', 'offset', 'frame', 'velocity')


def refined_peaks(values: np.ndarray, threshold: float, before: np.ndarray | None = None,
                  after: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Local maxima above `threshold` of `(frames, keys)` values, with Kong's sub-frame refinement.

    A peak is `x[i] > threshold`, `x[i] >= x[i-1]` and `x[i] > x[i+1]` (a plateau counts once, at its end). `before`
    and `after` are the `(keys,)` values just outside the block (zeros when None: silence beyond the file).

    Returns:
        `(frames, keys, positions)`: the peaks' frame indices in the block, their key columns, and their refined
        positions in frames (index + shift, the shift in [-0.5, 0.5]).
    """
    zeros = np.zeros(values.shape[1], dtype=values.dtype)
    padded = np.concatenate([(zeros if before is None else before)[None], values, (zeros if after is None else after)[None]])
    previous, current, following = padded[:-2], padded[1:-1], padded[2:]
    frames, keys = np.nonzero((current > threshold) & (current >= previous) & (current > following))
    a, b, c = previous[frames, keys], current[frames, keys], following[frames, keys]
    lower = np.minimum(a, c)
    with np.errstate(divide='ignore', invalid='ignore'):
        shift = np.where(b > lower, (c - a) / (2 * (b - lower)), 0.0)
    return frames, keys, frames + np.clip(shift, -0.5, 0.5)


@dataclass
class _OpenNote:
    frame: int  # global onset frame
    start: float  # seconds
    velocity: int


class NoteStream:
    """Notes from frame outputs fed block by block: `feed` returns the notes that ended, `finish` the rest.

    Holds the notes still sounding and the last two frames (peak picking needs a frame on each side), never the
    outputs of earlier blocks, so memory does not grow with the input's length.
    """

    def __init__(self, settings: DecodingSettings, frames_per_second: float, *, begin_note: int = BEGIN_NOTE) -> None:
        self.settings, self.frames_per_second, self.begin_note = settings, frames_per_second, begin_note
        self.open: dict[int, _OpenNote] = {}
        self.held: dict[str, np.ndarray] | None = None  # frames received but not yet decoded (the last one)
        self.context: dict[str, np.ndarray] | None = None  # the frame before `held`
        self.next_frame = 0  # global index of the first held frame

    def feed(self, outputs: Mapping[str, np.ndarray]) -> np.ndarray:
        """Add `(frames, keys)` outputs (keys `OUTPUT_KEYS`); returns the notes ended so far (`NOTE_DTYPE`)."""
        block = {key: np.asarray(outputs[key], dtype=np.float32) for key in OUTPUT_KEYS}
        if self.held is not None:
            block = {key: np.concatenate([self.held[key], block[key]]) for key in OUTPUT_KEYS}
        if len(block['onset']) < 2:
            self.held = block
            return np.zeros(0, dtype=NOTE_DTYPE)
        decided = {key: values[:-1] for key, values in block.items()}
        after = {key: values[-1] for key, values in block.items()}
        notes = self._decode(decided, after)
        self.context = {key: values[-1] for key, values in decided.items()}
        self.held = {key: values[-1:] for key, values in block.items()}
        self.next_frame += len(decided['onset'])
        return notes

    def finish(self) -> np.ndarray:
        """Decode the last frame and end every note still sounding at the end of the input."""
        notes = [self._decode(self.held, None)] if self.held is not None else []
        if self.held is not None:
            self.next_frame += len(self.held['onset'])
        self.held = None
        end = self.next_frame / self.frames_per_second
        rest = [(column, note.start, max(end, note.start + 1 / self.frames_per_second), note.velocity) for column, note in self.open.items()]
        self.open = {}
        return _concatenate([*notes, self._notes(rest)])

    def _decode(self, block: dict[str, np.ndarray], after: dict[str, np.ndarray] | None) -> np.ndarray:
        """Notes ending within `block` (global frames `next_frame...`); the onsets in it open notes."""
        s, fps, first = self.settings, self.frames_per_second, self.next_frame
        before, following = self.context or {}, after or {}
        onset_frames, onset_keys, onset_positions = refined_peaks(block['onset'], s.onset_threshold, before.get('onset'), following.get('onset'))
        offset_frames, offset_keys, offset_positions = refined_peaks(block['offset'], s.offset_threshold, before.get('offset'), following.get('offset'))
        silent = block['frame'] < s.frame_threshold
        finished: list[tuple[int, float, float, int]] = []
        columns = set(onset_keys.tolist()) | set(self.open)
        for column in sorted(columns):
            onsets = np.flatnonzero(onset_keys == column)
            offsets = np.flatnonzero(offset_keys == column)
            quiet = np.flatnonzero(silent[:, column])
            current = self.open.pop(column, None)
            starts = [(int(onset_frames[i]) + first, float(onset_positions[i] + first) / fps,
                       int(np.clip(np.rint(block['velocity'][onset_frames[i], column] * 127), 1, 127))) for i in onsets]
            for index in range(len(starts) + 1):
                limit = starts[index][0] if index < len(starts) else first + len(silent)
                if current is not None:
                    end = self._end(current, limit, offset_frames[offsets] + first, offset_positions[offsets] + first, quiet + first)
                    if end is None and index < len(starts):
                        end = starts[index][1]  # struck again: the next onset ends it
                    if end is not None:
                        finished.append((column, current.start, max(end, current.start + 1 / fps), current.velocity))
                        current = None
                if index < len(starts):
                    current = _OpenNote(*starts[index])
            if current is not None:
                self.open[column] = current
        return self._notes(finished)

    def _end(self, note: _OpenNote, limit: int, offset_frames: np.ndarray, offset_positions: np.ndarray, quiet_frames: np.ndarray) -> float | None:
        """When `note` ends before global frame `limit`: its first offset peak two or more frames after the onset (the
        peak at the onset frame is the previous note's offset), or its first quiet frame after the onset; None if neither."""
        candidates = []
        chosen = (offset_frames >= note.frame + 2) & (offset_frames < limit)
        if chosen.any():
            candidates.append(float(offset_positions[chosen][0]) / self.frames_per_second)
        quiet = quiet_frames[(quiet_frames >= note.frame + 1) & (quiet_frames < limit)]
        if len(quiet):
            candidates.append(float(quiet[0]) / self.frames_per_second)
        return min(candidates) if candidates else None

    def _notes(self, rows: list[tuple[int, float, float, int]]) -> np.ndarray:
        notes = np.zeros(len(rows), dtype=NOTE_DTYPE)
        if rows:
            column, start, end, velocity = (np.asarray(values) for values in zip(*rows, strict=True))
            notes['pitch'], notes['start'], notes['end'], notes['velocity'] = column + self.begin_note, start, end, velocity
            notes['duration'] = notes['end'] - notes['start']
        return notes


def _concatenate(parts: list[np.ndarray]) -> np.ndarray:
    """Note arrays joined and sorted by start then pitch, with `step` filled."""
    notes = np.concatenate(parts) if parts else np.zeros(0, dtype=NOTE_DTYPE)
    notes = notes[np.lexsort((notes['pitch'], notes['start']))]
    notes['step'] = np.diff(notes['start'], prepend=0.0)
    return notes


def decode_notes(outputs: Mapping[str, np.ndarray], settings: DecodingSettings, frames_per_second: float, *, begin_note: int = BEGIN_NOTE) -> np.ndarray:
    """Notes of one block of `(frames, keys)` outputs (keys `OUTPUT_KEYS`), times in seconds from its first frame."""
    stream = NoteStream(settings, frames_per_second, begin_note=begin_note)
    return _concatenate([stream.feed(outputs), stream.finish()])


def segment_plan(num_frames: int, segment_frames: int, overlap: float) -> tuple[int, int]:
    """`(hop, segments)`: the hop between segment starts, in frames, and how many segments cover `num_frames`."""
    hop = max(1, round(segment_frames * (1 - overlap)))
    return hop, max(1, -(-max(num_frames - segment_frames, 0) // hop) + 1)


def planned_starts(duration: float, front_end: FrontEnd, overlap: float) -> list[float]:
    """Start times in seconds of the segments `transcribe` cuts a `duration`-second file into (`segment_plan`'s, in
    whole frames), so that segments read at these times are exactly the ones it transcribes."""
    num_frames = front_end.frames(round(duration * front_end.sample_rate))
    hop, count = segment_plan(num_frames, front_end.frames(front_end.segment_samples), overlap)
    return [index * hop / front_end.frames_per_second for index in range(count)]


def stitched_frames(index: int, count: int, hop: int, segment_frames: int, num_frames: int) -> tuple[int, int]:
    """The frames `[begin, end)` of segment `index` (of `count`, starting at frame `index * hop`) that are kept.

    Each segment keeps its middle: from half the overlap after its start to half the overlap before the next segment's
    end (the first from frame 0, the last to `num_frames`), so the kept ranges tile the file exactly and every frame
    comes from the segment where it is furthest from an edge, with the most context on both sides.
    """
    margin = (segment_frames - hop) // 2
    begin = 0 if index == 0 else index * hop + margin
    end = num_frames if index == count - 1 else (index + 1) * hop + margin
    return begin - index * hop, min(end, num_frames) - index * hop

