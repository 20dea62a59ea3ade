"""Continuing a run from its `last.pt`, and the checks that a resume is what the user means.

A resume must continue exactly (weights, optimisers, the step's schedules and scaler, early stopping, every random
state), on the same data, from a checkpoint that was written to be resumed, and only a run that has something left
to do: each of these is one clear refusal here rather than a silent surprise later.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ..errors import ConfigError
from ..export import ExportedModel, load_export, load_weights
from ..model import Model
from ..parameters import Parameters
from .distributed import Distributed
from .early_stopping import EarlyStopping
from .run_directory import RunDirectory
from .seeding import restore_rng_state
from .step import Step

__all__ = ['check_same_data', 'restore']


def restore(run: RunDirectory, model: Model, stopping: EarlyStopping, step: Step, *, device: torch.device, distributed: Distributed,
            finished: Callable[[int, EarlyStopping], bool], say: Callable[[str], None]) -> tuple[int, float]:
    """Load `run`'s last.pt into the model, its optimisers, `stopping` and `step`; returns (epoch, seconds so far)."""
    last = load_export(run.last_checkpoint, map_location=device)
    resume_state = _resume_state(run, last, model)
    epoch = int(last['run_info']['epoch'])
    stopping.load_state_dict(resume_state['early_stopping'])
    if (summary := run.read_summary()) is not None and finished(epoch, stopping):
        raise ConfigError(f'{run.path} is complete ({epoch} epochs, tested: see its summary.json); to train it longer, resume with '
                          f'num_of_epochs={epoch + max(1, epoch // 2)}' + (' and a larger patience' if summary.get('stopped_early') else ''))
    load_weights(model, last, run.last_checkpoint)
    for optimiser, state in zip(model.optimisers, last.get('optimiser_state_dicts', []), strict=True):
        optimiser.load_state_dict(state)
    step.load_state_dict(resume_state.get('step') or {})
    if int(resume_state.get('world_size', 1)) == distributed.world_size:
        restore_rng_state(resume_state['rng'])
    else:
        say(f'etude: {run.path} was trained on {resume_state.get("world_size", 1)} processes, now {distributed.world_size}: '
            'random draws continue from the seed, not bitwise as before')
    return epoch, float(resume_state.get('seconds', 0.0))


def _resume_state(run: RunDirectory, last: ExportedModel, model: Model) -> dict[str, Any]:
    if last['model']['class_path'] != type(model).class_path():
        raise ConfigError(f'{run.last_checkpoint} is a checkpoint of {last["model"]["class_path"]}, not {type(model).class_path()}; '
                          'resume it with its own routine')
    resume_state = last.get('resume_state')
    if not isinstance(resume_state, dict) or not {'rng', 'early_stopping'} <= set(resume_state):
        raise ConfigError(f"{run.last_checkpoint} holds no resume state (it is a finished export, such as a best.pt); "
                          "restore the run's own last.pt or start a new run")
    return resume_state


def check_same_data(run: RunDirectory, parameters: Parameters, fingerprint: str | None) -> None:
    """A resumed run must train on the data it started on: compare fingerprints, name the overrides that changed it."""
    saved = load_export(run.last_checkpoint, verify=False)
    recorded = (saved.get('resume_state') or {}).get('dataset_fingerprint') or saved.get('dataset', {}).get('fingerprint')
    if recorded is None or fingerprint is None or recorded == fingerprint:
        return
    before = run.read_config()
    changed = [f'{key}={value}' for key, value in parameters.to_dict().items()
               if key in before and before[key] != (list(value) if isinstance(value, tuple) else value)]
    culprit = f'; it changed with {", ".join(changed)}' if changed else ''
    raise ConfigError(f'{run.path} was trained on dataset {recorded[:12]}, not {fingerprint[:12]}{culprit}. '
                      'Resume without settings that change the data, or start a new run')
