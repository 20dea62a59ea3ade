"""Dataset definitions: turn a folder of raw files into the item list a feature cache is built from.

A definition says, for every raw file, what it is labelled, which group it belongs to (a speaker, a piece, a
performer: splits keep a group together, so a test set never holds a voice or a piece the model trained on) and,
when the dataset ships one, which split it is in. Builders read file names and metadata tables only, never the audio,
so a definition is cheap to rebuild on every run; `etude.data.cache.FeatureCache` then fingerprints the files it
lists and featurises them once.

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

import csv
import json
import os
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np

from ..errors import ConfigError, DataFileError, DatasetError
from .split import split_by_column, split_by_groups

if TYPE_CHECKING:
    from .store import StoredDataset

__all__ = ['DatasetDefinition', 'Item', 'SkippedFileWarning', 'audio_folder', 'audio_midi_pairs', 'metadata_table',
           'midi_collection', 'score_performance_pairs', 'split_items']

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
    """

    root: Path
    items: list[Item]
    label_types: dict[str, LabelType] = field(default_factory=dict)
    group_key: str = 'file'
    name: str = ''
    skipped: list[tuple[str, str]] = field(default_factory=list)

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
            label: sorted({str(item.labels[label]) for item in self.items}, key=_natural_key)
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
        names = sorted({item.group for item in self.items}, key=_natural_key)
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


def audio_folder(root: str | Path, pattern: str, *, group_by: str | None = None,
                 label_types: Mapping[str, LabelType] | None = None, on_error: OnError = 'raise',
                 name: str | None = None) -> DatasetDefinition:
    """Audio files labelled by their names, e.g. `audio_folder(root, '{shape}_{index}.wav', label_types={'shape': 'class'})`.

    `{field}` in `pattern` matches any text without '/' (as little as possible, so a later field takes the rest);
    the rest of the pattern must match exactly. A pattern without '/' is matched against file names anywhere under
    `root`, one with '/' against the path relative to `root` (e.g. '{speaker}/{digit}.wav'). Nothing here belongs to
    one dataset: the Free Spoken Digit Dataset's layout is `etude.data.generators.spoken_digit_folder(root)`.

    Args:
        group_by: the field that groups items, so a split keeps them together (None: every file is its own group).
        label_types: field -> 'class' or 'number'; default: every field of the pattern is a class label. Fields not
            named are not labels ({} for none).
        on_error: what to do with an audio file whose name does not match, or whose number label is not a number.
    """
    root, rejects = _start(root, on_error)
    regex, fields = _compile_pattern(pattern)
    label_types = dict(dict.fromkeys(fields, 'class') if label_types is None else label_types)
    for argument, wanted in [*(('label_types', label) for label in label_types), *([('group_by', group_by)] if group_by else [])]:
        if wanted not in fields:
            raise ConfigError(f'{wanted!r} is not a field of the pattern {pattern!r} (fields: {", ".join(fields) or "none"}); '
                              f'pass {argument}= naming fields of the pattern, or a pattern with {{{wanted}}}')
    items: list[Item] = []
    for path in _files(root, AUDIO_EXTENSIONS):
        match = regex.fullmatch(path if '/' in pattern else PurePosixPath(path).name)
        if match is None:
            rejects.add(path, f'name does not match the pattern {pattern!r}')
            continue
        labels = _parse_labels(match.groupdict(), label_types)
        if isinstance(labels, str):
            rejects.add(path, labels)
            continue
        items.append(Item(path, labels, match[group_by] if group_by else path))
    return _definition(root, items, label_types, group_by or 'file', name, rejects)


