"""A performer judged against every pianist who played a piece, and the pianists against each other (issue 24, §3).

    figures = piece_figures(performances, {performance.file: predicted (n, 5)})   # per feature: r and MAE
    reference = human_agreement(performances)                                      # each pianist against the others

For each held-out performance, the prediction for its score is compared with what the pianist did, note by note: the
Pearson correlation r and the mean absolute error per feature, over the notes the feature is defined on (matched
notes; every note for the tempo curve). The figures are averaged over a piece's performances, then over pieces, so a
piece with twelve recordings counts once. **Human agreement** is the reference: each pianist against the mean of the
other pianists of the same score (leave one performer out), on scores with at least `min_performances` performances,
averaged the same way; `with_agreement` keeps the performances of those scores, so that a performer can be judged on the
same pieces the pianists' agreement is (`agreed_piece_*` figures). A prediction (or a pianist's curve) that is constant over a piece has r 0 by convention: it
says nothing about which notes differ. Names: `piece_<feature>_correlation` and `piece_<feature>_mae` for feature in
velocity (MAE in MIDI velocity steps), timing (ms), articulation (log2 ratio), tempo (beat period, ms), pedal (0-1).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from .models.common import FEATURE_NAMES, PREDICTED
from .pieces import PerformedPiece

__all__ = ['FEATURES', 'MIN_PERFORMANCES', 'UNITS', 'human_agreement', 'pearson', 'judged', 'piece_figures', 'with_agreement']

FEATURES = tuple(FEATURE_NAMES[name] for name in PREDICTED)  # velocity, timing, articulation, tempo, pedal
UNITS = {'velocity': 127.0, 'timing': 1000.0, 'articulation': 1.0, 'tempo': 1000.0, 'pedal': 1.0}
MIN_PERFORMANCES = 3


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson's r of two `(n,)` arrays; 0 when either is constant (or n < 2)."""
    if len(x) < 2:
        return 0.0
    x, y = x - x.mean(), y - y.mean()
    spread = float(np.sqrt(np.sum(x * x) * np.sum(y * y)))
    return float(np.sum(x * y) / spread) if spread > 1e-12 * max(1.0, float(np.sum(np.abs(x))) * float(np.sum(np.abs(y)))) else 0.0


def _masks(performance: PerformedPiece) -> np.ndarray:
    """`(n, 5)` bool: the notes each feature is judged on (matched notes; every real note for the tempo)."""
    real, matched = performance.targets['note_mask'] == 1, performance.targets['matched'] == 1
    return np.stack([real if name == 'beat_seconds' else matched & real for name in PREDICTED], axis=1)


def _truth(performance: PerformedPiece) -> np.ndarray:
    return np.stack([performance.targets[name] for name in PREDICTED], axis=1).astype(np.float64)


def _average(per_piece: Mapping[str, list[dict[str, float]]]) -> dict[str, float]:
    """Figures averaged over each piece's performances, then over pieces, with the counts."""
    pieces = [{key: float(np.mean([figures[key] for figures in rows])) for key in rows[0]} for rows in per_piece.values() if rows]
    if not pieces:
        return {}
    result = {key: float(np.mean([piece[key] for piece in pieces])) for key in pieces[0]}
    result.update(pieces=float(len(pieces)), performances=float(sum(len(rows) for rows in per_piece.values())))
    return result


def _compare(predicted: np.ndarray, truth: np.ndarray, masks: np.ndarray) -> dict[str, float]:
    figures = {}
    for index, feature in enumerate(FEATURES):
        mask = masks[:, index]
        x, y = predicted[mask, index] * UNITS[feature], truth[mask, index] * UNITS[feature]
        figures[f'piece_{feature}_correlation'] = pearson(x, y)
        figures[f'piece_{feature}_mae'] = float(np.mean(np.abs(x - y))) if len(x) else float('nan')
    return figures


def piece_figures(performances: Sequence[PerformedPiece], predictions: Mapping[str, np.ndarray]) -> dict[str, float]:
    """Per feature, r and MAE of `predictions[file]` (`(n, 5)` in `PREDICTED` order) against each performance,
    averaged per piece, then over pieces (see the module docstring); also `pieces` and `performances` counted."""
    per_piece: dict[str, list[dict[str, float]]] = {}
    for performance in performances:
        per_piece.setdefault(performance.piece, []).append(
            _compare(np.asarray(predictions[performance.file], dtype=np.float64), _truth(performance), _masks(performance)))
    return _average(per_piece)


def with_agreement(performances: Sequence[PerformedPiece], min_performances: int = MIN_PERFORMANCES) -> list[PerformedPiece]:
    """The performances of scores played at least `min_performances` times: those `human_agreement` judges."""
    counts: dict[str, int] = {}
    for performance in performances:
        counts[performance.score] = counts.get(performance.score, 0) + 1
    return [performance for performance in performances if counts[performance.score] >= min_performances]


def judged(performances: Sequence[PerformedPiece], predictions: Mapping[str, np.ndarray]) -> dict[str, float]:
    """`piece_figures` over every performance, and again as `agreed_piece_*` over `with_agreement`'s (the pieces the
    pianists' agreement is measured on, so model, baselines and pianists can be read side by side)."""
    figures = piece_figures(performances, predictions)
    agreed = with_agreement(performances)
    if agreed:
        figures.update({f'agreed_{key}': value for key, value in piece_figures(agreed, predictions).items()})
    return figures


def human_agreement(performances: Sequence[PerformedPiece], min_performances: int = MIN_PERFORMANCES) -> dict[str, float]:
    """Each pianist against the mean of the others who played the same score (notes paired by `note_key`), on scores
    with at least `min_performances` performances: the same figures as `piece_figures`, averaged the same way."""
    by_score: dict[str, list[PerformedPiece]] = {}
    for performance in performances:
        by_score.setdefault(performance.score, []).append(performance)
    per_piece: dict[str, list[dict[str, float]]] = {}
    for group in by_score.values():
        if len(group) < min_performances:
            continue
        keys = np.unique(np.concatenate([performance.targets['note_key'] for performance in group]))
        sums, counts = np.zeros((len(group), len(keys), len(PREDICTED))), np.zeros((len(group), len(keys), len(PREDICTED)))
        for index, performance in enumerate(group):
            where = np.searchsorted(keys, performance.targets['note_key'])
            masks = _masks(performance)
            np.add.at(sums[index], where, np.where(masks, _truth(performance), 0.0))
            np.add.at(counts[index], where, masks.astype(np.float64))
        for index, performance in enumerate(group):
            others_sum, others_count = sums.sum(axis=0) - sums[index], counts.sum(axis=0) - counts[index]
            where = np.searchsorted(keys, performance.targets['note_key'])
            known = others_count[where] > 0
            mean = np.where(known, others_sum[where] / np.maximum(others_count[where], 1.0), 0.0)
            # paired by score (a movement with and without its repeats is two scores), averaged by piece as the performers are
            per_piece.setdefault(performance.piece, []).append(_compare(mean, _truth(performance), _masks(performance) & known))
    return _average(per_piece)
