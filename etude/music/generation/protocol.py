"""What a note model must do for the generation task: run notes through it, carrying its state from one call to the next.

`NoteLSTM` (seed 002) is one; a model of your own is one if it has `run`. `etude.tasks.Task.check_model` holds a
model to this before anything trains, and the sampler (`sampling.sample_notes`) relies on nothing else.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import torch

__all__ = ['NoteModel', 'TokenModel']


class NoteModel(Protocol):
    """A model over notes `(batch, time, 3)` (pitch index 0..128 as a float, step, duration in seconds)."""

    def run(self, notes: torch.Tensor, state: Any = None) -> tuple[dict[str, torch.Tensor], Any]:
        """The predictions for each position of `notes` (`pitch_logits` `(batch, time, 129)`, `step` and `duration`
        `(batch, time)` in seconds) and the state after the last note, to continue from."""
        ...

    def parameters(self) -> Iterator[torch.nn.Parameter]:
        """Its weights (the sampler runs on their device)."""
        ...

    def eval(self) -> Any:
        """Switch to inference mode (no dropout)."""
        ...


class TokenModel(Protocol):
    """A model over token ids `(batch, time)` of a metrical representation (`TokenLSTM`, `TokenTransformer`); the
    sampler (`token_sampling.sample_tokens`) fuses the step of one with an `lstm`, `embedding` and `head`, and runs any
    other one token at a time on the state its `run` returns."""

    def run(self, tokens: torch.Tensor, state: Any = None) -> tuple[dict[str, torch.Tensor], Any]:
        """`{'logits': (batch, time, vocabulary)}` after each of `tokens`, and the state after the last one."""
        ...

    def parameters(self) -> Iterator[torch.nn.Parameter]:
        """Its weights (the sampler runs on their device)."""
        ...

    def eval(self) -> Any:
        """Switch to inference mode (no dropout)."""
        ...
