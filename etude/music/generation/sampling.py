"""Sampling pieces from a note model (`NoteLSTM`, or any `NoteModel`): from scratch or continuing primers, one LSTM step per note.

    pieces = sample_notes(model, SamplingSettings(count=4, length_notes=200, temperature=0.9, top_p=0.95, seed=1))
    # 4 arrays (200, 3): pitch, step, duration (seconds); write one with etude.data.midi.notes_to_midi(piece, path)

A piece starts from the begin token; a primer (notes of a MIDI file) is first run through the LSTM after the begin
token, so its state sets the continuation, and the piece starts with the primer's notes. Each next pitch is drawn from
the pitch logits divided by `temperature`, kept to the `top_k` most likely and to the smallest set whose probability
reaches `top_p` (nucleus); the begin token is never drawn. Step and duration are the network's predictions, as in
seed 002. Draws come from one `torch.Generator` seeded with `seed`, so the same settings give the same pieces.

The sampler is incremental: the LSTM's (h, c) is carried from note to note, so a note costs one step whatever the
length so far; for a NoteLSTM that step is fused into buffers allocated once (`fused.FusedLSTM`). `sample_notes_naive`
re-runs the whole prefix for every note instead (the cost a stateless sampler pays, quadratic in the length); the tests
hold the two to the same pieces.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from ...errors import ConfigError

if TYPE_CHECKING:
    import torch

    from .model import LSTMState
    from .protocol import NoteModel

__all__ = ['SamplingSettings', 'filter_logits', 'sample_notes', 'sample_notes_naive']


@dataclass(frozen=True)
class SamplingSettings:
    """How many pieces, how long and how adventurous; `to_dict()` of it regenerates a piece exactly (with the model)."""

    count: int = 1
    """Pieces per primer (or from scratch when there is no primer)."""
    length_notes: int | None = 100
    """Notes to generate after the primer; None when `length_seconds` sets the length."""
    length_seconds: float | None = None
    """Or: generate until the new notes' onsets span this many seconds (the first note at or past it is left out)."""
    temperature: float = 1.0
    """Divides the pitch logits: below 1 more conservative, above 1 more adventurous; must be positive."""
    top_k: int = 0
    """Draw only among the k most likely pitches; 0 for all."""
    top_p: float = 1.0
    """Draw only among the most likely pitches whose probabilities sum to top_p (nucleus sampling), in (0, 1]."""
    seed: int = 0
    """Seed of the draws."""
    max_notes: int = 100_000
    """The most notes a piece of `length_seconds` may get (a model that predicts zero steps would never end)."""
    draw_times: bool = False
    """Draw each step's and duration's time bin from the network's calibration table, P(true bin | predicted bin),
    instead of taking the prediction as it is (seed 002): the value is the prediction when the drawn bin is its own,
    else the bin's geometric centre. A regression head predicts the mean of what may follow; drawing restores the
    spread of the rhythm."""
    weights: str = 'fp32'
    """The LSTM's weights while sampling: 'fp32' as trained, 'int8' (one scale per output row; a quarter of the bytes
    a step reads, CPU only) or 'bf16' (half); `fused.FusedLSTM`. A primer's run and the output heads stay fp32."""

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ConfigError(f'the number of pieces must be at least 1, got {self.count}')
        if (self.length_notes is None) == (self.length_seconds is None):
            raise ConfigError('give the length in notes or in seconds, one of them')
        if self.length_notes is not None and self.length_notes < 1:
            raise ConfigError(f'the length must be at least 1 note, got {self.length_notes}')
        if self.length_seconds is not None and not self.length_seconds > 0:
            raise ConfigError(f'the length in seconds must be positive, got {self.length_seconds}')
        if not self.temperature > 0:
            raise ConfigError(f'temperature must be positive (it divides the logits), got {self.temperature}')
        if self.top_k < 0:
            raise ConfigError(f'top_k must be 0 (all pitches) or positive, got {self.top_k}')
        if not 0 < self.top_p <= 1:
            raise ConfigError(f'top_p must be in (0, 1], got {self.top_p}')
        if self.weights not in ('fp32', 'bf16', 'int8'):
            raise ConfigError(f'weights must be fp32, bf16 or int8, got {self.weights!r}')

    def to_dict(self) -> dict[str, float | int | bool | str | None]:
        return {'count': self.count, 'length_notes': self.length_notes, 'length_seconds': self.length_seconds, 'temperature': self.temperature,
                'top_k': self.top_k, 'top_p': self.top_p, 'seed': self.seed, 'max_notes': self.max_notes, 'draw_times': self.draw_times,
                'weights': self.weights}