def metadata_table(root: str | Path, table: str | Path, *, audio_column: str = 'audio_filename',
                   label_columns: Mapping[str, LabelType] | Sequence[str] = (), split_column: str | None = 'split',
                   group_column: str | None = None, companion_columns: Mapping[str, str] | None = None,
                   on_error: OnError = 'raise', name: str | None = None) -> DatasetDefinition:
    """Items from a CSV or JSON metadata table, e.g. MAESTRO's `maestro-v3.0.0.csv` (canonical_composer,
    canonical_title, split, year, midi_filename, audio_filename, duration).

    Args:
        table: the .csv or .json file, relative to `root` or absolute. JSON may be a list of records, a dict of
            column lists, or a dict of {row: value} columns (MAESTRO's JSON, pandas' default).
        audio_column: the column holding each item's primary file, relative to `root`.
        label_columns: column -> 'class' or 'number'; a list of names infers the type (all numeric: 'number').
        split_column: the column of train / validation / test; the default 'split' is used only if present, any
            other name must exist. None ignores it.
        group_column: the column whose equal values group items (MAESTRO: 'canonical_title'); None: per file.
        companion_columns: companion name -> column of another file per row, e.g. {'midi': 'midi_filename'}.
        on_error: what to do with a row whose files are missing or whose labels are empty or not numbers.
    """
    root, rejects = _start(root, on_error)
    table_path = root / table
    rows = _read_table(table_path)
    columns = list(rows[0]) if rows else []
    if not isinstance(label_columns, Mapping):
        label_columns = {column: _infer_type(rows, column) if column in columns else 'class' for column in label_columns}
    companion_columns = dict(companion_columns or {})
    if split_column == 'split' and 'split' not in columns:
        split_column = None
    for column in [audio_column, *label_columns, *([split_column] if split_column else []),
                   *([group_column] if group_column else []), *companion_columns.values()]:
        if column not in columns:
            raise ConfigError(f'{table_path} has no column {column!r}; its columns are {", ".join(columns)}')
    items: list[Item] = []
    for number, row in enumerate(rows, start=2 if table_path.suffix.lower() == '.csv' else 0):
        path = str(row[audio_column]).strip()
        where = f'{table_path.name} row {number}'
        files = [path, *(str(row[column]).strip() for column in companion_columns.values())]
        missing = [file for file in files if not file or not (root / file).is_file()]
        if missing:
            rejects.add(path or where, f'{where} names {missing[0]!r}, which is not a file under {root}')
            continue
        labels = _parse_labels({column: row[column] for column in label_columns}, label_columns)
        if isinstance(labels, str):
            rejects.add(path, f'{where}: {labels}')
            continue
        companions = {key: str(row[column]).strip() for key, column in companion_columns.items()}
        group = str(row[group_column]) if group_column else path
        items.append(Item(path, labels, group, str(row[split_column]).strip() if split_column else None, companions))
    return _definition(root, items, dict(label_columns), group_column or 'file', name, rejects, sort=False)


def audio_midi_pairs(root: str | Path, *, audio_subfolder: str = '.', midi_subfolder: str = '.',
                     group_by: Literal['folder', 'file'] = 'file', on_error: OnError = 'raise',
                     name: str | None = None) -> DatasetDefinition:
    """Audio files and the MIDI files of the same stem: MAESTRO's `2004/x.wav` + `2004/x.midi`, or FluidSynth
    renders kept apart (`audio_subfolder='renders', midi_subfolder='midi'`, paired by their paths inside those folders).

    Items' primary file is the audio, with companion {'midi': path}. `group_by='folder'` groups by the audio's
    folder (MAESTRO's year), 'file' makes every pair its own group. Audio without MIDI and MIDI without audio follow
    `on_error`.
    """
    root, rejects = _start(root, on_error)
    _check_choice('group_by', group_by, ('folder', 'file'))
    audio_root, midi_root = _existing_folder(root / audio_subfolder), _existing_folder(root / midi_subfolder)
    audio = _by_stem(audio_root, AUDIO_EXTENSIONS)
    midi = _by_stem(midi_root, MIDI_EXTENSIONS)
    items: list[Item] = []
    for stem, path in sorted(audio.items()):
        audio_path = _relative(audio_root / path, root)
        if stem not in midi:
            rejects.add(audio_path, 'no MIDI file of the same name')
            continue
        group = str(PurePosixPath(audio_path).parent) if group_by == 'folder' else audio_path
        items.append(Item(audio_path, {}, group, companions={'midi': _relative(midi_root / midi[stem], root)}))
    for stem in sorted(set(midi) - set(audio)):
        rejects.add(_relative(midi_root / midi[stem], root), 'no audio file of the same name')
    return _definition(root, items, {}, group_by, name, rejects)


def score_performance_pairs(root: str | Path, *, pair_by: Literal['stem', 'folder'] = 'stem',
                            on_error: OnError = 'raise', name: str | None = None) -> DatasetDefinition:
    """Performances (MIDI) with the score (MusicXML) they play, grouped by score so a piece stays in one split.

    `pair_by='stem'` pairs `x.mid` with `x.musicxml` in the same folder; 'folder' pairs every MIDI file in a folder
    with the folder's only score (ASAP's layout: one score and several performers' MIDI files per piece). Items'
    primary file is the performance, with companion {'score': path}. Unpaired files follow `on_error`.
    """
    root, rejects = _start(root, on_error)
    _check_choice('pair_by', pair_by, ('stem', 'folder'))
    scores = _files(root, SCORE_EXTENSIONS)
    performances = _files(root, MIDI_EXTENSIONS)
    key = (lambda path: str(PurePosixPath(path).with_suffix(''))) if pair_by == 'stem' else (lambda path: str(PurePosixPath(path).parent))
    candidates: dict[str, list[str]] = {}
    for score in scores:
        candidates.setdefault(key(score), []).append(score)
    items: list[Item] = []
    used: set[str] = set()
    for path in performances:
        matches = candidates.get(key(path), [])
        if len(matches) != 1:
            rejects.add(path, f'{len(matches)} scores match it; rename them so one does' if matches else 'no score (MusicXML) to pair it with')
            continue
        used.add(matches[0])
        items.append(Item(path, {}, matches[0], companions={'score': matches[0]}))
    for score in scores:
        if score not in used:
            rejects.add(score, 'no performance (MIDI) to pair it with')
    return _definition(root, items, {}, 'score', name, rejects)


