"""`runs/<run-id>/`: everything one training run leaves behind.

    config.yaml            the resolved hyperparameters
    split.json             which items went to train / validation / test
    metrics.jsonl          one JSON line per epoch: epoch, losses, metrics, seconds
    checkpoints/last.pt    the end of the latest epoch, with what `--resume` needs
    checkpoints/best.pt    the weights with the lowest validation loss
    summary.json           test metrics, best epoch, paths, wall time, versions

Files are only ever added to or atomically replaced, so an error or Ctrl-C never loses what a run already wrote.
"""

from __future__ import annotations

import json
import os
import platform
import secrets
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from .errors import ConfigError
from .version import __version__

__all__ = ['RunDirectory', 'git_commit', 'new_run_id', 'software_versions']


def new_run_id() -> str:
    """Sortable by start time, unique across parallel sweep agents."""
    return datetime.now().strftime('%Y%m%d-%H%M%S') + '-' + secrets.token_hex(3)


def git_commit(directory: str | Path = '.') -> str | None:
    """The commit of the code that produced a run, with `-dirty` when there were uncommitted changes."""
    try:
        commit = subprocess.run(['git', 'rev-parse', 'HEAD'], cwd=directory, capture_output=True, text=True, timeout=10, check=True).stdout.strip()
        status = ['git', 'status', '--porcelain', '--untracked-files=no']
        dirty = subprocess.run(status, cwd=directory, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ('-dirty' if dirty else '') if commit else None


def software_versions() -> dict[str, str]:
    import torch

    return {
        'etude': __version__,
        'python': platform.python_version(),
        'torch': str(torch.__version__),  # a TorchVersion, which weights_only loading refuses
        'numpy': str(np.__version__),
        'platform': platform.platform(),
    }


class RunDirectory:
    """Paths and writers for one run's folder."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.run_id = self.path.name
        self.checkpoints = self.path / 'checkpoints'

    @classmethod
    def create(cls, runs_directory: str | Path, run_id: str | None = None) -> RunDirectory:
        run = cls(Path(runs_directory) / (run_id or new_run_id()))
        run.checkpoints.mkdir(parents=True, exist_ok=False)
        return run

    @classmethod
    def existing(cls, path: str | Path) -> RunDirectory:
        """Open a run to resume; its folder and `last.pt` must be there."""
        run = cls(path)
        if not (run.checkpoints / 'last.pt').is_file():
            raise ConfigError(f'Cannot resume {run.path}: it has no checkpoints/last.pt; pass a run directory such as runs/<run-id>')
        return run

    @property
    def last_checkpoint(self) -> Path:
        return self.checkpoints / 'last.pt'

    @property
    def best_checkpoint(self) -> Path:
        return self.checkpoints / 'best.pt'

    def write_config(self, hyperparameters: dict[str, Any]) -> None:
        plain = {key: list(value) if isinstance(value, tuple) else value for key, value in hyperparameters.items()}
        atomic_write_text(self.path / 'config.yaml', yaml.safe_dump(plain, sort_keys=True))

    def read_config(self) -> dict[str, Any]:
        return yaml.safe_load((self.path / 'config.yaml').read_text()) or {}

    def write_split(self, split: dict[str, np.ndarray], groups: np.ndarray) -> None:
        record = {
            name: {'indices': indices.tolist(), 'groups': np.unique(groups[indices]).tolist()} for name, indices in split.items()
        }
        atomic_write_text(self.path / 'split.json', json.dumps(record))

    def append_metrics(self, record: dict[str, Any]) -> None:
        with open(self.path / 'metrics.jsonl', 'a', encoding='utf-8') as file:
            file.write(json.dumps(record) + '\n')

    def read_metrics(self) -> list[dict[str, Any]]:
        path = self.path / 'metrics.jsonl'
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def truncate_metrics(self, last_epoch: int) -> None:
        """On resume, drop lines of epochs after the checkpoint (written before a crash) so none appear twice."""
        kept = [record for record in self.read_metrics() if record['epoch'] <= last_epoch]
        atomic_write_text(self.path / 'metrics.jsonl', ''.join(json.dumps(record) + '\n' for record in kept))

    def write_summary(self, summary: dict[str, Any]) -> None:
        atomic_write_text(self.path / 'summary.json', json.dumps(summary, indent=2, sort_keys=True, default=str))

    def read_summary(self) -> dict[str, Any]:
        path = self.path / 'summary.json'
        return json.loads(path.read_text()) if path.exists() else {}


def atomic_write_text(path: Path, text: str) -> None:
    temporary = path.with_name(f'.{path.name}.tmp')
    temporary.write_text(text, encoding='utf-8')
    os.replace(temporary, path)


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec='seconds')
