"""Dataset definitions: the item list a feature cache is built from, out of a folder of raw files.

A definition says, for every raw file, what it is labelled, which group it belongs to (a speaker, a piece, a
performer: splits keep a group together, so a test set never holds a voice or a piece the model trained on) and,
when the dataset ships one, which split it is in. Builders read file names and metadata tables only, never the audio,
so a definition is cheap to rebuild on every run; `etude.data.cache.FeatureCache` then fingerprints the files it
lists and featurises them once. The builders, one per layout a dataset comes in on disk, are in `dataset_layouts`.

    digits = audio_folder('data/fsdd/recordings', '{digit}_{speaker}_{index}.wav', group_by='speaker',
                          label_types={'digit': 'class'})     # 0_jackson_0.wav -> digit '0', speaker 'jackson'
    pieces = metadata_table('data/maestro', 'maestro-v3.0.0.csv', label_columns={'year': 'number'},
                            group_column='canonical_title', companion_columns={'midi': 'midi_filename'})
    split = split_items(digits, (0.8, 0.1, 0.1), seed=0)      # {'train': (n,) indices, 'validation': ..., 'test': ...}

Files that cannot be used (a name that does not fit the pattern, a table row naming a missing file, audio without its
MIDI) follow `on_error`: 'raise' stops with a DataFileError naming the file, 'skip' leaves it out with a
`SkippedFileWarning` per file and a final count, and lists it in `definition.skipped`.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np

from ..errors import ConfigError, DatasetError
from .split import split_by_column, split_by_groups

if TYPE_CHECKING:
    from .store import StoredDataset

__all__ = ['DatasetDefinition', 'Item', 'SkippedFileWarning', 'natural_key', 'report_skipped', 'split_items']

LabelType = Literal['class', 'number']
OnError = Literal['skip', 'raise']
AUDIO_EXTENSIONS = ('.wav', '.flac', '.ogg', '.mp3')
MIDI_EXTENSIONS = ('.mid', '.midi')
SCORE_EXTENSIONS = ('.musicxml', '.xml', '.mxl')
# Other names datasets use for etude's split names.
SPLIT_ALIASES = {'valid': 'validation', 'val': 'validation', 'dev': 'validation', 'eval': 'test', 'training': 'train'}


class SkippedFileWarning(UserWarning):
    """A raw file was left out of a dataset because `on_error='skip'`; the message names it and says why."""


@dataclass(frozen=True)
class Item:
    """One example: a primary raw file, its labels, its group, and optionally its split and companion files.

    Attributes:
        path: the primary file (the audio a feature cache reads), as a POSIX path relative to the definition's root.
        labels: label name -> value: a string for 'class' labels, a float for 'number' labels.
        group: items sharing a group (a speaker, a piece) always land in the same split.
        split: 'train', 'validation' or 'test' when the dataset ships its own split, else None.
        companions: other files of the same example, relative to the root, e.g. {'midi': 'a.midi'}.
    """

    path: str
    labels: Mapping[str, str | float] = field(default_factory=dict)
    group: str = ''
    split: str | None = None
    companions: Mapping[str, str] = field(default_factory=dict)

    def describe(self) -> list[Any]:
        """JSON-safe summary used in fingerprints: everything except the files' contents."""
        return [self.path, sorted(self.labels.items()), self.group, self.split, sorted(self.companions.items())]


