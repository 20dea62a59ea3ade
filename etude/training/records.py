"""What a run writes down about itself: each epoch's export, the provenance in every export, the test summary.

The Routine's loop decides when; this module says what. Every export carries what produced it (`Provenance`: the
git commit, the library versions, the device, the run options, the process count), so a checkpoint found alone says
where it came from; an epoch's export also carries everything `--resume` needs to continue after it; and the summary
holds the test figures beside the run's baselines and the facts a comparison of runs needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, RoutineError
from ..parameters import Parameters
from ..version import __version__
from .run_directory import utc_now
from .seeding import capture_rng_state

if TYPE_CHECKING:
    from ..export import ExportedModel, RunInfo
    from ..model import Model
    from .early_stopping import EarlyStopping
    from .routine_data import RoutineData
    from .run_directory import RunDirectory
    from .step import Step

__all__ = ['Provenance', 'brief', 'check_model_matches', 'epoch_export', 'result_line', 'test_summary']


@dataclass(frozen=True)
class Provenance:
    """What produced a run, known once its settings are resolved."""

    run: RunDirectory
    git_commit: str | None
    versions: dict[str, str]
    device: str
    run_options: dict[str, Any]
    world_size: int
    batch_size_per_process: int

    def run_info(self, epoch: int, best_epoch: int) -> RunInfo:
        """An export's `run_info`: the run, the epoch, and what produced it."""
        return {
            'id': self.run.run_id, 'epoch': epoch, 'best_epoch': best_epoch, 'git_commit': self.git_commit, 'time': utc_now(),
            'device': self.device, 'run_directory': str(self.run.path), 'versions': self.versions, 'run_options': self.run_options,
            'world_size': self.world_size, 'batch_size_per_process': self.batch_size_per_process,
        }


def epoch_export(provenance: Provenance, *, data: RoutineData, task: Mapping[str, Any], parameters: Parameters, model: Model, epoch: int,
                 stopping: EarlyStopping, step: Step, training_loss: float, validation: Mapping[str, float], seconds: float) -> ExportedModel:
    """The checkpoint of the epoch just finished, with everything `--resume` needs to continue after it."""
    return {
        'dataset': data.summary(),
        'task': dict(task),
        'hyperparameters': parameters.to_dict(),
        'model': {'class_path': type(model).class_path(), 'etude_version': __version__},
        'model_state_dict': model.state_dict(),
        'optimiser_state_dicts': [optimiser.state_dict() for optimiser in model.optimisers],
        'run_info': provenance.run_info(epoch, stopping.best_epoch),
        'training_loss': training_loss,
        'validation_loss': validation['loss'],
        'validation_metrics': {key: value for key, value in validation.items() if key != 'loss'},
        'testing_metrics': None,
        'resume_state': {'rng': capture_rng_state(), 'early_stopping': stopping.state_dict(), 'step': step.state_dict(), 'seconds': seconds,
                         'dataset_fingerprint': data.fingerprint, 'world_size': provenance.world_size},
    }


def test_summary(provenance: Provenance, *, testing: Mapping[str, float], baselines: Mapping[str, Mapping[str, float]], monitor: str,
                 stopping: EarlyStopping, epochs: int | None, skipped_updates: int, parameter_count: int | None, seconds: float,
                 split: Mapping[str, Any], data: RoutineData | None, extras: Mapping[str, Any]) -> dict[str, Any]:
    """`summary.json`: the test figures beside the baselines, how training went, and what produced the run."""
    run = provenance.run
    return {
        'run_id': run.run_id, 'test': dict(testing), 'baselines': {name: dict(figures) for name, figures in baselines.items()},
        'monitor': monitor, 'best_epoch': stopping.best_epoch, 'best_validation': stopping.best_value, 'epochs': epochs,
        'stopped_early': stopping.should_stop, 'skipped_updates': skipped_updates, 'parameter_count': parameter_count,
        'wall_seconds': round(seconds, 3), 'device': provenance.device, 'world_size': provenance.world_size,
        'run_options': provenance.run_options, 'split_sizes': {name: len(indices) for name, indices in split.items()},
        'dataset': data.summary() if data is not None else None, 'dataset_directory': data.directory if data is not None else None,
        'paths': {'run': str(run.path), 'best': str(run.best_checkpoint), 'last': str(run.last_checkpoint), 'config': str(run.path / 'config.yaml')},
        'versions': provenance.versions, 'git_commit': provenance.git_commit,
        **extras,
    }


SHOWN_FIGURES = 6  # a printed line shows this many figures; the files hold all of them


def brief(figures: Mapping[str, float], first: str | None = None, where: str = 'summary.json') -> str:
    """`key value` pairs for a printed line: `first` (the monitored figure) leading, at most SHOWN_FIGURES of them, and
    how many more `where` holds (a generation run judges some thirty measures per split)."""
    keys = ([first] if first is not None and first in figures else []) + [key for key in figures if key != first]
    shown = '  '.join(f'{key} {figures[key]:.4g}' for key in keys[:SHOWN_FIGURES])
    return shown + (f'  (+{len(keys) - SHOWN_FIGURES} more in {where})' if len(keys) > SHOWN_FIGURES else '')


def result_line(testing: Mapping[str, float], baselines: Mapping[str, Mapping[str, float]], monitored: str | None = None) -> str:
    """The line printed after the test: the model's figures, then each baseline's (the monitored figure first)."""
    compared = ''.join(f'; {name}: {brief(values, monitored)}' for name, values in baselines.items())
    return f'test  {brief(testing, monitored)}{compared}'


def check_model_matches(model: Model, parameters: Parameters) -> None:
    """Refuse a model whose hyperparameters differ from what its export will record (the routine's parameters)."""
    built_with = getattr(model, 'hyperparameters', None)
    if not isinstance(built_with, Parameters):
        return
    try:
        recorded = type(model).Parameters.from_dict(parameters.to_dict(), source="the routine's parameters", ignore_unknown=True)
    except ConfigError as error:
        raise RoutineError(f"{type(model).__name__} cannot be rebuilt from the routine's parameters ({error}); "
                           'build the model from what routine.set_parameters(...) or routine.update_parameters(...) returned') from None
    differing = {key: value for key, value in built_with.to_dict().items() if getattr(recorded, key, value) != value}
    if differing:
        shown = ', '.join(f'{key}={value!r} (routine: {getattr(recorded, key)!r})' for key, value in list(differing.items())[:6])
        more = f' and {len(differing) - 6} more' if len(differing) > 6 else ''
        values = ', '.join(f'{key!r}: {value!r}' for key, value in differing.items())
        raise RoutineError(
            f"{type(model).__name__} was built with {shown}{more}, which the routine's parameters (what its checkpoints record) do not hold; "
            f'set them with parameters = routine.update_parameters(parameters, {{{values}}}, source=...) and build the model from what it returns',
        )
