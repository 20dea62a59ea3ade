"""Pieces as token sequences cut into tiles: what a token model trains on and what every model's NLL is scored on.

    stored = SequenceCache(midi_collection('data/bach-chorales', group_by='file'), TokenSequences(Representation(), 256)).load()
    tiles = token_tiles(stored)           # tokens (n, 256) int64, first, pieces, starts, lengths

`TokenSequences` reads a MIDI file into its token ids (`tokens.Representation.encode_file`) and cuts them into tiles of
`tile_tokens` consecutive tokens with no token in two tiles; a piece's last, shorter tile is padded with the PAD token
(id 0) and its length kept, so every token of a split is scored exactly once, by the model and by the counting
baselines alike. It is a `WindowSettings` of `etude.data.SequenceCache`, so the tiles are built once (in worker
processes), cached under a fingerprint of the files and the settings, and split by piece.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ...errors import ConfigError, DatasetError
from .tokens import Representation

if TYPE_CHECKING:
    import torch

    from ...data.store import StoredDataset

__all__ = ['PAD', 'TokenSequences', 'TokenTiles', 'token_tiles']

PAD = 0
"""miditok's PAD token id (its special tokens come first: PAD, BOS, EOS)."""
BOS = 1
"""The begin token: the input before a piece's first token."""


@dataclass(frozen=True)
class TokenSequences:
    """Tiles of `tile_tokens` consecutive tokens of each file (see the module)."""

    representation: Representation = field(default_factory=Representation)
    tile_tokens: int = 256
    kind: str = field(default='token_tiles', init=False)

    def __post_init__(self) -> None:
        if isinstance(self.representation, dict):  # a cached dataset's settings, read back
            object.__setattr__(self, 'representation', Representation.from_dict(self.representation))
        if self.tile_tokens < 2:
            raise ConfigError(f'a tile needs at least 2 tokens, got {self.tile_tokens}')

    @property
    def sequence_length(self) -> int:
        return self.tile_tokens

    def read(self, root: Path, path: str, companions: dict[str, str]) -> dict[str, np.ndarray]:
        return {'tokens': self.representation.encode_file(root / path)}

    def windows(self, rows: dict[str, np.ndarray]) -> Iterator[tuple[int, np.ndarray, dict[str, np.ndarray]]]:
        tokens = rows['tokens']
        for start in range(0, len(tokens), self.tile_tokens):
            tile = np.full(self.tile_tokens, PAD, dtype=np.int64)
            piece = tokens[start:start + self.tile_tokens]
            tile[:len(piece)] = piece
            yield start, tile, {'length': np.asarray(len(piece), dtype=np.int64)}

    def shapes(self) -> tuple[tuple[int, ...], dict[str, tuple[int, ...]], dict[str, str]]:
        return (self.tile_tokens,), {'length': ()}, {'length': 'int64'}

    def label_types(self) -> dict[str, str]:
        return {'length': 'number'}

    def classes(self) -> dict[str, list[str]]:
        return {}

    def feature_names(self) -> list[str]:
        return ['token']


@dataclass
class TokenTiles:
    """`tokens` `(n, length)` int64 (PAD past a tile's `lengths`); `first` `(n,)` whether a tile opens its piece;
    `pieces` `(n,)` its file; `starts` `(n,)` its first token's index in the piece; `lengths` `(n,)` its real tokens."""

    tokens: np.ndarray
    first: np.ndarray
    pieces: np.ndarray
    starts: np.ndarray
    lengths: np.ndarray

    def __len__(self) -> int:
        return len(self.tokens)

    def subset(self, rows: Any) -> TokenTiles:
        rows = np.asarray(rows, dtype=np.int64)
        return TokenTiles(self.tokens[rows], self.first[rows], self.pieces[rows], self.starts[rows], self.lengths[rows])

    def weights(self) -> np.ndarray:
        """`(n, length)` float32: 1 for every scored token, i.e. a real token that is not the first of a tile that
        does not open its piece (that token's context is in the tile before)."""
        positions = np.arange(self.tokens.shape[1])[None]
        weight = (positions < self.lengths[:, None]).astype(np.float32)
        weight[:, 0] *= self.first
        return weight

    def piece_sequences(self) -> list[np.ndarray]:
        """Each piece's token ids, its tiles joined in order without padding."""
        sequences = []
        for piece in dict.fromkeys(self.pieces.tolist()):
            rows = np.flatnonzero(self.pieces == piece)
            rows = rows[np.argsort(self.starts[rows], kind='stable')]
            sequences.append(np.concatenate([self.tokens[row, :self.lengths[row]] for row in rows]))
        return sequences

    def torch_dataset(self) -> torch.utils.data.Dataset[Any]:
        """Items `(tokens (length,) int64, first () float32, length () int64)`, the batch `TokenLSTM` reads."""
        import torch

        return torch.utils.data.TensorDataset(torch.from_numpy(np.ascontiguousarray(self.tokens)), torch.from_numpy(self.first.astype(np.float32)),
                                              torch.from_numpy(self.lengths.astype(np.int64)))


def token_tiles(stored: StoredDataset) -> TokenTiles:
    """The tiles of a `SequenceCache` of `TokenSequences`."""
    metadata = stored.metadata
    if metadata.get('source', {}).get('kind') != 'token_tiles':
        raise DatasetError(f'{stored.directory} is not a dataset of token tiles (TokenSequences)')
    starts = np.asarray(metadata['window_starts'], dtype=np.int64)
    return TokenTiles(tokens=np.asarray(stored.inputs, dtype=np.int64), first=starts == 0, pieces=np.asarray(metadata['files']), starts=starts,
                      lengths=np.asarray(stored.labels['length'], dtype=np.int64))


def representation_of(stored: StoredDataset) -> Representation:
    """The representation a stored dataset of token tiles was built with."""
    return Representation.from_dict(stored.metadata['source']['settings']['representation'])
