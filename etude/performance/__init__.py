"""Expressive performance beside its model: the deadpan and marks-only rule baselines computed in the same run, the
per-feature scores of a performance (Pearson r and MAE on matched notes) and the tempo-curve and velocity-contour
figures, shared by the routine, the task kind and the listening test.

Names load on first use, so `etude -h` (which reads every task kind) needs no numpy.
"""

from typing import TYPE_CHECKING

from ..lazy import lazy_names

if TYPE_CHECKING:
    from .measures import baselines_mean, deadpan_predictions, draw_performance_curves, rule_predictions, score_path_for, score_window_metrics

__all__ = ['baselines_mean', 'deadpan_predictions', 'draw_performance_curves', 'rule_predictions', 'score_path_for', 'score_window_metrics']


__getattr__, __dir__ = lazy_names(__name__, dict.fromkeys(__all__, '.measures'), __all__)
