"""The data layer: readers and writers for raw data, representations, the binary dataset store, splits, samplers.

Submodules import their heavy dependencies (soundfile, pretty_midi, music21, torchaudio) themselves, so importing
`etude.data` stays cheap: `from etude.data.midi import midi_to_notes` when you need MIDI.
"""

from .sources import generate_dataset, import_kac_dataset, obtain_dataset
from .split import split_by_column, split_by_groups
from .store import DatasetWriter, StoredDataset, is_stored_dataset, read_dataset

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
