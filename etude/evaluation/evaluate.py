"""Recompute a finished run's figures on one of its splits, from its export, its split and its stored dataset.

    evaluation = evaluate_run('runs/<id>', split='test')
    evaluation.metrics            # {'loss': ..., 'accuracy': ..., 'macro_f1': ...}, as the routine computed them
    evaluation.baselines          # the task's baselines, recomputed on the same items
    evaluation.predictions        # per item (clip, piece): what the model said beside the truth

Everything comes from what the run left: the model from `checkpoints/best.pt` (or the checkpoint given), the item
indices from `split.json`, the data from the stored dataset the export's fingerprint names (checked, so a changed
cache is refused rather than silently scored). What is computed is the export's task's business
(`etude.tasks`: `Task.evaluate`), so a routine and `etude evaluate` name and compute the same figures, and this
module knows no task.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..data.split import SPLIT_NAMES
from ..errors import ConfigError

if TYPE_CHECKING:
    from ..model import Model
    from ..tasks.base import Evaluation as TaskEvaluation
    from ..tasks.base import Task

__all__ = ['Evaluation', 'RunFiles', 'evaluate_run', 'locate_run']


@dataclass(frozen=True)
class RunFiles:
    """The checkpoint to evaluate and, when it lies in a run folder, that folder (config, split, metrics, summary)."""

    checkpoint: Path
    directory: Path | None

    def read_json(self, name: str) -> Any:
        if self.directory is None or not (self.directory / name).is_file():
            return None
        try:
            return json.loads((self.directory / name).read_text(encoding='utf-8'))
        except ValueError:
            raise ConfigError(f'{self.directory / name} is damaged (not JSON); restore it from a backup of the run') from None

    def config(self) -> dict[str, Any]:
        from ..training.run_directory import RunDirectory

        return RunDirectory(self.directory).read_config() if self.directory is not None and (self.directory / 'config.yaml').is_file() else {}

    def records(self) -> list[dict[str, Any]]:
        return self.records_and_damage()[0]

    def records_and_damage(self) -> tuple[list[dict[str, Any]], list[str]]:
        """The epochs of `metrics.jsonl`, and a sentence per line that is not an epoch's record (`RunDirectory.metrics_problems`)."""
        from ..training.run_directory import RunDirectory

        if self.directory is None:
            return [], []
        run = RunDirectory(self.directory)
        return run.read_metrics(), run.metrics_problems()


def locate_run(path: str | Path) -> RunFiles:
    """A run folder (its `checkpoints/best.pt`) or a checkpoint file (in `RUN/checkpoints/` or anywhere)."""
    path = Path(path)
    if path.is_dir():
        checkpoint = path / 'checkpoints' / 'best.pt'
        if not checkpoint.is_file():
            raise ConfigError(f'{path} has no checkpoints/best.pt; pass a finished run folder (runs/<id>) or a checkpoint file')
        return RunFiles(checkpoint, path)
    if not path.exists():
        raise ConfigError(f'{path} does not exist; pass a run folder (runs/<id>) or a checkpoint file')
    run = path.parent.parent if path.parent.name == 'checkpoints' and (path.parent.parent / 'split.json').is_file() else None
    return RunFiles(path, run)


@dataclass
class Evaluation:
    """A model's figures on one split of its run (the task's `Evaluation`), with the run they came from."""

    run: RunFiles
    task: Task
    result: TaskEvaluation
    export: dict[str, Any]
    dataset_directory: Path
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
    """Rebuild the run's model and task and compute the task's figures and baselines on `split` (see the module docstring).

    `data` is the stored dataset the run trained on, when it is no longer where the run recorded it; `model_class` and
    `allow_modules` as for `etude.load_model` (a model class from outside etude).
    """
    from ..export import load_model
    from ..tasks import task_from_dict
    from ..tasks.base import EvaluationContext

    run = locate_run(path)
    indices_by_split = _split(run, split)
    model = load_model(run.checkpoint, device=device, model_class=model_class, allow_modules=allow_modules)
    export = dict(model.export_info)
    task = task_from_dict(dict(export.get('task') or {}), source=str(run.checkpoint))
    directory = _dataset_directory(run, export, data)
    context = EvaluationContext(model, export, run.checkpoint, split, indices_by_split, torch.device(device),
                                batch_size or int(export['hyperparameters'].get('batch_size', 64)), directory, run.read_json('summary.json') or {})
    result = task.evaluate(context)
    return Evaluation(run, task, result, export, directory, {name: len(part) for name, part in indices_by_split.items()})


def _split(run: RunFiles, split: str) -> dict[str, np.ndarray]:
    if split not in SPLIT_NAMES:
        raise ConfigError(f"split {split!r} is not one of {', '.join(SPLIT_NAMES)}; evaluate --split test or validation")
    saved = run.read_json('split.json')
    if saved is None:
        raise ConfigError(f'{run.checkpoint} has no split.json beside it (it is not in a run folder), so its {split} items are unknown; '
                          'pass the run folder, runs/<id>')
    try:
        parts = {name: np.asarray(saved.get(name, {}).get('indices', []), dtype=np.int64) for name in SPLIT_NAMES}
    except (AttributeError, TypeError, ValueError):
        raise ConfigError(f'{run.directory}/split.json is damaged; restore it from a backup of the run') from None
    if len(parts[split]) == 0:
        raise ConfigError(f'the run {run.directory} has no {split} split (split.json lists no {split} items); evaluate another split')
    return parts


def _dataset_directory(run: RunFiles, export: Mapping[str, Any], data: str | Path | None) -> Path:
    if data is not None:
        return Path(data)
    summary = run.read_json('summary.json') or {}
    recorded = (export.get('dataset') or {}).get('directory') or summary.get('dataset_directory')
    if not recorded:
        raise ConfigError(f'{run.checkpoint} does not record where its dataset is; pass --data with the stored dataset the run trained on')
    if not Path(recorded).exists():
        raise ConfigError(f'the dataset of {run.checkpoint} is no longer at {recorded}; pass --data with where it is now')
    return Path(recorded)
