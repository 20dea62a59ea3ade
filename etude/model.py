"""The template every etude network fills in.

A model is a `torch.nn.Module` built from its typed hyperparameters alone, so an export can rebuild it from the file.
For ordinary supervised learning a model supplies its layers, `forward` and `loss` (what a split is judged by is its
task's `metrics`, not the model's); the
default `training_step` computes the loss in the run's precision and hands it to the routine's `Step`, which owns
backward, accumulation, clipping, optimiser and schedule stepping and gradient averaging under torchrun. A model that
needs more (several optimisers, teacher forcing, a GAN) overrides `configure_optimisers` and `training_step` and
still calls `step.backward` / `step.update`, so it gets all of that without writing it: this one replaceable step is
the whole extension surface, instead of many hooks.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import torch

from .parameters import Parameters as BaseParameters

if TYPE_CHECKING:
    from .training.step import Step

__all__ = ['Batch', 'Model', 'build_optimiser']

# What a DataLoader yields: `(inputs, targets)` for supervised data, or any structure of tensors a model understands.
Batch = Any


class Model(ABC, torch.nn.Module):
    """Subclass, set `Parameters` to your hyperparameter dataclass, and implement `forward` (and `loss`)."""

    Parameters: ClassVar[type[BaseParameters]] = BaseParameters
    hyperparameters: BaseParameters
    export_info: dict[str, Any]  # set by load_model: everything in the export but the weights

    def __init__(self, hyperparameters: BaseParameters) -> None:
        super().__init__()
        if not isinstance(hyperparameters, self.Parameters):
            raise TypeError(f'{type(self).__name__} needs {self.Parameters.__qualname__}, got {type(hyperparameters).__qualname__}')
        self.hyperparameters = hyperparameters
        self.optimisers: list[torch.optim.Optimizer] = []

    @abstractmethod
    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """torch.nn.Module.forward."""

    def loss(self, predictions: Any, targets: Any) -> torch.Tensor:
        """The training objective, a scalar, from what `forward` returned and the batch's targets (tensors, tuples or
        dicts, as the dataset gives them). Override for anything but the default mean squared error."""
        return torch.nn.functional.mse_loss(predictions, targets)

    def configure_optimisers(self) -> list[torch.optim.Optimizer]:
        """Optimisers built from the hyperparameters; override to use several, or per-layer settings."""
        return [build_optimiser(self.parameters(), self.hyperparameters)]

    def training_step(self, batch: Batch, step: Step) -> dict[str, torch.Tensor]:
        """One training step on a batch; returns at least {'loss': ...} (detached) for logging.

        The default is supervised: `batch` is `(inputs, targets)`. Losses stay tensors, turned into Python floats
        once per epoch, so the step never waits for the device (beyond the one check per update the Step makes).
        """
        inputs, targets = batch
        with step.autocast():
            loss = self.loss(self(inputs), targets)
        step.backward(loss)
        step.update()
        return {'loss': loss.detach()}

    def evaluation_step(self, batch: Batch) -> dict[str, Any]:
        """In eval mode, without gradients: {'loss', 'predictions', 'targets'} of one batch; metrics read the last two."""
        inputs, targets = batch
        predictions = self(inputs)
        return {'loss': self.loss(predictions, targets), 'predictions': predictions, 'targets': targets}

    @classmethod
    def class_path(cls) -> str:
        """`module.QualifiedName`, the import path an export records so `load_model` can rebuild the model."""
        return f'{cls.__module__}.{cls.__qualname__}'


def build_optimiser(parameters: Any, hyperparameters: BaseParameters) -> torch.optim.Optimizer:
    """The optimiser named by `hyperparameters.optimiser`, with its learning rate and weight decay."""
    learning_rate, weight_decay = hyperparameters.learning_rate, hyperparameters.weight_decay
    if hyperparameters.optimiser == 'sgd':
        return torch.optim.SGD(parameters, lr=learning_rate, weight_decay=weight_decay)
    if hyperparameters.optimiser == 'adamw':
        return torch.optim.AdamW(parameters, lr=learning_rate, weight_decay=weight_decay)
    return torch.optim.Adam(parameters, lr=learning_rate, weight_decay=weight_decay)


def batch_size_of(batch: Batch) -> int:
    """The number of examples in a batch of any nesting, read from its first tensor."""
    if isinstance(batch, torch.Tensor):
        return int(batch.shape[0])
    if isinstance(batch, dict):
        return batch_size_of(next(iter(batch.values())))
    if isinstance(batch, Sequence):
        return batch_size_of(batch[0])
    raise TypeError(f'cannot find a tensor in a batch of type {type(batch).__name__}')


def move_to_device(batch: Batch, device: torch.device) -> Batch:
    """Move every tensor in a batch (tensor, tuple, list or dict, nested) to `device`."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {key: move_to_device(value, device) for key, value in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(move_to_device(value, device) for value in batch)
    return batch
