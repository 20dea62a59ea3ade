"""The Routine: the namespace of one training run.

    routine = Routine()
    parameters = routine.set_parameters(SomeModel.Parameters(), config_path=..., overrides=[...])
    routine.set_dataset(TensorDataset(inputs, targets), groups=speakers)      # or a stored etude dataset
    routine.set_task(Classification(target='digit', classes=[...]))          # optional: metrics, baselines, inference
    routine.set_model(SomeModel(parameters))
    summary = routine.train()                                                 # or train(metrics=[Accuracy()]) without a task

It knows nothing about any task: the model supplies its loss (or its own training step), the routine script supplies
the data, and the task (any object with the protocol below, in practice an `etude.tasks.Task`) supplies the metrics
of a split, the baselines (fitted once when the run starts and recorded in its folder), the whole-item work at the end
of a split, and the model methods it needs. What the Routine owns is the bookkeeping every run needs and nobody should
rewrite:
resolving settings, seeding, the device and torchrun's processes, grouped splits, the optimisation `Step`, the epoch
loop with early stopping on any monitored metric, checkpoints that resume exactly, the run directory and its
trackers (W&B, MLflow, TensorBoard: see `etude.trackers`). `set_parameters` seeds Python's, NumPy's and torch's
global generators with the run's seed, as Lightning's `seed_everything` does: a notebook that trains a routine keeps
that seed afterwards.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from ..configuration import resolve
from ..data.store import StoredDataset
from ..device import select_device
from ..errors import ConfigError, EtudeError, RoutineError
from ..export import load_export, load_weights, save_export
from ..interrupts import deferred_interrupts, terminate_as_interrupt
from ..metrics import Mean, Metric
from ..model import Model, batch_size_of, move_to_device
from ..parameters import Parameters
from ..run_options import RunOptions
from ..threads import use_threads
from ..trackers import TrackedRun, Tracker, Trackers
from ..trackers.base import RunStatus
from ..trackers.wandb import wandb_sweep_values
from .distributed import Distributed, launch_tag, restarted_run
from .early_stopping import EarlyStopping
from .evaluation_loop import evaluate_batches
from .loaders import evaluation_loader, training_loader
from .records import Provenance, brief, check_model_matches, epoch_export, result_line, test_summary
from .resume import check_same_data, restore
from .routine_data import RoutineData, check_model_takes_data, prepare_data
from .run_directory import RunDirectory, git_commit, new_run_id, software_versions
from .seeding import deterministic_settings, seed_everything
from .step import Diverged, Step
from .task_hooks import TASK_HOOKS, TaskHooks, fit_baselines

__all__ = ['Routine', 'TrainingInterrupted']

P = TypeVar('P', bound=Parameters)


class TrainingInterrupted(EtudeError):
    """Ctrl-C or SIGTERM during training: `last.pt` holds the last complete epoch and the message says how to resume."""

    def __init__(self, run_directory: Path, epoch: int, resume_command: str | None = None) -> None:
        self.run_directory, self.epoch = run_directory, epoch
        if epoch == 0:
            super().__init__('Interrupted before the first epoch finished; nothing was saved, start the run again')
            return
        command = resume_command or f'etude train ROUTINE --resume {run_directory} (from Python: Routine(resume={str(run_directory)!r}))'
        super().__init__(f'Interrupted; {run_directory / "checkpoints" / "last.pt"} holds epoch {epoch}. Resume with: {command}')


class Routine:
    """One run: settings → dataset → model → train, validate, test → exports in `runs/<run-id>/`."""

    def __init__(
        self,
        *,
        runs_directory: str | Path = 'runs',
        trackers: Sequence[str | Tracker] = (),
        project: str | None = None,
        tracker_settings: Mapping[str, Mapping[str, Any]] | None = None,
        resume: str | Path | None = None,
        resume_command: Callable[[Path], str] | None = None,
        verbose: bool = True,
    ) -> None:
        """`resume_command(run_folder)` writes the command that continues this run after an interruption, for
        TrainingInterrupted's message (`etude train` passes one that fits how it was started)."""
        self.runs_directory = Path(runs_directory)
        if resume is None:
            resume = restarted_run(self.runs_directory)  # torchrun restarted this launch's workers: continue its run
        self.resume_from = RunDirectory.existing(resume) if resume is not None else None
        self.resume_command = resume_command
        self.is_main = int(os.environ.get('RANK', '0')) == 0  # known before the process group exists: trackers run on rank 0 only
        self.verbose = verbose and self.is_main  # only rank 0 prints
        # trackers: named here (or by the run option `trackers`), created now so a missing package is one line before
        # any work, started in train() once the run id and the data exist, finished in its `finally`
        self.tracker_settings = {name: dict(values) for name, values in (tracker_settings or {}).items()}
        self.project = project or 'etude'
        self.trackers = Trackers()
        if self.is_main:  # trackers run on rank 0 only
            self.trackers.add(list(trackers), self.tracker_settings)
        self.parameters: Parameters | None = None
        self.options = RunOptions()
        self.distributed = Distributed()
        self.device = torch.device('cpu')
        self.data: RoutineData | None = None
        self.model: Model | None = None
        self.run: RunDirectory | None = None
        self.split: dict[str, np.ndarray] = {}  # 'train', 'validation', 'test' → item indices, once a dataset is set
        self.task: TaskHooks | None = None
        self.summary_extras: dict[str, Any] = {}
        self.baselines: dict[str, dict[str, float]] = {}  # the test split's, the task's and add_baseline's
        self.split_baselines: dict[str, dict[str, dict[str, float]]] = {}  # split → name → figures, as baselines.json records them
        self.step: Step | None = None
        self.threads = torch.get_num_threads()  # set_parameters sets it from the run option `threads`
        self.parameter_count: int | None = None  # trainable parameters of the model, counted by set_model
        self._merged_metrics: list[Metric] = []  # the last pass's metric objects, merged across processes

    # -- set-up ---------------------------------------------------------------------------------------------------

    def set_parameters(
        self,
        defaults: P,
        *,
        config_path: str | Path | None = None,
        overrides: Sequence[str] = (),
        testing_defaults: Mapping[str, Any] | None = None,
    ) -> P:
        """Resolve hyperparameters and run options (see `etude.configuration`), join torchrun's processes, seed.

        Under torchrun, rank 0 resolves (it alone sees W&B sweep values) and broadcasts the result and the run id
        before any model is built; a mistake is raised on every rank with the same one line.
        """
        resolved, options = resolve(defaults, config_path=config_path, overrides=overrides, testing_defaults=testing_defaults,
                                    resumed_config=self.resume_from.read_config() if self.resume_from is not None else None,
                                    resumed_from=str(self.resume_from.path / 'config.yaml') if self.resume_from is not None else '',
                                    sweep_values=wandb_sweep_values if os.environ.get('WANDB_SWEEP_PARAM_PATH') else None)
        if self.is_main:
            self.trackers.add(options.trackers, self.tracker_settings)
        requested = select_device(options.device)
        self.distributed = Distributed.from_environment(options.backend, requested.type)
        if self.distributed.active:
            resolved, options, run_id = self._agree(resolved, options)
            if requested.type == 'cuda':
                requested = torch.device('cuda', self.distributed.local_rank)
            if resolved.batch_size % self.distributed.world_size:
                raise ConfigError(f'batch_size {resolved.batch_size} is the batch of all {self.distributed.world_size} processes together, '
                                  'so it must divide evenly among them; choose a multiple of the process count')
        else:
            run_id = new_run_id()
        self.parameters, self.options, self.device = resolved, options, requested
        self.threads = use_threads(options.threads, processes=int(os.environ.get('LOCAL_WORLD_SIZE', '1')))
        seed_everything(resolved.seed)
        self.run = self.resume_from or RunDirectory.new(self.runs_directory, run_id)
        self.provenance = Provenance(self.run, git_commit(), software_versions(), str(requested), options.to_dict(), self.distributed.world_size,
                                     resolved.batch_size // self.distributed.world_size)
        where = f', {self.distributed.world_size} processes' if self.distributed.active else ''
        self.summary_extras['threads'] = self.threads
        threads = f', {self.threads} CPU thread{"s" if self.threads != 1 else ""}'
        self.say(f'etude: run {self.run.run_id} on {self.device}{where} (seed {resolved.seed}, {options.precision}{threads}), writing to {self.run.path}')
        return resolved

    def _agree(self, resolved: P, options: RunOptions) -> tuple[P, RunOptions, str]:
        """Rank 0's hyperparameters, run options and run id on every rank."""
        mine = (resolved.to_dict(), options.to_dict(), new_run_id(launch_tag()))
        values, option_values, run_id = self.distributed.broadcast_object(mine)  # the other ranks' own values are replaced
        return type(resolved).from_dict(values, source='rank 0'), RunOptions.from_dict(option_values, source='rank 0'), run_id

    def set_dataset(self, data: Dataset[Any] | StoredDataset, **details: Any) -> Dataset[Any]:
        """Train on `data`: any map-style torch Dataset, or a stored etude dataset (read lazily).

        Keyword arguments (see `etude.training.routine_data.prepare_data`): `targets=` and `transform=` for a stored dataset;
        `groups=` (one key per item) or `split=` ({'train': [...], ...}); `name=`, `metadata=`; `collate=` (e.g.
        padding variable-length sequences) and `sampler=` (over positions in the train split, e.g. weighted).
        Returns the torch Dataset the routine will read.
        """
        parameters, run = self._require_parameters()
        prepared = prepare_data(data, **details)
        saved = self.resume_from.read_split() if self.resume_from is not None else None
        split = saved if saved is not None else prepared.make_split(parameters.dataset_split, parameters.seed)
        for part in ('validation', 'test'):
            if len(split[part]) == 0:
                raise ConfigError(f'The {part} split of {prepared.name} is empty ({prepared.size} items); '
                                  f'give dataset_split a {part} fraction, use more data or more groups')
        if self.resume_from is not None:
            check_same_data(self.resume_from, parameters, prepared.fingerprint)
        self.data, self.split = prepared, split
        sizes = ', '.join(f'{name} {len(indices)}' for name, indices in split.items())
        own = ", the dataset's own split" if prepared.own_split is not None and saved is None else ''
        self.say(f'etude: dataset {prepared.name} ({prepared.size} items: {sizes}{own})')
        return prepared.dataset

    def import_dataset(self, directory: str | Path, **sources: Any) -> StoredDataset:
        """The stored dataset in `directory`, installed / converted / generated there first if needed (see
        `etude.data.obtain_dataset`), with the run's seed. Train on it with `set_dataset(stored, targets=...)`, or
        `train(stored)` for its labels as they are."""
        from ..data.sources import obtain_dataset

        parameters, _ = self._require_parameters()
        return obtain_dataset(directory, seed=parameters.seed, **sources)

    def set_model(self, model: Model) -> Model:
        """Use `model`: moved to the run's device, with optimisers built from its hyperparameters.

        The exports record the routine's parameters, and `load_model` rebuilds the model from them; so a model built
        from other values (e.g. `parameters.updated(...)` instead of `routine.update_parameters(...)`) is refused here,
        before anything trains, rather than written into a checkpoint that no one can load.
        """
        parameters, _ = self._require_parameters()
        check_model_matches(model, parameters)
        if callable(getattr(type(model), 'metrics', None)):
            raise RoutineError(f'{type(model).__name__} defines metrics(), which etude no longer reads: the figures of a split are its '
                               "task's (Task.metrics) or routine.train(metrics=[...]); move them there")
        if self.task is not None:
            self.task.check_model(model)
        self.model = model.to(self.device)
        self.model.optimisers = self.model.configure_optimisers()
        self.parameter_count = sum(weights.numel() for weights in model.parameters()
                                   if weights.requires_grad and not isinstance(weights, torch.nn.parameter.UninitializedParameter))
        self.say(f'etude: model {type(model).__name__}, {self.parameter_count:,} trainable parameters')
        return self.model

    def update_parameters(self, parameters: P, values: Mapping[str, Any], *, source: str) -> P:
        """`parameters` (what set_parameters returned) with values that only the data can tell (a model's input size,
        its number of classes), checked like any layer and recorded in place of the resolved ones (config.yaml, exports,
        trackers). Call it before `set_model`."""
        self._require_parameters()
        if self.model is not None:
            raise RoutineError('update_parameters changes what the model is built from; call it before set_model')
        updated = parameters.updated(values, source=source)
        self.parameters = updated
        return updated

    def set_task(self, task: TaskHooks) -> None:
        """What the model does: a task kind (`etude.tasks`) with its settings, e.g. `set_task(Classification(target='digit',
        classes=[...]))`, checked when it is made. The task gives the run its metrics, its baselines and its
        end-of-split figures; the exports record it for `etude infer` and `etude evaluate`. Call it before set_model."""
        missing = [name for name in TASK_HOOKS if not callable(getattr(task, name, None))]
        if missing:
            raise RoutineError(f'set_task takes a task such as etude.tasks.Classification(...); {type(task).__name__} has no {missing[0]}()')
        if self.model is not None:
            raise RoutineError('set_task comes before set_model, which checks the model against the task; call set_task first')
        self.task = task

    def add_baseline(self, name: str, metrics: Mapping[str, float]) -> None:
        """Test figures of a baseline of your own computed in the same run, printed and saved beside the model's (a
        task's own baselines come from the task: do not add them here)."""
        self.baselines[name] = {key: float(value) for key, value in metrics.items()}

    def add_to_summary(self, values: Mapping[str, Any]) -> None:
        """Extra figures for `summary.json` and the W&B summary."""
        self.summary_extras.update(values)

    # -- training -------------------------------------------------------------------------------------------------

    def train(self, data: Dataset[Any] | StoredDataset | None = None, *, metrics: Sequence[Metric] = ()) -> dict[str, Any]:
        """Train on the train split until `num_of_epochs` or early stopping, then test the best weights.

        `data` may be given here instead of to `set_dataset`. `metrics` are reported beside the model's own on the
        validation and test splits; any of them can be monitored (`monitor=validation_<name>`).
        """
        parameters, run = self._require_parameters()
        if self.model is None:
            raise RoutineError('The routine has no model; call routine.set_model(SomeModel(routine.parameters)) before train()')
        if data is not None and (self.data is None or not self.data.is_the_same(data)):
            if self.data is not None:
                raise RoutineError('train() got another dataset than set_dataset(); pass the dataset to one of them only')
            self.set_dataset(data)
        model, routine_data = self._require_model_and_data()
        prototypes = [*(self.task.metrics(model) if self.task is not None else []), *metrics]
        status: RunStatus = 'failed'
        self._tracked_summary: dict[str, Any] = {}
        try:
            self._start_trackers(parameters, run, routine_data)
            with terminate_as_interrupt(), deterministic_settings(self.options.deterministic, self.device):
                summary = self._fit(parameters, run, model, routine_data, prototypes)
            status = 'finished'
            return summary
        except TrainingInterrupted:
            status = 'interrupted'
            raise
        except RuntimeError as error:
            if 'deterministic' in str(error) and 'algorithm' in str(error).lower():
                raise ConfigError(f'{str(error).splitlines()[0]}; set deterministic=false to allow it') from None
            raise
        finally:
            self.trackers.finish(self._tracked_summary if status == 'finished' else {}, status)

    def _fit(self, parameters: Parameters, run: RunDirectory, model: Model, data: RoutineData, prototypes: list[Metric]) -> dict[str, Any]:
        if data.sampler is not None and self.distributed.active:
            raise ConfigError('A custom sampler cannot be used under torchrun, whose distributed sampler deals the data out; '
                              'drop sampler= or train in one process')
        if self.options.compile:
            model.compile()
        per_process_batch = parameters.batch_size // self.distributed.world_size
        batches = math.ceil(math.ceil(len(self.split['train']) / self.distributed.world_size) / per_process_batch)
        self.step = step = Step(model, model.optimisers, parameters, device=self.device, precision=self.options.precision,
                                updates_per_epoch=math.ceil(batches / parameters.accumulate_batches), distributed=self.distributed)
        stopping = EarlyStopping(parameters.patience, parameters.min_delta, parameters.monitor_mode)
        epoch, seconds_before = 0, 0.0
        if self.resume_from is not None:
            epoch, seconds_before = self._restore(stopping, step)
        else:
            self.distributed.broadcast_module(model)
        loaders = {name: evaluation_loader(data.dataset, self.split[name], batch_size=per_process_batch, num_workers=self.options.num_workers,
                                           device=self.device, distributed=self.distributed, collate=data.collate) for name in ('validation', 'test')}
        check_model_takes_data(model, data, self.split['validation'], self.device, step.autocast)
        self.split_baselines = fit_baselines(self.task, data.view(self.split), resumed=self.resume_from, distributed=self.distributed,
                                             is_main=self.is_main, say=self.say)
        self.split_baselines['test'].update(self.baselines)  # add_baseline's: test figures of the routine's own
        self.baselines = self.split_baselines['test']
        started = time.perf_counter() - seconds_before
        try:
            while not self._finished(epoch, stopping):
                epoch_started = time.perf_counter()
                training_loss = self._train_epoch(model, step, data, epoch + 1, per_process_batch)
                validation = self._evaluate(model, loaders['validation'], prototypes, 'validation')
                monitored = self._monitored(validation)
                if not (math.isfinite(training_loss) and math.isfinite(validation['loss'])):
                    raise Diverged(
                        f'Training diverged in epoch {epoch + 1} (training loss {training_loss}, validation loss {validation["loss"]}); '
                        f'lower learning_rate or set gradient_clip. {run.path} keeps epoch {epoch} and before',
                    )
                step.end_epoch(monitored)
                with deferred_interrupts():  # best.pt, last.pt and the metrics line always describe the same epoch
                    epoch += 1
                    improved = stopping.update(epoch, monitored)
                    if self.is_main:
                        self._save_epoch(epoch, stopping, step, improved, training_loss, validation, time.perf_counter() - started)
                        self._log_epoch(epoch, training_loss, validation, step, time.perf_counter() - epoch_started)
            return self._test(model, loaders['test'], prototypes, stopping, time.perf_counter() - started)
        except KeyboardInterrupt:
            raise TrainingInterrupted(run.path, epoch, self.resume_command(run.path) if self.resume_command is not None else None) from None

    def _train_epoch(self, model: Model, step: Step, data: RoutineData, epoch: int, batch_size: int) -> float:
        """One pass over the train split. Losses stay on the device and are summed there: one sync per epoch."""
        assert self.parameters is not None
        model.train()
        loader = training_loader(data.dataset, self.split['train'], batch_size=batch_size, seed=self.parameters.seed, epoch=epoch,
                                 num_workers=self.options.num_workers, device=self.device, distributed=self.distributed,
                                 collate=data.collate, sampler=data.sampler)
        losses: list[torch.Tensor] = []  # kept per batch and summed once: no arithmetic on the device per step
        sizes: list[int] = []
        last = len(loader) - 1
        # tqdm.auto (notebook-aware) calls iter() on what it wraps, which would draw from the loader's generator and
        # start its workers twice; so the bar counts batches beside the loop instead of wrapping the loader
        with tqdm(total=len(loader), desc=f'epoch {epoch}', leave=False, disable=None if self.verbose else True) as bar:
            for index, batch in enumerate(loader):
                batch = move_to_device(batch, self.device)
                step.start_batch(is_last_of_epoch=index == last)
                losses.append(torch.as_tensor(model.training_step(batch, step)['loss']))
                sizes.append(batch_size_of(batch))
                step.end_batch()
                bar.update()
        total = Mean()
        if losses:
            # the mean over the batches that trained: a skipped (non-finite) batch is counted by the Step, not averaged in
            values = torch.stack(losses).to(torch.float64)
            finite = torch.isfinite(values)
            weights = torch.tensor(sizes, dtype=torch.float64, device=values.device) * finite
            total.total, total.weight = torch.where(finite, values, 0.0) @ weights, weights.sum()
        return self._merged([total])['loss']

    def _evaluate(self, model: Model, loader: DataLoader[Any], prototypes: Sequence[Metric], split: str) -> dict[str, float]:
        """The mean loss and every metric over one split (this process's share, merged with the others'), then the
        task's end-of-split figures, worked out on rank 0 and shared, so every rank monitors the same numbers."""
        assert self.step is not None and self.data is not None
        losses, metrics, _ = evaluate_batches(model, loader, prototypes, self.device, autocast=self.step.autocast,
                                              progress=split if self.verbose else None)
        figures = self._merged([losses, *metrics])
        if self.task is not None:
            merged = self._merged_metrics
            more = self.task.on_split_end(model, split, self.data.view(self.split), merged[1:], self.device) if self.is_main else {}
            figures.update(self.distributed.broadcast_object(more))
            self._merged_metrics = merged
        return figures

    def _merged(self, metrics: Sequence[Metric]) -> dict[str, float]:
        """compute() of each metric after adding every other process's statistics, in rank order (the same on every rank)."""
        if self.distributed.active:
            gathered = self.distributed.gather_objects(list(metrics))
            merged = gathered[0]
            for other in gathered[1:]:
                for mine, theirs in zip(merged, other, strict=True):
                    mine.merge(theirs)
            for original, combined in zip(metrics, merged, strict=True):
                combined.__dict__.update({key: value for key, value in original.__dict__.items() if callable(value)})
            metrics = merged
        self._merged_metrics = list(metrics)
        result: dict[str, float] = {}
        for metric in metrics:
            result.update(metric.compute())
        return result

    def _monitored(self, validation: Mapping[str, float]) -> float:
        assert self.parameters is not None
        name = self.parameters.monitor.removeprefix('validation_')
        if name not in validation:
            raise ConfigError(f"monitor is {self.parameters.monitor}, but the validation metrics are "
                              f"{', '.join('validation_' + key for key in validation)}; monitor one of those")
        return validation[name]

    def _test(self, model: Model, loader: DataLoader[Any], prototypes: Sequence[Metric], stopping: EarlyStopping, seconds: float) -> dict[str, Any]:
        """Evaluate the best weights on the test split; record them in best.pt, summary.json and W&B."""
        run, parameters = self.run, self.parameters
        assert run is not None and parameters is not None
        self.distributed.barrier()  # rank 0 has written best.pt
        best = load_export(run.best_checkpoint, map_location=self.device)
        load_weights(model, best, run.best_checkpoint)
        testing = self._evaluate(model, loader, prototypes, 'test')
        self.test_metrics = self._merged_metrics[1:]  # the merged metric objects (a confusion matrix, decoded items) for reports
        summary = test_summary(self.provenance, testing=testing, baselines=self.baselines, monitor=parameters.monitor, stopping=stopping,
                               epochs=len(run.read_metrics()) if self.is_main else None,
                               skipped_updates=self.step.skipped_updates if self.step is not None else 0, parameter_count=self.parameter_count,
                               seconds=seconds, split=self.split, data=self.data, extras=self.summary_extras)
        if self.is_main:
            best['testing_metrics'], best['resume_state'] = testing, None  # a finished export: nothing to resume from it
            save_export(best, run.best_checkpoint)
            run.write_summary(summary)
            self.trackers.log_artifact(run.best_checkpoint)
            self.trackers.log_artifact(run.path / 'summary.json')
            self._tracked_summary = summary  # the trackers' last figures, sent when train() finishes them
        self.say(result_line(testing, self.baselines, parameters.monitor.removeprefix('validation_')))
        self.distributed.barrier()
        self.distributed.close()
        return summary

    # -- checkpoints ----------------------------------------------------------------------------------------------

    def _save_epoch(self, epoch: int, stopping: EarlyStopping, step: Step, improved: bool, training_loss: float,
                    validation: dict[str, float], seconds: float) -> None:
        """Write the epoch's checkpoint (and best.pt when it improved); the run's folder is made with the first."""
        run, parameters = self.run, self.parameters
        assert run is not None and parameters is not None and self.data is not None
        if not run.exists:
            run.create()
            run.write_config(parameters.to_dict())
            run.write_split(self.split, self.data.groups)
            run.write_baselines(self.split_baselines)
        assert self.model is not None
        export = epoch_export(self.provenance, data=self.data, task=self.task.to_dict() if self.task is not None else {}, parameters=parameters,
                              model=self.model, epoch=epoch, stopping=stopping, step=step, training_loss=training_loss, validation=validation,
                              seconds=seconds)
        save_export(export, run.last_checkpoint, copies=[run.best_checkpoint] if improved else [])  # best first

    def _restore(self, stopping: EarlyStopping, step: Step) -> tuple[int, float]:
        """Continue from last.pt (see `etude.training.resume`), then tidy the run's folder for the epochs to come."""
        assert self.model is not None and self.run is not None and self.parameters is not None
        epoch, seconds = restore(self.run, self.model, stopping, step, device=self.device, distributed=self.distributed,
                                 finished=self._finished, say=self.say)
        if self.is_main:
            self.run.remove_leftovers()
            self.run.truncate_metrics(epoch)
            self.run.write_config(self.parameters.to_dict())
        self.say(f'etude: resuming {self.run.run_id} after epoch {epoch}')
        return epoch, seconds

    # -- trackers -------------------------------------------------------------------------------------------------

    def _start_trackers(self, parameters: Parameters, run: RunDirectory, data: RoutineData) -> None:
        """Open every tracker's run: the run id, its folder, hyperparameters, run options, commit and data are known now."""
        if not self.trackers:
            return
        tracked = TrackedRun(run_id=run.run_id, directory=run.path, runs_directory=self.runs_directory, project=self.project,
                             run_options=self.options.to_dict(), git_commit=self.provenance.git_commit, dataset_fingerprint=data.fingerprint,
                             resumed=self.resume_from is not None)
        self.trackers.start(tracked, parameters.to_dict())

    # -- helpers --------------------------------------------------------------------------------------------------

    def _finished(self, epoch: int, stopping: EarlyStopping) -> bool:
        assert self.parameters is not None
        if self.parameters.with_early_stopping and stopping.should_stop:
            return True
        return self.parameters.num_of_epochs > 0 and epoch >= self.parameters.num_of_epochs

    def _log_epoch(self, epoch: int, training_loss: float, validation: dict[str, float], step: Step, seconds: float) -> None:
        assert self.run is not None
        record = {'epoch': epoch, 'training_loss': training_loss, 'validation_loss': validation['loss'],
                  'validation_metrics': {key: value for key, value in validation.items() if key != 'loss'},
                  'learning_rate': step.learning_rate, 'skipped_updates': step.skipped_updates, 'seconds': round(seconds, 3)}
        self.run.append_metrics(record)
        self.trackers.log({'training_loss': training_loss, 'learning_rate': step.learning_rate,
                           **{f'validation_{key}': value for key, value in validation.items()}}, step=epoch)
        monitored = self.parameters.monitor.removeprefix('validation_') if self.parameters is not None else None
        details = brief({key: value for key, value in validation.items() if key != 'loss'}, monitored, 'metrics.jsonl')
        skipped = f'  skipped {step.skipped_updates}' if step.skipped_updates else ''
        self.say(f'epoch {epoch:3d}  train {training_loss:.4g}  validation {validation["loss"]:.4g}  {details}{skipped}  ({seconds:.1f} s)')

    def _require_parameters(self) -> tuple[Parameters, RunDirectory]:
        if self.parameters is None or self.run is None:
            raise RoutineError('The routine has no parameters yet; call routine.set_parameters(...) first')
        return self.parameters, self.run

    def _require_model_and_data(self) -> tuple[Model, RoutineData]:
        if self.model is None:
            raise RoutineError('The routine has no model; call routine.set_model(SomeModel(routine.parameters)) before train()')
        if self.data is None or not self.split:
            raise RoutineError('The routine has no dataset; call routine.set_dataset(...) (e.g. with what import_dataset returns) or pass it to train()')
        return self.model, self.data

    def say(self, message: str) -> None:
        """Print a line of the run's report: on rank 0 only, between progress bars, unless the routine is quiet."""
        if self.verbose:
            tqdm.write(message)
