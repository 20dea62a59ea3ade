"""Recompute a finished run's metrics on one of its splits, from its export, its split and its stored dataset.

    evaluation = evaluate_run('runs/<id>', split='test')
    evaluation.metrics            # {'loss': ..., 'accuracy': ..., 'macro_f1': ...}, as the routine computed them
    evaluation.predictions        # per item: index, file, true and predicted values, decoded as `etude infer` decodes

Everything comes from what the run left: the model from `checkpoints/best.pt` (or the checkpoint given), the item
indices from `split.json`, the data from the stored dataset the export's fingerprint names (checked, so a changed
cache is refused rather than silently scored), its inputs cut as the routine's task says (`input_length`), and the
metrics from the task (`task_metrics`) beside the model's own. A routine script builds its metrics and baselines with
the same two functions (`task_metrics`, `baseline_metrics`), so the names and numbers here are those of its
`summary.json`, and the baselines are recomputed for whichever split is evaluated.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data.split import SPLIT_NAMES
from ..errors import ConfigError, DatasetError
from .metrics import Classification, Mean, MeanAbsoluteError, Metric, RootMeanSquaredError, fresh_metrics

__all__ = ['Evaluation', 'RunFiles', 'baseline_metrics', 'evaluate_run', 'locate_run', 'task_metrics']


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
        from ..run_directory import RunDirectory

        return RunDirectory(self.directory).read_config() if self.directory is not None and (self.directory / 'config.yaml').is_file() else {}

    def records(self) -> list[dict[str, Any]]:
        from ..run_directory import RunDirectory

        return RunDirectory(self.directory).read_metrics() if self.directory is not None else []


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


def task_metrics(task: Mapping[str, Any]) -> list[Metric]:
    """The metrics a task is judged by, named as in `summary.json`.

    classification: `Classification` (accuracy, macro_f1 and the confusion matrix) over the task's classes.
    regression: `MeanAbsoluteError` and `RootMeanSquaredError`, in the task's units (`mae_cm` when every target is
    reported in cm), with a figure per target when there are several (`mae_drum_size`, `mae_aspect_ratio`).
    """
    from ..inference.decoders import target_names, target_scales, target_units

    kind = task.get('kind')
    if kind == 'classification':
        classes = [str(name) for name in task.get('classes') or []]
        if not classes:
            raise ConfigError("a classification task needs its classes: routine.set_task('classification', target=..., classes=[...])")
        return [Classification(num_classes=len(classes), class_names=classes)]
    if kind == 'regression':
        names, scales, units = target_names(task), target_scales(task), target_units(task)
        scale = scales[names[0]] if len(set(scales.values())) == 1 else 1.0
        unit = units[names[0]] if len(set(units.values())) == 1 else ''
        suffix = f'_{unit}' if unit and len(set(scales.values())) == 1 else ''
        columns = names if len(names) > 1 else None
        return [MeanAbsoluteError(f'mae{suffix}', scale=scale, columns=columns), RootMeanSquaredError(f'rmse{suffix}', scale=scale, columns=columns)]
    return []


def baseline_metrics(task: Mapping[str, Any], train_targets: Any, evaluated_targets: Any) -> tuple[str, dict[str, float]]:
    """The task's metrics of the simplest honest guess, learnt from the train split and scored on another.

    classification: always the most common training class (`'majority class'`); regression: always the training mean
    of each target (`'training mean'`). Targets are `(items,)` class ids or `(items,)` / `(items, targets)` values.
    Returns `(name, metrics)` for `routine.add_baseline(*baseline_metrics(...))`.
    """
    train, evaluated = np.asarray(train_targets), np.asarray(evaluated_targets)
    metrics = task_metrics(task)
    if task.get('kind') == 'classification':
        classes = len(task.get('classes') or [])
        majority = int(np.bincount(train.reshape(-1).astype(np.int64), minlength=classes).argmax())
        predictions, name = torch.full((len(evaluated),), majority, dtype=torch.int64), 'majority class'
    else:
        mean = train.reshape(len(train), -1).astype(np.float64).mean(axis=0)
        predictions, name = torch.from_numpy(np.broadcast_to(mean, (len(evaluated), mean.size)).copy()), 'training mean'
    truth = torch.from_numpy(np.ascontiguousarray(evaluated))
    result: dict[str, float] = {}
    for metric in metrics:
        metric.update(predictions, truth)
        result.update(metric.compute())
    return name, result


@dataclass
class Evaluation:
    """A model's figures on one split of its run, with what a report draws them from."""

    run: RunFiles
    split: str
    metrics: dict[str, float]
    baselines: dict[str, dict[str, float]]
    predictions: list[dict[str, Any]]
    outputs: torch.Tensor  # (items, ...) the model's raw outputs, in split order
    targets: torch.Tensor  # (items, ...) the targets, in split order
    metric_objects: list[Metric]
    export: dict[str, Any]
    dataset_directory: Path
    split_sizes: dict[str, int] = field(default_factory=dict)

    @property
    def task(self) -> dict[str, Any]:
        return dict(self.export.get('task') or {})

    @property
    def classification(self) -> Classification | None:
        """The last Classification metric (the task's, with its class names), for the confusion matrix."""
        found = [metric for metric in self.metric_objects if isinstance(metric, Classification)]
        return found[-1] if found else None


