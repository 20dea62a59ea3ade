"""Judging expressive performances: the baselines, played on the held-out scores from the stored dataset alone.

Each baseline plays a whole performance's score (`PerformedPiece.features`) as the model does; its figures come from
the same two judges as the model's: `PerformanceMetrics` over the stored windows (pooled over notes) and
`agreement.piece_figures` against every performance, averaged per piece. Fitted on the train split:

    deadpan        what a score sounds like played by a sequencer: the score's tempo marks (the training notes' mean
                   beat period where it has none), one velocity (the training notes' mean), every note on time, at
                   its written length, no pedal
    rule           `RulePerformer(marks_only=True)`: the dynamics, accents, articulations and fermatas of the score,
                   at the deadpan's tempo
    training_mean  every feature at the training pianists' mean, the tempo as their mean ratio to the marked tempo
                   (normalised by the score's tempo marks; the mean beat period where a score has none)

A prediction constant over a piece has correlation 0 (`agreement.pearson`), so deadpan's velocity r is 0 and its
tempo r is that of the score's tempo marks alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from ...data.score import ARTICULATIONS, SCORE_DTYPE
from .codec import SCORE_FEATURES, marked_beat_seconds
from .models.common import PREDICTED
from .pieces import PerformedPiece

__all__ = ['BASELINES', 'TrainingMeans', 'baseline_performers', 'pseudo_score', 'score_window_metrics']

BASELINES = ('deadpan', 'rule', 'training_mean')
Performer = Callable[[PerformedPiece], np.ndarray]


def score_window_metrics(predictions: np.ndarray, labels: Mapping[str, np.ndarray]) -> dict[str, float]:
    """`PerformanceMetrics` of `(windows, notes, 5)` predictions against the stored labels of the same windows."""
    import torch

    from .models.common import PerformanceMetrics

    metric = PerformanceMetrics()
    metric.update(torch.as_tensor(predictions, dtype=torch.float64), {name: torch.as_tensor(np.asarray(values), dtype=torch.float64)
                                                                      for name, values in labels.items()})
    return metric.compute()


class TrainingMeans:
    """What the training pianists did on average: each feature's mean over matched notes, the mean beat period over
    every note, and the geometric mean of their beat period over the marked tempo's (60 / qpm), where a mark is."""

    def __init__(self, labels: Mapping[str, np.ndarray], tempo_qpm: np.ndarray | None = None) -> None:
        """`labels`: the training windows' stored labels `(windows, notes)`; `tempo_qpm`: their tempo-mark feature (the
        same shape, 0 where unmarked), or None for no tempo ratio (1)."""
        matched, real = np.asarray(labels['matched']) == 1, np.asarray(labels['note_mask']) == 1
        self.means = {name: float(np.asarray(labels[name])[real if name == 'beat_seconds' else matched].mean()) for name in PREDICTED}
        qpm = np.asarray(tempo_qpm) if tempo_qpm is not None else np.zeros(real.shape)
        marked = real & (qpm > 0)
        ratio = np.asarray(labels['beat_seconds'])[marked] * qpm[marked] / 60.0
        self.tempo_ratio = float(np.exp(np.mean(np.log(np.clip(ratio, 1e-3, None))))) if marked.any() else 1.0


def pseudo_score(features: np.ndarray) -> np.ndarray:
    """A `SCORE_DTYPE` array with what `RulePerformer` and the deadpan read (onsets, metre, dynamics, marks, tempo),
    rebuilt from `(n, 17)` score features, so the baselines need no score file."""
    column = {name: features[:, index] for index, name in enumerate(SCORE_FEATURES)}
    score = np.zeros(len(features), dtype=SCORE_DTYPE)
    score['pitch'] = column['pitch']
    start = float(np.mod(column['beat'][0] - 1.0, 1.0)) if len(features) else 0.0  # where in its beat the first note falls
    score['onset_beats'] = start + np.cumsum(column['onset_delta_beats'])
    score['duration_beats'], score['beat'], score['beat_strength'] = column['duration_beats'], column['beat'], column['beat_strength']
    score['dynamic_level'] = np.where(column['has_dynamic'] > 0, column['dynamic_level'], np.nan)
    score['tempo_qpm'] = np.where(column['has_tempo'] > 0, column['tempo_qpm'], np.nan)
    marks = np.zeros(len(features), dtype=np.int64)
    for name in ('staccato', 'accent', 'tenuto', 'fermata'):
        marks |= (column[name] > 0).astype(np.int64) << ARTICULATIONS.index(name)
    score['articulations'] = marks
    return score


def baseline_performers(means: TrainingMeans) -> dict[str, Performer]:
    """`name → performer` of each baseline: a performance → `(n, 5)` features in `PREDICTED` order."""
    from .rule_performer import RulePerformer

    mean_period = means.means['beat_seconds']

    def tempo(performance: PerformedPiece, ratio: float = 1.0) -> np.ndarray:
        qpm = performance.features[:, SCORE_FEATURES.index('tempo_qpm')]
        marked = marked_beat_seconds(np.where(qpm > 0, qpm, np.nan), np.nan)
        return np.where(np.isfinite(marked), marked * ratio, mean_period)

    def deadpan(performance: PerformedPiece) -> np.ndarray:
        played = np.zeros((len(performance), len(PREDICTED)), dtype=np.float32)
        played[:, PREDICTED.index('velocity')] = means.means['velocity']
        played[:, PREDICTED.index('beat_seconds')] = tempo(performance)
        return played

    def rule(performance: PerformedPiece) -> np.ndarray:
        score = pseudo_score(performance.features)
        features = RulePerformer(marks_only=True, beat_seconds=mean_period).play(score)
        features['beat_seconds'] = tempo(performance) * features['beat_seconds'] / mean_period  # the fermatas' holds, at the marks' tempo
        return np.stack([features.get(name, np.zeros(len(score), dtype=np.float32)) for name in PREDICTED], axis=1)

    def training_mean(performance: PerformedPiece) -> np.ndarray:
        played = np.tile(np.array([means.means[name] for name in PREDICTED], dtype=np.float32), (len(performance), 1))
        played[:, PREDICTED.index('beat_seconds')] = tempo(performance, means.tempo_ratio)
        return played

    return {'deadpan': deadpan, 'rule': rule, 'training_mean': training_mean}
