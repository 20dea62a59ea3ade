"""A hierarchical expressive performer after VirtuosoNet's HAN (Jeong et al., ISMIR 2019), redesigned small.

Levels, each a bidirectional LSTM:
    notes     the score features of every note
    beats     the notes of each beat summarised by attention (a learnt weighting within the beat), then the beat
              sequence; broadcast back to its notes
    measures  the notes of each bar summarised the same way, then the bar sequence; broadcast back
The tempo, which is one number per beat, is read from the beat and bar levels alone; velocity, timing, articulation
and the sustain pedal come from an autoregressive decoder, a unidirectional LSTM over the notes that also reads what it played for the
previous note (teacher-forced in training, with those inputs dropped at random so it does not lean on them; its own
predictions when it plays a score).

Beats and bars come from the features themselves: a bar starts where the position in the bar (`beat`) goes back,
a beat where its whole part changes. Padding notes (pitch 0) are left out of every summary.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import torch

from ....model import Batch, Model
from ....parameters import AT_LEAST_ONE, Range
from ....parameters import Parameters as BaseParameters
from ..codec import SCORE_FEATURES
from .common import PREDICTED, from_units, masked_losses, scale_inputs, target_stack, to_units

if TYPE_CHECKING:
    from ....training.step import Step

__all__ = ['PerformanceHAN', 'segment_ids']

_POSITION, _PITCH = SCORE_FEATURES.index('beat'), SCORE_FEATURES.index('pitch')
_TEMPO = PREDICTED.index('beat_seconds')


def _with_tempo(notes: torch.Tensor, tempo: torch.Tensor) -> torch.Tensor:
    """The decoder's `(..., 4)` raw note features and the `(..., 1)` raw tempo, in `PREDICTED` order."""
    return torch.cat([notes[..., :_TEMPO], tempo, notes[..., _TEMPO:]], dim=-1)


