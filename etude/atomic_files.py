"""One way to replace a file so that a crash, a kill or a full disk never leaves half of it.

Every file etude rewrites in place (checkpoints, run records, dataset and cache metadata) goes through
`write_atomic`: the bytes go to a hidden temporary file in the same folder, are flushed and fsynced, and the file is
renamed over the old one, then the folder itself is fsynced so the rename survives a power cut. A reader sees the
old file or the new one, never a mixture; a failed write removes its temporary file and leaves the old one as it was.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

__all__ = ['fsync_directory', 'unwritable_reason', 'write_atomic', 'write_bytes_atomic', 'write_json_atomic', 'write_temporary', 'write_text_atomic']


def write_temporary(path: Path, write: Callable[[IO[bytes]], None]) -> Path:
    """A hidden, fsynced temporary file beside `path` holding what `write` wrote; removed again if writing fails."""
    descriptor, name = tempfile.mkstemp(prefix=f'.{path.name}.', suffix='.tmp', dir=path.parent)
    try:
        os.chmod(name, 0o666 & ~_umask())  # mkstemp makes 0600; a replaced file should have the mode a plain open gives
        with os.fdopen(descriptor, 'wb') as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name)


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def fsync_directory(directory: Path) -> None:
    """Make a rename inside `directory` durable (a no-op where folders cannot be opened, as on Windows)."""
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def write_atomic(path: str | Path, write: Callable[[IO[bytes]], None]) -> Path:
    """Replace `path` with what `write(file)` writes, atomically and durably."""
    path = Path(path)
    temporary = write_temporary(path, write)
    try:
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    fsync_directory(path.parent)
    return path


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    return write_atomic(path, lambda file: file.write(data))  # type: ignore[arg-type,return-value]


def write_text_atomic(path: str | Path, text: str) -> Path:
    return write_bytes_atomic(path, text.encode('utf-8'))


def write_json_atomic(path: str | Path, value: Mapping[str, Any] | list[Any], *, indent: int | None = 1) -> Path:
    return write_text_atomic(path, json.dumps(value, indent=indent, sort_keys=True, default=str))


def unwritable_reason(path: str | Path) -> str | None:
    """Why a file or folder could not be written at `path` now (None when it could), judged without writing anything:
    an existing path must be writable itself, and a new one must be makeable in the nearest folder above it that
    exists. The reason reads after the path, e.g. `runs cannot be made: /mnt is on a read-only file system`.

    Lets a command refuse at its start what would otherwise fail after minutes of work (a runs folder on a
    read-only disk, a sweep's SQLite file in a folder that does not exist).
    """
    path = Path(path)
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if existing != path and not existing.is_dir():
        return f'cannot be made: {existing} is a file, not a folder'
    if os.access(existing, os.W_OK | (os.X_OK if existing.is_dir() else 0)):
        return None
    try:
        read_only = bool(os.statvfs(existing).f_flag & os.ST_RDONLY)
    except OSError:
        read_only = False
    where = 'is on a read-only file system' if read_only else 'is not writable by this user'
    return where if existing == path else f'cannot be made: {existing} {where}'
