"""A stored dataset as a torch `Dataset`, read lazily from its memory-mapped arrays.

    data = stored.as_torch(targets=['diameter'])         # item i → (inputs[i], tensor([diameter[i]]))
    routine.set_dataset(data)                             # groups, split, name and metadata come along

Nothing is copied into memory: each item (or each batch, through `__getitems__`, in one sorted read) is read from
the `.npy` files when a DataLoader asks for it, so a dataset larger than RAM trains, and the page cache does the
rest. The memory maps are opened again in each DataLoader worker (they never travel with the pickled dataset).

`targets` chooses which labels become the targets, like indexing a pandas frame:

    'digit'                     one tensor with the label's own shape per item (a class id: `()`, int64)
    ['width', 'height']         one tensor stacking the labels on a last axis: `(2,)` (['diameter'] gives `(1,)`)
    ('onset', 'frame')          a tuple of tensors
    {'onset': 'onset', ...}     a dict of tensors (target name → label name)
    None                        the only label as one tensor, or a dict of every label when there are several
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import DatasetError

if TYPE_CHECKING:
    from .store import StoredDataset

__all__ = ['Crop', 'StoredTorchDataset', 'TargetSpec']

TargetSpec = str | list[str] | tuple[str, ...] | Mapping[str, str] | None
Transform = Callable[[torch.Tensor, Any], tuple[torch.Tensor, Any]]


@dataclass(frozen=True)
class Crop:
    """A transform keeping the first `length` samples (or frames) of each input's last axis, e.g. 1024 of a strike."""

    length: int

    def __call__(self, inputs: torch.Tensor, targets: Any) -> tuple[torch.Tensor, Any]:
        return inputs[..., : self.length], targets


class StoredTorchDataset(Dataset[tuple[torch.Tensor, Any]]):
    """Item `i` of a stored dataset as `(inputs, targets)` tensors; `transform(inputs, targets)` runs on each item."""

    def __init__(self, stored: StoredDataset, targets: TargetSpec = None, transform: Transform | None = None) -> None:
        self.directory = stored.directory
        self.metadata = stored.metadata
        self.groups = np.asarray(stored.groups)
        self.size = len(stored)
        self.targets = _checked_targets(targets, list(stored.labels))
        self.transform = transform
        self._stored: StoredDataset | None = stored
        self._opened_in = os.getpid()

    @property
    def name(self) -> str:
        return str(self.metadata['name'])

    @property
    def fingerprint(self) -> str:
        return str(self.metadata['fingerprint'])

    @property
    def split(self) -> list[str] | None:
        """The dataset's own per-item split column (MAESTRO's), when it has one."""
        splits = self.metadata.get('splits')
        return list(splits) if splits is not None else None

    def summary(self) -> dict[str, Any]:
        summary = self._arrays().summary()
        summary['targets'] = self.targets if not isinstance(self.targets, Mapping) else dict(self.targets)
        return summary

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> tuple[torch.Tensor, Any]:
        stored = self._arrays()
        inputs = torch.from_numpy(np.array(stored.inputs[(index, *self._input_window())]))
        targets = self._targets({name: np.array(array[index]) for name, array in stored.labels.items() if name in self._label_names()})
        return self.transform(inputs, targets) if self.transform is not None else (inputs, targets)

    def __getitems__(self, indices: Sequence[int]) -> list[tuple[torch.Tensor, Any]]:
        """A batch in one read per array: rows in ascending order (what a memory map reads fastest), then put back."""
        stored = self._arrays()
        order = np.argsort(np.asarray(indices), kind='stable')
        rows = np.asarray(indices)[order]
        inverse = np.empty_like(order)
        inverse[order] = np.arange(len(order))
        inputs = np.asarray(stored.inputs[(rows, *self._input_window())])[inverse]
        labels = {name: np.asarray(stored.labels[name][rows])[inverse] for name in self._label_names()}
        items = []
        for position in range(len(rows)):
            item_inputs = torch.from_numpy(inputs[position])
            item_targets = self._targets({name: array[position] for name, array in labels.items()})
            items.append(self.transform(item_inputs, item_targets) if self.transform is not None else (item_inputs, item_targets))
        return items

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state['_stored'] = None  # memory maps are reopened in the process that reads them
        return state

    def _arrays(self) -> StoredDataset:
        if self._stored is None or self._opened_in != os.getpid():
            from .store import read_dataset

            self._stored, self._opened_in = read_dataset(self.directory), os.getpid()
        return self._stored

    def _input_window(self) -> tuple[Any, ...]:
        """A `Crop` is read from the memory map directly: 1024 samples of a 48,000-sample strike, not the whole row."""
        if isinstance(self.transform, Crop):
            return (*(slice(None),) * (len(self.metadata.get('input_shape', [0])) - 1), slice(0, self.transform.length))
        return ()

    def _label_names(self) -> list[str]:
        if isinstance(self.targets, str):
            return [self.targets]
        if isinstance(self.targets, Mapping):
            return list(self.targets.values())
        return list(self.targets or [])

    def _targets(self, labels: dict[str, np.ndarray]) -> Any:
        spec = self.targets
        if isinstance(spec, str):
            return torch.as_tensor(labels[spec])
        if isinstance(spec, list):
            return torch.as_tensor(np.concatenate([np.atleast_1d(labels[name]) for name in spec], axis=-1))
        if isinstance(spec, tuple):
            return tuple(torch.as_tensor(labels[name]) for name in spec)
        assert isinstance(spec, Mapping)
        return {target: torch.as_tensor(labels[label]) for target, label in spec.items()}


def _checked_targets(targets: TargetSpec, labels: list[str]) -> str | list[str] | tuple[str, ...] | dict[str, str]:
    """`targets` with every label name checked, and None resolved to the only label or to a dict of all of them."""
    if targets is None:
        if not labels:
            raise DatasetError('This dataset has no labels to train on; build it with labels, or pass a torch Dataset of your own')
        return labels[0] if len(labels) == 1 else {name: name for name in labels}
    if isinstance(targets, str):
        names: list[str] = [targets]
    elif isinstance(targets, Mapping):
        names = list(targets.values())
    else:
        names = list(targets)
    if not names:
        raise DatasetError(f'targets names no label; name one or more of {", ".join(labels)}')
    unknown = [name for name in names if name not in labels]
    if unknown:
        raise DatasetError(f'No label {unknown[0]!r} in this dataset; its labels are {", ".join(labels) or "none"}')
    if isinstance(targets, Mapping):
        return dict(targets)
    return targets if isinstance(targets, str) else (list(targets) if isinstance(targets, list) else tuple(targets))
