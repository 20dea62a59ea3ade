"""What a performer must do for the expressive-performance task: play windows of score notes.

`PerformanceHAN` and `PerformanceLSTM` are performers; a model of your own is one if it has `perform`.
`etude.tasks.Task.check_model` holds a model to this before anything trains.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import torch

__all__ = ['ScorePerformer']


class ScorePerformer(Protocol):
    """A model from score features to performance features, note by note."""

    def perform(self, inputs: torch.Tensor) -> torch.Tensor:
        """`(batch, notes, 17)` score features (`codec.SCORE_FEATURES`) → `(batch, notes, 5)` velocity (0-1), onset
        deviation (s), log2 duration ratio, beat seconds and sustain pedal (0-1), the performance as the model plays it (no teacher)."""
        ...

    def eval(self) -> Any:
        """Switch to inference mode."""
        ...
