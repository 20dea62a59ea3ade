"""Weights & Biases, imported only when a run asks for it.

`import etude` never imports wandb: it costs about a second and pulls in a service process. Runs honour
`WANDB_MODE`, so `WANDB_MODE=offline` logs to local files with no account, and `wandb sync` uploads them later.

The values a W&B sweep agent chose are read apart from the tracker (`wandb_sweep_values`), from the file the agent
writes before it starts the run, so they take part in resolving the hyperparameters before any tracker starts.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError, MissingDependencyError
from .base import RunStatus, TrackedRun, summary_figures

__all__ = ['WandbTracker', 'wandb_sweep_values']


def wandb_sweep_values() -> dict[str, Any]:
    """The values a `wandb agent` chose for this run, or {} outside one.

    The agent writes them to `WANDB_SWEEP_PARAM_PATH` as {key: {'value': v}} (with a `wandb_version` entry) before
    starting the run's command; reading that file needs no wandb.init. Its `${args}` carry the same values too."""
    path = os.environ.get('WANDB_SWEEP_PARAM_PATH')
    if not path or not Path(path).is_file():
        return {}
    try:
        loaded = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(f'Cannot read the W&B sweep values in {path} ({str(error).splitlines()[0]}); start the run from `wandb agent` again') from None
    return {key: entry['value'] for key, entry in loaded.items() if isinstance(entry, dict) and 'value' in entry and key != 'wandb_version'}


class WandbTracker:
    """A W&B run named after the etude run, in the routine's project (settings: any wandb.init keyword)."""

    name = 'wandb'

    def __init__(self, **settings: Any) -> None:
        try:
            import wandb
        except ImportError:
            raise MissingDependencyError('--tracker wandb needs the wandb package; install it with: pip install wandb') from None
        self.wandb, self.settings = wandb, settings
        self.run: Any = None

    def start(self, run: TrackedRun, config: Mapping[str, Any]) -> None:
        settings = {'project': run.project, 'name': run.run_id, 'dir': str(run.runs_directory), **self.settings}
        run.runs_directory.mkdir(parents=True, exist_ok=True)
        try:
            self.run = self.wandb.init(config=dict(config), **settings)
        except self.wandb.errors.UsageError as error:
            raise ConfigError(f'W&B could not start ({str(error).splitlines()[0]}); run `wandb login` or set WANDB_MODE=offline') from None
        self.run.config.update({'run_options': dict(run.run_options), 'git_commit': run.git_commit,
                                'dataset_fingerprint': run.dataset_fingerprint}, allow_val_change=True)
        # Logged every epoch, so a sweep's hyperband early termination can compare runs at the same epoch; the
        # summary keeps the best value rather than the last, which is what a sweep's metric should rank by.
        for loss in ('training_loss', 'validation_loss'):
            self.run.define_metric(loss, summary='min')

    def log(self, metrics: Mapping[str, float], step: int) -> None:
        self.run.log(dict(metrics), step=step)

    def log_artifact(self, path: Path) -> None:
        """Keep the file with the W&B run (uploaded when the run syncs)."""
        self.run.save(str(path), base_path=str(path.parent.parent if path.parent.name == 'checkpoints' else path.parent), policy='end')

    def finish(self, summary: Mapping[str, Any], status: RunStatus) -> None:
        for key, value in summary_figures(summary).items():
            self.run.summary[key] = value
        self.run.finish(exit_code=0 if status == 'finished' else 1)

