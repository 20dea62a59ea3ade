"""The layouts a dataset comes in on disk, each read into a `DatasetDefinition` from file names and tables alone.

    digits = audio_folder('data/fsdd/recordings', '{digit}_{speaker}_{index}.wav', group_by='speaker',
                          label_types={'digit': 'class'})     # 0_jackson_0.wav -> digit '0', speaker 'jackson'
    pieces = metadata_table('data/maestro', 'maestro-v3.0.0.csv', label_columns={'year': 'number'},
                            group_column='canonical_title', companion_columns={'midi': 'midi_filename'})

`audio_folder` (labels in the file names), `metadata_table` (a CSV or JSON table of files and labels),
`audio_midi_pairs` (audio beside its MIDI), `score_performance_pairs` (MIDI performances beside their scores),
`match_performances` (match files listed in a table, (n)ASAP's) and `midi_collection` (MIDI files grouped by folder,
composer or file). Files that cannot be used follow `on_error`, as
`etude.data.definitions` says.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any, Literal, get_args

import numpy as np

from ..errors import ConfigError, DataFileError, DatasetError
from .definitions import (
    AUDIO_EXTENSIONS,
    MIDI_EXTENSIONS,
    SCORE_EXTENSIONS,
    DatasetDefinition,
    Item,
    LabelType,
    OnError,
    SkippedFileWarning,
    natural_key,
    report_skipped,
)
from .split import check_fractions, stratified_group_split

__all__ = ['audio_folder', 'audio_midi_pairs', 'match_performances', 'metadata_table', 'midi_collection', 'score_performance_pairs']


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


def match_performances(root: str | Path, *, table: str = 'metadata.csv', fractions: Sequence[float] = (0.7, 0.15, 0.15), seed: int = 0,
                       pieces: int | None = None, on_error: OnError = 'skip', name: str | None = None) -> DatasetDefinition:
    """Match files listed in a table with their MusicXML scores and composers ((n)ASAP's `metadata.csv`: columns
    `composer`, `title`, `xml_score`, `match_file`, `midi_performance`), split by piece, stratified by composer.

    Items' primary file is the match file, with companions {'score', 'performance'} and the label `composer`; a
    piece (`composer/title`: (n)ASAP keeps a movement with and without its repeats in two folders of one title, which
    must not fall on both sides of a split) is a group, and every item carries its split, dealt out by `fractions` over each
    composer's pieces (`etude.data.split.stratified_group_split`), so no piece is in two splits and every composer
    with enough pieces is in each. `pieces` keeps that many pieces, chosen with `seed` in proportion to each
    composer's share, before the split. Rows whose files are missing follow `on_error` (skipped with a warning by
    default: (n)ASAP's table lists performances whose scores it does not ship). The rule is recorded as the
    definition's `split_rule`, which a dataset built from it keeps and an export records.
    """
    check_fractions(fractions)
    if pieces is not None and (isinstance(pieces, bool) or not isinstance(pieces, int) or pieces < 1):
        raise ConfigError(f'pieces must be a positive number of pieces or None (all), got {pieces!r}')
    listed = metadata_table(root, table, audio_column='match_file', label_columns={'composer': 'class'}, split_column=None,
                            group_column='title', companion_columns={'score': 'xml_score', 'performance': 'midi_performance'},
                            on_error=on_error, name=name or Path(root).resolve().name)
    pieces_of = [dataclasses.replace(item, group=f'{item.labels["composer"]}/{item.group}') for item in listed.items]
    composer_of = {item.group: str(item.labels['composer']) for item in pieces_of}
    if pieces is not None and pieces < len(composer_of):
        rng = np.random.default_rng(seed)
        rank: dict[str, float] = {}
        for composer in sorted(set(composer_of.values())):  # each composer's pieces spread evenly over [0, 1)
            members = sorted(group for group, owner in composer_of.items() if owner == composer)
            start = rng.random()
            for position, index in enumerate(rng.permutation(len(members))):
                rank[members[index]] = (position + start) / len(members)
        chosen = set(sorted(rank, key=lambda group: (rank[group], group))[:pieces])
        composer_of = {group: composer for group, composer in composer_of.items() if group in chosen}
    split = stratified_group_split(list(composer_of), list(composer_of.values()), fractions, seed)
    items = [dataclasses.replace(item, split=split[item.group]) for item in pieces_of if item.group in composer_of]
    rule = (f'by piece (composer/title), stratified by composer: fractions {"/".join(f"{part:g}" for part in fractions)}, seed {seed}'
            + (f', {len(composer_of)} of {len(set(item.group for item in pieces_of))} pieces' if pieces is not None else ''))
    return DatasetDefinition(listed.root, items, listed.label_types, 'piece', listed.name, listed.skipped, split_rule=rule)


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


# -- helpers --------------------------------------------------------------------------------------------------------


class _Rejects:
    """Collects files a builder cannot use; raises at the first one when on_error='raise'."""

    def __init__(self, root: Path, on_error: OnError) -> None:
        self.root, self.on_error = root, on_error
        self.entries: list[tuple[str, str]] = []

    def add(self, path: str, reason: str) -> None:
        if self.on_error == 'raise':
            raise DataFileError(f"{self.root / path}: {reason}; fix or remove it, or pass on_error='skip'")
        self.entries.append((path, reason))


def _definition(root: Path, items: list[Item], label_types: dict[str, Any], group_key: str, name: str | None,
                rejects: _Rejects, *, sort: bool = True) -> DatasetDefinition:
    if sort:
        items = sorted(items, key=lambda item: natural_key(item.path))
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
    return sorted(found, key=natural_key)


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
