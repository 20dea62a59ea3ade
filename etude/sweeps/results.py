"""What a trial's run folder says, read as W&B would see the run: its per-epoch history and its summary.

A trial is ranked by `metric.name` in the run's summary, as etude logs it to W&B: the test metrics as
`testing_<name>`, the baselines as `baseline_<name>_<metric>`, summary.json's numbers (best_validation, ...), and for
what is logged every epoch (training_loss, validation_loss, validation_<metric>, learning_rate) the last epoch's value,
except the two losses, whose summary is their minimum (etude defines them so for W&B). Only plain files are read.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..trackers.base import summary_figures

__all__ = ['epoch_history', 'run_folder', 'summary_value']

_MINIMUM_IN_SUMMARY = ('training_loss', 'validation_loss')


def run_folder(trial_directory: Path) -> Path | None:
    """The one run folder a trial wrote under its --runs-dir (the folder with a config.yaml or metrics.jsonl)."""
    if not trial_directory.is_dir():
        return None
    found = sorted(path for path in trial_directory.iterdir() if path.is_dir() and ((path / 'metrics.jsonl').exists() or (path / 'config.yaml').exists()))
    return found[-1] if found else None


def _epochs(run: Path) -> list[dict[str, Any]]:
    path = run / 'metrics.jsonl'
    if not path.exists():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            break  # a line being written
    return records


def _epoch_value(record: dict[str, Any], name: str) -> float | None:
    if name in record and name != 'validation_metrics':
        value = record[name]
    elif name.startswith('validation_'):
        value = (record.get('validation_metrics') or {}).get(name.removeprefix('validation_'))
    else:
        value = None
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def epoch_history(run: Path, name: str) -> list[tuple[int, float]]:
    """(epoch, value) of `name` for each epoch in metrics.jsonl that has it."""
    history = []
    for record in _epochs(run):
        value = _epoch_value(record, name)
        if value is not None:
            history.append((int(record['epoch']), value))
    return history


def summary_value(run: Path, name: str) -> float | None:
    """`name` in the run's W&B-style summary (see the module docstring), or None."""
    summary_path = run / 'summary.json'
    if summary_path.exists():
        figures = summary_figures(json.loads(summary_path.read_text()))
        if name in figures:
            return figures[name]
    history = [value for _, value in epoch_history(run, name)]
    if not history:
        return None
    return min(history) if name in _MINIMUM_IN_SUMMARY else history[-1]
