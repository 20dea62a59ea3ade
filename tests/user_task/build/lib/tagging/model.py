"""A small network for tagging: a strided 1-D convolution stack over the waveform, pooled over time, one logit per tag."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from etude import Model, Parameters


class TagNet(Model):
    """`(batch, samples)` waveforms → `(batch, tags)` logits; trained with binary cross-entropy, one tag at a time."""

    @dataclass(kw_only=True)
    class Parameters(Parameters):
        tags: int = 3
        """How many tags (outputs)."""
        channels: int = 16
        """Channels of each convolution."""

    def __init__(self, hyperparameters: TagNet.Parameters) -> None:
        super().__init__(hyperparameters)
        width = hyperparameters.channels
        self.layers = torch.nn.Sequential(
            torch.nn.Conv1d(1, width, 64, stride=8), torch.nn.ReLU(),
            torch.nn.Conv1d(width, width, 9, stride=4), torch.nn.ReLU(),
            torch.nn.AdaptiveMaxPool1d(1), torch.nn.Flatten(), torch.nn.Linear(width, hyperparameters.tags),
        )

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.layers(inputs.unsqueeze(1))

    def loss(self, predictions: Any, targets: Any) -> torch.Tensor:
        return torch.nn.functional.binary_cross_entropy_with_logits(predictions, targets.float())
