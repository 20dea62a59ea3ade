"""An LSTM over notes (pitch, step, duration) that predicts the next note (seed 002's music generator).

Each note enters as a one-hot pitch (128 MIDI pitches plus a begin-sequence token, 129 values) through a linear
embedding without bias (129 → `embedding_size`), concatenated with its step and duration in seconds; `num_rnn_layers`
LSTM layers of `hidden_size` follow; three heads read the last layer: pitch (linear → ReLU → linear, `pitch_hidden_size`
hidden units, 129 logits), step and duration (one linear unit each, through a softplus so that neither can go
negative). With the seed's 3 × 512 this is 5,736,029 trainable parameters (the seed's own sum says 5,712,809, with two
slips: 120 × 129 for the 130 × 129 embedding, 129 × 130 for the 129 × 300 pitch layer).

Training is teacher forcing: a batch holds true note sequences `(batch, length, 3)`; the input at position t is the
note before it (the begin token at t = 0) and the loss scores every position's prediction of the true note,
cross-entropy on pitch plus `step_weight` and `duration_weight` times the squared errors in seconds (or, with
`time_loss=log`, in log seconds). A sequence cut from
the middle of a piece starts from the begin token's state too, but its first note is not scored (the `first` flag of
the batch is 0): only a piece's true opening teaches the begin token what comes first.

The network also keeps, as buffers counted from its training batches, what its step and duration predictions turn out
to mean (P(true time bin | predicted bin)), so that `etude.music.generation.likelihood` can score them as probabilities of
the time bins the counting baselines use.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal

import torch

from ...errors import ConfigError
from ...model import Batch, Model
from ...parameters import AT_LEAST_ONE, NON_NEGATIVE, Range
from ...parameters import Parameters as BaseParameters

if TYPE_CHECKING:
    from ...training.step import Step

__all__ = ['BEGIN_PITCH', 'PITCH_TOKENS', 'LSTMState', 'NoteLSTM']

BEGIN_PITCH = 128
"""The begin-sequence token's pitch index (after the 128 MIDI pitches)."""
PITCH_TOKENS = 129
LSTMState = tuple[torch.Tensor, torch.Tensor]
"""(h, c), each `(num_rnn_layers, batch, hidden_size)`."""
CALIBRATION_MEMORY = 0.99


