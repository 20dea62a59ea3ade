"""MLflow: one experiment per routine, one MLflow run per etude run (`mlflow ui` shows it).

Where it writes is MLflow's own choice, so `mlflow ui` in the same folder finds the run with no arguments:
`MLFLOW_TRACKING_URI` when set (a server, `sqlite:///...`), else MLflow's default local store (MLflow 3: the
database `./mlflow.db` with artefacts under `./mlruns/`). Params are the hyperparameters (config.yaml); tags the run
options, the git commit and the dataset fingerprint; metrics are logged per epoch with step = epoch, and the test
metrics and baselines at the end; `best.pt` and `summary.json` are kept as artefacts. A resumed etude run continues
its MLflow run (found by the `etude.run_id` tag).
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from ..atomic_files import unwritable_reason
from ..errors import ConfigError, MissingDependencyError, shown_url
from .base import RunStatus, TrackedRun, summary_figures

__all__ = ['MlflowTracker', 'check_store', 'missing_driver']

DEFAULT_STORE = 'sqlite:///mlflow.db'  # MLflow 3's default when MLFLOW_TRACKING_URI is not set: a database in the current folder
FIX = 'set MLFLOW_TRACKING_URI to a store you can write, e.g. sqlite:///mlflow.db in a folder of yours, or http://HOST:5000 (an MLflow server)'
# the package that provides each driver module SQLAlchemy imports for postgresql://, mysql://, mssql:// (and +driver)
_DRIVER_PACKAGES = {'psycopg2': 'psycopg2-binary', 'psycopg': 'psycopg[binary]', 'MySQLdb': 'mysqlclient', 'pymysql': 'PyMySQL',
                    'mysql': 'mysql-connector-python', 'pyodbc': 'pyodbc', 'pymssql': 'pymssql', 'asyncpg': 'asyncpg', 'pg8000': 'pg8000'}
# what MLflow itself opens (mlflow.tracking._tracking_service.utils); '' is a plain path, a file store
_KNOWN_SCHEMES = {'', 'file', 'sqlite', 'postgresql', 'mysql', 'mssql', 'http', 'https', 'databricks', 'databricks-uc', 'uc'}

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
        uri = tracking_uri or os.environ.get('MLFLOW_TRACKING_URI') or None
        named = f'its tracking URI {shown_url(uri)}' if uri else f"MLflow's default store ({DEFAULT_STORE})"
        check_store(uri, named)
        try:
            self.client = MlflowClient(tracking_uri=tracking_uri)
        except ModuleNotFoundError as error:  # the database's driver
            raise MissingDependencyError(f'--tracker mlflow cannot open {named}: {missing_driver(error)}') from None
        except Exception as error:  # MLflow's own, SQLAlchemy's: whatever the store raises
            raise ConfigError(f'--tracker mlflow cannot open {named}: {_first_sentence(error)}; {FIX}') from None
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


def check_store(uri: str | None, named: str) -> None:
    """Refuse, before MLflow makes anything and before training, a tracking URI that cannot work: a scheme MLflow
    does not know (nor a plugin of it), MLflow 3's file store without `MLFLOW_ALLOW_FILE_STORE`, or a SQLite file
    that cannot be written (a read-only disk, a folder that does not exist is made by MLflow, a file in its way)."""
    scheme = urlparse(uri).scheme.split('+')[0].lower() if uri else ''
    if len(scheme) == 1:  # a Windows drive letter: a path
        scheme = ''
    if scheme not in _KNOWN_SCHEMES and scheme not in _plugin_schemes():
        raise ConfigError(f"--tracker mlflow cannot use {named}: MLflow knows no scheme '{scheme}:' "
                          f"(it takes {', '.join(sorted(_KNOWN_SCHEMES - {''}))}); {FIX}")
    if uri and scheme in ('', 'file') and not _file_store_allowed():
        raise ConfigError(f'--tracker mlflow cannot use {named}: MLflow 3 refuses its file store unless MLFLOW_ALLOW_FILE_STORE=true is set; '
                          f'set it, or {FIX[0].lower()}{FIX[1:]}')
    database = _sqlite_path(uri or DEFAULT_STORE)
    if database is not None:
        reason = unwritable_reason(database)
        if reason is not None:
            raise ConfigError(f'--tracker mlflow cannot write {named}: {database} {reason}; {FIX}')


def missing_driver(error: ModuleNotFoundError) -> str:
    """What to install for a database URL whose driver module is missing (SQLAlchemy imports it by the URL's scheme)."""
    module = error.name or str(error)
    package = _DRIVER_PACKAGES.get(module.split('.')[0], module.split('.')[0])
    return f"its database driver, the Python module '{module}', is not installed; install it with: pip install \"{package}\""


def _sqlite_path(uri: str) -> Path | None:
    """The database file of a `sqlite:///relative.db` or `sqlite:////absolute.db` URI; None for other stores and memory."""
    prefix = 'sqlite:///'
    if not uri.lower().startswith(prefix):
        return None
    path = uri[len(prefix):].split('?')[0]
    return Path(path) if path and path != ':memory:' else None


def _file_store_allowed() -> bool:
    """MLflow 3 opens a file store only when told to (MLflow 2 always did; it has no such check)."""
    import mlflow

    if int(str(mlflow.__version__).split('.')[0]) < 3:
        return True
    return os.environ.get('MLFLOW_ALLOW_FILE_STORE', '').strip().lower() in ('1', 'true', 'yes')


def _plugin_schemes() -> set[str]:
    """Schemes of tracking stores that installed MLflow plugins register (entry points `mlflow.tracking_store`)."""
    return {entry.name for entry in importlib.metadata.entry_points(group='mlflow.tracking_store')}


def _first_sentence(error: BaseException) -> str:
    """The part of a library's message a line has room for: its first line, up to its first full stop."""
    text = (str(error).strip().splitlines() or [type(error).__name__])[0]
    sentence = text.split('. ')[0].rstrip('.')
    return sentence if len(sentence) <= 200 else sentence[:199] + '…'


def _text(value: Any) -> str:
    """A value as MLflow keeps it: text; tuples and lists as JSON so they read back as written."""
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value)
    return str(value)
