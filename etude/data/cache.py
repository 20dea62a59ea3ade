"""The feature cache: featurise a dataset's raw audio once, keyed by what produced it, and load it on later runs.

    definition = spoken_digit_folder('data/fsdd/recordings')     # from etude.data.generators
    cache = FeatureCache(definition, RepresentationSettings(sample_rate=8000), num_samples=8000)
    dataset = cache.load()        # builds on the first call, opens `data/cache/<name>-<fingerprint[:12]>/` after

The result is an ordinary stored dataset (`etude.data.store`): `inputs.npy` `(size, *output_shape(settings,
num_samples))` float32, `labels/<name>.npy` `(size,)` (int64 class indices or float32 numbers), `groups.npy`, and a
`metadata.json` holding what models and exports size themselves from: input shape, size, label types and classes,
sample rate, representation settings, the raw root, the files of each row and the dataset's own split.

The fingerprint covers every raw file's path relative to the root, size and mtime_ns, the labels, groups and splits,
the representation settings and `num_samples`. Change any of them and the next load builds a new cache beside the
old; change none and it opens the cache without reading any audio. File stats rather than content hashes because
stat'ing 5000 files takes milliseconds while hashing their gigabyte takes seconds on every run; a copy that resets
mtimes only costs a rebuild. `content_hash=True` hashes contents (sha256) for files whose mtimes are not kept.

Builds are parallel and resumable. Chunks of `chunk_size` files go to `workers` processes that read (resampling to
the representation's rate, mixing to mono, padding or trimming to `num_samples`), featurise, and write their rows
straight into memory-mapped arrays in `<directory>.partial/` (their disk space reserved when the build is planned, so
a full disk is a one-line error at the start, never a SIGBUS later); the main process records each completed chunk in
a progress file, atomically rewritten. An interrupted build (Ctrl-C, kill -9, power cut after the progress write)
resumes from the recorded chunks on the next load; `metadata.json` is written last and the folder renamed into place
only when complete, so a half-built cache is never read. Loading, locking, reuse and the skip policy are the shared
skeleton of `etude.data.builder`, so any number of processes may load one cache at once: one builds, the others wait
and open it. Featurising in the workers measured faster than shipping waveforms back to a batched featuriser in the
main process (see benchmarks/README.md).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Callable, Generator
from concurrent.futures import FIRST_COMPLETED, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from tqdm.auto import tqdm

from ..errors import ConfigError, DataFileError, DatasetError
from .audio import audio_info
from .builder import CacheBuilder, left_out, worker_pool
from .cache_worker import PIANO_KEYS, PIANO_ROLL_DTYPES, Chunk, compute_chunk, start_worker
from .definitions import DatasetDefinition
from .files import available_cores, disk_full_message, write_json_atomic
from .partial import allocate_array, check_space_for, create_partial, discard_partial, is_own_partial, mark_partial, publish
from .representations import RepresentationSettings, output_shape
from .store import METADATA_FILE, StoredDataset, dataset_metadata, read_dataset

__all__ = ['BuildInterrupted', 'BuildReport', 'FeatureCache', 'build_feature_cache']

CACHE_VERSION = 3  # bump when the layout or the featurisation pipeline changes, so old caches are not reused
PROGRESS_FILE = 'progress.json'
PLAN_FILE = 'plan.json'  # the rows of an unfinished build, written once; progress.json stays small


class BuildInterrupted(DatasetError):
    """Ctrl-C during a build: the chunks already computed are kept and the next load resumes from them."""


@dataclass(frozen=True)
class BuildReport:
    """What the last `FeatureCache.load` did: `cache_hit` with no chunks computed, or a (resumed) build."""

    directory: Path
    fingerprint: str
    cache_hit: bool
    chunks: int = 0
    chunks_resumed: int = 0  # completed by an earlier, interrupted build and kept
    chunks_computed: int = 0  # computed by this call
    skipped: tuple[tuple[str, str], ...] = ()
    seconds: float = 0.0


@dataclass
class FeatureCache(CacheBuilder):
    """A definition's features under a representation, built once in `cache_root` and reused while nothing changes.

    Args:
        definition: the items (see `etude.data.definitions`); row i of the cache is item i, less skipped files, unless
            the recordings are cut into segments.
        representation: the features to compute; its `sample_rate` is the rate audio is resampled to.
        num_samples: every clip is padded with zeros or trimmed to this many samples (at the representation's rate)
            so the input shape, `(size, *output_shape(representation, num_samples))`, is known before building.
        segment_hop_seconds: cut each recording into clips of `num_samples` starting every this many seconds (the
            last one padded), for long recordings such as MAESTRO's; rows then follow files, then offsets, and
            `metadata['offsets']` gives each row's start. None: one clip from the start of each file.
        targets: piano-roll transcription targets to store for each clip, any of `PIANO_ROLL_DTYPES` (e.g.
            `('frame', 'onset', 'offset', 'velocity')`), from each item's MIDI companion (`audio_midi_pairs`,
            `metadata_table(companion_columns={'midi': ...})`), on the features' own frames: `labels/<target>.npy`
            of shape `(size, frames, 88)`, stored as `PIANO_ROLL_DTYPES` says (velocity as MIDI 0-127).
        cache_root: where caches live, one folder per fingerprint.
        name: the cache folder's prefix; default the definition's name.
        content_hash: fingerprint files by sha256 of their bytes instead of size and mtime (slower, copy-proof).
        on_error: 'raise' stops at the first unreadable file with a DataFileError naming it; 'skip' leaves such files
            out, with a `SkippedFileWarning` per file and a count.
        workers: processes that read and featurise; default: the cores this process may use; 1 builds in this process.
        chunk_size: rows per chunk, the unit of parallel work and of resumption.
        batch_size: waveforms per featuriser call inside a chunk.
        progress: show a tqdm bar (hidden when not on a terminal).
        on_chunk: called as `on_chunk(chunks_done, chunks_total)` after each chunk is recorded.
    """

    definition: DatasetDefinition
    representation: RepresentationSettings
    num_samples: int
    _: KW_ONLY
    segment_hop_seconds: float | None = None
    targets: tuple[str, ...] = ()
    cache_root: str | Path = 'data/cache'
    name: str | None = None
    content_hash: bool = False
    on_error: Literal['skip', 'raise'] = 'raise'
    workers: int | None = None
    chunk_size: int = 256
    batch_size: int = 16
    progress: bool = True
    on_chunk: Callable[[int, int], None] | None = None
    report: BuildReport | None = field(default=None, init=False)
    _counts: tuple[int, int, int] = field(default=(0, 0, 0), init=False, repr=False)  # chunks, resumed, computed by the last build

    def __post_init__(self) -> None:
        self._check_common()
        for option in ('chunk_size', 'batch_size', 'workers'):
            value = getattr(self, option)
            if not (option == 'workers' and value is None) and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
                raise ConfigError(f'FeatureCache {option} is {value!r}; it must be a positive integer')
        output_shape(self.representation, self.num_samples)  # a clear ConfigError now if the clips are too short
        if self.segment_hop_seconds is not None and not self.segment_hop_seconds > 0:
            raise ConfigError(f'segment_hop_seconds is {self.segment_hop_seconds!r}; give a positive number of seconds or None')
        self.targets = tuple(self.targets)
        self._check_targets()

    def _check_targets(self) -> None:
        unknown = sorted(set(self.targets) - set(PIANO_ROLL_DTYPES))
        if unknown:
            raise ConfigError(f'FeatureCache targets {unknown} are not piano-roll targets; choose from {", ".join(PIANO_ROLL_DTYPES)}')
        if self.targets and self.representation.kind == 'waveform':
            raise ConfigError("piano-roll targets need frames: use a spectral representation (e.g. kind='log_mel'), not 'waveform'")
        lacking = next((item.path for item in self.definition.items if 'midi' not in item.companions), None) if self.targets else None
        if lacking is not None:
            raise ConfigError(f"piano-roll targets come from each item's MIDI companion, and {lacking} has none; "
                              "define the dataset with audio_midi_pairs or a companion column named 'midi'")

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The shape of one example's features, `output_shape(representation, num_samples)`."""
        return output_shape(self.representation, self.num_samples)

    def describe(self) -> dict[str, Any]:
        """What the fingerprint covers: the raw files' stats (or contents), labels, groups, splits, the
        representation and the segmenting."""
        return {
            'cache_version': CACHE_VERSION,
            'representation': self.representation.to_dict(),
            'num_samples': self.num_samples,
            'segment_hop_seconds': self.segment_hop_seconds,
            'targets': sorted(self.targets),
            'label_types': self.definition.label_types,
            'group_key': self.definition.group_key,
            'content_hash': self.content_hash,
            'items': self.definition.file_fingerprints(self.content_hash),
        }

    def loaded(self, dataset: StoredDataset, *, built: bool, seconds: float) -> None:
        skipped, _ = left_out(dataset.metadata)
        counts = self._counts if built else (0, 0, 0)
        self.report = BuildReport(dataset.directory, dataset.fingerprint, not built, *counts, skipped=skipped, seconds=seconds)

    def stale_directories(self) -> list[Path]:
        """Caches (and unfinished builds) of this definition's raw folder whose fingerprint is not the current one:
        safe to delete. Another folder's caches of the same name (two `recordings` folders, say) are not listed."""
        current = self.directory().name
        pattern = re.compile(re.escape(str(self.name)) + r'-[0-9a-f]{12}(\.partial)?')
        return sorted(path for path in Path(self.cache_root).glob(f'{self.name}-*')
                      if path.is_dir() and pattern.fullmatch(path.name) and path.name.removesuffix('.partial') != current
                      and self._same_raw_root(path))

    def _same_raw_root(self, directory: Path) -> bool:
        """Whether a cache folder (its metadata) or an unfinished build (its progress file) was made from our root."""
        for record in (directory / METADATA_FILE, directory / PROGRESS_FILE):
            with contextlib.suppress(OSError, ValueError):
                return json.loads(record.read_text()).get('raw_root') == str(self.definition.root.resolve())
        return False

    # -- building --------------------------------------------------------------------------------------------------

    def build(self, directory: Path, fingerprint: str) -> StoredDataset:
        partial = directory.with_name(directory.name + '.partial')
        progress, rows = self._open_partial(partial, directory, fingerprint)
        size = len(rows)
        chunk_count = -(-size // self.chunk_size)
        done = set(progress['done'])
        resumed = len(done)
        chunks = [self._chunk(index, rows, partial) for index in range(chunk_count) if index not in done]
        bar = tqdm(total=size, initial=sum(min(self.chunk_size, size - i * self.chunk_size) for i in done),
                   desc=f'featurising {self.name}', unit='clip', disable=None if self.progress else True)
        runner = self._run(chunks)
        recorded = resumed  # chunks written to the progress file, which a later load resumes from
        kept = f'its {{}} finished chunks of {chunk_count} are kept and the next load resumes'
        try:
            for chunk, bad in runner:
                done.add(chunk.index)
                progress['done'] = sorted(done)
                progress['bad'].update({str(row): reason for row, reason in bad})
                write_json_atomic(partial / PROGRESS_FILE, progress)
                recorded = len(done)
                bar.update(len(chunk.paths))
                if self.on_chunk is not None:
                    self.on_chunk(len(done), chunk_count)
        except KeyboardInterrupt:
            raise BuildInterrupted(f'Interrupted building {directory.name} after {recorded} of {chunk_count} chunks; '
                                   'load it again to resume') from None
        except OSError as error:
            message = disk_full_message(error, partial)
            if message is None:
                raise
            raise DatasetError(f'cannot build the feature cache {directory.name}: {message} ({kept.format(recorded)})') from None
        except BrokenProcessPool:
            raise DatasetError(f'a worker process building {directory.name} stopped (it failed to start, was killed or ran out of memory); '
                               f'{kept.format(recorded)}: '
                               'load again, or with fewer workers') from None
        finally:
            runner.close()  # shuts the pool down now, also when on_chunk or a worker raised
            bar.close()
        self._counts = (chunk_count, resumed, len(chunks))
        return self._publish(partial, directory, fingerprint, rows, progress)

    def _left_out(self, rows: list[list[Any]], unreadable: dict[int, str], unplanned: dict[str, str],
                  ) -> tuple[tuple[tuple[str, str], ...], tuple[tuple[str, float, str], ...]]:
        """(file, reason) of the files that gave no row at all, and (file, offset, reason) of the clips left out of
        files that kept others (a damaged stretch of a long recording)."""
        items = self.definition.items
        kept_items = {rows[row][0] for row in range(len(rows)) if row not in unreadable}
        reasons = {int(item): reason for item, reason in unplanned.items()}
        dropped = []
        for row, reason in sorted(unreadable.items()):
            item, offset = rows[row]
            if item in kept_items:
                dropped.append((items[item].path, float(offset), reason))
            else:
                reasons.setdefault(item, reason)  # a file once, however many of its clips failed
        return tuple((items[item].path, reason) for item, reason in sorted(reasons.items())), tuple(dropped)

    def _plan(self) -> tuple[list[tuple[int, float]], dict[str, str]]:
        """The rows, `(item, offset in seconds)`, and the items that cannot give any (with the reason)."""
        if self.segment_hop_seconds is None:
            return [(index, 0.0) for index in range(len(self.definition))], {}
        window, hop = self.num_samples / self.representation.sample_rate, self.segment_hop_seconds
        rows: list[tuple[int, float]] = []
        unplanned: dict[str, str] = {}
        for index, item in enumerate(self.definition.items):
            path = self.definition.root / item.path
            try:
                duration = audio_info(path).duration
            except DataFileError as error:
                if self.on_error == 'raise':
                    raise DataFileError(f"{error}; fix or remove the file, or build with on_error='skip'") from None
                unplanned[str(index)] = str(error).removeprefix(f'{path}: ')
                continue
            offsets = [0.0]  # clips every `hop` seconds until one reaches the end (a hop longer than a clip leaves gaps)
            while offsets[-1] + window < duration - 1e-9 and (offsets[-1] + hop) < duration - 1e-9:
                offsets.append(round(offsets[-1] + hop, 6))
            rows += [(index, offset) for offset in offsets]
        return rows, unplanned

    def _chunk(self, index: int, rows: list[list[Any]], partial: Path) -> Chunk:
        span = rows[index * self.chunk_size:(index + 1) * self.chunk_size]
        items = [self.definition.items[item] for item, _ in span]
        root, settings = self.definition.root, self.representation
        frame_time = _frame_time(settings)
        return Chunk(
            index, index * self.chunk_size, tuple(str(root / item.path) for item in items), tuple(float(offset) for _, offset in span),
            tuple(str(root / item.companions['midi']) for item in items) if self.targets else (), str(partial), settings.to_dict(),
            self.num_samples, self.batch_size, self.on_error, self.targets, settings.sample_rate / settings.hop_length, frame_time,
        )

    def _run(self, chunks: list[Chunk]) -> Generator[tuple[Chunk, list[tuple[int, str]]], None, None]:
        """Yield (chunk, bad rows) as chunks complete, in worker processes or, with one worker, in this one."""
        workers = min(self.workers or available_cores(), len(chunks))
        if workers <= 1:
            for chunk in chunks:
                yield chunk, compute_chunk(chunk)
            return
        threads = max(1, available_cores() // workers)
        pool = worker_pool(workers, initializer=start_worker, initargs=(threads,), preload=('etude.data.cache_worker',))
        try:
            futures = {pool.submit(compute_chunk, chunk): chunk for chunk in chunks}
            while futures:
                finished, _ = wait(futures, return_when=FIRST_COMPLETED)
                for future in finished:
                    yield futures.pop(future), future.result()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)  # running chunks finish (unrecorded); queued ones are dropped

    def _open_partial(self, partial: Path, directory: Path, fingerprint: str) -> tuple[dict[str, Any], list[list[Any]]]:
        """Reopen an unfinished build of the same fingerprint and chunking, or plan one and lay out its arrays (their
        disk space reserved now); return its progress record and its rows, `(item, offset)`."""
        expected = {'fingerprint': fingerprint, 'chunk_size': self.chunk_size, 'input_shape': list(self.input_shape),
                    'raw_root': str(self.definition.root.resolve())}
        with contextlib.suppress(OSError, ValueError, KeyError, AttributeError, json.JSONDecodeError):
            progress = json.loads((partial / PROGRESS_FILE).read_text())
            if progress.get('fingerprint') == fingerprint and not is_own_partial(partial):
                mark_partial(partial)  # a build of this cache by an etude from before partial folders were marked
            if {key: progress.get(key) for key in expected} == expected:
                rows = json.loads((partial / PLAN_FILE).read_text())['rows']
                inputs = np.load(partial / 'inputs.npy', mmap_mode='r')
                if inputs.shape == (len(rows), *self.input_shape) and inputs.dtype == np.float32:
                    return progress, rows
        rows, unplanned = self._plan()  # the files' durations are read only now, on a cache miss
        if not rows:
            raise DatasetError(f'none of the {len(self.definition)} files of {self.definition.name} could be read; check {self.definition.root}')
        frames_shape = (len(rows), self.input_shape[-1], PIANO_KEYS)
        arrays = {'inputs.npy': (np.float32, (len(rows), *self.input_shape)),
                  **{f'labels/{target}.npy': (np.dtype(PIANO_ROLL_DTYPES[target]), frames_shape) for target in self.targets}}
        check_space_for(directory.parent, arrays, what=f'cannot build the feature cache {directory.name}')
        discard_partial(partial)  # a stale build of ours: other settings or chunking
        partial = create_partial(directory, resumable=True)  # refuses a folder of that name that etude did not make
        try:
            (partial / 'labels').mkdir()
            for name, (dtype, shape) in arrays.items():
                allocate_array(partial / name, dtype, shape).flush()
            items = np.array([item for item, _ in rows], dtype=np.int64)
            for label, values in self.definition.label_arrays().items():
                np.save(partial / 'labels' / f'{label}.npy', values[items])
            np.save(partial / 'groups.npy', self.definition.group_ids()[0][items])
            write_json_atomic(partial / PLAN_FILE, {'rows': rows, 'unplanned': unplanned})
            progress = {**expected, 'done': [], 'bad': {}}
            write_json_atomic(partial / PROGRESS_FILE, progress)  # last: it is what marks the plan and arrays as usable
        except BaseException as error:
            discard_partial(partial)  # nothing computed yet: nothing worth keeping, and it frees the space
            message = disk_full_message(error, partial)
            if isinstance(error, DatasetError) or message is None:
                raise
            raise DatasetError(f'cannot build the feature cache {directory.name}: {message}') from None
        return progress, [list(row) for row in rows]

    def _publish(self, partial: Path, directory: Path, fingerprint: str, rows: list[list[Any]], progress: dict[str, Any]) -> StoredDataset:
        """Drop the rows of unreadable clips, write metadata.json last and rename the folder into place."""
        definition = self.definition
        unreadable = {int(row): reason for row, reason in progress['bad'].items()}
        skipped, dropped = self._left_out(rows, unreadable, json.loads((partial / PLAN_FILE).read_text())['unplanned'])
        if len(unreadable) == len(rows):
            raise DatasetError(f'all {len(definition)} files of {definition.name} were unreadable; check {definition.root}')
        keep = np.setdiff1d(np.arange(len(rows)), sorted(unreadable))
        if unreadable:
            for path in [partial / 'inputs.npy', partial / 'groups.npy', *sorted((partial / 'labels').glob('*.npy'))]:
                _keep_rows(path, keep, self.chunk_size)
        items = [definition.items[rows[row][0]] for row in keep]
        label_dtypes = {label: 'int64' if kind == 'class' else 'float32' for label, kind in definition.label_types.items()}
        frames, settings = self.input_shape[-1], self.representation
        metadata = dataset_metadata(
            size=len(keep), input_shape=self.input_shape, input_dtype='float32',
            labels={**{label: ((), dtype) for label, dtype in label_dtypes.items()},
                    **{target: ((frames, PIANO_KEYS), PIANO_ROLL_DTYPES[target]) for target in self.targets}},
            name=directory.name,
            fingerprint=fingerprint,
            label_types=dict(definition.label_types),
            classes=definition.classes(),
            targets={'names': list(self.targets), 'frames_per_second': settings.sample_rate / settings.hop_length, 'begin_note': 21,
                     'num_pitches': PIANO_KEYS, 'velocity_scale': 127, 'frame_time': _frame_time(settings)} if self.targets else None,
            sample_rate=settings.sample_rate,
            num_samples=self.num_samples,
            segment_hop_seconds=self.segment_hop_seconds,
            representation=settings.to_dict(),
            group_key=definition.group_key,
            group_names=definition.group_ids()[1],
            raw_root=str(definition.root.resolve()),
            files=[item.path for item in items],
            offsets=[rows[row][1] for row in keep] if self.segment_hop_seconds is not None else None,
            companions=[dict(item.companions) for item in items] if any(item.companions for item in items) else None,
            splits=[item.split for item in items] if definition.has_split else None,
            skipped=[{'file': path, 'reason': reason} for path, reason in skipped],
            dropped_clips=[{'file': path, 'offset': offset, 'reason': reason} for path, offset, reason in dropped],
            source={'kind': 'feature_cache', 'definition': definition.name, 'content_hash': self.content_hash,
                    'segment_hop_seconds': self.segment_hop_seconds},
        )
        (partial / PROGRESS_FILE).unlink()
        (partial / PLAN_FILE).unlink()
        publish(partial, directory, metadata)
        return read_dataset(directory)


def _frame_time(settings: RepresentationSettings) -> float:
    """Seconds from a clip's start to the centre of its frame 0: 0 with centred frames, half a window without."""
    return 0.0 if settings.center else settings.n_fft / 2 / settings.sample_rate


def build_feature_cache(definition: DatasetDefinition, representation: RepresentationSettings, *, num_samples: int,
                        **options: Any) -> StoredDataset:
    """`FeatureCache(definition, representation, num_samples=..., **options).load()` in one call."""
    return FeatureCache(definition, representation, num_samples, **options).load()


# -- files ---------------------------------------------------------------------------------------------------------


def _keep_rows(path: Path, keep: np.ndarray, block: int) -> None:
    """Rewrite a `.npy` array with only rows `keep`, a block at a time (the array may not fit in memory)."""
    source = np.load(path, mmap_mode='r')
    temporary = path.with_name(path.stem + '.kept.npy')
    try:
        target = allocate_array(temporary, source.dtype, (len(keep), *source.shape[1:]))
    except DatasetError as error:
        raise DatasetError(f'cannot finish the feature cache in {path.parent}: {str(error).partition(": ")[2]} (load again to resume)') from None
    for start in range(0, len(keep), block):
        target[start:start + block] = source[keep[start:start + block]]
    target.flush()
    del source, target
    os.replace(temporary, path)
