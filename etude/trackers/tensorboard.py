"""TensorBoard: event files in the run's own folder, so `tensorboard --logdir runs` shows every run by its id.

Scalars per epoch (step = epoch), and at the end the hparams view: the hyperparameters beside the test metrics and
baselines, one row per run. Written with torch's SummaryWriter (the tensorboard package must be installed).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import MissingDependencyError
from .base import RunStatus, TrackedRun, summary_figures

__all__ = ['TensorBoardTracker']


class TensorBoardTracker:
    name = 'tensorboard'

    def __init__(self, log_directory: str | Path | None = None) -> None:
        try:
            import tensorboard  # noqa: F401  (torch's writer needs it, and says so less clearly)
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise MissingDependencyError('--tracker tensorboard needs TensorBoard; install it with: pip install "etude[tensorboard]"') from None
        self.writer_class = SummaryWriter
        self.log_directory = Path(log_directory) if log_directory is not None else None
        self.writer: Any = None
        self.hyperparameters: dict[str, Any] = {}
        self.last_step = 0

    def start(self, run: TrackedRun, config: Mapping[str, Any]) -> None:
        directory = self.log_directory or run.directory
        self.writer = self.writer_class(log_dir=str(directory))
        # the hparams view takes numbers, text and booleans: tuples and lists are shown as their JSON
        self.hyperparameters = {key: value if isinstance(value, (int, float, str, bool)) else json.dumps(value) for key, value in config.items()}

    def log(self, metrics: Mapping[str, float], step: int) -> None:
        for key, value in metrics.items():
            self.writer.add_scalar(key, float(value), global_step=step)
        self.writer.flush()
        self.last_step = step

    def log_artifact(self, path: Path) -> None:
        """The files are in the run folder beside the event files already; TensorBoard has no artefact store."""

    def finish(self, summary: Mapping[str, Any], status: RunStatus) -> None:
        from torch.utils.tensorboard.summary import hparams

        figures = {key: value for key, value in summary_figures(summary).items() if key.startswith(('testing_', 'baseline_'))}
        if figures:
            experiment, session_start, session_end = hparams(self.hyperparameters, figures)
            file_writer = self.writer._get_file_writer()
            for record in (experiment, session_start, session_end):
                file_writer.add_summary(record)
            for key, value in figures.items():
                self.writer.add_scalar(key, value, global_step=self.last_step)
        self.writer.add_text('status', status, global_step=self.last_step)
        self.writer.close()
