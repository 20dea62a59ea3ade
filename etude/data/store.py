"""etude's on-disk dataset form: binary arrays plus a small metadata file.

A stored dataset is a directory:

    metadata.json        what later steps need: size, input shape, label names and shapes, classes, sample rate,
                         the fingerprint of what produced it, where it came from (never the data itself)
    inputs.npy           (size, *input_shape) array, memory-mapped on read
    labels/<name>.npy    (size, *label_shape) array per label
    groups.npy           (size,) int64 group ids (a drum, a speaker, a piece), so splits keep related items together

It is built in a sibling folder of its own (`etude.data.partial`) and renamed into place only when `metadata.json`
has been written last, so a half-written dataset is never read as complete. Floats never pass through JSON: kac_prediction's
JSON loader reads about 67 one-second 48 kHz clips per second; a memory-mapped `.npy` is limited by the disk.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import numpy as np

from ..errors import DatasetError
from .files import check_folder
from .layout import DATASET_FORMAT, METADATA_FILE, is_stored_dataset
from .partial import allocate_array, check_space_for, create_partial, discard_partial, publish

__all__ = ['DATASET_FORMAT', 'METADATA_FILE', 'SUMMARY_KEYS', 'DatasetWriter', 'StoredDataset', 'dataset_metadata', 'is_stored_dataset', 'open_if_current',
           'read_dataset']

FORMAT_VERSION = 1

# What an export carries of a dataset's metadata: everything inference needs to turn a raw file into model input and
# model output back into a result (clip length and hop, representation, target frame rate and pitch range, label
# names, shapes, types and class order, sample rate), and what identifies the data; never per-row lists (files,
# offsets, splits), which grow with the dataset.
SUMMARY_KEYS = ('name', 'size', 'fingerprint', 'input_shape', 'input_dtype', 'input_features', 'labels', 'label_types', 'classes',
                'sample_rate', 'num_samples', 'segment_hop_seconds', 'representation', 'targets', 'group_key', 'split_rule', 'source')


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
        """The metadata an export carries (`SUMMARY_KEYS`): what the model was trained on and everything
        preprocessing needs to rebuild its input from a raw file, without the data or the training script."""
        return {key: self.metadata[key] for key in SUMMARY_KEYS if key in self.metadata}


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


def dataset_metadata(*, size: int, input_shape: Sequence[int], input_dtype: Any, labels: Mapping[str, tuple[Sequence[int], Any]],
                     **fields: Any) -> dict[str, Any]:
    """The one form of a dataset's `metadata.json`: the format header, size, input and label shapes and dtypes
    (`labels` is `{name: (shape, dtype)}`), the creation time, then the builder's own `fields`, which must name the
    dataset (`name`) and what produced it (`fingerprint`, which changes whenever the data would)."""
    missing = [key for key in ('name', 'fingerprint') if not fields.get(key)]
    if missing:
        raise DatasetError(f'dataset metadata needs a {" and a ".join(repr(key) for key in missing)}: pass them to finish(), '
                           "e.g. {'name': 'my-data', 'fingerprint': 'v1'} (change the fingerprint whenever the data changes)")
    return {
        'format': DATASET_FORMAT,
        'format_version': FORMAT_VERSION,
        'size': int(size),
        'input_shape': [int(n) for n in input_shape],
        'input_dtype': str(np.dtype(input_dtype)),
        'labels': {name: {'shape': [int(n) for n in shape], 'dtype': str(np.dtype(dtype))} for name, (shape, dtype) in labels.items()},
        'created': datetime.now(UTC).isoformat(timespec='seconds'),
        **fields,
    }


class DatasetWriter:
    """Fill a dataset of known size in any order, then publish it atomically with `finish`.

    Arrays are preallocated as memory-mapped `.npy` files, with their disk space reserved up front (a full disk is a
    one-line error before any work, never a SIGBUS half-way), so a dataset larger than memory can be written one
    batch at a time, and parallel producers can each fill their own slice. The writer builds in a folder of its own
    (`<directory>.partial-<random>`, see `etude.data.partial`) and deletes nothing else; used as a context manager, it
    deletes that folder again when the block fails. It takes no lock: `generate_dataset` and the caches do.
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
        self.directory = check_folder(directory)
        if self.directory.exists() and not is_stored_dataset(self.directory) and any(self.directory.iterdir()):
            # finish() replaces what is there; that may only ever be an etude dataset, never a user's files
            raise DatasetError(f'{self.directory} exists and is not an etude dataset; write the dataset to another folder or move that one')
        self.size = size
        self.input_shape = tuple(int(n) for n in input_shape)
        self.label_shapes = {name: tuple(int(n) for n in shape) for name, shape in label_shapes.items()}
        label_dtypes = dict(label_dtypes or {})
        arrays = {'inputs.npy': (np.dtype(input_dtype), (size, *self.input_shape)), 'groups.npy': (np.dtype('int64'), (size,)),
                  **{f'labels/{name}.npy': (np.dtype(label_dtypes.get(name, 'float32')), (size, *shape)) for name, shape in self.label_shapes.items()}}
        check_space_for(self.directory.parent, arrays, what=f'cannot write the dataset {self.directory.name}')
        self.partial_directory = create_partial(self.directory)
        try:
            (self.partial_directory / 'labels').mkdir()
            memmaps = {name: allocate_array(self.partial_directory / name, dtype, shape) for name, (dtype, shape) in arrays.items()}
        except BaseException:
            discard_partial(self.partial_directory)
            raise
        self.inputs = memmaps['inputs.npy']
        self.groups = memmaps['groups.npy']
        self.labels = {name: memmaps[f'labels/{name}.npy'] for name in self.label_shapes}

    def __enter__(self) -> DatasetWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None) -> None:
        if kind is not None:
            self.discard()

    def write(self, index: int | slice, inputs: np.ndarray, labels: Mapping[str, Any], groups: Any) -> None:
        """Store one example (int index) or a batch (slice) of inputs, labels and group ids."""
        self.inputs[index] = inputs
        for name, array in self.labels.items():
            array[index] = labels[name]
        self.groups[index] = groups

    def discard(self) -> None:
        """Delete the unfinished dataset (only the writer's own folder); the writer cannot be used after."""
        for name in ('inputs', 'labels', 'groups'):
            self.__dict__.pop(name, None)
        discard_partial(self.partial_directory)

    def finish(self, metadata: Mapping[str, Any]) -> StoredDataset:
        """Flush, write metadata last, and move the dataset into place; an existing etude dataset there is replaced."""
        complete = dataset_metadata(size=self.size, input_shape=self.input_shape, input_dtype=self.inputs.dtype,
                                    labels={name: (shape, self.labels[name].dtype) for name, shape in self.label_shapes.items()}, **metadata)
        for array in (self.inputs, self.groups, *self.labels.values()):
            array.flush()
        del self.inputs, self.labels, self.groups
        publish(self.partial_directory, self.directory, complete)
        return read_dataset(self.directory)
