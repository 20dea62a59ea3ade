"""An LSTM over metrical tokens (REMI with voices): the default music generation model.

Tokens `(batch, time)` int64 → an embedding of `embedding_size` → `num_layers` × `hidden_size` LSTM → dropout → a linear
layer to the logits of the next token `(batch, time, vocabulary_size)`. Teacher forcing: the input at position t is the
token before it (the begin token, BOS, at a piece's start and at every tile's start), the target every real token of
the tile but the first of a tile that does not open its piece (`token_data.TokenTiles.weights`). Trained through the
Routine's `Step` (precision, accumulation, clipping, schedules, torchrun as for every model).

Why an LSTM and not a Transformer on this corpus and this CPU (measured, see the generation README): the chorales are
about 380,000 tokens, a size at which a 2 × 256 LSTM (1.1 M parameters) is not data-starved, trains an epoch in about
a minute on two cores, and samples one token in one fused step of three small matrix-vector products
(`fused.FusedLSTM`), where a Transformer's step with a KV cache is a dozen small operations per layer plus attention
over the whole prefix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import torch

from ...errors import ConfigError
from ...model import Batch, Model
from ...parameters import AT_LEAST_ONE, Range
from ...parameters import Parameters as BaseParameters
from .token_data import BOS

if TYPE_CHECKING:
    from ...training.step import Step
    from .model import LSTMState

__all__ = ['TokenLSTM', 'TokenModel', 'token_teacher_forcing']


class TokenModel(Model):
    """What every token model shares: `forward` is `run` without a state, the loss is the cross-entropy per scored token,
    and training is teacher forcing through the Step. A subclass writes `run(tokens, state)`."""

    def run(self, tokens: torch.Tensor, state: Any = None) -> tuple[dict[str, torch.Tensor], Any]:
        raise NotImplementedError

    def forward(self, inputs: torch.Tensor) -> dict[str, torch.Tensor]:  # type: ignore[override]
        return self.run(inputs)[0]

    def loss(self, predictions: Any, targets: Any) -> torch.Tensor:
        """Cross-entropy per scored token (`targets`: 'tokens' `(b, t)` int64, 'weight' `(b, t)` float)."""
        weight = targets['weight']
        nll = torch.nn.functional.cross_entropy(predictions['logits'].transpose(1, 2).float(), targets['tokens'], reduction='none')
        return (nll * weight).sum() / weight.sum().clamp(min=1.0)

    def training_step(self, batch: Batch, step: Step) -> dict[str, torch.Tensor]:
        inputs, targets = token_teacher_forcing(*batch)
        with step.autocast():
            predictions = self(inputs)
            loss = self.loss(predictions, targets)
        step.backward(loss)
        step.update()
        return {'loss': loss.detach()}

    def evaluation_step(self, batch: Batch) -> dict[str, Any]:
        inputs, targets = token_teacher_forcing(*batch)
        predictions = self(inputs)
        return {'loss': self.loss(predictions, targets), 'predictions': predictions, 'targets': targets}

    def check_tokens(self, tokens: torch.Tensor, size: int) -> None:
        """Refuse ids outside the vocabulary in one line."""
        if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= size):
            raise ConfigError(f'{type(self).__name__} takes token ids 0..{size - 1}, got {int(tokens.min())}..{int(tokens.max())}')


class TokenLSTM(TokenModel):
    """Token ids `(batch, time)` → next-token logits `(batch, time, vocabulary_size)`, as `{'logits': ...}`."""

    @dataclass(kw_only=True)
    class Parameters(BaseParameters):
        vocabulary_size: Annotated[int, Range(4)] = 192
        """Tokens of the representation (set by the routine from it)."""
        token_embedding_size: Annotated[int, AT_LEAST_ONE] = 64
        """Width of the token embedding."""
        token_hidden_size: Annotated[int, AT_LEAST_ONE] = 256
        """Units of each LSTM layer."""
        token_layers: Annotated[int, AT_LEAST_ONE] = 2
        """Stacked LSTM layers."""
        token_dropout: Annotated[float, Range(0, 1, exclusive_maximum=True)] = 0.1
        """Dropout on the embedding, between LSTM layers and before the output layer."""

    hyperparameters: TokenLSTM.Parameters

    def __init__(self, hyperparameters: TokenLSTM.Parameters) -> None:
        super().__init__(hyperparameters)
        h = hyperparameters
        self.embedding = torch.nn.Embedding(h.vocabulary_size, h.token_embedding_size)
        self.lstm = torch.nn.LSTM(h.token_embedding_size, h.token_hidden_size, num_layers=h.token_layers, batch_first=True,
                                  dropout=h.token_dropout if h.token_layers > 1 else 0.0)
        self.dropout = torch.nn.Dropout(h.token_dropout)
        self.head = torch.nn.Linear(h.token_hidden_size, h.vocabulary_size)

    def run(self, tokens: torch.Tensor, state: LSTMState | None = None) -> tuple[dict[str, torch.Tensor], LSTMState]:
        """The logits after each of `tokens` `(batch, time)`, continuing from `state` (None: a fresh start), and the
        state after the last token, so a sampler can go on from it."""
        self.check_tokens(tokens, self.hyperparameters.vocabulary_size)
        hidden, state = self.lstm(self.dropout(self.embedding(tokens)), state)
        return {'logits': self.head(self.dropout(hidden))}, state


def token_teacher_forcing(tokens: torch.Tensor, first: torch.Tensor, length: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Inputs and targets of a batch of token tiles.

    Args:
        tokens: `(batch, length)` int64 ids, PAD past each tile's length.
        first: `(batch,)` 1 where the tile opens its piece (its first token is scored), else 0.
        length: `(batch,)` the real tokens of each tile.
    Returns:
        inputs `(batch, length)`: BOS, then tokens 0..length-2; targets: 'tokens' and 'weight' `(batch, length)`, 1
        for a real token, but `first` at position 0.
    """
    begin = torch.full_like(tokens[:, :1], BOS)
    inputs = torch.cat([begin, tokens[:, :-1]], dim=1)
    positions = torch.arange(tokens.shape[1], device=tokens.device)[None]
    weight = (positions < length[:, None]).to(torch.float32)
    weight[:, 0] = weight[:, 0] * first.to(torch.float32)
    return inputs, {'tokens': tokens, 'weight': weight}
