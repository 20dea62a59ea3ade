"""What the expressive-performance models share: input scaling, output units, the masked loss and its metrics.

A model reads `(batch, notes, len(SCORE_FEATURES))` score features and returns `(batch, notes, 5)` performance
features in their own units, in the order of `PREDICTED` (velocity 0-1, onset deviation s, log2 duration ratio,
beat seconds, sustain pedal 0-1), which `etude.music.performance.codec.render_performance` turns into notes. Targets
come as the dict of `PerformanceSequences` labels, `(batch, notes)` each, with the masks `matched` and `note_mask`.

The tempo is predicted relative to the score's own: a model's raw tempo output is the log ratio of its beat period
to the marked tempo's (`marked_period`: 60 / the `tempo_qpm` feature, or 0.5 s where the score marks none), so a
model that has learnt nothing plays at the marks, as deadpan does, and learns where pianists leave them.

The loss is a Huber loss (quadratic within `HUBER_BETA` of the truth, linear beyond) in scaled units (`TARGET_SCALES`:
a typical spread of each feature in pianists' performances, tempo in log space), over matched notes for the note
features and over all real notes for the tempo, which the score defines for every note; the five are averaged, so no
feature dominates by its units. Linear tails keep a few wild notes (a chord rolled over half a second, a key held
through a page) from pulling every prediction, and aim at the median, which is what a mean absolute error rewards.
"""

from __future__ import annotations

from typing import Any

import torch

from ....metrics import Metric, _accumulator
from ..codec import SCORE_FEATURES

__all__ = ['FEATURE_NAMES', 'HUBER_BETA', 'PREDICTED', 'PerformanceMetrics', 'marked_period', 'masked_losses', 'scale_inputs']

PREDICTED = ('velocity', 'onset_deviation', 'log_duration_ratio', 'beat_seconds', 'sustain')
FEATURE_NAMES = {'velocity': 'velocity', 'onset_deviation': 'timing', 'log_duration_ratio': 'articulation', 'beat_seconds': 'tempo',
                 'sustain': 'pedal'}
# the typical spread of each feature in (n)ASAP's performances (tempo: of the log beat period), and the centres below
TARGET_SCALES = {'velocity': 0.12, 'onset_deviation': 0.05, 'log_duration_ratio': 0.6, 'beat_seconds': 0.3, 'sustain': 0.4}
_TARGET_CENTRES = {'velocity': 0.5, 'onset_deviation': 0.0, 'log_duration_ratio': -0.5, 'beat_seconds': 0.5, 'sustain': 0.4}
HUBER_BETA = 0.5  # scaled units: half a typical spread
# rough centre and spread of each score feature, so the network sees numbers near [-1, 1]
_CENTRES = {'pitch': 60.0, 'duration_beats': 1.0, 'onset_delta_beats': 0.5, 'beat': 2.5, 'beat_strength': 0.5, 'key_sharps': 0.0,
            'key_mode': 0.0, 'time_numerator': 4.0, 'time_denominator': 4.0, 'dynamic_level': 0.5, 'tempo_qpm': 60.0}
_SPREADS = {'pitch': 12.0, 'duration_beats': 1.0, 'onset_delta_beats': 0.5, 'beat': 1.5, 'beat_strength': 0.5, 'key_sharps': 3.0,
            'key_mode': 1.0, 'time_numerator': 2.0, 'time_denominator': 4.0, 'dynamic_level': 0.3, 'tempo_qpm': 60.0}


def scale_inputs(inputs: torch.Tensor) -> torch.Tensor:
    """`(batch, notes, features)` score features → the same, centred and scaled (flags stay 0/1)."""
    centres = torch.tensor([_CENTRES.get(name, 0.0) for name in SCORE_FEATURES], dtype=inputs.dtype, device=inputs.device)
    spreads = torch.tensor([_SPREADS.get(name, 1.0) for name in SCORE_FEATURES], dtype=inputs.dtype, device=inputs.device)
    return (inputs - centres) / spreads


def marked_period(inputs: torch.Tensor) -> torch.Tensor:
    """`(batch, notes)` seconds per quarter note of the score's tempo mark in effect at each note, from the raw score
    features `(batch, notes, 17)`; 0.5 s (120 quarter notes a minute) where there is none."""
    qpm = inputs[..., SCORE_FEATURES.index('tempo_qpm')]
    marked = (inputs[..., SCORE_FEATURES.index('has_tempo')] > 0) & (qpm > 0)
    return torch.where(marked, 60.0 / qpm.clamp_min(1.0), torch.full_like(qpm, _TARGET_CENTRES['beat_seconds']))


