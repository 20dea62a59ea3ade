"""One unit for the likelihood of notes, so a continuous-step network and a counting baseline are scored alike.

A note is (pitch, step, duration), step and duration in seconds. A network like seed 002's predicts a categorical
pitch but a single number for step and duration (trained with a squared error), which is no probability; a Markov
chain counts quantised values. Both are put on one footing by scoring every note as the outcome

    (pitch, step bin, duration bin)          bins: `TIME_EDGES` (seconds), the same for step and duration

and the negative log-likelihood per note, in nats, is the sum of three terms:

    -log P(pitch) - log P(step bin) - log P(duration bin)

A counting model gives P(bin) directly. The network's number μ is read as the centre of a Gaussian in log time,
z = log(seconds + TIME_OFFSET), with a scale σ the network estimates from its own training residuals (a buffer, not
a trained parameter), and P(bin) is that Gaussian's mass between the bin's edges (the first bin reaches down to -inf
and the last up to +inf, so the masses sum to 1). The log scale gives a 16th note and a whole note the same relative
tolerance, and the offset keeps a chord's zero step finite. The bins are the grid of the music (about 1/32 to 4
whole notes at 120 bpm) in steps of roughly 1.4x.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from ..evaluation.metrics import Metric

if TYPE_CHECKING:
    import torch

__all__ = ['TIME_BINS', 'TIME_EDGES', 'TIME_OFFSET', 'NoteLikelihood', 'binned_log_probability', 'log_time', 'quantise_time']

TIME_EDGES = (0.02, 0.09, 0.18, 0.3, 0.42, 0.6, 0.85, 1.2, 1.7, 2.4, 3.4, 5.0)
"""Inner bin edges in seconds: bin 0 is below 0.02 s (chords' zero steps), bin 12 at or above 5 s."""
TIME_BINS = len(TIME_EDGES) + 1
TIME_OFFSET = 0.01
"""Seconds added before taking the log of a step or duration, so that a zero step has a finite log."""


def quantise_time(seconds: np.ndarray) -> np.ndarray:
    """The bin (0..TIME_BINS-1, int64) of each step or duration in seconds, any shape."""
    return np.searchsorted(np.asarray(TIME_EDGES), np.asarray(seconds, dtype=np.float64), side='right').astype(np.int64)


def log_time(seconds: Any) -> Any:
    """z = log(seconds + TIME_OFFSET), for numpy arrays and torch tensors alike (negative predictions are floored at 0)."""
    if hasattr(seconds, 'clamp'):
        return (seconds.clamp(min=0.0) + TIME_OFFSET).log()
    return np.log(np.maximum(seconds, 0.0) + TIME_OFFSET)


def binned_log_probability(predicted: torch.Tensor, actual: torch.Tensor, scale: torch.Tensor | float) -> torch.Tensor:
    """log P(bin of `actual`) under a Gaussian centred at log_time(`predicted`) with standard deviation `scale` (log seconds).

    Args:
        predicted: `(...)` predicted steps or durations in seconds.
        actual: `(...)` the true values in seconds (the same shape).
        scale: the Gaussian's standard deviation in log seconds, positive.
    Returns:
        `(...)` float64 log-probabilities, at most 0, floored at log(1e-12) so that one far miss cannot make the mean infinite.
    """
    import torch

    edges = torch.tensor((-math.inf, *(math.log(edge + TIME_OFFSET) for edge in TIME_EDGES), math.inf), dtype=torch.float64,
                         device=predicted.device)
    bins = torch.as_tensor(quantise_time(actual.detach().cpu().numpy()), device=predicted.device)
    centre = log_time(predicted.detach().to(torch.float64))
    sigma = torch.as_tensor(scale, dtype=torch.float64, device=predicted.device)
    upper = torch.special.ndtr((edges[bins + 1] - centre) / sigma)
    lower = torch.special.ndtr((edges[bins] - centre) / sigma)
    # a bin far above the centre has both CDFs round to 1: the difference of the survival functions keeps the precision
    above = torch.special.ndtr((centre - edges[bins]) / sigma) - torch.special.ndtr((centre - edges[bins + 1]) / sigma)
    mass = torch.where(centre < edges[bins], above, upper - lower)
    return mass.clamp(min=1e-12).log()


class NoteLikelihood(Metric):
    """Negative log-likelihood per note in nats (pitch + step bin + duration bin, see the module), over weighted notes.

    Reads the network's predictions `{'pitch_logits': (b, t, 129), 'step': (b, t), 'duration': (b, t), 'step_scale': (),
    'duration_scale': ()}` and targets `{'pitch': (b, t) int64, 'step': (b, t), 'duration': (b, t), 'weight': (b, t)}`;
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
        step = -binned_log_probability(predictions['step'], targets['step'], predictions['step_scale'])
        duration = -binned_log_probability(predictions['duration'], targets['duration'], predictions['duration_scale'])
        device = self.notes.device
        self.pitch = self.pitch + (pitch.to(torch.float64) * weight).sum().to(device)
        self.step = self.step + (step * weight).sum().to(device)
        self.duration = self.duration + (duration * weight).sum().to(device)
        self.notes = self.notes + weight.sum().to(device)

    def compute(self) -> dict[str, float]:
        notes = max(float(self.notes), 1e-12)
        terms = {name: float(getattr(self, name)) / notes for name in ('pitch', 'step', 'duration')}
        return {'nll_per_note': sum(terms.values()), **{f'{name}_nll_per_note': value for name, value in terms.items()}}
