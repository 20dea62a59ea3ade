"""The evaluation pass, written once: the Routine's validation and test figures and `etude evaluate`'s recomputation
of them run these same calls over the same batches, so the two can never drift apart.

Per batch, in eval mode and without gradients: the model's `evaluation_step`, its loss added to a mean weighted by
the batch's size, and every metric's `update` with the step's predictions and targets. Under torchrun each process
runs its contiguous share and the caller merges the metrics (`Routine._merged`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence, Sized
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import torch

from ..metrics import Mean, Metric, fresh_metrics
from ..model import Model, batch_size_of, move_to_device

__all__ = ['evaluate_batches']


def evaluate_batches(model: Model, batches: Iterable[Any], prototypes: Sequence[Metric], device: torch.device, *,
                     autocast: Callable[[], AbstractContextManager[Any]] = nullcontext, keep: bool = False,
                     progress: str | None = None) -> tuple[Mean, list[Metric], list[Any]]:
    """`(loss mean, fresh metrics updated with every batch, [(predictions, targets) per batch on the CPU when keep])`;
    with `progress`, a bar of that name counts the batches (a long validation is not silent)."""
    from tqdm.auto import tqdm
    model.eval()
    metrics = fresh_metrics(prototypes)
    losses = Mean()
    kept: list[Any] = []
    cpu = torch.device('cpu')
    total = len(batches) if isinstance(batches, Sized) else None
    with torch.no_grad(), tqdm(total=total, desc=progress, leave=False, disable=None if progress else True) as bar:
        for batch in batches:
            batch = move_to_device(batch, device)
            with autocast():
                outputs = model.evaluation_step(batch)
            losses.add(torch.as_tensor(outputs['loss']).float(), batch_size_of(batch))
            for metric in metrics:
                metric.update(outputs['predictions'], outputs['targets'])
            if keep:
                kept.append((move_to_device(_detached(outputs['predictions']), cpu), move_to_device(_detached(outputs['targets']), cpu)))
            bar.update()
    return losses, metrics, kept


def _detached(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach()
    if isinstance(value, dict):
        return {key: _detached(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_detached(item) for item in value)
    return value