def midi_collection(root: str | Path, *, group_by: Literal['folder', 'composer', 'file'] = 'folder',
                    label_types: Mapping[Literal['composer', 'folder'], LabelType] | None = None,
                    on_error: OnError = 'raise', name: str | None = None) -> DatasetDefinition:
    """MIDI files under `root`, grouped by their folder, by composer (the first folder under `root`, as in
    `bach/bwv772.mid`) or each on its own; `label_types={'composer': 'class'}` also labels them by composer.

    A file directly in `root` has no composer: with group_by='composer' or a composer label it follows `on_error`.
    """
    root, rejects = _start(root, on_error)
    _check_choice('group_by', group_by, ('folder', 'composer', 'file'))
    types: dict[str, LabelType] = {str(label): kind for label, kind in (label_types or {}).items()}
    for label in types:
        _check_choice('label', label, ('composer', 'folder'))
    items: list[Item] = []
    for path in _files(root, MIDI_EXTENSIONS):
        parts = PurePosixPath(path).parts
        fields = {'folder': str(PurePosixPath(path).parent), 'composer': parts[0] if len(parts) > 1 else '', 'file': path}
        if not fields['composer'] and 'composer' in (group_by, *types):
            rejects.add(path, 'is not in a composer folder under the root')
            continue
        labels = _parse_labels({label: fields[label] for label in types}, types)
        assert not isinstance(labels, str)  # folder names are always valid class labels
        items.append(Item(path, labels, fields[group_by]))
    return _definition(root, items, types, group_by, name, rejects)


# -- helpers -------------------------------------------------------------------------------------------------------


class _Rejects:
    """Collects files a builder cannot use; raises at the first one when on_error='raise'."""

    def __init__(self, root: Path, on_error: OnError) -> None:
        self.root, self.on_error = root, on_error
        self.entries: list[tuple[str, str]] = []

    def add(self, path: str, reason: str) -> None:
        if self.on_error == 'raise':
            raise DataFileError(f"{self.root / path}: {reason}; fix or remove it, or pass on_error='skip'")
        self.entries.append((path, reason))


def report_skipped(skipped: Sequence[tuple[str, str]], total: int, *, stacklevel: int = 2) -> None:
    """One `SkippedFileWarning` per skipped file, then one with the count (nothing when none was skipped).

    `stacklevel` is that of `warnings.warn` as seen from the caller of this function."""
    for path, reason in skipped:
        warnings.warn(f'skipped {path}: {reason}', SkippedFileWarning, stacklevel=stacklevel + 1)
    if skipped:
        listed = ', '.join(path for path, _ in skipped[:5]) + (', ...' if len(skipped) > 5 else '')
        warnings.warn(f'skipped {len(skipped)} of {total} files: {listed}', SkippedFileWarning, stacklevel=stacklevel + 1)


def _definition(root: Path, items: list[Item], label_types: dict[str, Any], group_key: str, name: str | None,
                rejects: _Rejects, *, sort: bool = True) -> DatasetDefinition:
    if sort:
        items = sorted(items, key=lambda item: _natural_key(item.path))
    report_skipped(rejects.entries, len(items) + len(rejects.entries), stacklevel=3)
    if not items:
        raise DatasetError(f'no usable files under {root} ({len(rejects.entries)} skipped); check the folder and the pattern or columns')
    return DatasetDefinition(root, items, label_types, group_key, name or '', rejects.entries)


