"""Stop training when the validation loss has stopped improving."""

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ['EarlyStopping']


@dataclass
class EarlyStopping:
    """Counts epochs without an improvement of more than `min_delta` over the best validation loss.

    Its whole state is plain numbers, saved in `last.pt`, so a resumed run stops exactly when an uninterrupted one
    would have.
    """

    patience: int
    min_delta: float = 0.0
    best_loss: float = float('inf')
    best_epoch: int = 0
    epochs_without_improvement: int = 0

    def update(self, epoch: int, validation_loss: float) -> bool:
        """Record an epoch's loss; True when it is a new best (and the best checkpoint should be saved)."""
        if validation_loss < self.best_loss - self.min_delta:
            self.best_loss, self.best_epoch, self.epochs_without_improvement = validation_loss, epoch, 0
            return True
        self.epochs_without_improvement += 1
        return False

    @property
    def should_stop(self) -> bool:
        return self.epochs_without_improvement >= self.patience

    def state_dict(self) -> dict[str, Any]:
        return asdict(self)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key, value in state.items():
            setattr(self, key, value)