def filter_logits(logits: torch.Tensor, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0) -> torch.Tensor:
    """`(batch, classes)` logits → probabilities `(batch, classes)` after temperature, top-k and nucleus filtering.

    Nucleus: the pitches sorted by probability are kept up to and including the first at which the running sum reaches
    `top_p`, so the most likely pitch is always kept.
    """
    import torch

    logits = logits.float() / temperature if temperature != 1.0 else logits.float()  # x / 1 is x: one step fewer per draw
    if 0 < top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, -torch.inf)
    probabilities = torch.softmax(logits, dim=-1)
    if top_p < 1.0:
        ordered, order = torch.sort(probabilities, dim=-1, descending=True)
        before = torch.cumsum(ordered, dim=-1) - ordered  # the mass of the more likely pitches
        ordered = ordered.masked_fill(before >= top_p, 0.0)
        probabilities = torch.zeros_like(probabilities).scatter(-1, order, ordered)
        probabilities = probabilities / probabilities.sum(dim=-1, keepdim=True)
    return probabilities


SEQUENCE_OUTPUTS = ('pitch_logits', 'step', 'duration')


def _begin(batch: int, device: torch.device) -> torch.Tensor:
    import torch

    from .model import BEGIN_PITCH

    begin = torch.zeros(batch, 1, 3, device=device)
    begin[..., 0] = BEGIN_PITCH
    return begin


def _primed(model: NoteModel, primers: Sequence[np.ndarray], count: int, device: torch.device) -> tuple[dict[str, torch.Tensor], LSTMState]:
    """The predictions and LSTM state after the begin token and each primer, each repeated `count` times (primers of
    different lengths run one by one; their states are stacked along the batch)."""
    import torch

    outputs, states = [], []
    for primer in primers:
        notes = torch.as_tensor(np.asarray(primer, dtype=np.float32), device=device)[None]
        predicted, state = model.run(torch.cat([_begin(1, device), notes], dim=1))
        outputs.append({key: predicted[key][:, -1:] for key in SEQUENCE_OUTPUTS})
        states.append(state)
    joined = {key: torch.cat([output[key] for output in outputs]).repeat_interleave(count, dim=0) for key in outputs[0]}
    h = torch.cat([state[0] for state in states], dim=1).repeat_interleave(count, dim=1)
    c = torch.cat([state[1] for state in states], dim=1).repeat_interleave(count, dim=1)
    return joined, (h, c)


def _next_notes(model: NoteModel, outputs: dict[str, torch.Tensor], settings: SamplingSettings, generator: torch.Generator) -> torch.Tensor:
    """`(batch, 1, 3)` the next note of each piece from the last predictions."""
    import torch

    from .model import BEGIN_PITCH

    logits = outputs['pitch_logits'][:, -1].clone()
    logits[:, BEGIN_PITCH] = -torch.inf
    probabilities = filter_logits(logits, settings.temperature, settings.top_k, settings.top_p)
    pitch = torch.multinomial(probabilities, 1, generator=generator).to(torch.float32)
    times = [outputs[name][:, -1].float() for name in ('step', 'duration')]
    if settings.draw_times:
        times = [_drawn_time(value, getattr(model, f'{name}_calibration'), generator) for value, name in zip(times, ('step', 'duration'), strict=True)]
    return torch.stack([pitch[:, 0], *times], dim=-1)[:, None]


