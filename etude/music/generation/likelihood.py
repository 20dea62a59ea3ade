"""One unit for the likelihood of notes, so a continuous-step network and a counting baseline are scored alike.

A note is (pitch, step, duration), step and duration in seconds. A network like seed 002's predicts a categorical
pitch but a single number for step and duration (trained with a squared error), which is no probability; a Markov
chain counts quantised values. Both are put on one footing by scoring every note as the outcome

    (pitch, step bin, duration bin)          bins: `TIME_EDGES` (seconds), the same for step and duration

and the negative log-likelihood per note, in nats, is the sum of three terms:

    -log P(pitch) - log P(step bin) - log P(duration bin)

A counting model gives P(bin) directly. The network's single number is read through a calibration table: P(true
bin | bin of the prediction), counted over its own training batches (with the counts of earlier batches fading, as
the network changes) and smoothed by `CALIBRATION_PRIOR` per cell; the network keeps the two tables as buffers, not
trained parameters. So a prediction that usually means "a chord's zero step or a quaver" is scored as exactly that
mixture, and a regression head is judged on what its output tells, in the bins the baselines count in. The bins
are the grid of the music (about 1/32 to 4 whole notes at 120 bpm) in steps of roughly 1.4x.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ...metrics import Metric

if TYPE_CHECKING:
    import torch

__all__ = ['CALIBRATION_PRIOR', 'TIME_BINS', 'TIME_EDGES', 'TIME_OFFSET', 'NoteLikelihood', 'calibrated_log_probability', 'calibration_counts',
           'log_time', 'quantise_time']

TIME_EDGES = (0.02, 0.09, 0.18, 0.3, 0.42, 0.6, 0.85, 1.2, 1.7, 2.4, 3.4, 5.0)
"""Inner bin edges in seconds: bin 0 is below 0.02 s (chords' zero steps), bin 12 at or above 5 s."""
TIME_BINS = len(TIME_EDGES) + 1
TIME_OFFSET = 0.01
"""Seconds added before taking the log of a step or duration, so that a zero step has a finite log."""
CALIBRATION_PRIOR = 0.1
"""Pseudo-count added to every cell of a calibration table."""


def quantise_time(seconds: np.ndarray) -> np.ndarray:
    """The bin (0..TIME_BINS-1, int64) of each step or duration in seconds, any shape."""
    return np.searchsorted(np.asarray(TIME_EDGES), np.asarray(seconds, dtype=np.float64), side='right').astype(np.int64)


def quantise_time_tensor(seconds: torch.Tensor) -> torch.Tensor:
    """`quantise_time` on the tensor's own device (int64 bins, the same shape)."""
    import torch

    edges = torch.tensor(TIME_EDGES, dtype=torch.float64, device=seconds.device)
    return torch.bucketize(seconds.detach().to(torch.float64), edges, right=True)


def log_time(seconds: Any) -> Any:
    """z = log(seconds + TIME_OFFSET), for numpy arrays and torch tensors alike (negative predictions are floored at 0)."""
    if hasattr(seconds, 'clamp'):
        return (seconds.clamp(min=0.0) + TIME_OFFSET).log()
    return np.log(np.maximum(seconds, 0.0) + TIME_OFFSET)


def calibrated_log_probability(predicted: torch.Tensor, actual: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """log P(bin of `actual` | bin of `predicted`) from a calibration table of counts.

    Args:
        predicted: `(...)` predicted steps or durations in seconds.
        actual: `(...)` the true values in seconds (the same shape).
        table: `(TIME_BINS, TIME_BINS)` counts, rows the predicted bin, columns the true bin.
    Returns:
        `(...)` float64 log-probabilities, each row smoothed by CALIBRATION_PRIOR per cell.
    """
    import torch

    smoothed = table.detach().to(torch.float64) + CALIBRATION_PRIOR
    log_table = (smoothed / smoothed.sum(dim=1, keepdim=True)).log().to(predicted.device)
    return log_table[quantise_time_tensor(predicted), quantise_time_tensor(actual)]


def calibration_counts(predicted: torch.Tensor, actual: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """`(TIME_BINS, TIME_BINS)` float64 weighted counts of (bin of the prediction, true bin) of a batch."""
    import torch

    cells = (quantise_time_tensor(predicted) * TIME_BINS + quantise_time_tensor(actual)).reshape(-1)
    counts = torch.bincount(cells, weights=weight.detach().reshape(-1).to(torch.float64), minlength=TIME_BINS * TIME_BINS)
    return counts.reshape(TIME_BINS, TIME_BINS)


class NoteLikelihood(Metric):
    """Negative log-likelihood per note in nats (pitch + step bin + duration bin, see the module), over weighted notes.

    Reads the network's predictions `{'pitch_logits': (b, t, 129), 'step': (b, t), 'duration': (b, t), 'step_calibration':
    (13, 13), 'duration_calibration': (13, 13)}` and targets `{'pitch': (b, t) int64, 'step': (b, t), 'duration': (b, t), 'weight': (b, t)}`;
    a note of weight 0 is not scored. Reports `nll_per_note` and its `pitch_`, `step_` and `duration_` terms.
    """

    _state = ('pitch', 'step', 'duration', 'notes')

    def __init__(self) -> None:
        import torch

        self.pitch, self.step, self.duration, self.notes = (torch.zeros((), dtype=torch.float64) for _ in range(4))

    def update(self, predictions: Any, targets: Any) -> None:
        import torch

        weight = targets['weight'].to(torch.float64)
        pitch = torch.nn.functional.cross_entropy(predictions['pitch_logits'].transpose(1, 2).float(), targets['pitch'], reduction='none')
        step = -calibrated_log_probability(predictions['step'], targets['step'], predictions['step_calibration'])
        duration = -calibrated_log_probability(predictions['duration'], targets['duration'], predictions['duration_calibration'])
        device = self.notes.device
        self.pitch = self.pitch + (pitch.to(torch.float64) * weight).sum().to(device)
        self.step = self.step + (step * weight).sum().to(device)
        self.duration = self.duration + (duration * weight).sum().to(device)
        self.notes = self.notes + weight.sum().to(device)

    def compute(self) -> dict[str, float]:
        notes = max(float(self.notes), 1e-12)
        terms = {name: float(getattr(self, name)) / notes for name in ('pitch', 'step', 'duration')}
        return {'nll_per_note': sum(terms.values()), **{f'{name}_nll_per_note': value for name, value in terms.items()}}


class TokenLikelihood(Metric):
    """Negative log-likelihood of a token model in nats, per scored token and per scored note (the tokens' sum over
    the scored `Pitch` tokens, one per note), from predictions `{'logits': (b, t, vocabulary)}` and targets
    `{'tokens': (b, t) int64, 'weight': (b, t)}`. `pitch_tokens` are the ids of the representation's Pitch tokens."""

    _state = ('total', 'tokens', 'notes')

    def __init__(self, pitch_tokens: list[int]) -> None:
        import torch

        self.pitch_tokens = list(pitch_tokens)
        self.total, self.tokens, self.notes = (torch.zeros((), dtype=torch.float64) for _ in range(3))

    def update(self, predictions: Any, targets: Any) -> None:
        import torch

        weight = targets['weight'].to(torch.float64)
        nll = torch.nn.functional.cross_entropy(predictions['logits'].transpose(1, 2).float(), targets['tokens'], reduction='none')
        pitches = torch.isin(targets['tokens'], torch.tensor(self.pitch_tokens, device=targets['tokens'].device))
        device = self.total.device
        self.total = self.total + (nll.to(torch.float64) * weight).sum().to(device)
        self.tokens = self.tokens + weight.sum().to(device)
        self.notes = self.notes + (weight * pitches).sum().to(device)

    def compute(self) -> dict[str, float]:
        total = float(self.total)
        return {'nll_per_token': total / max(float(self.tokens), 1e-12), 'nll_per_note': total / max(float(self.notes), 1e-12)}
