"""File plumbing shared by the dataset builders: fingerprints of raw files, atomic JSON, a build lock, cores.

A cache is only as trustworthy as the way it is written: records are replaced atomically so a reader sees the old
file or the new one, two processes never build the same cache at once, and raw files are fingerprinted cheaply enough
to do on every load.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

__all__ = ['available_cores', 'exclusive_lock', 'file_key', 'write_json_atomic']


def file_key(path: Path, content_hash: bool = False) -> list[Any]:
    """[size, mtime_ns], or [size, sha256] with `content_hash`, of a raw file; ['missing'] lets a build name it.

    Stats rather than contents by default: stat'ing 5000 files takes milliseconds, hashing their gigabyte takes
    seconds on every load; a copy that resets mtimes only costs a rebuild.
    """
    try:
        stat = path.stat()
    except OSError:
        return ['missing']
    if not content_hash:
        return [stat.st_size, stat.st_mtime_ns]
    digest = hashlib.sha256()
    with open(path, 'rb') as file:
        while block := file.read(1 << 20):
            digest.update(block)
    return [stat.st_size, digest.hexdigest()]


def write_json_atomic(path: Path, value: Mapping[str, Any]) -> None:
    """Write beside, then rename: readers see the old file or the new one, never half of one."""
    temporary = path.with_name(path.name + '.tmp')
    temporary.write_text(json.dumps(value, indent=1, sort_keys=True))
    os.replace(temporary, path)


@contextlib.contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Hold an OS file lock so two processes never build the same cache at once.

    A POSIX record lock (lockf), not flock: it belongs to this process alone, so forked workers that outlive a
    killed main process cannot keep holding it, and the kernel drops it when the process dies, even by kill -9."""
    try:
        import fcntl
    except ImportError:  # Windows: no locking; concurrent builds of one cache are then the caller's concern
        yield
        return
    with open(path, 'a') as handle:
        fcntl.lockf(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.lockf(handle, fcntl.LOCK_UN)


def available_cores() -> int:
    """CPU cores this process may use (respects taskset and container CPU sets where the OS reports them)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count() or 1
