"""Importing code that is not etude's: a user's module from a folder, and the packages that extend etude.

The installed `etude` console script does not put the current folder on `sys.path` (`python -m etude` does), so a
routine file's folder, a module named with `--allow-module` or a `module:attribute` routine is made importable for the
one import that needs it and taken away after: a notebook or a long-lived process keeps the path it had.

A package that registers a task kind or a routine by entry point (`etude.tasks`, `etude.routines`) was installed to
extend etude, and its registered modules are imported to list their options: its model classes load from an export
as etude's own do, without `--allow-module` (`extension_packages`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ['ENTRY_POINT_GROUPS', 'current_folder_importable', 'extension_packages', 'folder_importable']

ENTRY_POINT_GROUPS = ('etude.tasks', 'etude.routines')


@contextmanager
def folder_importable(folder: str | Path) -> Iterator[None]:
    """`folder` first on sys.path for the duration of the block, unless it is there already."""
    entry = str(folder)
    if entry in sys.path:
        yield
        return
    sys.path.insert(0, entry)
    try:
        yield
    finally:
        if entry in sys.path:
            sys.path.remove(entry)


@contextmanager
def current_folder_importable(needed: bool = True) -> Iterator[None]:
    """The current folder first on sys.path for the duration of the block (when `needed` and it is not there yet)."""
    if not needed or any(entry in sys.path for entry in ('', os.curdir, os.getcwd())):
        yield
        return
    with folder_importable(os.getcwd()):
        yield


def extension_packages() -> tuple[str, ...]:
    """The top-level packages of the modules registered under etude's entry-point groups (etude's own among them)."""
    from importlib.metadata import entry_points

    return tuple(sorted({entry.value.split(':')[0].split('.')[0] for group in ENTRY_POINT_GROUPS for entry in entry_points(group=group)}))
