"""etude's on-disk dataset form: binary arrays plus a small metadata file.

A stored dataset is a directory:

    metadata.json        what later steps need: size, input shape, label names and shapes, classes, sample rate,
                         the fingerprint of what produced it, where it came from (never the data itself)
    inputs.npy           (size, *input_shape) array, memory-mapped on read
    labels/<name>.npy    (size, *label_shape) array per label
    groups.npy           (size,) int64 group ids (a drum, a speaker, a piece), so splits keep related items together

It is built in a sibling `<name>.partial` directory and renamed into place only when `metadata.json` has been
written last, so a half-written dataset is never read as complete. Floats never pass through JSON: kac_prediction's
JSON loader reads about 67 one-second 48 kHz clips per second; a memory-mapped `.npy` is limited by the disk.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..errors import DatasetError

__all__ = ['DATASET_FORMAT', 'DatasetWriter', 'StoredDataset', 'is_stored_dataset', 'open_if_current', 'read_dataset']

DATASET_FORMAT = 'etude-dataset'
FORMAT_VERSION = 1
METADATA_FILE = 'metadata.json'


@dataclass
class StoredDataset:
    """A dataset read from disk: arrays are memory-mapped, so opening it costs nothing until data is touched."""

    directory: Path
    metadata: dict[str, Any]
    inputs: np.ndarray
    labels: dict[str, np.ndarray]
    groups: np.ndarray

    def __len__(self) -> int:
        return int(self.inputs.shape[0])

    @property
    def name(self) -> str:
        return str(self.metadata['name'])

    @property
    def fingerprint(self) -> str:
        return str(self.metadata['fingerprint'])

    def summary(self) -> dict[str, Any]:
        """The metadata an export carries: enough to know what a model was trained on, without the data."""
        keep = ('name', 'size', 'fingerprint', 'input_shape', 'labels', 'classes', 'sample_rate', 'representation', 'source', 'group_key')
        return {key: self.metadata[key] for key in keep if key in self.metadata}


def is_stored_dataset(directory: str | Path) -> bool:
    """True when `directory` holds a complete etude dataset (its metadata file is written last)."""
    metadata_path = Path(directory) / METADATA_FILE
    if not metadata_path.is_file():
        return False
    try:
        return json.loads(metadata_path.read_text()).get('format') == DATASET_FORMAT
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
        return False


def read_dataset(directory: str | Path, *, memory_map: bool = True) -> StoredDataset:
    """Open a stored dataset; raise DatasetError if it is absent, incomplete or not an etude dataset."""
    directory = Path(directory)
    if not is_stored_dataset(directory):
        raise DatasetError(f'{directory} is not a complete etude dataset (no valid {METADATA_FILE}); build or import it again')
    metadata = json.loads((directory / METADATA_FILE).read_text())
    if metadata.get('format_version', 0) > FORMAT_VERSION:
        raise DatasetError(f'{directory} was written by a newer etude (dataset format {metadata["format_version"]}); upgrade etude')
    mode: Literal['r'] | None = 'r' if memory_map else None
    try:
        inputs = np.load(directory / 'inputs.npy', mmap_mode=mode)
        labels = {name: np.load(directory / 'labels' / f'{name}.npy', mmap_mode=mode) for name in metadata['labels']}
        groups = np.load(directory / 'groups.npy', mmap_mode=mode)
    except (OSError, ValueError) as error:
        raise DatasetError(f'{directory} is damaged ({error}); delete it and build or import it again') from None
    size = int(metadata['size'])
    if inputs.shape[0] != size or groups.shape[0] != size or any(array.shape[0] != size for array in labels.values()):
        raise DatasetError(f'{directory} is damaged: array lengths do not match its size {size}; delete it and build it again')
    return StoredDataset(directory, metadata, inputs, labels, groups)


def open_if_current(directory: str | Path, fingerprint: str) -> StoredDataset | None:
    """The complete dataset in `directory` when it was built with `fingerprint`, else None (absent, half-built or stale)."""
    if is_stored_dataset(directory):
        dataset = read_dataset(directory)
        if dataset.fingerprint == fingerprint:
            return dataset
    return None


class DatasetWriter:
    """Fill a dataset of known size in any order, then publish it atomically with `finish`.

    Arrays are preallocated as memory-mapped `.npy` files, so a dataset larger than memory can be written one batch
    at a time, and parallel producers can each fill their own slice.
    """

    def __init__(
        self,
        directory: str | Path,
        *,
        size: int,
        input_shape: Sequence[int],
        label_shapes: Mapping[str, Sequence[int]],
        input_dtype: str = 'float32',
        label_dtypes: Mapping[str, str] | None = None,
    ) -> None:
        self.directory = Path(directory)
        if self.directory.exists() and not is_stored_dataset(self.directory) and any(self.directory.iterdir()):
            # finish() replaces what is there; that may only ever be an etude dataset, never a user's files
            raise DatasetError(f'{self.directory} exists and is not an etude dataset; write the dataset to another folder or move that one')
        self.partial_directory = self.directory.with_name(self.directory.name + '.partial')
        if self.partial_directory.exists():
            shutil.rmtree(self.partial_directory)
        (self.partial_directory / 'labels').mkdir(parents=True)
        self.size = size
        self.input_shape = tuple(int(n) for n in input_shape)
        self.label_shapes = {name: tuple(int(n) for n in shape) for name, shape in label_shapes.items()}
        label_dtypes = dict(label_dtypes or {})
        self.inputs = np.lib.format.open_memmap(self.partial_directory / 'inputs.npy', 'w+', np.dtype(input_dtype), (size, *self.input_shape))
        self.labels = {
            name: np.lib.format.open_memmap(
                self.partial_directory / 'labels' / f'{name}.npy', 'w+', np.dtype(label_dtypes.get(name, 'float32')), (size, *shape),
            )
            for name, shape in self.label_shapes.items()
        }
        self.groups = np.lib.format.open_memmap(self.partial_directory / 'groups.npy', 'w+', np.dtype('int64'), (size,))

    def write(self, index: int | slice, inputs: np.ndarray, labels: Mapping[str, Any], groups: Any) -> None:
        """Store one example (int index) or a batch (slice) of inputs, labels and group ids."""
        self.inputs[index] = inputs
        for name, array in self.labels.items():
            array[index] = labels[name]
        self.groups[index] = groups

    def finish(self, metadata: Mapping[str, Any]) -> StoredDataset:
        """Flush, write metadata last, and move the dataset into place; an existing etude dataset there is replaced."""
        for array in (self.inputs, self.groups, *self.labels.values()):
            array.flush()
        complete = {
            'format': DATASET_FORMAT,
            'format_version': FORMAT_VERSION,
            'size': self.size,
            'input_shape': list(self.input_shape),
            'input_dtype': str(self.inputs.dtype),
            'labels': {name: {'shape': list(shape), 'dtype': str(self.labels[name].dtype)} for name, shape in self.label_shapes.items()},
            'created': datetime.now(UTC).isoformat(timespec='seconds'),
            **metadata,
        }
        for required in ('name', 'fingerprint'):
            if required not in complete:
                raise ValueError(f'dataset metadata needs a {required!r}')
        del self.inputs, self.labels, self.groups
        temporary = self.partial_directory / (METADATA_FILE + '.tmp')
        temporary.write_text(json.dumps(complete, indent=2, sort_keys=True))
        os.replace(temporary, self.partial_directory / METADATA_FILE)
        if self.directory.exists():
            shutil.rmtree(self.directory)
        os.replace(self.partial_directory, self.directory)
        return read_dataset(self.directory)
