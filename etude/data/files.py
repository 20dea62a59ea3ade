"""File plumbing shared by the dataset builders: fingerprints of raw files, folders, a build lock, disk space, cores.

A dataset is only as trustworthy as the way it is written: records are replaced atomically (`etude.atomic_files`), two
processes never build the same dataset at once, a folder named by the user is checked before anything is written
into it, a full disk is reported as such, and raw files are fingerprinted cheaply enough to do on every load.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import stat
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..atomic_files import write_json_atomic
from ..errors import DatasetError, EtudeError

__all__ = ['available_cores', 'check_folder', 'describe_disk_full', 'disk_full_message', 'ensure_folder', 'ensure_space', 'exclusive_lock',
           'file_key', 'format_bytes', 'is_disk_full', 'reserve_space', 'write_json_atomic']

# errno values that mean "no room to write": a full disk, a full quota, a file-size limit (ulimit -f, FAT32's 4 GB)
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


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


# -- folders -------------------------------------------------------------------------------------------------------


def check_folder(path: str | os.PathLike[str], what: str = 'the dataset folder') -> Path:
    """`path` as a Path, once it is sure to be a folder or creatable as one: it, or the nearest of its parents that
    exists, must be a folder. Checked where a path enters, so a file in the way is one line, not a NotADirectoryError
    from deep inside a build."""
    path = Path(path)
    for candidate in (path, *path.parents):
        kind = _kind(candidate)
        if kind == 'folder':
            return path
        if kind == 'other':
            if candidate == path:
                raise DatasetError(f'{what} {path} is a file, not a folder; name a folder (or remove the file)')
            raise DatasetError(f'{what} {path} cannot be created: {candidate} is a file, not a folder; name another folder')
    return path


def _kind(path: Path) -> str:
    """'folder', 'missing' or 'other' (a file, a link to nothing), from one look at `path`.

    One look, not `is_dir()` then `exists()`: another process may make the folder between two looks (two sweep
    agents building one dataset), and the second look would then take the new folder for a file.
    """
    try:
        mode = os.stat(path).st_mode
    except OSError:
        try:
            mode = os.lstat(path).st_mode  # a link to nothing is not a folder; anything else made since is what it is now
        except OSError:
            return 'missing'
        if stat.S_ISLNK(mode):
            return 'other'
    return 'folder' if stat.S_ISDIR(mode) else 'other'


def ensure_folder(path: str | os.PathLike[str], what: str = 'the dataset folder') -> Path:
    """Create `path` (and its parents) as a folder, or raise a one-line DatasetError saying why it cannot be."""
    path = check_folder(path, what)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        message = disk_full_message(error, path) or f'{what} {path} cannot be created ({error.strerror or error}); check its permissions'
        raise DatasetError(message) from None
    return path


# -- disk space ----------------------------------------------------------------------------------------------------


def format_bytes(size: float) -> str:
    """1536 -> '1.5 KiB': sizes as people read them in df -h."""
    for unit in ('bytes', 'KiB', 'MiB', 'GiB', 'TiB'):
        if abs(size) < 1024 or unit == 'TiB':
            return f'{size:.0f} {unit}' if unit == 'bytes' else f'{size:.1f} {unit}'
        size /= 1024
    raise AssertionError('unreachable')


def _existing(path: Path) -> Path:
    """`path` or its nearest existing parent (where free space and the mount point can be asked)."""
    path = Path(os.path.abspath(path))
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _mount_point(path: Path) -> Path:
    """The folder `path`'s file system is mounted at: where the device number changes on the way up."""
    path = _existing(path).resolve()
    device = path.stat().st_dev
    while path != path.parent and path.parent.stat().st_dev == device:
        path = path.parent
    return path


def is_disk_full(error: BaseException) -> bool:
    """Whether `error` means there was no room to write (full disk, quota, file-size limit)."""
    return isinstance(error, OSError) and error.errno in DISK_FULL_ERRNOS


def describe_disk_full(path: str | os.PathLike[str], needed_bytes: int | None = None) -> str:
    """One clause naming the disk that `path` is on, its free space and what is needed, with what to do:

        'the disk mounted at /data (holding /data/cache) has 1.2 MiB free but 40.0 MiB are needed; free space there or use another folder'
        'the disk mounted at /data (holding /data/cache) is full (0 bytes free); free space there or use another folder'  # needed unknown

    For messages of the caller's own errors, e.g. `CheckpointError(f'cannot save {file}: {describe_disk_full(file, size)}')`.
    """
    where = _existing(Path(path))
    try:
        free, mount = format_bytes(shutil.disk_usage(where).free), str(_mount_point(where))
    except OSError:
        free, mount = 'unknown space', str(where)
    state = f'has {free} free but {format_bytes(needed_bytes)} are needed' if needed_bytes is not None else f'is full ({free} free)'
    return f'the disk mounted at {mount} (holding {path}) {state}; free space there or use another folder'


