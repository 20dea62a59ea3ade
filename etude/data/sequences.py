"""Symbolic datasets: windows of notes from MIDI collections and from aligned score/performance pairs.

    melodies = SequenceCache(midi_collection('data/chorales'), NoteSequences(sequence_length=25)).load()
    # inputs (n, 25, 3): pitch, step, duration of 25 notes; labels next_pitch (class), next_step, next_duration

    pairs = SequenceCache(score_performance_pairs('data/asap', pair_by='folder'), PerformanceSequences()).load()
    # inputs (n, 64, 15): score features of 64 notes; labels (n, 64): velocity, onset_deviation, ... and masks

The first is seed 002's training data for a note generator; the second is seed 000's Score / Performance pairs for a
model that plays a score expressively. Both are built once into etude's binary store, keyed by a fingerprint of the
raw files and the settings, and reused while nothing changes, by the same skeleton as the audio feature cache
(`etude.data.builder`: one process builds, any others wait and reuse). Files are parsed in parallel worker processes
(music21 is pure Python and slow); a file that cannot be read, or a pair whose notes do not align, follows
`on_error`. Builds take seconds to minutes and are not resumable: an interrupted build starts again.

Every window keeps the group (piece, composer) and the split of its file, so the Routine's split never puts windows of
one piece on both sides.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol

import numpy as np
from tqdm.auto import tqdm

from ..errors import ConfigError, DataFileError, DatasetError
from .builder import CacheBuilder, start_quiet_worker, worker_pool
from .definitions import DatasetDefinition
from .files import available_cores
from .store import DatasetWriter, StoredDataset

__all__ = ['NoteSequences', 'SequenceCache', 'WindowSettings', 'check_window']

SEQUENCE_VERSION = 3  # bump when what a window holds changes, so old datasets are not reused


class WindowSettings(Protocol):
    """What a window of notes is: a frozen dataclass (its fields are fingerprinted) that reads one raw item into per-note
    rows and cuts those into windows. `NoteSequences` is one; a music task defines its own beside its codec (e.g.
    `etude.music.performance.PerformanceSequences`), and it must be importable by name, since worker processes
    unpickle it."""

    __dataclass_fields__: ClassVar[dict[str, Any]]

    @property
    def kind(self) -> str:
        """The name the dataset records for this kind of window."""
        ...

    @property
    def sequence_length(self) -> int:
        """Notes per window."""
        ...

    def read(self, root: Path, path: str, companions: dict[str, str]) -> dict[str, np.ndarray]:
        """The item's per-note rows (a DataFileError names a file that cannot be used)."""
        ...

    def windows(self, rows: dict[str, np.ndarray]) -> Iterator[tuple[int, np.ndarray, dict[str, np.ndarray]]]:
        """`(start note, inputs, labels)` of each window of one item."""
        ...

    def shapes(self) -> tuple[tuple[int, ...], dict[str, tuple[int, ...]], dict[str, str]]:
        """`(input shape, label shapes, label dtypes other than float32)` of one window."""
        ...

    def label_types(self) -> dict[str, str]:
        ...

    def classes(self) -> dict[str, list[str]]:
        ...

    def feature_names(self) -> list[str]:
        ...