def to_units(raw: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """A network's `(batch, notes, 5)` raw outputs → features in their units; the tempo relative to the score's marks
    (`marked_period` of the raw score features `inputs`), so it is positive and at the marks when the output is 0."""
    features = []
    for index, name in enumerate(PREDICTED):
        scaled = TARGET_SCALES[name] * raw[..., index]
        features.append(marked_period(inputs) * torch.exp(scaled) if name == 'beat_seconds' else _TARGET_CENTRES[name] + scaled)
    return torch.stack(features, dim=-1)


def from_units(features: torch.Tensor) -> torch.Tensor:
    """The inverse of `to_units`: what an autoregressive decoder reads back of the notes already played."""
    scaled = []
    for index, name in enumerate(PREDICTED):
        value = features[..., index]
        centred = torch.log(value.clamp_min(1e-3) / _TARGET_CENTRES[name]) if name == 'beat_seconds' else value - _TARGET_CENTRES[name]
        scaled.append(centred / TARGET_SCALES[name])
    return torch.stack(scaled, dim=-1)


def target_stack(targets: dict[str, torch.Tensor]) -> torch.Tensor:
    """`(batch, notes, 5)` the targets in `PREDICTED` order."""
    return torch.stack([targets[name] for name in PREDICTED], dim=-1)


def scaled_errors(predictions: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """`(..., 5)` Huber losses of predictions against the truth, both in their units, in scaled units (the tempo's is
    that of the log ratio, whatever the mark it is relative to)."""
    return torch.nn.functional.smooth_l1_loss(from_units(predictions), from_units(truth), reduction='none', beta=HUBER_BETA) / HUBER_BETA


def masked_losses(predictions: torch.Tensor, targets: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Per-feature mean Huber losses in scaled units (see the module docstring), and their mean as 'loss'."""
    matched, real = targets['matched'].to(predictions.dtype), targets['note_mask'].to(predictions.dtype)
    errors = scaled_errors(predictions, target_stack(targets).to(predictions.dtype))
    losses = {}
    for index, name in enumerate(PREDICTED):
        mask = real if name == 'beat_seconds' else matched
        losses[name] = (errors[..., index] * mask).sum() / mask.sum().clamp_min(1.0)
    losses['loss'] = torch.stack([losses[name] for name in PREDICTED]).mean()
    return losses


class PerformanceMetrics(Metric):
    """Per feature, over the notes its mask admits: Pearson correlation and MAE of prediction against the performance,
    and the feature's scaled loss.

    Names: `<feature>_correlation`, `<feature>_mae`, `loss_<feature>` for feature in velocity (MAE in MIDI velocity
    steps), timing (onset deviation, MAE in milliseconds), articulation (log2 duration ratio), tempo (beat period,
    MAE in milliseconds) and pedal (sustain depth 0-1). The correlation is pooled over every note of the split
    (sufficient statistics, so it merges across processes); a constant prediction, or a constant truth (no pedal in
    the data), has correlation 0 (it says nothing about which notes differ).
    """

    _state = ('sums',)
    UNITS = {'velocity': 127.0, 'onset_deviation': 1000.0, 'log_duration_ratio': 1.0, 'beat_seconds': 1000.0, 'sustain': 1.0}

    def __init__(self) -> None:
        self.sums = _accumulator(size=(len(PREDICTED), 8))  # n, Σx, Σy, Σx², Σy², Σxy, Σ|x - y|, Σ scaled Huber loss

    def update(self, predictions: Any, targets: Any) -> None:
        predicted = predictions.detach().to(self.sums.dtype)
        truth = target_stack(targets).detach().to(self.sums.dtype)
        scaled_error = scaled_errors(predicted, truth)
        if self.sums.device != predicted.device:
            self.sums = self.sums.to(predicted.device)
        rows = []
        for index, name in enumerate(PREDICTED):
            mask = (targets['note_mask'] if name == 'beat_seconds' else targets['matched']).to(self.sums.dtype)
            x, y = predicted[..., index] * self.UNITS[name], truth[..., index] * self.UNITS[name]
            rows.append(torch.stack([mask.sum(), (mask * x).sum(), (mask * y).sum(), (mask * x * x).sum(), (mask * y * y).sum(),
                                     (mask * x * y).sum(), (mask * (x - y).abs()).sum(), (mask * scaled_error[..., index]).sum()]))
        self.sums = self.sums + torch.stack(rows)

    def compute(self) -> dict[str, float]:
        result = {}
        for index, name in enumerate(PREDICTED):
            n, sx, sy, sxx, syy, sxy, absolute, squared = (float(value) for value in self.sums[index].cpu())
            feature = FEATURE_NAMES[name]
            if n == 0:
                result.update({f'{feature}_correlation': float('nan'), f'{feature}_mae': float('nan'), f'loss_{feature}': float('nan')})
                continue
            covariance, variance_x, variance_y = sxy / n - sx * sy / n**2, sxx / n - (sx / n) ** 2, syy / n - (sy / n) ** 2
            constant = variance_x <= 1e-12 * max(1.0, abs(sxx / n)) or variance_y <= 0
            result[f'{feature}_correlation'] = 0.0 if constant else covariance / (variance_x * variance_y) ** 0.5
            result[f'{feature}_mae'] = absolute / n
            result[f'loss_{feature}'] = squared / n
        return result
