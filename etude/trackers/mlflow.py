"""MLflow: one experiment per routine, one MLflow run per etude run (`mlflow ui` shows it).

Where it writes is MLflow's own choice, so `mlflow ui` in the same folder finds the run with no arguments:
`MLFLOW_TRACKING_URI` when set (a server, `sqlite:///...`), else MLflow's default local store (MLflow 3: the
database `./mlflow.db` with artefacts under `./mlruns/`). Params are the hyperparameters (config.yaml); tags the run
options, the git commit and the dataset fingerprint; metrics are logged per epoch with step = epoch, and the test
metrics and baselines at the end; `best.pt` and `summary.json` are kept as artefacts. A resumed etude run continues
its MLflow run (found by the `etude.run_id` tag).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import MissingDependencyError
from .base import RunStatus, TrackedRun, summary_figures

__all__ = ['MlflowTracker']

_STATUS = {'finished': 'FINISHED', 'failed': 'FAILED', 'interrupted': 'KILLED'}
_PARAM_LENGTH = 6000  # MLflow's limit on one param value


class MlflowTracker:
    """Logs through MlflowClient (no global active run, so nothing leaks between runs in one process)."""

    name = 'mlflow'

    def __init__(self, tracking_uri: str | None = None, experiment: str | None = None) -> None:
        try:
            from mlflow.tracking import MlflowClient
        except ImportError:
            raise MissingDependencyError('--tracker mlflow needs MLflow; install it with: pip install "etude[mlflow]"') from None
        self.client = MlflowClient(tracking_uri=tracking_uri)
        self.experiment = experiment
        self.mlflow_run_id = ''
        self.last_step = 0

    def start(self, run: TrackedRun, config: Mapping[str, Any]) -> None:
        from mlflow.entities import Param, RunTag

        name = self.experiment or run.project
        experiment = self.client.get_experiment_by_name(name)
        experiment_id = experiment.experiment_id if experiment is not None else self.client.create_experiment(name)
        earlier = self.client.search_runs([experiment_id], filter_string=f"tags.`etude.run_id` = '{run.run_id}'", max_results=1) if run.resumed else []
        tags = {'etude.run_id': run.run_id, 'etude.run_directory': str(run.directory), 'mlflow.runName': run.run_id,
                **{f'run_option.{key}': _text(value) for key, value in run.run_options.items()}}
        if run.git_commit:
            tags['mlflow.source.git.commit'] = run.git_commit
        if run.dataset_fingerprint:
            tags['etude.dataset_fingerprint'] = run.dataset_fingerprint
        if earlier:
            self.mlflow_run_id = earlier[0].info.run_id
            self.client.update_run(self.mlflow_run_id, status='RUNNING')
            params = []  # already logged; MLflow refuses to change a param
        else:
            self.mlflow_run_id = self.client.create_run(experiment_id, run_name=run.run_id).info.run_id
            params = [Param(key, _text(value)[:_PARAM_LENGTH]) for key, value in config.items()]
        self.client.log_batch(self.mlflow_run_id, params=params, tags=[RunTag(key, value) for key, value in tags.items()])

    def log(self, metrics: Mapping[str, float], step: int) -> None:
        self._log_metrics(metrics, step)
        self.last_step = step

    def log_artifact(self, path: Path) -> None:
        self.client.log_artifact(self.mlflow_run_id, str(path))

    def finish(self, summary: Mapping[str, Any], status: RunStatus) -> None:
        if summary:
            self._log_metrics(summary_figures(summary), self.last_step)
        self.client.set_terminated(self.mlflow_run_id, status=_STATUS[status])

    def _log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self.client.log_batch(self.mlflow_run_id, metrics=[Metric(key, float(value), now, step) for key, value in metrics.items()])


def _text(value: Any) -> str:
    """A value as MLflow keeps it: text; tuples and lists as JSON so they read back as written."""
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value)
    return str(value)