@dataclass(frozen=True)
class NoteSequences:
    """Windows of `sequence_length` consecutive notes, each labelled with the note that follows (seed 002).

    Notes of all (non-drum) instruments are merged and sorted by onset, or only `instrument`'s. A file of n notes
    gives the windows starting at 0, hop, 2 hop ... that leave a next note, none when n <= sequence_length.
    Inputs are `columns` of `etude.data.midi.note_columns` ((sequence_length, len(columns)) float32, pitch as MIDI
    numbers: normalise in the model); labels are `next_<column>`: `next_pitch` a class (int64 0..127), the others
    float32.
    """

    sequence_length: int = 25
    hop: int = 1
    columns: tuple[str, ...] = ('pitch', 'step', 'duration')
    instrument: int | None = None
    kind: str = field(default='note_sequences', init=False)

    def __post_init__(self) -> None:
        from .midi import NOTE_FIELDS

        check_window(self.sequence_length, self.hop)
        unknown = sorted(set(self.columns) - set(NOTE_FIELDS))
        if unknown or not self.columns:
            raise ConfigError(f'NoteSequences columns {unknown or "()"} are not note fields; choose from {", ".join(NOTE_FIELDS)}')

    def read(self, root: Path, path: str, companions: dict[str, str]) -> dict[str, np.ndarray]:
        from .midi import midi_to_notes, note_columns

        notes = midi_to_notes(root / path, instrument=self.instrument)
        return {'notes': note_columns(notes, self.columns)}

    def windows(self, rows: dict[str, np.ndarray]) -> Iterator[tuple[int, np.ndarray, dict[str, np.ndarray]]]:
        notes = rows['notes']
        for start in range(0, len(notes) - self.sequence_length, self.hop):
            following = notes[start + self.sequence_length]
            yield start, notes[start:start + self.sequence_length], {f'next_{c}': following[i] for i, c in enumerate(self.columns)}

    def shapes(self) -> tuple[tuple[int, ...], dict[str, tuple[int, ...]], dict[str, str]]:
        labels: dict[str, tuple[int, ...]] = {f'next_{column}': () for column in self.columns}
        dtypes = {f'next_{column}': 'int64' if column == 'pitch' else 'float32' for column in self.columns}
        return (self.sequence_length, len(self.columns)), labels, dtypes

    def label_types(self) -> dict[str, str]:
        return {f'next_{column}': 'class' if column == 'pitch' else 'number' for column in self.columns}

    def classes(self) -> dict[str, list[str]]:
        return {'next_pitch': [str(pitch) for pitch in range(128)]} if 'pitch' in self.columns else {}

    def feature_names(self) -> list[str]:
        return list(self.columns)


