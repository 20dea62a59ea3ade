"""What a sampler promises, so `generate_dataset` can store any of them."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import Any

import numpy as np

__all__ = ['DrumSampler', 'Sampler']


class Sampler(ABC):
    """Generates a dataset group by group: every item of a group (e.g. strikes of one drum) share a group id.

    Each group is drawn from its own generator seeded by `(seed, group index)`, so the dataset is the same whatever
    order, process or resumed build produced it.
    """

    name: str
    settings: Any

    @property
    @abstractmethod
    def number_of_groups(self) -> int: ...

    @property
    @abstractmethod
    def items_per_group(self) -> int: ...

    @property
    @abstractmethod
    def input_shape(self) -> tuple[int, ...]: ...

    @property
    @abstractmethod
    def label_shapes(self) -> dict[str, tuple[int, ...]]: ...

    @abstractmethod
    def generate_group(self, rng: np.random.Generator) -> Iterator[tuple[np.ndarray, dict[str, Any]]]:
        """Yield `items_per_group` pairs of (input array of `input_shape`, labels by name)."""

    @property
    def size(self) -> int:
        return self.number_of_groups * self.items_per_group

    def describe(self) -> dict[str, Any]:
        """JSON-safe identity of the sampler and its settings, stored in the dataset metadata."""
        is_instance = dataclasses.is_dataclass(self.settings) and not isinstance(self.settings, type)
        settings = dataclasses.asdict(self.settings) if is_instance else dict(self.settings)
        return {'sampler': f'{type(self).__module__}.{type(self).__qualname__}', 'settings': settings}

    def fingerprint(self, seed: int) -> str:
        """Changes whenever the data would: settings, sampler class or seed."""
        text = json.dumps({**self.describe(), 'seed': seed, 'version': getattr(self, 'version', 1)}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()


class DrumSampler(Sampler):
    """A struck membrane: `settings` has `number_of_drums`, `strikes_per_drum`, `duration` and `sample_rate`; the strikes
    of one drum form a group and every input is one `(samples,)` waveform."""

    @property
    def number_of_groups(self) -> int:
        return int(self.settings.number_of_drums)

    @property
    def items_per_group(self) -> int:
        return int(self.settings.strikes_per_drum)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (round(self.settings.duration * self.settings.sample_rate),)
