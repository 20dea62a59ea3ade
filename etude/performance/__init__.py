"""Expressive performance beside its model: the deadpan and marks-only rule baselines computed in the same run, the
per-feature scores of a performance (Pearson r and MAE on matched notes) and the tempo-curve and velocity-contour
figures, shared by the routine, the task kind and the listening test.

Names load on first use, so `etude -h` (which reads every task kind) needs no numpy.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .measures import baselines_mean, deadpan_predictions, draw_performance_curves, rule_predictions, score_path_for, score_window_metrics

__all__ = ['baselines_mean', 'deadpan_predictions', 'draw_performance_curves', 'rule_predictions', 'score_path_for', 'score_window_metrics']


def __getattr__(name: str) -> Any:
    if name in __all__:
        value = getattr(import_module('.measures', __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'etude.performance' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