def disk_full_message(error: BaseException, path: str | os.PathLike[str], needed_bytes: int | None = None) -> str | None:
    """The one-line reason when `error` is a full disk (or a file-size limit) while writing `path`, else None."""
    if not is_disk_full(error):
        return None
    assert isinstance(error, OSError)
    if error.errno == errno.EFBIG:
        size = f' of {format_bytes(needed_bytes)}' if needed_bytes is not None else ''
        return (f'a file{size} in {path} is larger than this process may write (a file-size limit, ulimit -f, or the file '
                "system's largest file); raise the limit or use another folder")
    return describe_disk_full(path, needed_bytes)


def ensure_space(path: str | os.PathLike[str], needed_bytes: int, *, what: str = 'writing', error: type[EtudeError] = DatasetError) -> None:
    """Raise `error` (one line: "<what>: the disk mounted at ... has X free but Y are needed; ...") when the disk of
    `path` has less than `needed_bytes` free. A cheap check before a long write; `reserve_space` makes it binding."""
    try:
        free = shutil.disk_usage(_existing(Path(path))).free
    except OSError:
        return  # the write itself will say what is wrong
    if free < needed_bytes:
        raise error(f'{what}: {describe_disk_full(path, needed_bytes)}')


def reserve_space(path: Path) -> None:
    """Allocate every block of the file at `path` now (posix_fallocate), so a full disk is an OSError here.

    A memory-mapped array is a sparse file: without this, a full disk is found only when a page is written back, and
    the kernel answers with SIGBUS, which kills the process with no message. Where the call does not exist (macOS,
    Windows) the free-space check before creating the file is all there is.
    """
    if not hasattr(os, 'posix_fallocate'):
        return
    descriptor = os.open(path, os.O_RDWR)
    try:
        size = os.fstat(descriptor).st_size
        if size:
            try:
                os.posix_fallocate(descriptor, 0, size)
            except OSError as error:
                if error.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):  # a file system that cannot reserve
                    raise
    finally:
        os.close(descriptor)


# -- locks ---------------------------------------------------------------------------------------------------------


class _HeldLock:
    """One lock file as held by this process: a thread lock in front of the OS lock, and how deep it is held."""

    def __init__(self) -> None:
        self.thread_lock = threading.RLock()
        self.depth = 0
        self.handle: Any = None


_held_locks: dict[str, _HeldLock] = {}
_held_locks_guard = threading.Lock()


@contextlib.contextmanager
def exclusive_lock(path: Path, *, waiting_message: str | None = None, remove: bool = False) -> Iterator[None]:
    """Hold an OS file lock on `path` so two processes (or threads) never build the same dataset at once.

    A POSIX record lock (lockf), not flock: it belongs to this process alone, so forked workers that outlive a
    killed main process cannot keep holding it, and the kernel drops it when the process dies, even by kill -9.
    Record locks do not exclude threads of one process and are all dropped when any descriptor of the file closes,
    so a thread lock stands in front and a nested hold of the same path (generate_dataset inside obtain_dataset)
    reuses the outer one. `waiting_message` is printed to stderr when another process holds the lock. With `remove`
    the lock file is deleted on release (for folders that must be left as they were found); a process that locked
    the deleted file sees that the path no longer names it and locks the new one instead.
    """
    _refuse_in_bootstrapping_worker()
    key = os.path.abspath(path)
    with _held_locks_guard:
        held = _held_locks.setdefault(key, _HeldLock())
    with held.thread_lock:
        if held.depth == 0:
            held.handle = _acquire(Path(key), waiting_message)
        held.depth += 1
        try:
            yield
        finally:
            held.depth -= 1
            if held.depth == 0:
                if remove and held.handle is not None:
                    Path(key).unlink(missing_ok=True)
                _release(held.handle)
                held.handle = None


def _acquire(path: Path, waiting_message: str | None) -> Any:
    try:
        import fcntl
    except ImportError:  # Windows: no locking; concurrent builds of one dataset are then the caller's concern
        return None
    told = False
    while True:
        try:
            handle = open(path, 'a')
        except OSError as error:
            message = disk_full_message(error, path.parent) or f'cannot write in {path.parent} ({error.strerror or error}); check its permissions'
            raise DatasetError(message) from None
        try:
            fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            if waiting_message and not told:
                print(waiting_message, file=sys.stderr, flush=True)
                told = True
            fcntl.lockf(handle, fcntl.LOCK_EX)
        try:
            if os.stat(path).st_ino == os.fstat(handle.fileno()).st_ino:
                return handle
        except FileNotFoundError:
            pass
        handle.close()  # the holder deleted the file on release (remove=True): lock the one that is there now


def _release(handle: Any) -> None:
    if handle is None:
        return
    import fcntl

    try:
        fcntl.lockf(handle, fcntl.LOCK_UN)
    finally:
        handle.close()


def _refuse_in_bootstrapping_worker() -> None:
    """A worker process that re-runs an unguarded script while it starts would wait forever on its parent's lock."""
    import multiprocessing.process

    if getattr(multiprocessing.process.current_process(), '_inheriting', False):
        raise DatasetError("a worker process started by a dataset build ran the script's dataset code again; "
                           "put the script's top level under `if __name__ == '__main__':`, or build with workers=1")


def available_cores() -> int:
    """CPU cores this process may use (respects taskset and container CPU sets where the OS reports them)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count() or 1
