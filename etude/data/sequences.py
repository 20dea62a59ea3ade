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
from typing import Any, Literal

import numpy as np
from tqdm.auto import tqdm

from ..errors import ConfigError, DataFileError, DatasetError
from .builder import CacheBuilder, start_quiet_worker, worker_pool
from .definitions import DatasetDefinition
from .files import available_cores
from .performance import SCORE_FEATURES
from .store import DatasetWriter, StoredDataset

__all__ = ['PERFORMANCE_TARGETS', 'SCORE_FEATURES', 'NoteSequences', 'PerformanceSequences', 'SequenceCache', 'local_tempo']

SEQUENCE_VERSION = 3  # bump when what a window holds changes, so old datasets are not reused
PERFORMANCE_TARGETS = ('velocity', 'onset_deviation', 'log_duration_ratio', 'beat_seconds', 'matched', 'note_mask')


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

        _check_window(self.sequence_length, self.hop)
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


@dataclass(frozen=True)
class PerformanceSequences:
    """Windows of `sequence_length` score notes with what a performance made of each (seed 000's pairs).

    Each item is a performance (MIDI) with its score (`companions['score']`, MusicXML), as `score_performance_pairs`
    defines them. The score's notes (`read_score`, repeats written out with `expand_repeats`) are aligned to the
    performance's (`align_score_to_performance`); a pair matching fewer than `min_match_rate` of the score's notes is a
    bad item (wrong pairing, unexpanded repeats, another edition), reported under `on_error`.

    Inputs, per note, `SCORE_FEATURES` (float32): pitch, written duration and onset step in beats, position in the
    bar, metrical weight, key signature and mode, time signature, the dynamic in effect (level and whether there is
    one) and four articulation flags. Labels, per note, `PERFORMANCE_TARGETS` (float32):
        velocity            MIDI velocity / 127 of the matched performance note
        onset_deviation     seconds the note was played early (< 0) or late (> 0) against the tempo curve, which goes
                            through where each onset should be judging from the other onsets within `tempo_window_beats`
        log_duration_ratio  log2 of played over written duration (written in seconds at the local tempo): legato > 0
        beat_seconds        the tempo curve: seconds of the quarter-note beat the note is in, i.e. 60 / quarter-note bpm
        matched             1 where the score note was found in the performance, else 0 (and the three above are 0)
        note_mask           1 for real notes, 0 for the padding that fills a piece's last window
    Windows start every `hop` notes; the last also covers the piece's end, padded when the piece is shorter. These are
    `etude.data.performance`'s codec: `render_performance` turns them (or a model's predictions) back into notes.
    """

    sequence_length: int = 64
    hop: int = 32
    expand_repeats: bool = True
    min_match_rate: float = 0.5
    tempo_window_beats: float = 4.0
    kind: str = field(default='performance_sequences', init=False)

    def __post_init__(self) -> None:
        _check_window(self.sequence_length, self.hop)
        if not 0.0 <= self.min_match_rate <= 1.0:
            raise ConfigError(f'min_match_rate must be in [0, 1], got {self.min_match_rate}')
        if not self.tempo_window_beats > 0:
            raise ConfigError(f'tempo_window_beats must be a positive number of quarter notes, got {self.tempo_window_beats}')

    def read(self, root: Path, path: str, companions: dict[str, str]) -> dict[str, np.ndarray]:
        from .midi import midi_to_notes
        from .performance import encode_performance, read_pedal, score_features
        from .score import align_score_to_performance, read_score

        if 'score' not in companions:
            raise DataFileError(f'{root / path}: no score paired with this performance; define pairs with score_performance_pairs')
        score = read_score(root / companions['score'], expand_repeats=self.expand_repeats)
        performance = midi_to_notes(root / path)
        alignment = align_score_to_performance(score, performance)
        matched = np.flatnonzero(alignment.score_to_performance >= 0)
        if alignment.match_rate < self.min_match_rate or len(np.unique(score['onset_beats'][matched])) < 3:
            raise DataFileError(f'{root / path}: only {alignment.match_rate:.0%} of the notes of {companions["score"]} match it '
                                f'(min_match_rate {self.min_match_rate}); check the pairing and the repeats')
        encoded = encode_performance(score, performance, alignment.score_to_performance, tempo_window_beats=self.tempo_window_beats,
                                     pedal=read_pedal(root / path))
        targets = {**encoded.targets, 'note_mask': np.ones(len(score), dtype=np.float32)}
        features = score_features(score)
        return {'features': features, **targets, 'match_rate': np.array(alignment.match_rate, dtype=np.float32)}

    def windows(self, rows: dict[str, np.ndarray]) -> Iterator[tuple[int, np.ndarray, dict[str, np.ndarray]]]:
        count, length = len(rows['features']), self.sequence_length
        starts = list(range(0, max(count - length, 0) + 1, self.hop))
        if count > length and starts[-1] + length < count:
            starts.append(count - length)  # the piece's last notes get a window too
        for start in starts:
            stop = min(start + length, count)
            inputs = np.zeros((length, len(SCORE_FEATURES)), dtype=np.float32)
            inputs[:stop - start] = rows['features'][start:stop]
            labels = {name: np.zeros(length, dtype=np.float32) for name in PERFORMANCE_TARGETS}
            for name in PERFORMANCE_TARGETS:
                labels[name][:stop - start] = rows[name][start:stop]
            yield start, inputs, labels

    def shapes(self) -> tuple[tuple[int, ...], dict[str, tuple[int, ...]], dict[str, str]]:
        return (self.sequence_length, len(SCORE_FEATURES)), {name: (self.sequence_length,) for name in PERFORMANCE_TARGETS}, {}

    def label_types(self) -> dict[str, str]:
        return {name: 'number' for name in PERFORMANCE_TARGETS}

    def classes(self) -> dict[str, list[str]]:
        return {}

    def feature_names(self) -> list[str]:
        return list(SCORE_FEATURES)


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
    settings: NoteSequences | PerformanceSequences
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
            with worker_pool(workers, initializer=start_quiet_worker, preload=('etude.data.sequences', 'music21', 'pretty_midi')) as pool:
                for result in pool.map(_read_or_reason_job, jobs, chunksize=max(1, len(jobs) // (8 * workers))):
                    results.append(result)
                    bar.update()
                return results


def _read_or_reason_job(job: tuple[Any, ...]) -> dict[str, np.ndarray] | str:
    return _read_or_reason(*job)


def _read_or_reason(settings: NoteSequences | PerformanceSequences, root: Path, path: str, companions: dict[str, str],
                    on_error: str) -> dict[str, np.ndarray] | str:
    """One item's rows, or with on_error='skip' the reason it cannot be used (with 'raise', the DataFileError)."""
    try:
        return settings.read(root, path, companions)
    except DataFileError as error:
        if on_error == 'raise':
            raise DataFileError(f"{error}; fix or remove it, or build with on_error='skip'") from None
        return str(error).removeprefix(f'{root / path}: ')


def local_tempo(anchor_beats: np.ndarray, anchor_seconds: np.ndarray, beats: np.ndarray, half_width: float) -> tuple[np.ndarray, np.ndarray]:
    """Where (seconds) and how fast (seconds per quarter note) the music goes at each of `beats`, judged from the
    other onsets around it.

    The performed time of each score onset is the median over its notes (a chord's spread does not move it). At each
    query onset a line is fitted, by least squares with triangular weights, through the onsets within `half_width`
    quarter notes on either side, leaving out the onset itself: so a whole chord played late shows as late instead
    of bending the line through itself, and a ritardando shows as a slower line rather than as late notes. Where
    fewer than two other onsets lie within reach, the three nearest are used.

    Args:
        anchor_beats, anchor_seconds: `(n,)` score onsets (quarter notes) of matched notes and their performed times.
        beats: `(m,)` the onsets to evaluate at.
    Returns:
        `(m,)` expected times in seconds and `(m,)` seconds per quarter note.
    """
    order = np.argsort(anchor_beats, kind='stable')
    onsets, first = np.unique(anchor_beats[order], return_index=True)
    times = np.array([np.median(chunk) for chunk in np.split(anchor_seconds[order], first[1:])])
    queries, inverse = np.unique(beats, return_inverse=True)
    expected, slopes = np.empty(len(queries)), np.empty(len(queries))
    for index, query in enumerate(queries):
        distance = np.abs(onsets - query)
        others = distance > 1e-9
        weights = np.where(others, np.clip(1.0 - distance / half_width, 0.0, None), 0.0)
        if np.count_nonzero(weights) < 2:
            nearest = np.argsort(np.where(others, distance, np.inf), kind='stable')[:3]
            weights = np.zeros(len(onsets))
            weights[nearest[np.isfinite(distance[nearest]) & others[nearest]]] = 1.0
        centre_x, centre_y = np.average(onsets, weights=weights), np.average(times, weights=weights)
        spread = np.sum(weights * (onsets - centre_x) ** 2)
        slope = np.sum(weights * (onsets - centre_x) * (times - centre_y)) / spread if spread > 0 else 0.0
        slopes[index] = max(slope, 1e-3)  # time never runs backwards
        expected[index] = centre_y + slopes[index] * (query - centre_x)
    return expected[inverse], slopes[inverse]


def _check_window(sequence_length: int, hop: int) -> None:
    if isinstance(sequence_length, bool) or not isinstance(sequence_length, int) or sequence_length < 1:
        raise ConfigError(f'sequence_length must be a positive number of notes, got {sequence_length!r}')
    if isinstance(hop, bool) or not isinstance(hop, int) or hop < 1:
        raise ConfigError(f'hop must be a positive number of notes, got {hop!r}')
