"""A CRePE-style convolutional network on raw audio (Kim et al., 2018, https://doi.org/10.48550/arXiv.1802.06182).

CRePE estimates pitch from 1024 samples of raw audio with six strided 1-D convolutions; kac_prediction found the same
stack, ending in a linear layer, sizes drums from their sound. `depth` scales the channel counts as CRePE's model
capacities do, trading accuracy for speed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Literal

import torch

from ..model import Model
from ..parameters import AT_LEAST_ONE, Range
from ..parameters import Parameters as BaseParameters

__all__ = ['CRePE']

CAPACITY = {'tiny': 4, 'small': 8, 'medium': 16, 'large': 24, 'full': 32}
FILTERS = (32, 4, 4, 4, 8, 16)
WIDTHS = (512, 64, 64, 64, 64, 64)
STRIDES = (4, 1, 1, 1, 1, 1)


class ConvolutionBlock(torch.nn.Module):
    """Same-padded 1-D convolution → ReLU → batch norm → max-pool by 2 → dropout, as in CRePE."""

    def __init__(self, in_channels: int, filters: int, width: int, stride: int, dropout: float) -> None:
        super().__init__()
        self.pad = torch.nn.ConstantPad1d(((width - 1) // 2, width - 1 - (width - 1) // 2), 0.0)
        self.convolution = torch.nn.Conv1d(in_channels, filters, width, stride)
        self.normalisation = torch.nn.BatchNorm1d(filters)
        self.pool = torch.nn.MaxPool1d(2)
        self.dropout = torch.nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, in_channels, time) → (batch, filters, time / stride / 2)."""
        return self.dropout(self.pool(self.normalisation(torch.relu(self.convolution(self.pad(x))))))


class CRePE(Model):
    """Raw audio `(batch, input_length)` → `(batch, outputs)`; loss is mean squared error by default."""

    @dataclass(kw_only=True)
    class Parameters(BaseParameters):
        depth: Literal['tiny', 'small', 'medium', 'large', 'full'] = 'tiny'
        """Model capacity: channel counts scale as CRePE's tiny to full models."""
        dropout: Annotated[float, Range(0, 1, exclusive_maximum=True)] = 0.25
        """Dropout after each convolution block."""
        outputs: Annotated[int, AT_LEAST_ONE] = 1
        """Numbers predicted per input (one per regression target)."""
        input_length: Annotated[int, Range(256)] = 1024
        """Samples of raw audio per input."""

    hyperparameters: CRePE.Parameters

    def __init__(self, hyperparameters: CRePE.Parameters) -> None:
        super().__init__(hyperparameters)
        capacity = CAPACITY[hyperparameters.depth]
        channels = [1] + [n * capacity for n in FILTERS]
        # sized by arithmetic, not by running the blocks: a probe in train mode would update BatchNorm's statistics
        # and draw dropout masks from the global generator while the model is merely being built
        length = hyperparameters.input_length
        for stride in STRIDES:
            length = math.ceil(length / stride) // 2  # same-padded strided convolution, then max-pool by 2
        # initial weights from the hyperparameters' seed on a forked generator: building a model leaves the global one alone
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(hyperparameters.seed)
            self.blocks = torch.nn.Sequential(*(
                ConvolutionBlock(channels[i], channels[i + 1], WIDTHS[i], STRIDES[i], hyperparameters.dropout) for i in range(len(FILTERS))
            ))
            self.linear = torch.nn.Linear(channels[-1] * length, hyperparameters.outputs)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """(batch, input_length) float audio → (batch, outputs)."""
        if inputs.dim() != 2 or inputs.shape[1] != self.hyperparameters.input_length:
            raise ValueError(f'CRePE expects (batch, {self.hyperparameters.input_length}) audio, got {tuple(inputs.shape)}')
        return self.linear(self.blocks(inputs.unsqueeze(1)).flatten(1))
