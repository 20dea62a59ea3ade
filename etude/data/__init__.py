"""The data layer: readers and writers for raw data, representations, the binary dataset store, splits, samplers.

Submodules import their heavy dependencies (soundfile, pretty_midi, music21, torchaudio) themselves, so importing
`etude.data` stays cheap: `from etude.data.midi import midi_to_notes` when you need MIDI.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .sources import generate_dataset, import_kac_dataset, obtain_dataset
    from .split import split_by_column, split_by_groups
    from .store import DatasetWriter, StoredDataset, is_stored_dataset, read_dataset

# names load on first use (PEP 562): `etude.data.store` alone does not pay for the builders' imports (tqdm, workers)
_SOURCES = {
    'generate_dataset': '.sources', 'import_kac_dataset': '.sources', 'obtain_dataset': '.sources',
    'split_by_column': '.split', 'split_by_groups': '.split',
    'DatasetWriter': '.store', 'StoredDataset': '.store', 'is_stored_dataset': '.store', 'read_dataset': '.store',
}

__all__ = [
    'DatasetWriter',
    'StoredDataset',
    'generate_dataset',
    'import_kac_dataset',
    'is_stored_dataset',
    'obtain_dataset',
    'read_dataset',
    'split_by_column',
    'split_by_groups',
]


def __getattr__(name: str) -> Any:
    if name in _SOURCES:
        value = getattr(import_module(_SOURCES[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'etude.data' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
