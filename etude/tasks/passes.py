"""The routine's evaluation pass, for `etude evaluate`: one process, in dataset order, nothing left out.

The Routine computes its validation and test figures with `etude.training.evaluation_loop.evaluate_batches`; evaluating a
finished run must give the same numbers, so this runs the same function over a loader of the same items (with the
run's collate when the task gives it, else torch's default). torch loads inside the function: `etude -h` reads every
task module for its flags and must stay light.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import torch

    from ..metrics import Metric

__all__ = ['evaluation_pass']


def evaluation_pass(model: Any, dataset: Any, indices: np.ndarray, prototypes: Sequence[Metric], *, batch_size: int, device: torch.device,
                    keep: bool = True, collate: Any = None) -> tuple[dict[str, float], list[Any], list[Metric]]:
    """`({'loss': ..., **figures}, [(predictions, targets) per batch on the CPU, when keep], the computed metrics)` over
    `indices` (the metric objects hold more than their figures: a confusion matrix, decoded items)."""
    import numpy as np
    import torch
    from torch.utils.data import DataLoader, Subset

    from ..training.evaluation_loop import evaluate_batches

    loader = DataLoader(Subset(dataset, np.asarray(indices).tolist()), batch_size=batch_size, shuffle=False, collate_fn=collate,
                        generator=torch.Generator().manual_seed(0))
    losses, metrics, kept = evaluate_batches(model, loader, prototypes, device, keep=keep)
    figures = losses.compute()
    for metric in metrics:
        figures.update(metric.compute())
    return figures, kept, metrics
