"""What the Routine trains on: any map-style torch Dataset, with its groups, split, name and metadata.

A `StoredDataset` (generated, converted or cached by etude) brings all of these itself and is read lazily through
`StoredTorchDataset`; any other dataset (a `TensorDataset`, a torchaudio dataset, a user's class) may name them:

    routine.set_dataset(TensorDataset(inputs, targets), groups=speaker_of_each_item, name='my-digits')

The split is, in order of precedence: `split=` (explicit index lists), the dataset's own split column (MAESTRO's),
the groups dealt out by `dataset_split` with the run's seed, or each item its own group.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler, Subset

from ..data.split import SPLIT_NAMES, split_by_column, split_by_groups
from ..data.store import StoredDataset
from ..data.torch_dataset import StoredTorchDataset, TargetSpec, Transform
from ..errors import ConfigError, RoutineError
from ..model import Model, move_to_device

__all__ = ['RoutineData', 'SplitView', 'check_model_takes_data', 'prepare_data']


@dataclass
class RoutineData:
    """A dataset with what the Routine needs to split it and to describe it in exports."""

    dataset: Dataset[Any]
    size: int
    name: str
    groups: np.ndarray | None = None
    split: dict[str, np.ndarray] | None = None
    own_split: list[str] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    collate: Callable[[list[Any]], Any] | None = None
    sampler: Sampler[int] | None = None

    @property
    def fingerprint(self) -> str | None:
        value = self.metadata.get('fingerprint')
        return str(value) if value is not None else None

    @property
    def directory(self) -> str | None:
        """Where a stored dataset lies (absolute), for `etude evaluate` to find it again; None for other datasets."""
        folder = getattr(self.dataset, 'directory', None)
        return str(Path(folder).resolve()) if folder is not None else None

    def is_the_same(self, data: Any) -> bool:
        """`train(data)` after `set_dataset(...)`: the same object, or the same stored dataset opened again."""
        if data is self.dataset:
            return True
        return isinstance(data, StoredDataset) and self.directory is not None and Path(data.directory).resolve() == Path(self.directory)

    def summary(self) -> dict[str, Any]:
        """What an export records of the data: the stored dataset's summary, or the name, size and given metadata."""
        if isinstance(self.dataset, StoredTorchDataset):
            return self.dataset.summary()
        return {'name': self.name, 'size': self.size, **{key: value for key, value in self.metadata.items() if _plain(value)}}

    def view(self, split: Mapping[str, np.ndarray]) -> SplitView:
        """This dataset cut by `split`, as its task reads it."""
        directory = self.directory or self.metadata.get('directory')
        return SplitView(self.dataset, split, str(directory) if directory else None, self.collate)

    def make_split(self, fractions: Sequence[float], seed: int) -> dict[str, np.ndarray]:
        split = self._split(fractions, seed)
        if len(split['train']) == 0:  # torch's sampler would fail on it with a ValueError, not a message
            raise ConfigError(f'The train split of {self.name} is empty ({self.size} items); '
                              'give dataset_split a train fraction or split= train indices, use more data or more groups')
        return split

    def _split(self, fractions: Sequence[float], seed: int) -> dict[str, np.ndarray]:
        if self.split is not None:
            return self.split
        if self.own_split is not None:
            from ..data.definitions import SPLIT_ALIASES

            return split_by_column(self.own_split, SPLIT_ALIASES)
        groups = self.groups if self.groups is not None else np.arange(self.size)
        return split_by_groups(groups, fractions, seed)


@dataclass
class SplitView:
    """A run's data as its task reads it: the torch Dataset the routine reads, the items of each split and, when the
    data is an etude stored dataset, that dataset (opened on first use).

    A task fits its baselines on `indices['train']` and scores them on another split; the Routine hands it the view it
    trains on, and `etude evaluate` one rebuilt from the run's folder, so both see the same items in the same order.
    """

    dataset: Any
    indices: Mapping[str, np.ndarray]
    directory: str | None = None
    """Where the stored dataset lies, when there is one (a `StoredDataset` folder)."""
    collate: Callable[[list[Any]], Any] | None = None
    opener: Callable[[], StoredDataset] | None = None
    """Opens the stored dataset instead of reading `directory` (`etude evaluate` checks it against the export's fingerprint)."""
    _stored: StoredDataset | None = None

    def stored(self) -> StoredDataset:
        """The stored dataset the run read (a DatasetError when the run's data is not one)."""
        if self._stored is None:
            from ..data.store import read_dataset
            from ..errors import DatasetError

            if self.opener is not None:
                self._stored = self.opener()
            elif self.directory is None:
                raise DatasetError('this run did not train on a stored etude dataset, so its labels cannot be read by name')
            else:
                self._stored = read_dataset(self.directory)
        return self._stored

    def labels(self, name: str, split: str) -> np.ndarray:
        """The stored label `name` of the items of `split`, in order (read without the inputs)."""
        return np.asarray(self.stored().labels[name])[np.asarray(self.indices[split])]

    def targets(self, split: str, block: int = 1024) -> Any:
        """The targets of the items of `split` as the dataset returns them, stacked (a tensor per item is read, so this
        reads the inputs too: for a stored dataset prefer `labels`)."""
        indices = np.asarray(self.indices[split])
        read = getattr(self.dataset, '__getitems__', None)
        items = [item for start in range(0, len(indices), block)
                 for item in (read(indices[start:start + block].tolist()) if read is not None else
                              [self.dataset[int(index)] for index in indices[start:start + block]])]
        return torch.stack([torch.as_tensor(target) for _, target in items]) if items else torch.empty(0)