def segment_ids(inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """`(batch, notes)` int64 beat and bar index of each note from 0, and the real-note mask (bool).

    Padding notes take the index of the last real note, so they add no segment."""
    real = inputs[..., _PITCH] > 0
    position = torch.nan_to_num(inputs[..., _POSITION], nan=0.0)
    previous = torch.cat([position[:, :1], position[:, :-1]], dim=1)
    new_bar = position < previous - 1e-6
    new_beat = new_bar | (torch.floor(position + 1e-6) != torch.floor(previous + 1e-6))
    new_bar[:, 0], new_beat[:, 0] = False, False
    new_bar, new_beat = new_bar & real, new_beat & real
    return torch.cumsum(new_beat.long(), dim=1), torch.cumsum(new_bar.long(), dim=1), real


class _Level(torch.nn.Module):
    """Attention summary of notes into segments, a BiLSTM over the segments, and the result broadcast to the notes."""

    def __init__(self, size: int, hidden: int) -> None:
        super().__init__()
        self.score = torch.nn.Linear(size, 1)
        self.lstm = torch.nn.LSTM(size, hidden, batch_first=True, bidirectional=True)

    def forward(self, notes: torch.Tensor, ids: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        """(batch, notes, size), (batch, notes) ids and mask → (batch, notes, 2 hidden)."""
        batch, length, size = notes.shape
        logits = self.score(notes).squeeze(-1).masked_fill(~real, -1e4)
        weights = torch.exp(logits - logits.max(dim=1, keepdim=True).values)
        totals = torch.zeros(batch, length, device=notes.device, dtype=notes.dtype).scatter_add(1, ids, weights)
        summed = torch.zeros(batch, length, size, device=notes.device, dtype=notes.dtype).scatter_add(1, ids[..., None].expand(-1, -1, size),
                                                                                                       weights[..., None] * notes)
        segments = summed / totals.clamp_min(1e-9)[..., None]
        counts = (ids.max(dim=1).values + 1).cpu()
        packed = torch.nn.utils.rnn.pack_padded_sequence(segments, counts, batch_first=True, enforce_sorted=False)
        states, _ = self.lstm(packed)
        states, _ = torch.nn.utils.rnn.pad_packed_sequence(states, batch_first=True, total_length=length)
        return states.gather(1, ids[..., None].expand(-1, -1, states.shape[-1]))


class PerformanceHAN(Model):
    """Hierarchical attention performer with an autoregressive decoder (see the module docstring)."""

    @dataclass(kw_only=True)
    class Parameters(BaseParameters):
        hidden_size: Annotated[int, AT_LEAST_ONE] = 64
        """Units of each LSTM direction at every level, and of the decoder."""
        dropout: Annotated[float, Range(0, 1, exclusive_maximum=True)] = 0.2
        """Dropout on every level's output."""
        previous_dropout: Annotated[float, Range(0, 1)] = 0.3
        """In training, the chance that the decoder is not shown the previous note's true performance."""

    hyperparameters: PerformanceHAN.Parameters

    def __init__(self, hyperparameters: PerformanceHAN.Parameters) -> None:
        super().__init__(hyperparameters)
        size = hyperparameters.hidden_size
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(hyperparameters.seed)
            self.embed = torch.nn.Linear(len(SCORE_FEATURES), size)
            self.notes = torch.nn.LSTM(size, size, batch_first=True, bidirectional=True)
            self.beats = _Level(2 * size, size)
            self.bars = _Level(2 * size, size)
            self.dropout = torch.nn.Dropout(hyperparameters.dropout)
            self.tempo = torch.nn.Sequential(torch.nn.Linear(4 * size, size), torch.nn.Tanh(), torch.nn.Linear(size, 1))
            self.decoder = torch.nn.LSTM(6 * size + len(PREDICTED) + 1, size, batch_first=True)
            self.head = torch.nn.Linear(size, len(PREDICTED) - 1)

    def encode(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(batch, notes, 17) → (batch, notes, 6 hidden) note, beat and bar states, and the raw tempo (batch, notes, 1)."""
        beat_ids, bar_ids, real = segment_ids(inputs)
        notes, _ = self.notes(torch.relu(self.embed(scale_inputs(inputs))))
        notes = self.dropout(notes)
        beats, bars = self.dropout(self.beats(notes, beat_ids, real)), self.dropout(self.bars(notes, bar_ids, real))
        return torch.cat([notes, beats, bars], dim=-1), self.tempo(torch.cat([beats, bars], dim=-1))

    def forward(self, inputs: torch.Tensor, previous: torch.Tensor | None = None) -> torch.Tensor:
        """(batch, notes, 17) score features → (batch, notes, 5) performance features in their units.

        `previous` `(batch, notes, 6)`: the scaled performance of the note before each and a flag that it is known
        (teacher forcing); without it the decoder plays note by note, reading back its own output."""
        states, tempo = self.encode(inputs)
        if previous is not None:
            decoded, _ = self.decoder(torch.cat([states, previous], dim=-1))
            return to_units(_with_tempo(self.head(decoded), tempo), inputs)
        batch, length, _ = states.shape
        last = torch.zeros(batch, 1, len(PREDICTED) + 1, device=inputs.device, dtype=states.dtype)
        hidden, outputs = None, []
        for index in range(length):
            decoded, hidden = self.decoder(torch.cat([states[:, index:index + 1], last], dim=-1), hidden)
            raw = _with_tempo(self.head(decoded), tempo[:, index:index + 1])
            outputs.append(raw)
            last = torch.cat([raw, torch.ones(batch, 1, 1, device=inputs.device, dtype=states.dtype)], dim=-1)
        return to_units(torch.cat(outputs, dim=1), inputs)

    def teacher_inputs(self, targets: dict[str, torch.Tensor]) -> torch.Tensor:
        """(batch, notes, 6): each note's predecessor's scaled true performance and a known flag (0 when unmatched,
        at the start, or dropped at random in training)."""
        scaled = from_units(target_stack(targets))
        known = targets['matched'].to(scaled.dtype)
        if self.training and self.hyperparameters.previous_dropout > 0:
            known = known * (torch.rand(known.shape, device=known.device) >= self.hyperparameters.previous_dropout).to(known.dtype)
        shown = torch.cat([scaled * known[..., None], known[..., None]], dim=-1)
        return torch.cat([torch.zeros_like(shown[:, :1]), shown[:, :-1]], dim=1)

    def training_step(self, batch: Batch, step: Step) -> dict[str, torch.Tensor]:
        inputs, targets = batch
        with step.autocast():
            loss = self.loss(self(inputs, self.teacher_inputs(targets)), targets)
        step.backward(loss)
        step.update()
        return {'loss': loss.detach()}

    def loss(self, predictions: torch.Tensor, targets: Any) -> torch.Tensor:
        return masked_losses(predictions, targets)['loss']

    def perform(self, inputs: torch.Tensor) -> torch.Tensor:
        """`(batch, notes, 17)` score features → `(batch, notes, 5)` performance features, as the task plays a score."""
        return self(inputs)