def evaluate_run(path: str | Path, *, split: str = 'test', data: str | Path | None = None, device: str | torch.device = 'cpu',
                 batch_size: int | None = None) -> Evaluation:
    """Rebuild the run's model and data and compute the task's metrics and baselines on `split` (see the module docstring).

    `data` is the stored dataset the run trained on, when it is no longer where the run recorded it.
    """
    from ..data.store import read_dataset
    from ..data.torch_dataset import Crop, StoredTorchDataset
    from ..export import load_model
    from ..inference.decoders import class_names

    run = locate_run(path)
    model = load_model(run.checkpoint, device=device)
    export = dict(model.export_info)
    task = dict(export.get('task') or {})
    if task.get('kind') == 'classification':
        task['classes'] = class_names(task, export.get('dataset'))
    indices_by_split = _split(run, split)
    directory = _dataset_directory(run, export, data)
    stored = read_dataset(directory)
    recorded = (export.get('dataset') or {}).get('fingerprint')
    if recorded is not None and stored.fingerprint != recorded:
        raise DatasetError(f'{directory} holds dataset {stored.fingerprint[:12]}, but {run.checkpoint} was trained on {str(recorded)[:12]}; '
                           'pass --data with the dataset the run trained on')
    spec = (export.get('dataset') or {}).get('targets')
    dataset = StoredTorchDataset(stored, spec, Crop(int(task['input_length'])) if task.get('input_length') else None)
    indices = indices_by_split[split]
    prototypes = [*model.metrics(), *task_metrics(task)]
    metrics, outputs, targets, objects = _compute(model, dataset, indices, prototypes, batch_size or int(export['hyperparameters'].get('batch_size', 64)),
                                                  torch.device(device))
    baselines: dict[str, dict[str, float]] = {}
    if task.get('kind') in ('classification', 'regression') and len(indices_by_split['train']):
        name, figures = baseline_metrics(task, _targets_of(dataset, indices_by_split['train']).numpy(), targets.numpy())
        baselines[name] = figures
    return Evaluation(run, split, metrics, baselines, _predictions(task, stored, indices, outputs, targets), outputs, targets, objects,
                      export, directory, {name: len(part) for name, part in indices_by_split.items()})


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


@torch.no_grad()
def _compute(model: Any, dataset: Any, indices: np.ndarray, prototypes: Sequence[Metric], batch_size: int,
             device: torch.device) -> tuple[dict[str, float], torch.Tensor, torch.Tensor, list[Metric]]:
    """The routine's evaluation pass (mean loss weighted by batch size, then every metric), keeping outputs and targets."""
    from ..distributed import Distributed
    from ..loaders import evaluation_loader
    from ..model import batch_size_of, move_to_device

    model.eval()
    metrics = fresh_metrics(prototypes)
    losses = Mean()
    outputs, targets = [], []
    for batch in evaluation_loader(dataset, indices, batch_size=batch_size, num_workers=0, device=device, distributed=Distributed()):
        batch = move_to_device(batch, device)
        result = model.evaluation_step(batch)
        losses.add(torch.as_tensor(result['loss']).float(), batch_size_of(batch))
        for metric in metrics:
            metric.update(result['predictions'], result['targets'])
        if isinstance(result['predictions'], torch.Tensor) and isinstance(result['targets'], torch.Tensor):  # kept for figures
            outputs.append(result['predictions'].detach().cpu())
            targets.append(result['targets'].detach().cpu())
    figures = losses.compute()
    for metric in metrics:
        figures.update(metric.compute())
    return figures, torch.cat(outputs) if outputs else torch.empty(0), torch.cat(targets) if targets else torch.empty(0), metrics


def _targets_of(dataset: Any, indices: np.ndarray, block: int = 1024) -> torch.Tensor:
    """The targets of `indices`, read as the routine read them (one sorted read per block of items)."""
    parts = [torch.stack([target for _, target in dataset.__getitems__(indices[start:start + block].tolist())])
             for start in range(0, len(indices), block)]
    return torch.cat(parts)


def _predictions(task: Mapping[str, Any], stored: Any, indices: np.ndarray, outputs: torch.Tensor,
                 targets: torch.Tensor) -> list[dict[str, Any]]:
    """Per item: its row, its raw file when the dataset was cached from files, the truth and the decoded prediction."""
    from ..inference.decoders import DECODERS, target_names, target_scales

    decoder = DECODERS.get(str(task.get('kind')))
    if decoder is None:
        return [{'index': int(index)} for index in indices]
    decoded = decoder(outputs, task)
    files, root = stored.metadata.get('files'), stored.metadata.get('raw_root')
    rows = []
    for position, index in enumerate(indices):
        row: dict[str, Any] = {'index': int(index)}
        if files is not None:
            row['file'] = str(Path(root) / files[index]) if root else files[index]
        if task.get('kind') == 'classification':
            row['true'] = {str(task.get('target') or 'class'): task['classes'][int(targets[position])]}
        else:
            scales, values = target_scales(task), targets[position].reshape(-1).tolist()
            row['true'] = {name: float(value) * scales[name] for name, value in zip(target_names(task), values, strict=True)}
        row['predicted'] = decoded[position]
        rows.append(row)
    return rows
