"""A run's pieces and the segments cut from them: one numbering, shared by training, its metrics and `etude evaluate`.

The transcription task records the pieces of each group as `[audio, midi]` pairs: `train`, `validation`, `test` (the
held-out chorales, or MAESTRO's test split), `test_performances` (the held-out (n)ASAP performances, on training
pianos), and `held_out_piano` and `held_out_piano_performances` (the same test pieces rendered on the held-out piano),
each test group scored apart under its own prefix (`PREFIXES`). Pieces are numbered in that order,
group after group; a segment's `piece` target is that number, so `NoteMetrics` can join segments back into pieces
whichever part of the run a dataset holds. Training segments start every `training_hop_seconds`; the segments of the
other groups are the ones `transcribe` cuts (`planned_starts`), so a split's figures are the ones a whole-file
transcription gives.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .data import Recording, SegmentDataset
    from .offsets import OffsetConvention
    from .settings import FrontEnd

__all__ = ['GROUPS', 'HELD_OUT_PIANO', 'HELD_OUT_PIANO_PERFORMANCES', 'OTHER_SOUNDFONT', 'PREFIXES', 'TEST_PERFORMANCES', 'numbered',
           'readable_groups', 'segment_dataset', 'split_of']

TEST_PERFORMANCES = 'test_performances'
"""Held-out (n)ASAP performances on training pianos: figures `test.performances_*`."""
HELD_OUT_PIANO = 'held_out_piano'
"""The test chorales (or pieces) rendered on the held-out piano: figures `test.held_out_piano_*`."""
HELD_OUT_PIANO_PERFORMANCES = 'held_out_piano_performances'
"""The held-out performances rendered on the held-out piano: figures `test.held_out_piano_performances_*`."""
OTHER_SOUNDFONT = 'other_soundfont'
"""The name earlier exports gave the held-out piano's group; read as `HELD_OUT_PIANO` (`readable_groups`)."""
GROUPS = ('train', 'validation', 'test', TEST_PERFORMANCES, HELD_OUT_PIANO, HELD_OUT_PIANO_PERFORMANCES)
SPLIT_OF_GROUP = {'train': 'train', 'validation': 'validation', 'test': 'test', TEST_PERFORMANCES: 'test', HELD_OUT_PIANO: 'test',
                  HELD_OUT_PIANO_PERFORMANCES: 'test'}
PREFIXES = {TEST_PERFORMANCES: 'performances_', HELD_OUT_PIANO: 'held_out_piano_', HELD_OUT_PIANO_PERFORMANCES: 'held_out_piano_performances_'}
"""The test groups scored apart, and the prefix of their figures (validation and test are scored together, unprefixed)."""


def readable_groups(pieces: Mapping[str, Sequence[object]]) -> dict[str, list]:
    """A recorded `pieces` with an earlier export's `other_soundfont` read as `held_out_piano` (its numbering unchanged:
    it followed `test`, as `held_out_piano` does when there are no performances)."""
    return {(HELD_OUT_PIANO if group == OTHER_SOUNDFONT else group): list(members) for group, members in pieces.items()}


def split_of(group: str) -> str:
    """The routine's split a group's segments belong to (every test group's are test segments)."""
    return SPLIT_OF_GROUP[group]


def numbered(pieces: Mapping[str, Sequence[object]]) -> dict[str, list[int]]:
    """group → the numbers of its pieces, counting through `GROUPS` in order (a run's whole record of pieces)."""
    numbers, first = {}, 0
    for group in GROUPS:
        count = len(pieces.get(group, ()))
        numbers[group] = list(range(first, first + count))
        first += count
    return numbers


def segment_dataset(recordings: Mapping[str, Sequence[Recording]], numbers: Mapping[str, Sequence[int]], front_end: FrontEnd, *,
                    overlap: float, training_hop_seconds: float | None = None,
                    offset_convention: OffsetConvention = 'pedal') -> tuple[SegmentDataset, dict[str, list[int]]]:
    """The segments of the given groups' recordings and the routine's split of them (`{'train': [...], ...}`).

    Args:
        recordings: group → its recordings, in the task's order (only the groups to read).
        numbers: `numbered(...)` of the run's whole record of pieces, so a piece keeps its number in any dataset.
        overlap: the decoding's segment overlap (the evaluation segments are `transcribe`'s).
        training_hop_seconds: the hop of the training segments (needed when `train` is given).
        offset_convention: the offsets the targets draw (`SegmentDataset`'s).
    """
    from .data import SegmentDataset, segment_starts
    from .decoding import planned_starts

    pieces: dict[int, Recording] = {}
    items: list[tuple[int, float]] = []
    split: dict[str, list[int]] = {'train': [], 'validation': [], 'test': []}
    for group, members in recordings.items():
        for number, recording in zip(numbers[group], members, strict=True):
            pieces[number] = recording
            if group == 'train':
                if training_hop_seconds is None:
                    raise ValueError('training segments need training_hop_seconds')
                starts = segment_starts(recording.duration, front_end.segment_seconds, training_hop_seconds)
            else:
                starts = planned_starts(recording.duration, front_end, overlap)
            for start in starts:
                split[split_of(group)].append(len(items))
                items.append((number, start))
    return SegmentDataset(pieces, items, front_end, offset_convention=offset_convention), split
