"""Unfinished datasets: the folder a dataset is built in, its arrays, and how it is published or thrown away.

Every builder writes into a sibling of the dataset's folder and renames it into place only when `metadata.json` has
been written last, so a half-built dataset is never read as complete. Such a folder is etude's own only when it holds
the marker file `PARTIAL_MARKER`, and a builder only ever deletes folders that carry it: a user's folder that happens
to be called `<dataset>.partial` is refused, never emptied.

    <name>.partial-<random>/   a one-shot build (`DatasetWriter`): its own unique name, so two builds never share one
    <name>.partial/            a resumable build (the feature cache): the next load of the same fingerprint reopens it
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic_files import fsync_directory, write_json_atomic
from ..errors import DatasetError
from ..processes import process_alive
from .files import disk_full_message, ensure_folder, ensure_space, reserve_space
from .layout import METADATA_FILE, is_stored_dataset

__all__ = ['PARTIAL_MARKER', 'allocate_array', 'array_bytes', 'check_space_for', 'create_partial', 'discard_partial', 'is_own_partial',
           'mark_partial', 'publish',
           'remove_abandoned_partials']

PARTIAL_MARKER = '.etude-partial'


def is_own_partial(folder: Path) -> bool:
    """Whether `folder` is an unfinished build made by etude (it holds the marker file)."""
    return (folder / PARTIAL_MARKER).is_file()


def create_partial(directory: Path, *, resumable: bool = False) -> Path:
    """Make the folder to build `directory` in, marked as etude's: `<name>.partial-<random>`, or with `resumable` the
    fixed `<name>.partial` (reused when it is etude's, refused when it is anybody else's)."""
    ensure_folder(directory.parent)
    if resumable:
        folder = directory.with_name(directory.name + '.partial')
        if (folder.exists() or folder.is_symlink()) and not is_own_partial(folder):
            raise DatasetError(f'{folder} exists and was not made by etude; move it, it is where {directory.name} is built')
        try:
            folder.mkdir(exist_ok=True)
        except OSError as error:
            raise DatasetError(disk_full_message(error, folder) or f'cannot create {folder} ({error.strerror or error})') from None
    else:
        folder = directory.with_name(f'{directory.name}.partial-{secrets.token_hex(4)}')
        try:
            folder.mkdir()
        except OSError as error:
            raise DatasetError(disk_full_message(error, folder) or f'cannot create {folder} ({error.strerror or error})') from None
    try:
        mark_partial(folder)
    except OSError as error:
        shutil.rmtree(folder, ignore_errors=True)
        raise DatasetError(disk_full_message(error, folder) or f'cannot write in {folder} ({error.strerror or error})') from None
    return folder


def mark_partial(folder: Path) -> None:
    """Mark `folder` as an unfinished build of etude's (its process id lets a later build tell whether it is dead)."""
    (folder / PARTIAL_MARKER).write_text(json.dumps({'pid': os.getpid(), 'host': socket.gethostname()}) + '\n')


def discard_partial(folder: Path) -> None:
    """Delete an unfinished build, but only one etude made."""
    if is_own_partial(folder):
        shutil.rmtree(folder, ignore_errors=True)


def remove_abandoned_partials(directory: Path) -> list[Path]:
    """Delete the one-shot builds of `directory` whose process is gone (killed mid-build); return them.

    Only call this holding the dataset's build lock: every live builder of `directory` that uses it holds it too, so
    the builds found are dead ones, and the recorded process id is checked as well for writers used without the lock.
    """
    removed = []
    for folder in directory.parent.glob(f'{directory.name}.partial-*'):
        try:
            marker = json.loads((folder / PARTIAL_MARKER).read_text())
        except (OSError, ValueError):
            continue  # not etude's (or not readable): never touched
        if marker.get('host') == socket.gethostname() and not process_alive(int(marker.get('pid', -1))):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed




def array_bytes(dtype: Any, shape: Sequence[int]) -> int:
    """What an array of `dtype` and `shape` takes on disk as a .npy file (its header is 128 bytes or so)."""
    return int(np.dtype(dtype).itemsize * np.prod(shape, dtype=np.int64)) + 128


def allocate_array(path: Path, dtype: Any, shape: Sequence[int]) -> np.memmap:
    """A zero-filled, memory-mapped `.npy` array whose disk blocks are reserved now, not on first write.

    Writing the pages of an unreserved (sparse) file on a full disk kills the process with SIGBUS; reserved, a full
    disk is a one-line DatasetError here, naming the disk and the space needed, and the file is removed again.
    """
    try:
        array = np.lib.format.open_memmap(path, 'w+', np.dtype(dtype), tuple(shape))
        reserve_space(path)
    except OSError as error:
        path.unlink(missing_ok=True)
        message = disk_full_message(error, path.parent, array_bytes(dtype, shape))
        if message is None:
            raise
        raise DatasetError(f'cannot write {path.name}: {message}') from None
    return array


def check_space_for(folder: Path, arrays: Mapping[str, tuple[Any, Sequence[int]]], *, what: str) -> None:
    """Refuse before writing anything when the arrays `{name: (dtype, shape)}` cannot fit on the disk of `folder`."""
    ensure_space(folder, sum(array_bytes(dtype, shape) for dtype, shape in arrays.values()), what=what)


def publish(partial: Path, directory: Path, metadata: Mapping[str, Any]) -> None:
    """Write `metadata.json` into `partial` last, then move `partial` to `directory`, replacing an etude dataset there.

    The old dataset is renamed aside first and deleted after, so `directory` is without a dataset only between two
    renames, and anything that is not an etude dataset (a user's folder) is refused rather than replaced.
    """
    try:
        write_json_atomic(partial / METADATA_FILE, dict(metadata), indent=2)
    except OSError as error:
        raise DatasetError(disk_full_message(error, partial) or f'cannot write {partial / METADATA_FILE} ({error.strerror or error})') from None
    old = None
    if directory.exists() or directory.is_symlink():
        if directory.is_symlink() or not is_stored_dataset(directory):
            raise DatasetError(f'{directory} exists and is not an etude dataset; move it, or build the dataset into another folder')
        old = directory.with_name(f'{directory.name}.partial-{secrets.token_hex(4)}')
        mark_partial(directory)  # so that, should this process die before deleting it, the next build removes it
        os.replace(directory, old)
    os.replace(partial, directory)
    (directory / PARTIAL_MARKER).unlink(missing_ok=True)
    fsync_directory(directory.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