def _drawn_time(predicted: torch.Tensor, table: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """`(batch,)` seconds: a time bin drawn from the calibration table's row of each prediction's bin (see draw_times)."""
    import math

    import torch

    from .likelihood import CALIBRATION_PRIOR, TIME_EDGES, quantise_time_tensor

    edges = (0.01, *TIME_EDGES, TIME_EDGES[-1] * 1.4)
    centres = torch.tensor([0.0, *(math.sqrt(low * high) for low, high in zip(edges[1:-1], edges[2:], strict=True))],
                           device=predicted.device)
    own = quantise_time_tensor(predicted)
    rows = (table.to(predicted.device, torch.float64) + CALIBRATION_PRIOR)[own]
    drawn = torch.multinomial(rows / rows.sum(dim=1, keepdim=True), 1, generator=generator)[:, 0]
    return torch.where(drawn == own, predicted, centres[drawn].to(predicted.dtype))


def _finish(generated: list[torch.Tensor], primers: Sequence[np.ndarray], settings: SamplingSettings) -> list[np.ndarray]:
    """The pieces: each primer's notes then the new ones, cut to `length_seconds` when the length is in seconds."""
    import torch

    new = torch.cat(generated, dim=1).cpu().numpy().astype(np.float32) if generated else np.zeros((0, 0, 3), np.float32)
    heads = [np.asarray(primer, dtype=np.float32).reshape(-1, 3) for primer in primers for _ in range(settings.count)] \
        or [np.zeros((0, 3), np.float32)] * settings.count
    pieces = []
    for head, notes in zip(heads, new, strict=True):
        if settings.length_seconds is not None:
            onsets = np.cumsum(notes[:, 1])
            notes = notes[:int(np.searchsorted(onsets, settings.length_seconds, side='left'))]
        pieces.append(np.concatenate([head, notes]))
    return pieces


def _done(generated: int, elapsed: torch.Tensor, settings: SamplingSettings) -> bool:
    """Enough notes, or every piece's new notes span `length_seconds` (`elapsed`: `(batch,)` the sum of their steps)."""
    if settings.length_notes is not None:
        return generated >= settings.length_notes
    assert settings.length_seconds is not None
    return generated >= settings.max_notes or bool((elapsed >= settings.length_seconds).all())


def sample_notes(model: NoteModel, settings: SamplingSettings, primers: Sequence[np.ndarray] = ()) -> list[np.ndarray]:
    """Pieces `(notes, 3)` float32 (pitch, step, duration), `settings.count` per primer (or from scratch), in the
    primers' order. One LSTM step per generated note, all pieces in one batch.

    Args:
        model: a NoteModel, e.g. NoteLSTM (its device is used; it is put in eval mode).
        settings: count, length, temperature, top-k, top-p, seed.
        primers: `(n_i, 3)` note arrays (pitch 0..127, step, duration), each with at least one note.
    """
    import torch

    device = next(model.parameters()).device
    for primer in primers:
        if len(primer) == 0:
            raise ConfigError('a primer needs at least one note')
    if settings.weights == 'int8' and device.type != 'cpu':
        raise ConfigError(f'int8 weights run on the CPU only (fbgemm); use --weights fp32 or bf16 on {device}')
    if settings.weights != 'fp32' and not _fusable(model):
        raise ConfigError(f'{type(model).__name__} samples with its own weights only; {settings.weights} weights are for a NoteLSTM (use fp32)')
    model.eval()
    generator = torch.Generator(device=device).manual_seed(settings.seed)
    generated: list[torch.Tensor] = []
    with torch.inference_mode():  # no autograd bookkeeping at all: a few microseconds a note at batch 1
        if primers:
            outputs, state = _primed(model, primers, settings.count, device)
        else:
            outputs, state = model.run(_begin(settings.count, device))
        elapsed = torch.zeros(settings.count * max(len(primers), 1), device=device)
        step = _FusedNoteStep(model, state, settings.weights) if _fusable(model) else None
        while not _done(len(generated), elapsed, settings):
            note = _next_notes(model, outputs, settings, generator)
            generated.append(note)
            elapsed += note[:, 0, 1]
            if step is not None:
                outputs = step(note)
            else:
                outputs, state = model.run(note, state)
    return _finish(generated, primers, settings)


def _fusable(model: NoteModel) -> bool:
    """Whether the model is laid out as NoteLSTM is, so that its step can be fused (`_FusedNoteStep`)."""
    return all(hasattr(model, name) for name in ('embedding', 'lstm', 'pitch_head', 'step_head', 'duration_head'))


class _FusedNoteStep:
    """NoteLSTM.run for one note `(batch, 1, 3)`, with the LSTM's step fused into reused buffers (`fused.FusedLSTM`):
    the one-hot embedding is a column of its weight, then the three heads as in `run`."""

    def __init__(self, model: NoteModel, state: LSTMState, weights: str = 'fp32') -> None:
        import torch

        from .fused import FusedLSTM

        layers = cast('Any', model)
        self.model, self.fused = layers, FusedLSTM(layers.lstm, state[0].shape[1], cast('Any', weights))
        self.fused.reset(state)
        self.columns = layers.embedding.weight.detach().t().contiguous()  # (129, embedding): row p is pitch p's embedding
        self.features = torch.empty(state[0].shape[1], self.columns.shape[1] + 2, device=self.columns.device, dtype=self.columns.dtype)
        # the views each note writes, made once (a slice assignment costs more than the copy it does)
        self.pitch_features, self.time_features = self.features[:, :self.columns.shape[1]], self.features[:, self.columns.shape[1]:]
        self.softplus = torch.nn.functional.softplus

    def __call__(self, note: torch.Tensor) -> dict[str, torch.Tensor]:
        self.pitch_features.copy_(self.columns[note[:, 0, 0].long()])
        self.time_features.copy_(note[:, 0, 1:3])
        hidden = self.fused(self.features)
        model, softplus = self.model, self.softplus
        return {'pitch_logits': model.pitch_head(hidden)[:, None], 'step': softplus(model.step_head(hidden))[:, None, 0],
                'duration': softplus(model.duration_head(hidden))[:, None, 0]}


def sample_notes_naive(model: NoteModel, settings: SamplingSettings) -> list[np.ndarray]:
    """What `sample_notes` from scratch returns, computed by re-running the LSTM over the whole prefix for every note."""
    import torch

    device = next(model.parameters()).device
    model.eval()
    generator = torch.Generator(device=device).manual_seed(settings.seed)
    generated: list[torch.Tensor] = []
    with torch.no_grad():
        sequence = _begin(settings.count, device)
        elapsed = torch.zeros(settings.count, device=device)
        while not _done(len(generated), elapsed, settings):
            outputs = model.run(sequence)[0]
            note = _next_notes(model, outputs, settings, generator)
            generated.append(note)
            elapsed += note[:, 0, 1]
            sequence = torch.cat([sequence, note], dim=1)
    return _finish(generated, (), settings)
