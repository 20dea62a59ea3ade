"""Stop training when the monitored validation metric has stopped improving."""

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

__all__ = ['EarlyStopping']


@dataclass
class EarlyStopping:
    """Counts epochs without an improvement of more than `min_delta` over the best value of the monitored metric.

    `mode='min'` for losses and errors, `'max'` for accuracy or F1. Its whole state is plain numbers, saved in
    `last.pt`, so a resumed run stops exactly when an uninterrupted one would have.
    """

    patience: int
    min_delta: float = 0.0
    mode: Literal['min', 'max'] = 'min'
    best_value: float | None = None
    best_epoch: int = 0
    epochs_without_improvement: int = 0

    def update(self, epoch: int, value: float) -> bool:
        """Record an epoch's value; True when it is a new best (and the best checkpoint should be saved)."""
        if self.best_value is None or (math.isnan(self.best_value) and not math.isnan(value)) or self.improves(value, self.best_value):
            # a NaN best (a metric undefined in the first epoch) is beaten by any number; NaN itself never improves
            self.best_value, self.best_epoch, self.epochs_without_improvement = value, epoch, 0
            return True
        self.epochs_without_improvement += 1
        return False

    def improves(self, value: float, best: float) -> bool:
        return value < best - self.min_delta if self.mode == 'min' else value > best + self.min_delta

    @property
    def should_stop(self) -> bool:
        return self.epochs_without_improvement >= self.patience

    def state_dict(self) -> dict[str, Any]:
        return asdict(self)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key in ('best_value', 'best_epoch', 'epochs_without_improvement'):
            setattr(self, key, state[key])
