"""The one way etude builds a dataset from raw files and reuses it: fingerprint -> lock -> reuse if current -> build
-> publish -> skip policy.

    class MyCache(CacheBuilder):
        def describe(self): return {...}                          # everything the data depends on
        def build(self, directory, fingerprint): ...              # write it (DatasetWriter, or arrays + publish)

`CacheBuilder.load` is the skeleton `FeatureCache` and `SequenceCache` share, and `build_or_reuse` is the part that
generated and converted datasets (`etude.data.sources`) share with them: a dataset whose folder holds the current
fingerprint is opened without a lock; otherwise one process takes the dataset's OS lock and builds while every other
process (a second sweep agent, a second Routine) waits on it and then opens what the first built.

`worker_pool` is the one way etude's data builders start worker processes; see its docstring for why forkserver.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import signal
import threading
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from ..errors import ConfigError, DataFileError
from .definitions import DatasetDefinition, SkippedFileWarning, report_skipped
from .files import check_folder, ensure_folder, exclusive_lock
from .partial import remove_abandoned_partials
from .store import StoredDataset, open_if_current

__all__ = ['CacheBuilder', 'build_or_reuse', 'check_on_error', 'exit_with_parent', 'fingerprint_of', 'hold_to_on_error', 'left_out', 'lock_path',
           'start_quiet_worker', 'worker_pool']

Skipped = tuple[tuple[str, str], ...]  # (file, reason) of files that gave no row
Dropped = tuple[tuple[str, float, str], ...]  # (file, offset in seconds, reason) of clips left out of files that kept others


def check_on_error(on_error: object) -> None:
    if on_error not in ('skip', 'raise'):
        raise ConfigError(f"on_error is {on_error!r}; use 'skip' or 'raise'")


def fingerprint_of(description: Mapping[str, Any]) -> str:
    """sha256 of the description's sorted, compact JSON: the same in every process and on every machine."""
    return hashlib.sha256(json.dumps(description, sort_keys=True, separators=(',', ':')).encode('utf-8')).hexdigest()


def lock_path(directory: Path) -> Path:
    """The lock file of a dataset folder: hidden beside it, so it needs no folder of its own and outlives rebuilds."""
    return directory.with_name(f'.{directory.name}.lock')


def build_or_reuse(directory: Path, fingerprint: str, build: Callable[[], StoredDataset], *, reuse: Callable[[], StoredDataset | None] | None = None,
                   progress: bool = True) -> tuple[StoredDataset, bool]:
    """`(dataset, built)`: the current dataset in `directory`, else the one `build()` makes, once across processes.

    `reuse` says what counts as current (default: a complete dataset with this `fingerprint`). It is asked first
    without the lock, so reading a current dataset needs no write access, then again holding the lock, because
    another process may have built it while this one waited. Holding the lock, the one-shot builds of `directory`
    left by killed processes are deleted before building.
    """
    def current() -> StoredDataset | None:
        return reuse() if reuse is not None else open_if_current(directory, fingerprint)

    check_folder(directory)
    dataset = current()
    if dataset is not None:
        return dataset, False
    ensure_folder(directory.parent)
    waiting = f'etude: waiting for another process to finish building {directory}' if progress else None
    with exclusive_lock(lock_path(directory), waiting_message=waiting):
        dataset = current()
        if dataset is not None:
            return dataset, False
        remove_abandoned_partials(directory)
        return build(), True


def left_out(metadata: Mapping[str, Any]) -> tuple[Skipped, Dropped]:
    """What a built dataset's metadata records as left out: whole files, and clips of files that kept others."""
    skipped = tuple((entry['file'], entry['reason']) for entry in metadata.get('skipped') or ())
    dropped = tuple((entry['file'], float(entry['offset']), entry['reason']) for entry in metadata.get('dropped_clips') or ())
    return skipped, dropped


def hold_to_on_error(on_error: str, skipped: Skipped, dropped: Dropped, *, root: Path, name: str, total: int, stacklevel: int) -> None:
    """Hold a dataset to this load's `on_error`, whatever the build that made it was told: 'raise' names the first
    file (or clip) left out, 'skip' warns once per file and once with the count. `stacklevel` is that of the
    warnings as seen from the caller of this function."""
    if (skipped or dropped) and on_error == 'raise':
        path, reason = skipped[0] if skipped else (dropped[0][0], f'the clip at {dropped[0][1]:g} s: {dropped[0][2]}')
        count = ' and '.join([f'{len(skipped)} file(s)'] * bool(skipped) + [f'{len(dropped)} clip(s)'] * bool(dropped))
        raise DataFileError(f"{root / path}: {reason} ({count} left out of the cached {name}); fix or remove the file, or load with on_error='skip'")
    report_skipped(skipped, total, stacklevel=stacklevel + 1)
    for path in dict.fromkeys(path for path, _, _ in dropped):
        clips = [(offset, reason) for file, offset, reason in dropped if file == path]
        warnings.warn(f'dropped {len(clips)} clip(s) of {path}, from {clips[0][0]:g} s: {clips[0][1]}', SkippedFileWarning, stacklevel=stacklevel + 1)


