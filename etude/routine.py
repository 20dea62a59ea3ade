"""The Routine: the namespace of one training run.

    routine = Routine()
    routine.set_parameters(SomeModel.Parameters(), config_path=..., overrides=[...])
    dataset = routine.import_dataset(...)
    routine.set_model(SomeModel(routine.parameters))
    summary = routine.train(TensorDataset(inputs, targets))

It knows nothing about any task: the model supplies the step, the routine script supplies the data. What it owns is
the bookkeeping every run needs and nobody should rewrite: device, seeding, grouped splits, the epoch loop with early
stopping, checkpoints that resume exactly, the run directory and W&B.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Subset
from tqdm.auto import tqdm

from .data.store import StoredDataset
from .device import select_device
from .early_stopping import EarlyStopping
from .errors import ConfigError, EtudeError, RoutineError
from .export import ExportedModel, RunInfo, load_export, load_weights, save_export
from .interrupts import deferred_interrupts
from .model import Batch, Model, batch_size_of, move_to_device
from .parameters import Parameters, read_yaml_parameters
from .run_directory import RunDirectory, git_commit, software_versions, utc_now
from .seeding import capture_rng_state, restore_rng_state, seed_everything, seed_worker
from .version import __version__

__all__ = ['Routine', 'TrainingInterrupted']

Evaluate = Callable[[Model, Batch], Mapping[str, torch.Tensor]]
P = TypeVar('P', bound=Parameters)


class TrainingInterrupted(EtudeError):
    """Ctrl-C during training: `last.pt` holds the last complete epoch and the message says how to resume."""

    def __init__(self, run_directory: Path, epoch: int, resume_command: str | None = None) -> None:
        self.run_directory, self.epoch = run_directory, epoch
        if epoch == 0:
            super().__init__(f'Interrupted before the first epoch of {run_directory} finished; nothing to resume, start the run again')
            return
        command = resume_command or f'python scripts/train.py --resume {run_directory}'
        super().__init__(f'Interrupted; {run_directory / "checkpoints" / "last.pt"} holds epoch {epoch}. Resume with: {command}')


class Routine:
    """One run: parameters → dataset → model → train, validate, test → exports in `runs/<run-id>/`."""

    def __init__(
        self,
        *,
        runs_directory: str | Path = 'runs',
        use_wandb: bool = False,
        wandb_settings: Mapping[str, Any] | None = None,
        resume: str | Path | None = None,
        verbose: bool = True,
    ) -> None:
        self.runs_directory = Path(runs_directory)
        self.verbose = verbose
        self.resume_from = RunDirectory.existing(resume) if resume is not None else None
        self.tracker = None
        if use_wandb:
            from .tracking import WandbTracker

            self.runs_directory.mkdir(parents=True, exist_ok=True)
            self.tracker = WandbTracker(self.runs_directory, dict(wandb_settings or {}))
        self.parameters: Parameters | None = None
        self.device = torch.device('cpu')
        self.dataset: StoredDataset | None = None
        self.model: Model | None = None
        self.run: RunDirectory | None = None
        self.split: dict[str, np.ndarray] = {}  # 'train', 'validation', 'test' → item indices, once a dataset is set
        self.summary_extras: dict[str, Any] = {}

    # -- set-up ---------------------------------------------------------------------------------------------------

    def set_parameters(
        self,
        defaults: P,
        *,
        config_path: str | Path | None = None,
        overrides: Sequence[str] = (),
        testing_defaults: Mapping[str, Any] | None = None,
    ) -> P:
        """Resolve hyperparameters: defaults < YAML < `testing_defaults` (when testing) < W&B sweep < overrides.

        When resuming, the run's own `config.yaml` replaces the first three layers, so only explicit overrides (such
        as a larger `num_of_epochs`) change a resumed run. Seeds every generator and picks the device.
        """
        if self.resume_from is not None:
            resolved = defaults.updated(self.resume_from.read_config(), source=str(self.resume_from.path / 'config.yaml'))
        else:
            resolved = defaults
            if config_path is not None:
                resolved = resolved.updated(read_yaml_parameters(config_path), source=str(config_path))
            if testing_defaults and resolved.override_strings(overrides).testing:
                resolved = resolved.updated(testing_defaults, source='testing defaults')
        if self.tracker is not None:
            sweep_values = {key: value for key, value in self.tracker.sweep_values().items() if key in resolved.field_types()}
            resolved = resolved.updated(sweep_values, source='the W&B sweep')
        resolved = resolved.override_strings(overrides)
        self.parameters = resolved
        self.device = select_device(resolved.device)
        seed_everything(resolved.seed)
        if self.run is None:
            self.run = self.resume_from or RunDirectory.create(self.runs_directory)
        if self.resume_from is None:
            self.run.write_config(resolved.to_dict())  # a resumed run's config is rewritten once its checkpoint has loaded
        if self.tracker is not None:
            self.tracker.record_config(resolved.to_dict())
        self._say(f'etude: run {self.run.run_id} on {self.device} (seed {resolved.seed}), writing to {self.run.path}')
        return resolved

    def set_dataset(self, dataset: StoredDataset) -> StoredDataset:
        """Use a stored dataset and split it: by its own split column when it ships one (MAESTRO's), else by its
        groups with the run's seed and `dataset_split` (a resumed run keeps its saved split)."""
        parameters, run = self._require_parameters()
        from .data.definitions import split_items

        self.dataset = dataset
        if self.resume_from is not None and (run.path / 'split.json').exists():
            import json

            saved = json.loads((run.path / 'split.json').read_text())
            self.split = {name: np.asarray(part['indices'], dtype=np.int64) for name, part in saved.items()}
        else:
            self.split = split_items(dataset, parameters.dataset_split, parameters.seed)
            run.write_split(self.split, dataset.groups)
        if len(self.split['validation']) == 0:
            raise ConfigError(
                f'The validation split of {dataset.name} is empty ({len(dataset)} items); give dataset_split a validation fraction or use more data',
            )
        sizes = ', '.join(f'{name} {len(indices)}' for name, indices in self.split.items())
        own = ", the dataset's own split" if dataset.metadata.get('splits') is not None else ''
        self._say(f'etude: dataset {dataset.name} ({len(dataset)} items: {sizes}{own})')
        return dataset

    def import_dataset(self, directory: str | Path, **sources: Any) -> StoredDataset:
        """Load the dataset in `directory`, or install / convert / generate it there (see `etude.data.obtain_dataset`)."""
        from .data.sources import obtain_dataset

        parameters, _ = self._require_parameters()
        return self.set_dataset(obtain_dataset(directory, seed=parameters.seed, **sources))

    def set_model(self, model: Model) -> Model:
        """Use `model`: moved to the run's device, with optimisers built from its hyperparameters."""
        self._require_parameters()
        self.model = model.to(self.device)
        self.model.optimisers = self.model.configure_optimisers()
        return self.model

    def add_to_summary(self, values: Mapping[str, Any]) -> None:
        """Extra figures (e.g. a baseline's error) for `summary.json` and the W&B summary."""
        self.summary_extras.update(values)

    # -- training -------------------------------------------------------------------------------------------------

    def train(self, data: Dataset[Any], evaluate: Evaluate | None = None) -> dict[str, Any]:
        """Train on the train split until `num_of_epochs` or early stopping, then test the best weights.

        `data[i]` must be item `i` of the imported dataset (so the grouped split applies). `evaluate(model, batch)`
        replaces the model's `evaluation_step` on the validation and test splits.
        """
        parameters, run = self._require_parameters()
        model, split = self._require_model_and_split()
        if len(data) != len(self.dataset):  # type: ignore[arg-type]
            raise RoutineError(f'train() got {len(data)} items but the dataset has {len(self.dataset)}; pass one item per dataset item')  # type: ignore[arg-type]
        evaluate = evaluate or (lambda model, batch: model.evaluation_step(batch))
        stopping = EarlyStopping(parameters.patience, parameters.min_delta)
        epoch, seconds_before = 0, 0.0
        if self.resume_from is not None:
            epoch, seconds_before = self._restore(stopping)
        started = time.perf_counter() - seconds_before
        train_split = Subset(data, split['train'].tolist())
        loaders = {name: self._loader(Subset(data, split[name].tolist()), shuffle=False) for name in ('validation', 'test')}
        try:
            while not self._finished(epoch, stopping):
                epoch_started = time.perf_counter()
                training_loss = self._train_epoch(model, train_split, epoch + 1)
                validation = self._evaluate(model, loaders['validation'], evaluate)
                if not (math.isfinite(training_loss) and math.isfinite(validation['loss'])):
                    raise ConfigError(
                        f'Training diverged in epoch {epoch + 1} (training loss {training_loss}, validation loss {validation["loss"]}); '
                        f'lower learning_rate or set gradient_clip. {run.path} keeps epoch {epoch} and before',
                    )
                with deferred_interrupts():  # best.pt, last.pt and the metrics line always describe the same epoch
                    epoch += 1
                    improved = stopping.update(epoch, validation['loss'])
                    export = self._export(epoch, stopping, training_loss, validation['loss'], time.perf_counter() - started)
                    save_export(export, run.last_checkpoint, copies=[run.best_checkpoint] if improved else [])  # best first
                    self._log_epoch(epoch, training_loss, validation, time.perf_counter() - epoch_started)
            return self._test(model, loaders['test'], evaluate, stopping, time.perf_counter() - started)
        except KeyboardInterrupt:
            raise TrainingInterrupted(run.path, epoch) from None

    def _train_epoch(self, model: Model, train_split: Dataset[Any], epoch: int) -> float:
        """One pass over the train split. Losses stay on the device and are summed there: one sync per epoch."""
        model.train()
        loader = self._loader(train_split, shuffle=True, epoch=epoch)
        total, count = torch.zeros((), device=self.device), 0
        # tqdm.auto (notebook-aware) calls iter() on what it wraps, which would draw from the loader's generator and
        # start its workers twice; so the bar counts batches beside the loop instead of wrapping the loader
        with tqdm(total=len(loader), desc=f'epoch {epoch}', leave=False, disable=None if self.verbose else True) as bar:
            for batch in loader:
                batch = move_to_device(batch, self.device)
                size = batch_size_of(batch)
                loss = model.training_step(batch)['loss']
                total = total + (loss.detach() if isinstance(loss, torch.Tensor) else torch.tensor(loss)) * size
                count += size
                bar.update()
        return float(total) / max(count, 1)

    @torch.no_grad()
    def _evaluate(self, model: Model, loader: DataLoader[Any], evaluate: Evaluate) -> dict[str, float]:
        """Batch-size-weighted means of every value `evaluate` returns, over one split."""
        model.eval()
        sums: dict[str, torch.Tensor] = {}
        count = 0
        for batch in loader:
            batch = move_to_device(batch, self.device)
            size = batch_size_of(batch)
            for key, value in evaluate(model, batch).items():
                sums[key] = sums.get(key, torch.zeros((), device=self.device)) + torch.as_tensor(value, device=self.device).detach().float() * size
            count += size
        return {key: float(value) / max(count, 1) for key, value in sums.items()}

    def _test(self, model: Model, loader: DataLoader[Any], evaluate: Evaluate, stopping: EarlyStopping, seconds: float) -> dict[str, Any]:
        """Evaluate the best weights on the test split; record them in best.pt, summary.json and W&B."""
        run = self.run
        assert run is not None and self.parameters is not None
        best = load_export(run.best_checkpoint, map_location=self.device)
        load_weights(model, best, run.best_checkpoint)
        testing = self._evaluate(model, loader, evaluate) if len(loader.dataset) else {}  # type: ignore[arg-type]
        best['testing_metrics'], best['resume_state'] = testing, None  # a finished export: nothing to resume from it
        save_export(best, run.best_checkpoint)
        summary = {
            'run_id': run.run_id,
            'test': testing,
            'best_epoch': stopping.best_epoch,
            'best_validation_loss': stopping.best_loss,
            'epochs': len(run.read_metrics()),
            'stopped_early': stopping.should_stop,
            'wall_seconds': round(seconds, 3),
            'device': str(self.device),
            'dataset': self.dataset.summary() if self.dataset is not None else None,
            'paths': {'run': str(run.path), 'best': str(run.best_checkpoint), 'last': str(run.last_checkpoint), 'config': str(run.path / 'config.yaml')},
            'versions': self._versions,
            'git_commit': self._git_commit,
            **self.summary_extras,
        }
        run.write_summary(summary)
        if self.tracker is not None:
            self.tracker.save_checkpoint(run.best_checkpoint)
            self.tracker.finish({f'testing_{key}': value for key, value in testing.items()} | {'best_validation_loss': stopping.best_loss} | {
                key: value for key, value in self.summary_extras.items() if isinstance(value, (int, float))
            })
        return summary

    # -- checkpoints ----------------------------------------------------------------------------------------------

    def _export(self, epoch: int, stopping: EarlyStopping, training_loss: float, validation_loss: float, seconds: float) -> ExportedModel:
        """The checkpoint of the epoch just finished, with everything `--resume` needs to continue after it."""
        assert self.model is not None and self.parameters is not None and self.run is not None
        return {
            'format': 'etude-model',
            'format_version': 1,
            'dataset': self.dataset.summary() if self.dataset is not None else {},
            'hyperparameters': self.parameters.to_dict(),
            'model': {'class_path': type(self.model).class_path(), 'etude_version': __version__},
            'model_state_dict': self.model.state_dict(),
            'optimiser_state_dicts': [optimiser.state_dict() for optimiser in self.model.optimisers],
            'run_info': self._run_info(epoch, stopping.best_epoch),
            'training_loss': training_loss,
            'validation_loss': validation_loss,
            'testing_metrics': None,
            'resume_state': {'rng': capture_rng_state(), 'early_stopping': stopping.state_dict(), 'seconds': seconds},
        }

    def _restore(self, stopping: EarlyStopping) -> tuple[int, float]:
        """Continue from last.pt: weights, optimisers, early stopping and every RNG, exactly as they were."""
        assert self.model is not None and self.run is not None
        last = load_export(self.run.last_checkpoint, map_location=self.device)
        if last['model']['class_path'] != type(self.model).class_path():
            raise ConfigError(
                f'{self.run.last_checkpoint} is a checkpoint of {last["model"]["class_path"]}, not {type(self.model).class_path()}; '
                'resume it with its own routine',
            )
        load_weights(self.model, last, self.run.last_checkpoint)
        for optimiser, state in zip(self.model.optimisers, last['optimiser_state_dicts'], strict=True):
            optimiser.load_state_dict(state)
        resume_state = last['resume_state'] or {}
        stopping.load_state_dict(resume_state['early_stopping'])
        restore_rng_state(resume_state['rng'])
        epoch = last['run_info']['epoch']
        self.run.truncate_metrics(epoch)
        self.run.write_config(self.parameters.to_dict())  # type: ignore[union-attr]
        self._say(f'etude: resuming {self.run.run_id} after epoch {epoch}')
        return epoch, float(resume_state.get('seconds', 0.0))

    def _run_info(self, epoch: int, best_epoch: int) -> RunInfo:
        assert self.run is not None
        return {
            'id': self.run.run_id,
            'epoch': epoch,
            'best_epoch': best_epoch,
            'git_commit': self._git_commit,
            'time': utc_now(),
            'device': str(self.device),
            'run_directory': str(self.run.path),
            'versions': self._versions,
        }

    # -- helpers --------------------------------------------------------------------------------------------------

    def _loader(self, dataset: Dataset[Any], *, shuffle: bool, epoch: int = 0) -> DataLoader[Any]:
        """A DataLoader whose order depends only on (seed, epoch), so a resumed run sees the same batches."""
        assert self.parameters is not None
        generator = torch.Generator().manual_seed(self.parameters.seed * 100_003 + epoch)
        return DataLoader(
            dataset,
            batch_size=self.parameters.batch_size,
            shuffle=shuffle,
            generator=generator,
            num_workers=self.parameters.num_workers,
            worker_init_fn=seed_worker if self.parameters.num_workers else None,
            pin_memory=self.device.type == 'cuda',
        )

    def _finished(self, epoch: int, stopping: EarlyStopping) -> bool:
        assert self.parameters is not None
        if self.parameters.with_early_stopping and stopping.should_stop:
            return True
        return self.parameters.num_of_epochs > 0 and epoch >= self.parameters.num_of_epochs

    def _log_epoch(self, epoch: int, training_loss: float, validation: dict[str, float], seconds: float) -> None:
        assert self.run is not None
        record = {'epoch': epoch, 'training_loss': training_loss, 'validation_loss': validation['loss'],
                  'validation_metrics': {key: value for key, value in validation.items() if key != 'loss'}, 'seconds': round(seconds, 3)}
        self.run.append_metrics(record)
        if self.tracker is not None:
            self.tracker.log({'training_loss': training_loss, **{f'validation_{key}': value for key, value in validation.items()}}, step=epoch)
        details = ' '.join(f'{key} {value:.4g}' for key, value in validation.items() if key != 'loss')
        self._say(f'epoch {epoch:3d}  train {training_loss:.4g}  validation {validation["loss"]:.4g}  {details}  ({seconds:.1f} s)')

    def _require_parameters(self) -> tuple[Parameters, RunDirectory]:
        if self.parameters is None or self.run is None:
            raise RoutineError('The routine has no parameters yet; call routine.set_parameters(...) first')
        if not hasattr(self, '_git_commit'):
            self._git_commit, self._versions = git_commit(), software_versions()
        return self.parameters, self.run

    def _require_model_and_split(self) -> tuple[Model, dict[str, np.ndarray]]:
        if self.model is None:
            raise RoutineError('The routine has no model; call routine.set_model(SomeModel(routine.parameters)) before train()')
        if not self.split or self.dataset is None:
            raise RoutineError('The routine has no dataset; call routine.import_dataset(...) or set_dataset(...) before train()')
        return self.model, self.split

    def _say(self, message: str) -> None:
        if self.verbose:
            tqdm.write(message)
