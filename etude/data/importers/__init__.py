"""Importers turn a dataset in another project's layout into etude's binary form, once.

Each importer module offers `detect(directory) -> bool` (the layout is there) and `convert(directory, destination, *,
progress, **options) -> StoredDataset`, which is safe to call from any number of processes at once (one converts,
the others wait and reuse). `etude.data.obtain_dataset` asks each of `IMPORTERS` in turn, so the generic path knows
nothing of any layout's particulars; options a layout needs (kac_drumset's `strikes_per_drum`) pass through it.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

from . import kac

__all__ = ['IMPORTERS', 'find_importer', 'kac']

IMPORTERS: tuple[ModuleType, ...] = (kac,)


def find_importer(directory: Path) -> ModuleType | None:
    """The importer whose layout `directory` holds, or None."""
    return next((importer for importer in IMPORTERS if importer.detect(directory)), None)
