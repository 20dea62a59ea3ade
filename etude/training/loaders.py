"""DataLoaders whose order depends only on (seed, epoch), alone or under torchrun.

Training shuffles with a private generator seeded from `seed * 100_003 + epoch` (never the global one), so a
resumed run sees exactly the batches an uninterrupted one would, and a hand-written loop with the same generator
sees them too (`tests/test_routine.py` checks this). Under torchrun a `DistributedSampler` deals each epoch's
shuffled order out to the processes (`set_epoch`), padding with a few repeated items so every process takes as many
steps. Evaluation never pads: each process takes one contiguous share of the split, so every item counts exactly
once and the shares, merged in rank order, are the split in dataset order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler, Subset

from ..errors import ConfigError
from .distributed import Distributed
from .seeding import seed_worker

__all__ = ['evaluation_loader', 'shuffle_seed', 'training_loader']


def shuffle_seed(seed: int, epoch: int) -> int:
    """The seed of epoch `epoch`'s shuffle: the documented order a resumed run and a hand-written loop both follow."""
    return seed * 100_003 + epoch


def training_loader(
    dataset: Dataset[Any],
    indices: np.ndarray,
    *,
    batch_size: int,
    seed: int,
    epoch: int,
    num_workers: int,
    device: torch.device,
    distributed: Distributed,
    collate: Callable[[list[Any]], Any] | None = None,
    sampler: Sampler[int] | None = None,
) -> DataLoader[Any]:
    """One epoch over the train split (`indices` into `dataset`); `batch_size` is this process's share."""
    subset = Subset(dataset, indices.tolist())
    generator = torch.Generator().manual_seed(shuffle_seed(seed, epoch))
    shuffle = True
    if sampler is not None:
        _check_sampler(sampler, len(indices), distributed)
    if distributed.active:
        sampler = DistributedSampler(subset, num_replicas=distributed.world_size, rank=distributed.rank, shuffle=True, seed=seed, drop_last=False)
        sampler.set_epoch(epoch)
        shuffle = False
    elif sampler is not None:
        if isinstance(getattr(sampler, 'generator', None), torch.Generator):  # a weighted or random sampler: same draws on resume
            sampler.generator.manual_seed(shuffle_seed(seed, epoch))  # type: ignore[attr-defined]
        shuffle = False
    return _loader(subset, batch_size, shuffle, sampler, generator, num_workers, device, collate)


def _check_sampler(sampler: Sampler[int], train_size: int, distributed: Distributed) -> None:
    """A sampler draws positions in the train split; one weighted over the whole dataset would read other items or
    fail deep inside the DataLoader, and under torchrun it would be replaced by the DistributedSampler unseen."""
    if distributed.active:
        raise ConfigError(f'sampler= is not supported under torchrun ({distributed.world_size} processes deal the train split out with a '
                          'DistributedSampler); train in one process, or drop sampler=')
    weights = getattr(sampler, 'weights', None)
    if isinstance(weights, torch.Tensor) and weights.dim() == 1 and len(weights) != train_size:
        raise ConfigError(f'sampler= weighs {len(weights)} positions but the train split has {train_size} items; '
                          "give one weight per position of routine.split['train'] (weights[i] for item routine.split['train'][i])")


def evaluation_loader(
    dataset: Dataset[Any],
    indices: np.ndarray,
    *,
    batch_size: int,
    num_workers: int,
    device: torch.device,
    distributed: Distributed,
    collate: Callable[[list[Any]], Any] | None = None,
) -> DataLoader[Any]:
    """This process's contiguous share of a split, in order, each item once."""
    shares = np.array_split(np.asarray(indices), distributed.world_size)
    subset = Subset(dataset, shares[distributed.rank].tolist())
    return _loader(subset, batch_size, False, None, torch.Generator().manual_seed(0), num_workers, device, collate)


def _loader(dataset: Dataset[Any], batch_size: int, shuffle: bool, sampler: Sampler[int] | None, generator: torch.Generator,
            num_workers: int, device: torch.device, collate: Callable[[list[Any]], Any] | None) -> DataLoader[Any]:
    # every loader gets a private generator: creating a DataLoader iterator draws a base seed from it, which would
    # otherwise come from torch's global generator and shift every later random draw of the run
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        sampler=sampler,
        generator=generator,
        num_workers=num_workers,
        worker_init_fn=seed_worker if num_workers else None,
        pin_memory=device.type == 'cuda',
        collate_fn=collate,
    )


def split_sizes(split: dict[str, Sequence[int] | np.ndarray]) -> dict[str, int]:
    return {name: len(indices) for name, indices in split.items()}
