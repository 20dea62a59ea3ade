"""A finished run as its task reads it: the rebuilt model, its export, its split, its data and its recorded baselines.

    context = open_run('runs/<id>', split='test')
    evaluation = context.task.evaluate(context)             # what `etude evaluate` does
    stimuli = context.task.listening_set(context, folder, pieces=4, seconds=20, seed=0)   # `etude listen from-run`

Everything comes from what the run left: the model from `checkpoints/best.pt` (or the checkpoint given), the item
indices from `split.json`, the baselines from `baselines.json`, the data from the stored dataset the export's
fingerprint names (checked, so a changed cache is refused rather than silently scored; looked for only when the task
asks for it).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..data.split import SPLIT_NAMES
from ..errors import ConfigError, DatasetError

if TYPE_CHECKING:
    import torch

    from ..data.store import StoredDataset
    from ..metrics import Metric
    from ..model import Model
    from ..training.routine_data import SplitView
    from .base import Task

__all__ = ['EvaluationContext', 'RunFiles', 'locate_run', 'open_run']


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

    def baselines(self) -> dict[str, dict[str, dict[str, float]]] | None:
        """split → name → figures, as the run recorded them when it started (None for a run that recorded none)."""
        from ..training.run_directory import RunDirectory

        return RunDirectory(self.directory).read_baselines() if self.directory is not None else None


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
class EvaluationContext:
    """What a task is handed to evaluate or listen to a finished run: the rebuilt model and task, the export, the
    run's files and split and, on demand, its stored dataset and the routine's evaluation pass over any part of it."""

    model: Model
    task: Task
    export: Mapping[str, Any]
    run: RunFiles
    split: str
    indices: dict[str, np.ndarray]
    device: torch.device
    batch_size: int
    data: str | Path | None = None
    """The stored dataset the run trained on, when it is no longer where the run recorded it."""
    _stored: Any = field(default=None, repr=False)

    @property
    def checkpoint(self) -> Path:
        return self.run.checkpoint

    @property
    def dataset(self) -> dict[str, Any]:
        """The export's record of the data (name, size, fingerprint, representation, ...)."""
        return dict(self.export.get('dataset') or {})

    @property
    def summary(self) -> dict[str, Any]:
        return dict(self.run.read_json('summary.json') or {})

    @property
    def dataset_directory(self) -> Path:
        """Where the run's stored dataset is: `data` when given, else where the run recorded it."""
        if self.data is not None:
            return Path(self.data)
        recorded = self.dataset.get('directory') or self.summary.get('dataset_directory')
        if not recorded:
            raise ConfigError(f'{self.checkpoint} does not record where its dataset is; pass --data with the stored dataset the run trained on')
        if not Path(recorded).exists():
            raise ConfigError(f'the dataset of {self.checkpoint} is no longer at {recorded}; pass --data with where it is now')
        return Path(recorded)

    def stored_dataset(self) -> StoredDataset:
        """The run's stored dataset (`etude.data.StoredDataset`), refused when it is not the one the run trained on."""
        if self._stored is None:
            from ..data.store import read_dataset

            stored = read_dataset(self.dataset_directory)
            recorded = self.dataset.get('fingerprint')
            if recorded is not None and stored.fingerprint != recorded:
                raise DatasetError(f'{self.dataset_directory} holds dataset {stored.fingerprint[:12]}, but {self.checkpoint} was trained on '
                                   f'{str(recorded)[:12]}; pass --data with the dataset the run trained on')
            self._stored = stored
        return self._stored

    def torch_dataset(self, transform: Any = None) -> Any:
        """The stored dataset as the routine read it: the export's targets, and `transform` (e.g. the task's Crop)."""
        from ..data.torch_dataset import StoredTorchDataset

        return StoredTorchDataset(self.stored_dataset(), self.dataset.get('targets'), transform)

    def split_view(self, dataset: Any, indices: Mapping[str, np.ndarray] | None = None, collate: Any = None) -> SplitView:
        """`dataset` cut as the run's split.json says (or by `indices`), with the run's stored dataset behind it."""
        from ..training.routine_data import SplitView

        return SplitView(dataset, dict(indices if indices is not None else self.indices), collate=collate, opener=self.stored_dataset)

    def evaluation_pass(self, dataset: Any, indices: np.ndarray, metrics: Sequence[Metric], *, keep: bool = True,
                        collate: Any = None) -> tuple[dict[str, float], list[Any], list[Metric]]:
        """The routine's evaluation pass over `indices` of `dataset`: the mean loss weighted by batch size and every
        metric, as `summary.json` has them; with `keep`, each batch's `(predictions, targets)` on the CPU, in order;
        and the computed metric objects."""
        from .passes import evaluation_pass

        return evaluation_pass(self.model, dataset, indices, metrics, batch_size=self.batch_size, device=self.device, keep=keep, collate=collate)

    def recorded_baselines(self, task: Task, data: SplitView) -> tuple[dict[str, dict[str, float]], bool]:
        """The baselines the run recorded for this split, and False; for a run that recorded none, the task's baselines
        computed now from `data`, and True (the report says so)."""
        recorded = self.run.baselines()
        if recorded is not None and self.split in recorded:
            return recorded[self.split], False
        if recorded is None and self.split == 'test' and 'baselines' in self.summary:
            return {str(name): dict(figures) for name, figures in self.summary['baselines'].items()}, False
        return task.baselines(data, self.split), True


def open_run(path: str | Path, *, split: str = 'test', data: str | Path | None = None, device: str | torch.device = 'cpu',
             batch_size: int | None = None, model_class: type[Model] | None = None, allow_modules: Sequence[str] = ()) -> EvaluationContext:
    """Rebuild a run's model and task (see the module docstring); `model_class` and `allow_modules` as for
    `etude.load_model` (a model or a task kind from outside etude)."""
    import torch

    from ..export import load_model
    from .registry import task_from_dict

    run = locate_run(path)
    indices = _split(run, split)
    model = load_model(run.checkpoint, device=device, model_class=model_class, allow_modules=allow_modules)
    export = dict(model.export_info)
    task = task_from_dict(dict(export.get('task') or {}), source=str(run.checkpoint), allow_modules=allow_modules)
    task.check_model(model)
    return EvaluationContext(model, task, export, run, split, indices, torch.device(device),
                             batch_size or int(export['hyperparameters'].get('batch_size', 64)), data)


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