@dataclass
class SequenceCache(CacheBuilder):
    """A definition's note windows under `settings`, built once in `cache_root` and reused while nothing changes.

    Args:
        definition: MIDI files (`midi_collection`) for `NoteSequences`; score/performance pairs
            (`score_performance_pairs`) for `PerformanceSequences`. Its labels (a composer, say) label every window.
        settings: what a window is.
        cache_root: where datasets live, one folder per fingerprint: `<name>-<fingerprint[:12]>`.
        name: the folder's prefix; default the definition's name.
        on_error: 'raise' stops at the first bad file with a DataFileError naming it; 'skip' leaves it out with a
            `SkippedFileWarning` per file and a count.
        workers: processes that parse files; default all cores this process may use; 1 parses in this process.
        content_hash: fingerprint files by their contents rather than size and mtime.
        progress: show a tqdm bar.
    """

    definition: DatasetDefinition
    settings: WindowSettings
    cache_root: str | Path = 'data/cache'
    name: str | None = None
    on_error: Literal['skip', 'raise'] = 'raise'
    workers: int | None = None
    content_hash: bool = False
    progress: bool = True

    def __post_init__(self) -> None:
        self._check_common()

    def describe(self) -> dict[str, Any]:
        """What the fingerprint covers: the raw files' stats (or contents), the items' labels, groups and splits, and
        the settings."""
        return {
            'version': SEQUENCE_VERSION, 'kind': self.settings.kind, 'settings': asdict(self.settings), 'content_hash': self.content_hash,
            'label_types': self.definition.label_types, 'group_key': self.definition.group_key,
            'items': self.definition.file_fingerprints(self.content_hash),
        }

    def build(self, directory: Path, fingerprint: str) -> StoredDataset:
        definition, started = self.definition, time.perf_counter()
        per_item = self._read_all()
        skipped = [(definition.items[index].path, result) for index, result in enumerate(per_item) if isinstance(result, str)]
        if len(skipped) == len(definition):
            raise DatasetError(f'none of the {len(definition)} files of {definition.name} could be used, e.g. {skipped[0][0]}: {skipped[0][1]}'
                               if skipped else f'{definition.name} has no files')
        windows = [(index, start, inputs, labels) for index, rows in enumerate(per_item) if not isinstance(rows, str)
                   for start, inputs, labels in self.settings.windows(rows)]
        if not windows:
            raise DatasetError(f'no file of {definition.name} is long enough for one window of {self.settings.sequence_length} notes')
        input_shape, label_shapes, label_dtypes = self.settings.shapes()
        item_labels, (groups, group_names) = definition.label_arrays(), definition.group_ids()
        with DatasetWriter(directory, size=len(windows), input_shape=input_shape,
                           label_shapes={**label_shapes, **{label: () for label in item_labels}},
                           label_dtypes={**label_dtypes, **{label: str(values.dtype) for label, values in item_labels.items()}}) as writer:
            for row, (index, _, inputs, labels) in enumerate(windows):
                writer.write(row, inputs, {**labels, **{label: values[index] for label, values in item_labels.items()}}, groups[index])
            rows_of = [index for index, _, _, _ in windows]
            match_rates = {definition.items[index].path: float(rows['match_rate']) for index, rows in enumerate(per_item)
                           if not isinstance(rows, str) and 'match_rate' in rows}
            return writer.finish({
                'name': directory.name,
                'fingerprint': fingerprint,
                'label_types': {**self.settings.label_types(), **definition.label_types},
                'classes': {**self.settings.classes(), **definition.classes()},
                'input_features': self.settings.feature_names(),
                'group_key': definition.group_key,
                'group_names': group_names,
                'raw_root': str(definition.root.resolve()),
                'files': [definition.items[index].path for index in rows_of],
                'window_starts': [start for _, start, _, _ in windows],
                'splits': [definition.items[index].split for index in rows_of] if definition.has_split else None,
                'split_rule': definition.split_rule or None,
                'match_rates': match_rates or None,
                'skipped': [{'file': path, 'reason': reason} for path, reason in skipped],
                'source': {'kind': self.settings.kind, 'settings': asdict(self.settings), 'definition': definition.name,
                           'seconds': round(time.perf_counter() - started, 3)},
            })

    def _read_all(self) -> list[dict[str, np.ndarray] | str]:
        """Each item's per-note rows, or the reason it is unusable; in worker processes unless `workers` is 1."""
        items = self.definition.items
        jobs = [(self.settings, self.definition.root, item.path, dict(item.companions), self.on_error) for item in items]
        workers = min(self.workers or available_cores(), len(jobs))
        with tqdm(total=len(jobs), desc=f'reading {self.name}', unit='file', disable=None if self.progress else True) as bar:
            results = []
            if workers <= 1:
                for job in jobs:
                    results.append(_read_or_reason(*job))
                    bar.update()
                return results
            with worker_pool(workers, initializer=start_quiet_worker, preload=(type(self.settings).__module__, 'music21', 'pretty_midi')) as pool:
                for result in pool.map(_read_or_reason_job, jobs, chunksize=max(1, len(jobs) // (8 * workers))):
                    results.append(result)
                    bar.update()
                return results


def _read_or_reason_job(job: tuple[Any, ...]) -> dict[str, np.ndarray] | str:
    return _read_or_reason(*job)


def _read_or_reason(settings: WindowSettings, root: Path, path: str, companions: dict[str, str],
                    on_error: str) -> dict[str, np.ndarray] | str:
    """One item's rows, or with on_error='skip' the reason it cannot be used (with 'raise', the DataFileError)."""
    try:
        return settings.read(root, path, companions)
    except DataFileError as error:
        if on_error == 'raise':
            raise DataFileError(f"{error}; fix or remove it, or build with on_error='skip'") from None
        return str(error).removeprefix(f'{root / path}: ')


def check_window(sequence_length: int, hop: int) -> None:
    """Refuse a window length or hop that is not a positive whole number of notes."""
    if isinstance(sequence_length, bool) or not isinstance(sequence_length, int) or sequence_length < 1:
        raise ConfigError(f'sequence_length must be a positive number of notes, got {sequence_length!r}')
    if isinstance(hop, bool) or not isinstance(hop, int) or hop < 1:
        raise ConfigError(f'hop must be a positive number of notes, got {hop!r}')
