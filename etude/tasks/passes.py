"""The routine's evaluation pass, for `etude evaluate`: one process, in dataset order, nothing left out.

The Routine computes its validation and test figures batch by batch with the model's `evaluation_step`, a loss mean
weighted by batch size and the metrics' `update`; evaluating a finished run must give the same numbers, so this
runs the same calls over the same items (with the run's collate when the task gives it, else torch's default).
torch loads inside the function: `etude -h` reads every task module for its flags and must stay light.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import torch

    from ..evaluation.metrics import Metric

__all__ = ['evaluation_pass']


def evaluation_pass(model: Any, dataset: Any, indices: np.ndarray, prototypes: Sequence[Metric], *, batch_size: int, device: torch.device,
                    keep: bool = True, collate: Any = None) -> tuple[dict[str, float], list[Any], list[Metric]]:
    """`({'loss': ..., **figures}, [(predictions, targets) per batch on the CPU, when keep], the computed metrics)` over
    `indices` (the metric objects hold more than their figures: a confusion matrix, decoded items)."""
    import numpy as np
    import torch
    from torch.utils.data import DataLoader, Subset

    from ..evaluation.metrics import Mean, fresh_metrics
    from ..model import batch_size_of, move_to_device

    model.eval()
    metrics = fresh_metrics(prototypes)
    losses = Mean()
    kept: list[Any] = []
    cpu = torch.device('cpu')
    loader = DataLoader(Subset(dataset, np.asarray(indices).tolist()), batch_size=batch_size, shuffle=False, collate_fn=collate,
                        generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        for batch in loader:
            batch = move_to_device(batch, device)
            result = model.evaluation_step(batch)
            losses.add(torch.as_tensor(result['loss']).float(), batch_size_of(batch))
            for metric in metrics:
                metric.update(result['predictions'], result['targets'])
            if keep:
                kept.append((move_to_device(_detached(result['predictions']), cpu), move_to_device(_detached(result['targets']), cpu)))
    figures = losses.compute()
    for metric in metrics:
        figures.update(metric.compute())
    return figures, kept, metrics


def _detached(value: Any) -> Any:
    import torch

    if isinstance(value, torch.Tensor):
        return value.detach()
    if isinstance(value, dict):
        return {key: _detached(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_detached(item) for item in value)
    return value
