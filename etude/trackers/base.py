"""The tracker interface: where a run's hyperparameters, per-epoch curves, artefacts and result are also sent.

`metrics.jsonl`, `config.yaml` and `summary.json` in the run's folder are the record; a tracker (W&B, MLflow,
TensorBoard) is a view of it for the tools a lab already uses. So a tracker is started on rank 0 only, once the run
id exists (TensorBoard writes into `runs/<id>/`), and a tracker that fails mid-run (a server gone) warns once and is
dropped while training goes on.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from ..errors import EtudeError

__all__ = ['RunStatus', 'TrackedRun', 'Tracker', 'Trackers', 'summary_figures']

RunStatus = Literal['finished', 'failed', 'interrupted']


@dataclass(frozen=True)
class TrackedRun:
    """What a tracker knows about the run it records (see `Tracker.start`)."""

    run_id: str
    directory: Path
    """runs/<run-id>/ (it may not exist yet: the Routine creates it with the first checkpoint)."""
    runs_directory: Path
    project: str
    """The W&B project / MLflow experiment: one per routine."""
    run_options: Mapping[str, Any] = field(default_factory=dict)
    git_commit: str | None = None
    dataset_fingerprint: str | None = None
    resumed: bool = False


class Tracker(Protocol):
    """One tracking backend. Each method may raise; `Trackers` turns a failure into one warning."""

    name: str

    def start(self, run: TrackedRun, config: Mapping[str, Any]) -> None:
        """Open the tracker's run; `config` is the run's hyperparameters (what config.yaml holds)."""

    def log(self, metrics: Mapping[str, float], step: int) -> None:
        """One epoch's figures (training_loss, learning_rate, validation_<name>), `step` the epoch (from 1)."""

    def log_artifact(self, path: Path) -> None:
        """Keep a file with the run (best.pt, summary.json)."""

    def finish(self, summary: Mapping[str, Any], status: RunStatus) -> None:
        """Close the run; `summary` is summary.json's content (empty when the run failed before its test)."""


class Trackers:
    """The run's trackers as one: every call goes to each, and one that raises warns once and is dropped."""

    def __init__(self, trackers: Sequence[Tracker] = ()) -> None:
        self.active: list[Tracker] = list(trackers)
        self.started = False

    def __bool__(self) -> bool:
        return bool(self.active)

    def add(self, trackers: Sequence[str | Tracker], settings: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        """Add the trackers not yet here: a name is created now (so a missing package is one line before any work, see
        `etude.trackers.create_trackers`), a Tracker instance is taken as it is."""
        from . import check_tracker_names, create_trackers

        present = {tracker.name for tracker in self.active}
        wanted = [name for name in trackers if isinstance(name, str) and name not in present]
        self.active.extend([tracker for tracker in trackers if not isinstance(tracker, str) and tracker.name not in present])
        self.active.extend(create_trackers(check_tracker_names(wanted), settings))

    def start(self, run: TrackedRun, config: Mapping[str, Any]) -> None:
        self.started = True  # a tracker that started before another failed to is still finished
        self._each('start', run, config)

    def log(self, metrics: Mapping[str, float], step: int) -> None:
        self._each('log', metrics, step)

    def log_artifact(self, path: Path) -> None:
        self._each('log_artifact', path)

    def finish(self, summary: Mapping[str, Any], status: RunStatus) -> None:
        if self.started:
            self._each('finish', summary, status)
        self.active, self.started = [], False

    def _each(self, method: str, *arguments: Any) -> None:
        for tracker in list(self.active):
            try:
                getattr(tracker, method)(*arguments)
            except EtudeError as error:
                if method == 'start':  # a tracker that cannot start (W&B not logged in) is the user's to fix, before training
                    raise
                self._drop(tracker, method, error)
            except Exception as error:  # a tracker is a view of the record: its failure must not end the run
                self._drop(tracker, method, error)

    def _drop(self, tracker: Tracker, method: str, error: BaseException) -> None:
        self.active.remove(tracker)
        first_line = (str(error).splitlines() or [type(error).__name__])[0]
        warnings.warn(f'{tracker.name} stopped recording this run ({method}: {first_line}); training goes on, '
                      'metrics.jsonl and summary.json in the run folder stay the record', RuntimeWarning, stacklevel=3)


def summary_figures(summary: Mapping[str, Any]) -> dict[str, float]:
    """summary.json's figures as flat tracker keys: testing_<metric>, baseline_<name>_<metric>, and the numeric
    top-level entries (best_epoch, best_validation, wall_seconds, a routine's add_to_summary values)."""
    figures: dict[str, float] = {}
    for key, value in (summary.get('test') or {}).items():
        figures[f'testing_{key}'] = float(value)
    for baseline, values in (summary.get('baselines') or {}).items():
        for key, value in values.items():
            figures[f'baseline_{baseline.replace(" ", "_")}_{key}'] = float(value)
    for key, value in summary.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value is not None:
            figures[key] = float(value)
    return figures