def _compile_pattern(pattern: str) -> tuple[re.Pattern[str], list[str]]:
    """'{digit}_{speaker}.wav' -> a regex with named groups, and the field names in order."""
    fields, parts = [], []
    for literal, field_name in re.findall(r'([^{}]*)(?:\{(\w*)\})?', pattern):
        parts.append(re.escape(literal))
        if field_name:
            if field_name in fields:
                raise ConfigError(f'pattern {pattern!r} names the field {field_name!r} twice')
            fields.append(field_name)
            parts.append(f'(?P<{field_name}>[^/]+?)')
    if set(re.sub(r'\{\w+\}', '', pattern)) & {'{', '}'}:
        raise ConfigError(f'pattern {pattern!r} has an unmatched or empty brace; write fields as {{name}}')
    return re.compile(''.join(parts)), fields


def _parse_labels(values: Mapping[str, Any], label_types: Mapping[str, LabelType]) -> dict[str, str | float] | str:
    """Typed labels, or a reason string when a value is empty or not a number."""
    labels: dict[str, str | float] = {}
    for label, kind in label_types.items():
        text = '' if values[label] is None else str(values[label]).strip()
        if not text:
            return f'label {label!r} is empty'
        if kind == 'number':
            try:
                labels[label] = float(text)
            except ValueError:
                return f'label {label!r} is {text!r}, not a number'
        else:
            labels[label] = text
    return labels


def _infer_type(rows: Sequence[Mapping[str, Any]], column: str) -> LabelType:
    try:
        [float(row[column]) for row in rows]
    except (TypeError, ValueError):
        return 'class'
    return 'number'


def _read_table(path: Path) -> list[dict[str, Any]]:
    """Rows of a CSV or JSON table as dicts; a DataFileError names the file when it cannot be read."""
    if not path.is_file():
        raise DataFileError(f'{path}: no such metadata table')
    try:
        if path.suffix.lower() == '.csv':
            with open(path, newline='', encoding='utf-8-sig') as file:
                return list(csv.DictReader(file))
        if path.suffix.lower() != '.json':
            raise DataFileError(f'{path}: metadata tables must be .csv or .json')
        data = json.loads(path.read_text(encoding='utf-8'))
    except (UnicodeDecodeError, json.JSONDecodeError, csv.Error) as error:
        raise DataFileError(f'{path}: not a readable table ({error})') from None
    if isinstance(data, list) and all(isinstance(row, dict) for row in data):
        return data
    if isinstance(data, dict) and all(isinstance(column, dict | list) for column in data.values()):
        columns = {name: list(values.values()) if isinstance(values, dict) else values for name, values in data.items()}
        lengths = {len(values) for values in columns.values()}
        if len(lengths) == 1:
            return [dict(zip(columns, row, strict=True)) for row in zip(*columns.values(), strict=True)]
    raise DataFileError(f'{path}: JSON must be a list of records or a dict of equally long columns')


def _files(root: Path, extensions: Iterable[str]) -> list[str]:
    """POSIX paths relative to `root` of the files with these extensions, hidden files and folders excluded."""
    wanted = {extension.lower() for extension in extensions}
    found = []
    for path in root.rglob('*'):
        relative = path.relative_to(root)
        if path.suffix.lower() not in wanted or any(part.startswith('.') for part in relative.parts):
            continue
        if path.is_file():
            found.append(relative.as_posix())
        elif path.is_symlink() and not path.exists():  # said, not silently dropped: the file the link named is gone
            warnings.warn(f'skipped {path}: a symbolic link to {os.readlink(path)}, which does not exist', SkippedFileWarning, stacklevel=3)
    return sorted(found, key=_natural_key)


def _by_stem(folder: Path, extensions: Iterable[str]) -> dict[str, str]:
    """'sub/name' (path without extension, relative to `folder`) -> relative path."""
    return {str(PurePosixPath(path).with_suffix('')): path for path in _files(folder, extensions)}


def _relative(path: Path, root: Path) -> str:
    return Path(path).resolve().relative_to(root.resolve()).as_posix()


def _start(root: str | Path, on_error: OnError) -> tuple[Path, _Rejects]:
    folder = _existing_folder(root)
    _check_choice('on_error', on_error, get_args(OnError))
    return folder, _Rejects(folder, on_error)


def _existing_folder(root: str | Path) -> Path:
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f'{root} is not a folder; download or generate the dataset there first')
    return root


def _check_choice(what: str, value: str, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ConfigError(f'{what} is {value!r}; use one of {", ".join(repr(choice) for choice in choices)}')


def _natural_key(text: str) -> tuple[Any, ...]:
    """Sort key that orders embedded numbers numerically: 'x_2' before 'x_10'.

    '01' and '1' are equal as numbers, so the text itself breaks the tie; without it their order would follow the
    order of a set, which changes from process to process, and so would class indices, group ids and splits.
    """
    return [(0, int(part), '') if part.isdigit() else (1, 0, part) for part in re.split(r'(\d+)', text) if part], text