def prepare_data(
    data: Dataset[Any] | StoredDataset,
    *,
    targets: TargetSpec = None,
    transform: Transform | None = None,
    groups: Sequence[Any] | np.ndarray | None = None,
    split: Mapping[str, Sequence[int]] | None = None,
    name: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    collate: Callable[[list[Any]], Any] | None = None,
    sampler: Sampler[int] | None = None,
) -> RoutineData:
    """Check what `set_dataset` was given and gather it into one `RoutineData`."""
    if isinstance(data, StoredDataset):
        data = StoredTorchDataset(data, targets, transform)
    elif targets is not None or transform is not None:
        raise RoutineError('targets= and transform= choose labels of a stored etude dataset; a torch Dataset returns its own items')
    if not hasattr(data, '__getitem__') or not hasattr(data, '__len__'):
        raise RoutineError(f'set_dataset needs a map-style torch Dataset (with __getitem__ and __len__), got {type(data).__name__}')
    size = len(data)  # type: ignore[arg-type]
    if size == 0:
        raise ConfigError('The dataset is empty; generate or install it again, or check the folder it was read from')
    given_metadata = dict(metadata or {})
    if isinstance(data, StoredTorchDataset):
        own_groups: np.ndarray | None = data.groups
        own_split = data.split
        given_metadata = {**data.metadata, **given_metadata}
        name = name or data.name
    else:
        own_groups, own_split = None, None
    routine_data = RoutineData(
        dataset=data,
        size=size,
        name=name or given_metadata.get('name') or type(data).__name__,
        groups=_checked_groups(groups, size) if groups is not None else own_groups,
        split=_checked_split(split, size) if split is not None else None,
        own_split=own_split,
        metadata=given_metadata,
        collate=collate,
        sampler=sampler,
    )
    return routine_data


def _checked_groups(groups: Sequence[Any] | np.ndarray, size: int) -> np.ndarray:
    array = np.asarray(groups)
    if array.shape != (size,):
        raise ConfigError(f'groups= needs one key per item ({size}), got {array.shape[0] if array.ndim else 0}; pass a list as long as the dataset')
    return array


def _checked_split(split: Mapping[str, Sequence[int]], size: int) -> dict[str, np.ndarray]:
    unknown = sorted(set(split) - set(SPLIT_NAMES))
    if unknown:
        raise ConfigError(f'split= has parts {unknown}; name them train, validation and test')
    checked = {name: np.asarray(split.get(name, []), dtype=np.int64).reshape(-1) for name in SPLIT_NAMES}
    seen = np.concatenate(list(checked.values()))
    if len(seen) and (seen.min() < 0 or seen.max() >= size):
        raise ConfigError(f'split= has an index outside 0..{size - 1}; indices must point at items of the dataset')
    if len(np.unique(seen)) != len(seen):
        raise ConfigError('split= lists an item in two parts (or twice); each item belongs to one of train, validation, test')
    return checked


def _plain(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool, type(None), list, tuple, dict))


def check_model_takes_data(model: Model, data: RoutineData, indices: np.ndarray, device: torch.device, autocast: Callable[[], Any]) -> None:
    """Run two items of the validation split through the model before training, so a model that cannot take this data
    fails now, in one line (`input_length` longer than the clips, more outputs than targets), not after an epoch or
    with torch's warnings. Two items, not a batch: the check is about shapes, and costs a few milliseconds."""
    if len(indices) == 0:  # a torchrun share smaller than one item
        return
    model.eval()
    loader = DataLoader(Subset(data.dataset, indices[:2].tolist()), batch_size=2, collate_fn=data.collate, generator=torch.Generator())
    batch = move_to_device(next(iter(loader)), device)
    try:
        with torch.no_grad(), autocast():
            outputs = model.evaluation_step(batch)
    except (ValueError, RuntimeError, IndexError, TypeError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ConfigError(f"{type(model).__name__} cannot take this dataset's items ({first_line}); "
                          'check the hyperparameters that set its input and output sizes') from None
    predictions, targets = outputs['predictions'], outputs['targets']
    if type(model).loss is Model.loss and isinstance(predictions, torch.Tensor) and isinstance(targets, torch.Tensor) \
            and predictions.shape != targets.shape:
        raise ConfigError(f'{type(model).__name__} predicts {tuple(predictions.shape[1:])} per item but the targets are '
                          f'{tuple(targets.shape[1:])}; set its outputs to match the targets (e.g. outputs={targets[0].numel()})')
