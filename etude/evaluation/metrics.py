"""The metrics live in `etude.metrics`, beside the other contracts the Routine, the models and the tasks share; this
module keeps the old import path working for code written before the move (inside etude, import `..metrics`)."""

from ..metrics import (
    Accuracy,
    Classification,
    DecodedMetric,
    Mean,
    MeanAbsoluteError,
    Metric,
    RootMeanSquaredError,
    _accumulator,  # noqa: F401 (private, but imported from here by code written before the move)
    fresh_metrics,
)

__all__ = ['Accuracy', 'Classification', 'DecodedMetric', 'Mean', 'MeanAbsoluteError', 'Metric', 'RootMeanSquaredError', 'fresh_metrics']
