"""`runs/<run-id>/`: everything one training run leaves behind.

The folder is created when the first epoch is saved, so a run that fails or is interrupted before it has trained
anything leaves nothing behind.

    config.yaml            the resolved hyperparameters (how the run executed is in summary.json and each export)
    split.json             which items went to train / validation / test
    baselines.json         the task's baselines on the validation and test splits, fitted once on the train split
    metrics.jsonl          one JSON line per epoch: epoch, losses, metrics, seconds
    checkpoints/last.pt    the end of the latest epoch, with what `--resume` needs
    checkpoints/best.pt    the weights with the lowest validation loss
    summary.json           test metrics, best epoch, paths, wall time, versions

Files are only ever added to or atomically replaced, so an error or Ctrl-C never loses what a run already wrote.
"""

from __future__ import annotations

import json
import platform
import secrets
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ..atomic_files import unwritable_reason, write_text_atomic
from ..errors import ConfigError
from ..version import __version__

__all__ = ['RunDirectory', 'check_writable', 'git_commit', 'new_run_id', 'software_versions']


def new_run_id(suffix: str | None = None) -> str:
    """Sortable by start time, unique across parallel sweep agents (or ending in `suffix`, e.g. a torchrun launch's tag)."""
    return datetime.now().strftime('%Y%m%d-%H%M%S') + '-' + (suffix or secrets.token_hex(3))


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
    def new(cls, runs_directory: str | Path, run_id: str | None = None) -> RunDirectory:
        """A run's folder-to-be: named now, made on disk by `create` when there is something to keep."""
        runs_directory = Path(runs_directory)
        if runs_directory.exists() and not runs_directory.is_dir():
            raise ConfigError(f'The runs folder {runs_directory} is a file, not a folder; pass another --runs-dir')
        check_writable(runs_directory, 'The runs folder', 'pass --runs-dir a folder you can write')
        return cls(runs_directory / (run_id or new_run_id()))

    def create(self) -> None:
        try:
            self.checkpoints.mkdir(parents=True, exist_ok=True)
        except (NotADirectoryError, FileExistsError):
            raise ConfigError(f'Cannot create the run folder {self.path}: a file stands in its way; pass another --runs-dir') from None

    @property
    def exists(self) -> bool:
        return self.checkpoints.is_dir()

    @classmethod
    def existing(cls, path: str | Path) -> RunDirectory:
        """Open a run to resume; its folder, `config.yaml` and `last.pt` must be there."""
        run = cls(path)
        if not (run.checkpoints / 'last.pt').is_file():
            raise ConfigError(f'Cannot resume {run.path}: it has no checkpoints/last.pt; pass a run directory such as runs/<run-id>')
        for folder in (run.path, run.checkpoints):
            check_writable(folder, f'Cannot resume {run.path}: the folder', 'copy the run to a folder you can write and resume that copy')
        return run

    @property
    def last_checkpoint(self) -> Path:
        return self.checkpoints / 'last.pt'

    @property
    def best_checkpoint(self) -> Path:
        return self.checkpoints / 'best.pt'

    def write_config(self, hyperparameters: dict[str, Any]) -> None:
        plain = {key: list(value) if isinstance(value, tuple) else value for key, value in hyperparameters.items()}
        write_text_atomic(self.path / 'config.yaml', yaml.safe_dump(plain, sort_keys=True))

    def read_config(self) -> dict[str, Any]:
        """The run's hyperparameters; a missing or damaged config.yaml is a ConfigError that says so."""
        path = self.path / 'config.yaml'
        try:
            config = yaml.safe_load(path.read_text(encoding='utf-8'))
        except FileNotFoundError:
            raise ConfigError(f'Cannot resume {self.path}: its config.yaml (the hyperparameters) is missing; restore it or start a new run') from None
        except (yaml.YAMLError, UnicodeDecodeError):
            raise ConfigError(f'Cannot resume {self.path}: its config.yaml is not valid YAML; restore it or start a new run') from None
        if config is None:
            return {}
        if not isinstance(config, dict):
            raise ConfigError(f'Cannot resume {self.path}: its config.yaml holds no mapping of hyperparameters; restore it or start a new run')
        return config

    def write_split(self, split: dict[str, np.ndarray], groups: np.ndarray | None) -> None:
        record = {
            name: {'indices': indices.tolist(), **({'groups': np.unique(groups[indices]).tolist()} if groups is not None else {})}
            for name, indices in split.items()
        }
        write_text_atomic(self.path / 'split.json', json.dumps(record))

    def read_split(self) -> dict[str, np.ndarray] | None:
        path = self.path / 'split.json'
        if not path.is_file():
            return None
        try:
            saved = json.loads(path.read_text())
            return {name: np.asarray(part['indices'], dtype=np.int64) for name, part in saved.items()}
        except (ValueError, KeyError, TypeError):
            raise ConfigError(f'Cannot resume {self.path}: its split.json is damaged; restore it or start a new run') from None

    def append_metrics(self, record: dict[str, Any]) -> None:
        with open(self.path / 'metrics.jsonl', 'a', encoding='utf-8') as file:
            file.write(json.dumps(record) + '\n')  # flushed on close: a killed process keeps it; the checkpoint is the fsynced record

    def read_metrics(self) -> list[dict[str, Any]]:
        """Every epoch's record; a line that is not one is left out (`metrics_problems` names each, for a report)."""
        return self._parse_metrics()[0]

    def metrics_problems(self) -> list[str]:
        """One sentence per line of metrics.jsonl that is not an epoch's record. A half-written last line (what a crash
        mid-append leaves, and what a resume removes) is not damage and is not named."""
        return self._parse_metrics()[1]

    def _parse_metrics(self) -> tuple[list[dict[str, Any]], list[str]]:
        path = self.path / 'metrics.jsonl'
        if not path.exists():
            return [], []
        text = path.read_text(encoding='utf-8', errors='replace')
        lines = text.splitlines()
        records, problems = [], []
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                record = None
            if isinstance(record, dict) and isinstance(record.get('epoch'), int) and not isinstance(record['epoch'], bool):
                records.append(record)
            elif not (number == len(lines) and not text.endswith('\n')):  # a last line cut short by a crash is expected
                problems.append(f'{path} line {number} is not an epoch record ({line[:40]!r}); the learning curves leave it out')
        return records, problems

    def truncate_metrics(self, last_epoch: int) -> None:
        """On resume, drop lines of epochs after the checkpoint (written before a crash) and any partial line."""
        kept = [record for record in self.read_metrics() if record['epoch'] <= last_epoch]
        write_text_atomic(self.path / 'metrics.jsonl', ''.join(json.dumps(record) + '\n' for record in kept))

    def write_baselines(self, baselines: dict[str, dict[str, dict[str, float]]]) -> None:
        """split → baseline name → figures: computed once when the run starts, read back by a resumed run and by
        `etude evaluate`, so no one fits them again."""
        write_text_atomic(self.path / 'baselines.json', json.dumps(baselines, indent=2, sort_keys=True))

    def read_baselines(self) -> dict[str, dict[str, dict[str, float]]] | None:
        """What `write_baselines` wrote, or None for a run that recorded none (one made before they were recorded)."""
        path = self.path / 'baselines.json'
        if not path.is_file():
            return None
        try:
            record = json.loads(path.read_text(encoding='utf-8'))
        except ValueError:
            raise ConfigError(f'{path} is damaged (not JSON); restore it from a backup of the run') from None
        return {str(split): {str(name): {str(key): float(value) for key, value in figures.items()} for name, figures in named.items()}
                for split, named in record.items()}

    def write_summary(self, summary: dict[str, Any]) -> None:
        write_text_atomic(self.path / 'summary.json', json.dumps(summary, indent=2, sort_keys=True, default=str))

    def read_summary(self) -> dict[str, Any] | None:
        path = self.path / 'summary.json'
        try:
            return json.loads(path.read_text()) if path.is_file() else None
        except ValueError:
            return None

    def remove_leftovers(self) -> None:
        """Temporary files of writes that a kill interrupted (`.last.pt.<random>.tmp`): only etude's own names."""
        for folder in (self.path, self.checkpoints):
            for leftover in folder.glob('.*.tmp'):
                if leftover.is_file():
                    leftover.unlink(missing_ok=True)


def check_writable(folder: Path, described: str, advice: str) -> None:
    """Refuse a folder that this process cannot write into (or make), when a run starts rather than when its first
    epoch has trained; judged without writing, so a run that fails before its first epoch still leaves nothing."""
    reason = unwritable_reason(folder)
    if reason is not None:
        raise ConfigError(f'{described} {folder} {reason}; {advice}')


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec='seconds')