class NoteLSTM(Model):
    """Notes `(batch, time, 3)` (pitch index 0..128 as a float, step, duration in seconds) → the next note's pitch
    logits `(batch, time, 129)`, step `(batch, time)` and duration `(batch, time)`, as a dict."""

    @dataclass(kw_only=True)
    class Parameters(BaseParameters):
        num_rnn_layers: Annotated[int, AT_LEAST_ONE] = 3
        """Stacked LSTM layers."""
        hidden_size: Annotated[int, AT_LEAST_ONE] = 512
        """Units of each LSTM layer."""
        embedding_size: Annotated[int, AT_LEAST_ONE] = 130
        """Width of the pitch embedding (a linear map of the one-hot pitch, without bias)."""
        pitch_hidden_size: Annotated[int, AT_LEAST_ONE] = 300
        """Hidden units of the pitch head (linear → ReLU → linear)."""
        dropout: Annotated[float, Range(0, 1, exclusive_maximum=True)] = 0.0
        """Dropout between LSTM layers (torch's LSTM dropout) and before the heads."""
        step_weight: Annotated[float, NON_NEGATIVE] = 1.0
        """Weight of the step's squared error beside the pitch cross-entropy."""
        duration_weight: Annotated[float, NON_NEGATIVE] = 1.0
        """Weight of the duration's squared error beside the pitch cross-entropy."""
        time_loss: Literal['seconds', 'log'] = 'seconds'
        """Squared errors of step and duration in seconds (seed 002), or in log seconds, log(seconds + 0.01), where a
        16th note off by a 16th costs as much as a half note off by a half, as in the time bins that score them."""

    hyperparameters: NoteLSTM.Parameters

    def __init__(self, hyperparameters: NoteLSTM.Parameters) -> None:
        super().__init__(hyperparameters)
        h = hyperparameters
        self.embedding = torch.nn.Linear(PITCH_TOKENS, h.embedding_size, bias=False)
        self.lstm = torch.nn.LSTM(h.embedding_size + 2, h.hidden_size, num_layers=h.num_rnn_layers, batch_first=True,
                                  dropout=h.dropout if h.num_rnn_layers > 1 else 0.0)
        self.dropout = torch.nn.Dropout(h.dropout)
        self.pitch_head = torch.nn.Sequential(torch.nn.Linear(h.hidden_size, h.pitch_hidden_size), torch.nn.ReLU(),
                                              torch.nn.Linear(h.pitch_hidden_size, PITCH_TOKENS))
        self.step_head = torch.nn.Linear(h.hidden_size, 1)
        self.duration_head = torch.nn.Linear(h.hidden_size, 1)
        # what the step and duration predictions mean: counts of (predicted bin, true bin) over the training batches
        from .likelihood import TIME_BINS

        self.register_buffer('step_calibration', torch.zeros(TIME_BINS, TIME_BINS, dtype=torch.float64))
        self.register_buffer('duration_calibration', torch.zeros(TIME_BINS, TIME_BINS, dtype=torch.float64))

    def run(self, notes: torch.Tensor, state: LSTMState | None = None) -> tuple[dict[str, torch.Tensor], LSTMState]:
        """The predictions after each of `notes` `(batch, time, 3)`, continuing from `state` (None: a fresh start);
        returns them and the state after the last note, so a sampler feeds one note at a time."""
        pitch = notes[..., 0].long()
        if pitch.numel() and (int(pitch.min()) < 0 or int(pitch.max()) > BEGIN_PITCH):
            raise ConfigError(f'NoteLSTM takes pitch indices 0..{BEGIN_PITCH} (128 is the begin token), got {int(pitch.min())}..{int(pitch.max())}')
        one_hot = torch.nn.functional.one_hot(pitch, PITCH_TOKENS).to(self.embedding.weight.dtype)
        features = torch.cat([self.embedding(one_hot), notes[..., 1:3].to(self.embedding.weight.dtype)], dim=-1)
        hidden, state = self.lstm(features, state)
        hidden = self.dropout(hidden)
        outputs = {
            'pitch_logits': self.pitch_head(hidden),
            'step': torch.nn.functional.softplus(self.step_head(hidden).squeeze(-1)),
            'duration': torch.nn.functional.softplus(self.duration_head(hidden).squeeze(-1)),
            'step_calibration': self.step_calibration,
            'duration_calibration': self.duration_calibration,
        }
        return outputs, state

    def forward(self, inputs: torch.Tensor) -> dict[str, torch.Tensor]:  # type: ignore[override]
        return self.run(inputs)[0]

    def loss(self, predictions: Any, targets: Any) -> torch.Tensor:
        """Cross-entropy on pitch + step_weight × MSE(step) + duration_weight × MSE(duration) (in seconds or log seconds,
        `time_loss`), averaged over the notes
        whose `weight` is 1 (`targets`: 'pitch' `(b, t)` int64, 'step', 'duration', 'weight' `(b, t)` float)."""
        weight = targets['weight']
        notes = weight.sum().clamp(min=1.0)
        pitch = torch.nn.functional.cross_entropy(predictions['pitch_logits'].transpose(1, 2), targets['pitch'], reduction='none')
        h = self.hyperparameters
        if h.time_loss == 'log':
            from .likelihood import log_time

            step = (log_time(predictions['step']) - log_time(targets['step'])) ** 2
            duration = (log_time(predictions['duration']) - log_time(targets['duration'])) ** 2
        else:
            step = (predictions['step'] - targets['step']) ** 2
            duration = (predictions['duration'] - targets['duration']) ** 2
        return ((pitch + h.step_weight * step + h.duration_weight * duration) * weight).sum() / notes

    def training_step(self, batch: Batch, step: Step) -> dict[str, torch.Tensor]:
        """Teacher forcing: the true notes shifted by one are the inputs; see the module."""
        inputs, targets = teacher_forcing(*batch)
        with step.autocast():
            predictions = self(inputs)
            loss = self.loss(predictions, targets)
        step.backward(loss)
        step.update()
        self._calibrate(predictions, targets)
        return {'loss': loss.detach()}

    def evaluation_step(self, batch: Batch) -> dict[str, Any]:
        inputs, targets = teacher_forcing(*batch)
        predictions = self(inputs)
        return {'loss': self.loss(predictions, targets), 'predictions': predictions, 'targets': targets}

    @torch.no_grad()
    def _calibrate(self, predictions: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]) -> None:
        """Add this batch's (predicted bin, true bin) counts to the calibration tables, the earlier counts fading by
        CALIBRATION_MEMORY per update (so the tables follow the network as it learns: about the last 1 / (1 - 0.99)
        = 100 updates count)."""
        from .likelihood import calibration_counts

        for name in ('step', 'duration'):
            table = getattr(self, f'{name}_calibration')
            assert isinstance(table, torch.Tensor)
            counts = calibration_counts(predictions[name], targets[name], targets['weight'])
            table.mul_(CALIBRATION_MEMORY).add_(counts.to(table.device))


def teacher_forcing(notes: torch.Tensor, first: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The inputs and targets of a batch of true note sequences.

    Args:
        notes: `(batch, length, 3)` pitch (0..127), step and duration of consecutive notes.
        first: `(batch,)` 1 where the sequence is the opening of its piece (its first note is scored), else 0.
    Returns:
        inputs `(batch, length, 3)`: the begin token, then notes 0..length-2; targets: the notes as 'pitch' (int64),
        'step' and 'duration' `(batch, length)`, and 'weight' `(batch, length)`: 1, but `first` at position 0.
    """
    begin = torch.zeros_like(notes[:, :1])
    begin[..., 0] = BEGIN_PITCH
    inputs = torch.cat([begin, notes[:, :-1]], dim=1)
    weight = torch.ones(notes.shape[:2], dtype=notes.dtype, device=notes.device)
    weight[:, 0] = first.to(notes.dtype)
    targets = {'pitch': notes[..., 0].long(), 'step': notes[..., 1], 'duration': notes[..., 2], 'weight': weight}
    return inputs, targets
