"""Recompute a finished run's figures on one of its splits, from its export, its split and its stored dataset.

    evaluation = evaluate_run('runs/<id>', split='test')
    evaluation.metrics            # {'loss': ..., 'accuracy': ..., 'macro_f1': ...}, as the routine computed them
    evaluation.baselines          # the task's baselines, as the run recorded them when it started
    evaluation.predictions        # per item (clip, piece): what the model said beside the truth

Everything comes from what the run left (`etude.tasks.context.open_run`): the model from `checkpoints/best.pt` (or
the checkpoint given), the item indices from `split.json`, the baselines from `baselines.json`, the data from the
stored dataset the export's fingerprint names. What is computed is the export's task's business (`Task.evaluate`:
the Routine's evaluation pass with the task's metrics and end-of-split work), so a routine and `etude evaluate` name
and compute the same figures by the same route, and this module knows no task.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..tasks.context import RunFiles, locate_run, open_run

if TYPE_CHECKING:
    import torch

    from ..model import Model
    from ..tasks.base import Evaluation as TaskEvaluation
    from ..tasks.base import Task

__all__ = ['Evaluation', 'RunFiles', 'evaluate_run', 'locate_run']


@dataclass
class Evaluation:
    """A model's figures on one split of its run (the task's `Evaluation`), with the run they came from."""

    run: RunFiles
    task: Task
    result: TaskEvaluation
    export: dict[str, Any]
    dataset_directory: Path | None
    split_sizes: dict[str, int] = field(default_factory=dict)

    @property
    def split(self) -> str:
        return self.result.split

    @property
    def metrics(self) -> dict[str, float]:
        return self.result.metrics

    @property
    def baselines(self) -> dict[str, dict[str, float]]:
        return self.result.baselines

    @property
    def predictions(self) -> list[dict[str, Any]]:
        return self.result.predictions


def evaluate_run(path: str | Path, *, split: str = 'test', data: str | Path | None = None, device: str | torch.device = 'cpu',
                 batch_size: int | None = None, model_class: type[Model] | None = None, allow_modules: Sequence[str] = ()) -> Evaluation:
    """Rebuild the run's model and task and compute the task's figures on `split` beside its recorded baselines.

    `data` is the stored dataset the run trained on, when it is no longer where the run recorded it; `model_class` and
    `allow_modules` as for `etude.load_model` (a model class or a task kind from outside etude).
    """
    context = open_run(path, split=split, data=data, device=device, batch_size=batch_size, model_class=model_class, allow_modules=allow_modules)
    result = context.task.evaluate(context)
    directory = Path(context.data) if context.data is not None else (Path(context._stored.directory) if context._stored is not None else None)
    return Evaluation(context.run, context.task, result, dict(context.export), directory,
                      {name: len(part) for name, part in context.indices.items()})
