"""Importing a user's module from a folder without leaving that folder on `sys.path` afterwards.

The installed `etude` console script does not put the current folder on `sys.path` (`python -m etude` does), so a
routine file's folder, a module named with `--allow-module` or a `module:attribute` routine is made importable for the
one import that needs it and taken away after: a notebook or a long-lived process keeps the path it had.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ['current_folder_importable', 'folder_importable']


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
