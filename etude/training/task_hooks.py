"""What the Routine asks of its task, and the baselines it fits once per run.

The task (`etude.tasks.Task`, a layer up) brings the run's metrics, its baselines and its end-of-split work; the loop
only calls these methods, so it knows no task. The baselines are fitted once, when a run starts, on rank 0, and
recorded in the run's `baselines.json`; a resumed run reads them back instead of fitting them again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from .records import brief

if TYPE_CHECKING:
    import torch

    from ..metrics import Metric
    from ..model import Model
    from .distributed import Distributed
    from .routine_data import SplitView
    from .run_directory import RunDirectory

__all__ = ['EVALUATED_SPLITS', 'TASK_HOOKS', 'TaskHooks', 'fit_baselines']

Baselines = dict[str, dict[str, dict[str, float]]]  # split → baseline name → figures
EVALUATED_SPLITS = ('validation', 'test')
TASK_HOOKS = ('to_dict', 'check_model', 'metrics', 'baselines', 'on_split_end')


class TaskHooks(Protocol):
    """What the Routine asks of a task (`etude.tasks.Task` has every one of these; see its docstrings)."""

    def to_dict(self) -> dict[str, Any]: ...

    def check_model(self, model: Model) -> None: ...

    def metrics(self, model: Model) -> list[Metric]: ...

    def baselines(self, data: SplitView, split: str) -> dict[str, dict[str, float]]: ...

    def on_split_end(self, model: Model, split: str, data: SplitView, metrics: Sequence[Metric], device: torch.device) -> dict[str, float]: ...


def fit_baselines(task: TaskHooks | None, view: SplitView, *, resumed: RunDirectory | None, distributed: Distributed, is_main: bool,
                  say: Callable[[str], None]) -> Baselines:
    """The task's baselines on the validation and test splits: read back from a resumed run, else fitted now on rank 0
    (and shared with the other ranks), each test baseline printed as it is known."""
    recorded = resumed.read_baselines() if resumed is not None else None
    if recorded is None:
        fitted: Baselines = {}
        if task is not None and is_main:
            say('etude: fitting the task\'s baselines on the train split, scoring them on validation and test')
            fitted = {split: task.baselines(view, split) for split in EVALUATED_SPLITS}
        recorded = distributed.broadcast_object(fitted)
        for name, figures in recorded.get('test', {}).items():
            say(f'etude: baseline {name} on the test split: {brief(figures, where="baselines.json")}')
    return {split: {name: dict(figures) for name, figures in recorded.get(split, {}).items()} for split in EVALUATED_SPLITS}