def worker_pool(workers: int, *, initializer: Callable[..., object] | None = None, initargs: Sequence[Any] = (),
                preload: Sequence[str] = ()) -> ProcessPoolExecutor:
    """A process pool started the way every etude data builder starts one: forkserver (spawn where there is none).

    Not fork: the parent may be a Routine that has trained already, holding torch's intra-op threads (and OpenMP's),
    and CUDA state; a forked child inherits their locks in whatever state other threads left them and can deadlock
    in its first parallel op, and Python 3.12+ warns about forking a multi-threaded process for that reason. A
    forkserver is a clean single-threaded process started once per session; each worker is forked from it, not from
    the parent. `preload` names modules the server imports when it starts, so their import (torch: about 1.7 s) is
    paid once per session instead of once per worker; it only takes effect if the server is not already running.
    Like spawn, this runs the main module again in each worker: scripts need `if __name__ == '__main__':` (a worker
    that runs into a build says so: `etude.data.files.exclusive_lock`).
    """
    context: multiprocessing.context.BaseContext
    if 'forkserver' in multiprocessing.get_all_start_methods():
        server = multiprocessing.get_context('forkserver')
        if preload:
            from multiprocessing import forkserver

            if not getattr(forkserver._forkserver, '_forkserver_pid', None):  # not started yet: set what it imports
                server.set_forkserver_preload(list(preload))
        context = server
    else:
        context = multiprocessing.get_context('spawn')
    return ProcessPoolExecutor(workers, mp_context=context, initializer=initializer, initargs=tuple(initargs))


def exit_with_parent() -> None:
    """End this worker process as soon as the process that started it is gone (after a kill -9 of the builder,
    workers would otherwise wait on the task queue forever).

    The parent is watched through the sentinel multiprocessing hands every child (it becomes ready when the parent
    dies), not through os.getppid(): a worker forked by a forkserver has the server, not the builder, as its parent."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def wait_for_parent() -> None:
        parent.join()
        os._exit(1)

    threading.Thread(target=wait_for_parent, daemon=True).start()


def start_quiet_worker() -> None:
    """A pool initializer: leave Ctrl-C to the main process (which stops the build cleanly) and die with it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    exit_with_parent()


class CacheBuilder:
    """The skeleton of a cached dataset built from a `DatasetDefinition`: subclasses say what the data depends on
    (`describe`) and how to build it (`build`); `load` does the rest.

    Subclasses are dataclasses with `definition`, `cache_root`, `name`, `on_error` and `progress` fields.
    """

    definition: DatasetDefinition
    cache_root: str | Path
    name: str | None
    on_error: str
    progress: bool

    def _check_common(self) -> None:
        """Call from `__post_init__`: the options every cache has, checked where they enter."""
        check_on_error(self.on_error)
        self.cache_root = check_folder(self.cache_root, 'the cache folder')
        self.name = self.name or self.definition.name

    def describe(self) -> dict[str, Any]:
        """JSON-safe description of everything the dataset depends on; its sha256 is the fingerprint."""
        raise NotImplementedError

    def build(self, directory: Path, fingerprint: str) -> StoredDataset:
        """Build the dataset and publish it in `directory` (called holding the lock, only when it is not current)."""
        raise NotImplementedError

    def loaded(self, dataset: StoredDataset, *, built: bool, seconds: float) -> None:
        """Called after each load, before the skip policy (e.g. to record a report)."""

    def fingerprint(self) -> str:
        """sha256 of `describe()`: the raw files' stats (or contents), labels, groups, splits and the settings."""
        return fingerprint_of(self.describe())

    def directory(self, fingerprint: str | None = None) -> Path:
        """`<cache_root>/<name>-<fingerprint[:12]>`, the folder this dataset is (or will be) in."""
        return Path(self.cache_root) / f'{self.name}-{(fingerprint or self.fingerprint())[:12]}'

    def load(self) -> StoredDataset:
        """Open the dataset if it matches the raw files and settings, else build it (once, under a lock), then hold
        it to `on_error`: a dataset that left files out raises with 'raise', and warns what it left out with 'skip'."""
        started = time.perf_counter()
        fingerprint = self.fingerprint()
        directory = self.directory(fingerprint)
        dataset, built = build_or_reuse(directory, fingerprint, lambda: self.build(directory, fingerprint), progress=self.progress)
        self.loaded(dataset, built=built, seconds=time.perf_counter() - started)
        skipped, dropped = left_out(dataset.metadata)
        hold_to_on_error(self.on_error, skipped, dropped, root=self.definition.root, name=str(self.name), total=len(self.definition), stacklevel=2)
        return dataset