@dataclass
class DatasetDefinition:
    """A folder of raw files, itemised: what a feature cache builds from and what `split_items` splits.

    Attributes:
        root: the folder that item paths are relative to.
        items: one `Item` per example, in a fixed (sorted) order: row i of a cache is item i (less skipped files).
        label_types: label name -> 'class' (strings, stored as indices into `classes()[name]`) or 'number' (float32).
        group_key: what a group is ('speaker', 'canonical_title', 'file', ...), recorded in the cache's metadata.
        name: a short name for caches and logs; defaults to the root folder's name.
        skipped: (relative path, reason) of every file the builder left out.
        split_rule: how the items' own splits were made, in words, when the builder made them (kept by the datasets
            built from it and recorded in exports).
    """

    root: Path
    items: list[Item]
    label_types: dict[str, LabelType] = field(default_factory=dict)
    group_key: str = 'file'
    name: str = ''
    skipped: list[tuple[str, str]] = field(default_factory=list)
    split_rule: str = ''

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        self.name = self.name or self.root.resolve().name or 'dataset'
        for label, kind in self.label_types.items():
            if kind not in get_args(LabelType):
                raise ConfigError(f"label {label!r} has type {kind!r}; use 'class' or 'number'")
        splits = {item.split is not None for item in self.items}
        if len(splits) > 1:
            raise DatasetError(f'{self.name}: some items have a split and some do not; give every item a split or none')
        for item in self.items:
            if set(item.labels) != set(self.label_types):
                raise DatasetError(f'{item.path}: has labels {sorted(item.labels)} but the definition declares {sorted(self.label_types)}')
            for label, value in item.labels.items():
                expected = str if self.label_types[label] == 'class' else float
                if not isinstance(value, expected):
                    raise DatasetError(f'{item.path}: label {label!r} is {value!r}, not a {self.label_types[label]} label value')

    def __len__(self) -> int:
        return len(self.items)

    @property
    def files(self) -> list[str]:
        return [item.path for item in self.items]

    @property
    def has_split(self) -> bool:
        """True when the dataset ships its own split (e.g. MAESTRO's `split` column)."""
        return bool(self.items) and self.items[0].split is not None

    def classes(self) -> dict[str, list[str]]:
        """Class label name -> its sorted classes (numerals numerically: '2' before '10'); index = class id."""
        return {
            label: sorted({str(item.labels[label]) for item in self.items}, key=natural_key)
            for label, kind in self.label_types.items() if kind == 'class'
        }

    def label_arrays(self) -> dict[str, np.ndarray]:
        """Label name -> `(len(items),)` array: int64 class indices for 'class' labels, float32 for 'number'."""
        classes = self.classes()
        arrays: dict[str, np.ndarray] = {}
        for label, kind in self.label_types.items():
            if kind == 'class':
                index = {name: i for i, name in enumerate(classes[label])}
                arrays[label] = np.array([index[str(item.labels[label])] for item in self.items], dtype=np.int64)
            else:
                arrays[label] = np.array([item.labels[label] for item in self.items], dtype=np.float32)
        return arrays

    def file_fingerprints(self, content_hash: bool = False) -> list[list[Any]]:
        """Per item, its description and the stats (or content hashes) of its files: what a cache is keyed by."""
        from .files import file_key

        return [[*item.describe(), [file_key(self.root / path, content_hash) for path in (item.path, *item.companions.values())]]
                for item in self.items]

    def group_ids(self) -> tuple[np.ndarray, list[str]]:
        """`(len(items),)` int64 group ids and the group names they index (sorted)."""
        names = sorted({item.group for item in self.items}, key=natural_key)
        index = {name: i for i, name in enumerate(names)}
        return np.array([index[item.group] for item in self.items], dtype=np.int64), names


def split_items(source: DatasetDefinition | StoredDataset, fractions: Sequence[float] = (0.8, 0.1, 0.1),
                seed: int = 0) -> dict[str, np.ndarray]:
    """Train / validation / test indices: the dataset's own split when it has one, else seeded and by group.

    Args:
        source: a definition (indices are into `definition.items`) or a dataset built from one by the feature
            cache (indices are its rows; its metadata keeps the per-row split as `splits`).
        fractions: used only without a split column; they apply to groups (see `etude.data.split_by_groups`).
        seed: the shuffle seed for the grouped split.
    Returns:
        {'train', 'validation', 'test'} -> sorted `(n,)` int64 indices.
    """
    if isinstance(source, DatasetDefinition):
        if source.has_split:
            return split_by_column([str(item.split) for item in source.items], SPLIT_ALIASES)
        return split_by_groups(source.group_ids()[0], fractions, seed)
    if source.metadata.get('splits') is not None:
        return split_by_column(list(source.metadata['splits']), SPLIT_ALIASES)
    return split_by_groups(np.asarray(source.groups), fractions, seed)


# -- builders ------------------------------------------------------------------------------------------------------


def report_skipped(skipped: Sequence[tuple[str, str]], total: int, *, stacklevel: int = 2) -> None:
    """One `SkippedFileWarning` per skipped file, then one with the count (nothing when none was skipped).

    `stacklevel` is that of `warnings.warn` as seen from the caller of this function."""
    for path, reason in skipped:
        warnings.warn(f'skipped {path}: {reason}', SkippedFileWarning, stacklevel=stacklevel + 1)
    if skipped:
        listed = ', '.join(path for path, _ in skipped[:5]) + (', ...' if len(skipped) > 5 else '')
        warnings.warn(f'skipped {len(skipped)} of {total} files: {listed}', SkippedFileWarning, stacklevel=stacklevel + 1)


def natural_key(text: str) -> tuple[Any, ...]:
    """Sort key that orders embedded numbers numerically: 'x_2' before 'x_10'.

    '01' and '1' are equal as numbers, so the text itself breaks the tie; without it their order would follow the
    order of a set, which changes from process to process, and so would class indices, group ids and splits.
    """
    return [(0, int(part), '') if part.isdigit() else (1, 0, part) for part in re.split(r'(\d+)', text) if part], text

