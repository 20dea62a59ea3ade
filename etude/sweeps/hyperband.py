"""W&B's hyperband early termination, as an Optuna pruner over the trials' per-epoch values in the sweep's storage.

W&B's rule (sweeps.hyperband_stopping.hyperband_stop_runs), kept exactly: for each band b, take every run that has
logged more than b values (finished, stopped and running alike) and the value each logged at index b (the (b+1)-th
epoch); the threshold is the value ranked int(len/eta) among them, best first. A running trial that has passed band b
(and no later one) is stopped when its best value so far is worse than that band's threshold. It is checked at each
of the trial's epoch boundaries, when its metrics.jsonl gains a line.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

__all__ = ['hyperband_should_stop', 'wandb_hyperband_pruner']

if TYPE_CHECKING:
    import optuna


def hyperband_should_stop(mine: Sequence[float], everyone: Sequence[Sequence[float]], bands: Sequence[int], eta: float, goal: str) -> bool:
    """Whether a trial with history `mine` (one value per epoch) is stopped, given every trial's history (its own too)."""
    sign = -1.0 if goal == 'maximize' else 1.0
    histories = [[sign * value for value in history] for history in everyone if history]
    own = [sign * value for value in mine]
    fraction = 1.0 / eta
    closest_threshold = None
    for band in bands:
        if band >= len(own):
            break
        values = sorted(history[band] for history in histories if len(history) > band)
        closest_threshold = values[int(fraction * len(values))] if values else float('inf')
    return closest_threshold is not None and min(own) > closest_threshold


def _history(trial: Any) -> list[float]:
    return [trial.intermediate_values[step] for step in sorted(trial.intermediate_values)]


def wandb_hyperband_pruner(bands: Sequence[int], eta: float, goal: str) -> optuna.pruners.BasePruner:
    """The rule above as an Optuna pruner: `trial.should_prune()` after `trial.report(value, epoch)`."""
    import optuna

    class WandbHyperband(optuna.pruners.BasePruner):
        def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
            everyone = [_history(other) for other in study.get_trials(deepcopy=False) if other.number != trial.number]
            mine = _history(trial)
            return bool(mine) and hyperband_should_stop(mine, [*everyone, mine], bands, eta, goal)

    return WandbHyperband()
