"""Whole performances put back together from the windows a dataset stores, for judging a model piece by piece.

    performances = performances_of(stored, rows)      # rows: the stored windows of a split
    performances[0].features                          # (n, 17) score features of every note of one performance
    performances[0].targets['velocity']               # (n,) what the pianist did, note by note

Windows (`PerformanceSequences`, `MatchSequences`) cover every note of a performance, the last one overlapping the one
before it; each note's values are read from the first window that holds it, so nothing is read twice or left out.
No raw file is read again: the figures of a run need only its stored dataset.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

import numpy as np

from .sequences import PERFORMANCE_TARGETS

if TYPE_CHECKING:
    from ...data.store import StoredDataset

__all__ = ['PerformedPiece', 'performances_of', 'windows_of']


@dataclass(frozen=True)
class PerformedPiece:
    """One performance of a score, whole.

    Attributes:
        file: the performance's file (a match file, or a MIDI performance), relative to the dataset's raw folder.
        piece: the group it belongs to (composer/title for (n)ASAP): the unit figures are averaged over.
        score: which score it plays, its piece and its file's folder: performances sharing it share `note_key`s (a
            piece can have a score with its repeats and one without, in two folders; a folder of pairs holds many
            scores, one piece each).
        features: `(n, len(SCORE_FEATURES))` float32 score features.
        targets: `PERFORMANCE_TARGETS` name → `(n,)` float32.
    """

    file: str
    piece: str
    score: str
    features: np.ndarray
    targets: dict[str, np.ndarray] = field(repr=False)

    def __len__(self) -> int:
        return len(self.features)


def performances_of(stored: StoredDataset, rows: Sequence[int] | np.ndarray) -> list[PerformedPiece]:
    """The performances whose windows are `rows` of `stored`, each reassembled whole, in the order they first appear."""
    metadata = stored.metadata
    files, starts = metadata['files'], metadata['window_starts']
    names = metadata.get('group_names') or []
    groups = np.asarray(stored.groups)
    by_file: dict[str, list[int]] = {}
    for row in np.asarray(rows, dtype=np.int64).tolist():
        by_file.setdefault(files[row], []).append(row)
    labels = {name: np.asarray(stored.labels[name]) for name in PERFORMANCE_TARGETS if name in stored.labels}
    performances = []
    for file, windows in by_file.items():
        windows = sorted(windows, key=lambda row: starts[row])
        real = [int(np.sum(labels['note_mask'][row])) for row in windows]
        count = max(starts[row] + length for row, length in zip(windows, real, strict=True))
        features = np.zeros((count, stored.inputs.shape[-1]), dtype=np.float32)
        targets = {name: np.zeros(count, dtype=np.float32) for name in labels}
        filled = np.zeros(count, dtype=bool)
        for row, length in zip(windows, real, strict=True):
            start = starts[row]
            fresh = ~filled[start:start + length]
            positions = np.arange(start, start + length)[fresh]
            features[positions] = np.asarray(stored.inputs[row])[:length][fresh]
            for name, values in labels.items():
                targets[name][positions] = values[row][:length][fresh]
            filled[start:start + length] = True
        group = int(groups[windows[0]])
        piece = names[group] if group < len(names) else str(group)
        # one score: the same piece, in the same folder ((n)ASAP: a score's folder; a folder of pairs: the piece is the score)
        performances.append(PerformedPiece(file, piece, f'{piece} @ {PurePosixPath(file).parent}', features, targets))
    return performances


def windows_of(whole: dict[str, np.ndarray], files: Sequence[str], starts: Sequence[int], length: int) -> np.ndarray:
    """`(windows, length, k)` slices of per-performance `(n, k)` arrays (`whole[file]`) at the stored windows
    `(file, start)`, zero where a window runs past its performance's end (its padding)."""
    width = next(iter(whole.values())).shape[1] if whole else 1
    windows = np.zeros((len(files), length, width), dtype=np.float32)
    for row, (file, start) in enumerate(zip(files, starts, strict=True)):
        part = whole[file][start:start + length]
        windows[row, :len(part)] = part
    return windows
