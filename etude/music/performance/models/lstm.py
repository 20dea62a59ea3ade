"""The baseline expressive performer: a bidirectional LSTM over the notes of a score.

Score features `(batch, notes, 17)` → performance features `(batch, notes, 5)` (velocity, onset deviation, log
duration ratio, beat seconds, sustain pedal; see `common`). Each note sees the whole window both ways, and nothing says
where beats and bars begin but the features themselves: the hierarchical model (`PerformanceHAN`) adds that.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import torch

from ....model import Model
from ....parameters import AT_LEAST_ONE, Range
from ....parameters import Parameters as BaseParameters
from ..codec import SCORE_FEATURES
from .common import PREDICTED, masked_losses, scale_inputs, to_units

__all__ = ['PerformanceLSTM']


class PerformanceLSTM(Model):
    """Bidirectional LSTM performer; loss on matched notes only (tempo on every real note)."""

    @dataclass(kw_only=True)
    class Parameters(BaseParameters):
        hidden_size: Annotated[int, AT_LEAST_ONE] = 64
        """Units of each LSTM direction."""
        layers: Annotated[int, AT_LEAST_ONE] = 2
        """Stacked bidirectional LSTM layers."""
        dropout: Annotated[float, Range(0, 1, exclusive_maximum=True)] = 0.2
        """Dropout between layers and before the output."""

    hyperparameters: PerformanceLSTM.Parameters

    def __init__(self, hyperparameters: PerformanceLSTM.Parameters) -> None:
        super().__init__(hyperparameters)
        size = hyperparameters.hidden_size
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(hyperparameters.seed)
            self.embed = torch.nn.Linear(len(SCORE_FEATURES), size)
            self.lstm = torch.nn.LSTM(size, size, num_layers=hyperparameters.layers, batch_first=True, bidirectional=True,
                                      dropout=hyperparameters.dropout if hyperparameters.layers > 1 else 0.0)
            self.dropout = torch.nn.Dropout(hyperparameters.dropout)
            self.head = torch.nn.Linear(2 * size, len(PREDICTED))

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """(batch, notes, 17) score features → (batch, notes, 5) performance features in their units."""
        hidden, _ = self.lstm(torch.relu(self.embed(scale_inputs(inputs))))
        return to_units(self.head(self.dropout(hidden)), inputs)

    def loss(self, predictions: torch.Tensor, targets: Any) -> torch.Tensor:
        return masked_losses(predictions, targets)['loss']

    def perform(self, inputs: torch.Tensor) -> torch.Tensor:
        """`(batch, notes, 17)` score features → `(batch, notes, 5)` performance features, as the task plays a score."""
        return self(inputs)
