"""Weights & Biases, imported only when a run asks for it.

`import etude` never imports wandb: it costs about a second and pulls in a service process. Runs honour
`WANDB_MODE`, so `WANDB_MODE=offline` logs to local files with no account, and `wandb sync` uploads them later.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .errors import ConfigError, MissingDependencyError

__all__ = ['WandbTracker']


class WandbTracker:
    """A W&B run: started before hyperparameters resolve, so sweep values (`wandb.config`) can take part."""

    def __init__(self, run_directory: Path, settings: dict[str, Any] | None = None) -> None:
        try:
            import wandb
        except ImportError:
            raise MissingDependencyError('--wandb needs the wandb package; install it with: pip install wandb') from None
        self.wandb = wandb
        settings = dict(settings or {})
        settings.setdefault('dir', str(run_directory))
        try:
            self.run = wandb.init(**settings)
        except wandb.errors.UsageError as error:
            raise ConfigError(f'W&B could not start ({str(error).splitlines()[0]}); run `wandb login` or set WANDB_MODE=offline') from None
        # Logged every epoch, so a sweep's hyperband early termination can compare runs at the same epoch; the
        # summary keeps the best value rather than the last, which is what a sweep's metric should rank by.
        for loss in ('training_loss', 'validation_loss'):
            self.run.define_metric(loss, summary='min')

    def sweep_values(self) -> dict[str, Any]:
        """The values a sweep agent chose for this run (empty outside a sweep)."""
        return dict(self.run.config)

    def record_config(self, hyperparameters: dict[str, Any]) -> None:
        self.run.config.update(hyperparameters, allow_val_change=True)

    def log(self, metrics: dict[str, Any], step: int) -> None:
        self.run.log(metrics, step=step)

    def save_checkpoint(self, path: Path) -> None:
        """Keep the best checkpoint with the W&B run (uploaded when the run syncs)."""
        self.run.save(str(path), base_path=str(path.parent.parent), policy='end')

    def finish(self, summary: dict[str, Any], exit_code: int = 0) -> None:
        for key, value in summary.items():
            if isinstance(value, (int, float, str)):
                self.run.summary[key] = value
        self.run.finish(exit_code=exit_code)
