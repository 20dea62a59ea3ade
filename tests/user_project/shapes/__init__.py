"""A user's own package, beside a routine file: four synthetic waveforms and a small network that tells them apart."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from etude import Model, Parameters

SHAPES = ('sine', 'square', 'sawtooth', 'noise')


def waveforms(per_shape: int, samples: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """`(4 * per_shape, samples)` waveforms of random period, phase and level, and their shape ids `(4 * per_shape,)`."""
    generator = np.random.default_rng(seed)
    time = np.arange(samples)
    inputs, labels = [], []
    for label, shape in enumerate(SHAPES):
        for _ in range(per_shape):
            cycle = (time / generator.uniform(8, 32) + generator.uniform()) % 1.0
            wave = {'sine': np.sin(2 * np.pi * cycle), 'square': np.sign(cycle - 0.5), 'sawtooth': 2 * cycle - 1,
                    'noise': generator.uniform(-1, 1, samples)}[shape]
            inputs.append(wave * generator.uniform(0.3, 1.0))
            labels.append(label)
    return torch.tensor(np.array(inputs), dtype=torch.float32), torch.tensor(labels)


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
        return torch.nn.functional.cross_entropy(predictions, targets)
