"""Trackers: W&B, MLflow and TensorBoard views of a run (see `etude.trackers.base`).

    Routine(trackers=['mlflow', 'tensorboard'], project='etude-circular-drum-size')
    python scripts/train.py --tracker mlflow --tracker tensorboard          # or trackers: [mlflow] in a --config YAML

Each backend is imported only when a run asks for it, so `import etude` stays light.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import ConfigError
from ..parameters import unknown_key_message
from .base import RunStatus, TrackedRun, Tracker, Trackers

__all__ = ['TRACKER_NAMES', 'RunStatus', 'TrackedRun', 'Tracker', 'Trackers', 'check_tracker_names', 'create_trackers']

# name → (module, class)
_BACKENDS: dict[str, tuple[str, str]] = {
    'wandb': ('etude.trackers.wandb', 'WandbTracker'),
    'mlflow': ('etude.trackers.mlflow', 'MlflowTracker'),
    'tensorboard': ('etude.trackers.tensorboard', 'TensorBoardTracker'),
}
TRACKER_NAMES = tuple(_BACKENDS)


def check_tracker_names(names: Iterable[str], source: str = 'trackers') -> list[str]:
    """`names` without repeats, each one of TRACKER_NAMES (else one line naming the nearest)."""
    unique: list[str] = []
    for name in names:
        if name not in _BACKENDS:
            raise ConfigError(unknown_key_message(name, TRACKER_NAMES, source).replace('parameter', 'tracker', 1))
        if name not in unique:
            unique.append(name)
    return unique


def create_trackers(names: Iterable[str], settings: Mapping[str, Mapping[str, Any]] | None = None) -> list[Tracker]:
    """The named trackers, each checking that its package is installed (MissingDependencyError, one line, if not).

    `settings` are extra keyword arguments per tracker name, e.g. {'wandb': {'entity': 'lab'}}."""
    trackers = []
    for name in check_tracker_names(names):
        module_name, class_name = _BACKENDS[name]
        backend = getattr(importlib.import_module(module_name), class_name)
        trackers.append(backend(**dict((settings or {}).get(name, {}))))
    return trackers
