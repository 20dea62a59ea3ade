"""Pieces cut into tiles of consecutive notes: what a note model trains on, and what its likelihood is scored on.

`SequenceCache(..., NoteSequences(sequence_length=L - 1, hop=L))` gives windows of L - 1 notes, each with the note
that follows, starting every L notes: joined, they tile each piece into runs of L notes with no note in two tiles (a
piece's last, shorter run is left out). So every note of a split is a target once, the model and the counting
baselines score exactly the same notes, and a split by piece (the windows' group) keeps a piece on one side.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ...errors import DatasetError

if TYPE_CHECKING:
    import torch

    from ...data.store import StoredDataset

__all__ = ['NoteTiles', 'tiles_from_windows']


@dataclass
class NoteTiles:
    """`notes` `(n, length, 3)` float32 pitch (0..127), step and duration (seconds); `first` `(n,)` whether a tile opens
    its piece; `pieces` `(n,)` the file each tile comes from; `starts` `(n,)` its first note's index in that piece."""

    notes: np.ndarray
    first: np.ndarray
    pieces: np.ndarray
    starts: np.ndarray

    def __len__(self) -> int:
        return len(self.notes)

    def subset(self, rows: Any) -> NoteTiles:
        rows = np.asarray(rows, dtype=np.int64)
        return NoteTiles(self.notes[rows], self.first[rows], self.pieces[rows], self.starts[rows])

    def weights(self) -> np.ndarray:
        """`(n, length)` 1 for every scored note: all but the first note of a tile that does not open its piece."""
        weight = np.ones(self.notes.shape[:2], dtype=np.float32)
        weight[:, 0] = self.first
        return weight

    def piece_sequences(self) -> list[np.ndarray]:
        """Each piece's tiles joined in order, `(notes, 3)` each: the piece without its last, incomplete tile."""
        sequences = []
        for piece in dict.fromkeys(self.pieces.tolist()):
            rows = np.flatnonzero(self.pieces == piece)
            rows = rows[np.argsort(self.starts[rows], kind='stable')]
            sequences.append(self.notes[rows].reshape(-1, 3))
        return sequences

    def torch_dataset(self) -> torch.utils.data.Dataset[Any]:
        """Items `(notes (length, 3) float32, first () float32)`, the batch `NoteLSTM.training_step` reads."""
        import torch

        return torch.utils.data.TensorDataset(torch.from_numpy(np.ascontiguousarray(self.notes)), torch.from_numpy(self.first.astype(np.float32)))


def tiles_from_windows(stored: StoredDataset) -> NoteTiles:
    """The tiles of a `SequenceCache` of `NoteSequences(sequence_length=L - 1, hop=L)`: each window and its next note."""
    metadata = stored.metadata
    settings = metadata.get('source', {}).get('settings', {})
    if metadata.get('source', {}).get('kind') != 'note_sequences' or tuple(settings.get('columns', ())) != ('pitch', 'step', 'duration'):
        raise DatasetError(f'{stored.directory} is not a dataset of NoteSequences windows of pitch, step and duration')
    if settings.get('hop') != settings.get('sequence_length', 0) + 1:
        raise DatasetError(f'{stored.directory}: windows of {settings.get("sequence_length")} notes every {settings.get("hop")} notes '
                           'are not tiles; build NoteSequences with hop = sequence_length + 1')
    following = np.stack([stored.labels['next_pitch'].astype(np.float32), stored.labels['next_step'], stored.labels['next_duration']], axis=-1)
    notes = np.concatenate([np.asarray(stored.inputs, dtype=np.float32), following[:, None, :]], axis=1)
    starts = np.asarray(metadata['window_starts'], dtype=np.int64)
    return NoteTiles(notes=notes, first=starts == 0, pieces=np.asarray(metadata['files']), starts=starts)
