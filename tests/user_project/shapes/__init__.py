"""A user's own package, beside a routine file: four synthetic waveforms, a sampler that stores them as an etude dataset
(so `etude evaluate` can read the run's data again), and a small network that tells them apart."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from etude import Model, Parameters
from etude.data.samplers import Sampler

SHAPES = ('sine', 'square', 'sawtooth', 'noise')


def waveform(shape: str, samples: int, generator: np.random.Generator) -> np.ndarray:
    """`(samples,)` float32: one waveform of `shape` with a random period, phase and level."""
    cycle = (np.arange(samples) / generator.uniform(8, 32) + generator.uniform()) % 1.0
    wave = {'sine': np.sin(2 * np.pi * cycle), 'square': np.sign(cycle - 0.5), 'sawtooth': 2 * cycle - 1,
            'noise': generator.uniform(-1, 1, samples)}[shape]
    return (wave * generator.uniform(0.3, 1.0)).astype(np.float32)


@dataclass(frozen=True)
class ShapeSettings:
    per_shape: int
    samples: int
    sample_rate: int = 8000


class ShapeSampler(Sampler):
    """`per_shape` waveforms of each shape, each its own group, labelled `shape` (0-3, the index in SHAPES)."""

    name = 'shapes'

    def __init__(self, settings: ShapeSettings) -> None:
        self.settings = settings

    @property
    def number_of_groups(self) -> int:
        return len(SHAPES) * self.settings.per_shape

    @property
    def items_per_group(self) -> int:
        return 1

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (self.settings.samples,)

    @property
    def label_shapes(self) -> dict[str, tuple[int, ...]]:
        return {'shape': ()}

    def generate_group(self, rng: np.random.Generator):
        label = int(rng.integers(len(SHAPES)))
        yield waveform(SHAPES[label], self.settings.samples, rng), {'shape': label}


class ShapeNet(Model):
    """Sorted samples and sorted steps (what a shape's level and slope distributions look like, whatever its phase) → 4 logits."""

    @dataclass(kw_only=True)
    class Parameters(Parameters):
        samples: int = 256
        """Samples of each waveform."""
        hidden_units: int = 32
        """Units of the hidden layer."""

    def __init__(self, parameters: ShapeNet.Parameters) -> None:
        super().__init__(parameters)
        self.layers = torch.nn.Sequential(torch.nn.Linear(2 * parameters.samples - 1, parameters.hidden_units), torch.nn.ReLU(),
                                          torch.nn.Linear(parameters.hidden_units, len(SHAPES)))

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """`(batch, samples)` → `(batch, 4)` logits."""
        features = torch.cat([inputs.sort(dim=-1).values, inputs.diff(dim=-1).sort(dim=-1).values], dim=-1)
        return self.layers(features)

    def loss(self, predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.cross_entropy(predictions, targets.long())  # stored labels are float32
