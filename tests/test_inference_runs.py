"""Two tiny real runs, trained once per test session and shared by the inference, evaluation and comparison tests.

Each is the shipped routine itself (`etude/routines/*.py`, as `etude train` runs it), run in this process with its `--testing` defaults made
smaller still, so the tests exercise exactly what a user trains. Import the fixtures from here:

    from test_inference_runs import TrainedRun, digits_run, drum_run, run_etude  # noqa: F401
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT

DIGIT_VOICES = '[en-us+m3, en+f2, en-gb-scotland+m1, en-us+f4, en-gb-x-rp+m7, en-029+f3]'


@dataclass(frozen=True)
class TrainedRun:
    """A finished run: its folder, best checkpoint, summary and the stored dataset it trained on."""

    directory: Path
    summary: dict[str, Any]
    dataset: Path

    @property
    def checkpoint(self) -> Path:
        return self.directory / 'checkpoints' / 'best.pt'

    @property
    def split(self) -> dict[str, list[int]]:
        return {name: part['indices'] for name, part in json.loads((self.directory / 'split.json').read_text()).items()}


def train_in_process(routine: str, overrides: list[str], runs: Path) -> dict[str, Any]:
    from etude import Routine
    from etude.training.command import train_routine
    from etude.training.routines import load_routine

    return train_routine(load_routine(routine), Routine(runs_directory=runs), overrides=['testing=true', 'device=cpu', *overrides])


@pytest.fixture(scope='session')
def digits_run(tmp_path_factory: pytest.TempPathFactory) -> TrainedRun:
    """Six espeak-ng voices × 10 digits × 2 recordings (4 voices train, 1 validates, 1 tests), MelCNN for 2 epochs."""
    if shutil.which('espeak-ng') is None:
        pytest.skip('espeak-ng is not installed (apt-get install espeak-ng)')
    root = tmp_path_factory.mktemp('digits')
    summary = train_in_process('spoken_digits', [f'data_directory={root / "data"}', f'voices={DIGIT_VOICES}', 'repetitions=2',
                                                 'channels=[8, 16]', 'kernel_sizes=[3, 3]', 'pool_sizes=[2, 2]', 'hidden_units=32'], root / 'runs')
    return TrainedRun(Path(summary['paths']['run']), summary, Path(summary['dataset_directory']))


@pytest.fixture(scope='session')
def drum_run(tmp_path_factory: pytest.TempPathFactory) -> TrainedRun:
    """12 rectangular drums × 3 strikes, CRePE-tiny with two outputs on 1024 samples, 2 epochs."""
    root = tmp_path_factory.mktemp('drums')
    summary = train_in_process('rectangular_drum_dimensions', [f'data_directory={root / "data"}', 'number_of_drums=12', 'strikes_per_drum=3'],
                               root / 'runs')
    return TrainedRun(Path(summary['paths']['run']), summary, Path(summary['dataset_directory']))


def run_etude(*arguments: str, cwd: Path, stdin: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`python -m etude ...` as a user runs it: a real process with its own interpreter."""
    environment = {**os.environ, 'PYTHONPATH': str(ROOT)}
    return subprocess.run([sys.executable, '-m', 'etude', *arguments], cwd=cwd, env=environment, input=stdin, capture_output=True, text=True,
                          timeout=timeout)


def test_both_runs_record_what_inference_and_evaluation_need(digits_run: TrainedRun, drum_run: TrainedRun) -> None:
    import torch

    digits = torch.load(digits_run.checkpoint, weights_only=True)
    assert digits['task'] == {'kind': 'classification', 'class_path': 'etude.tasks.classification.Classification', 'target': 'digit',
                              'classes': [str(digit) for digit in range(10)]}
    assert digits['dataset']['representation']['kind'] == 'log_mel' and digits['dataset']['num_samples'] == 8000
    # the model was sized by the data, and the export records the sized hyperparameters it was built with
    n_mels, frames = digits['dataset']['input_shape']
    assert (digits['hyperparameters']['n_mels'], digits['hyperparameters']['frames'], digits['hyperparameters']['classes']) == (n_mels, frames, 10)
    drums = torch.load(drum_run.checkpoint, weights_only=True)
    assert drums['task']['targets'] == ['drum_size', 'aspect_ratio'] and drums['task']['input_length'] == 1024
    assert drums['hyperparameters']['outputs'] == 2
    for run in (digits_run, drum_run):
        assert run.dataset.is_dir() and json.loads((run.dataset / 'metadata.json').read_text())['fingerprint'] == run.summary['dataset']['fingerprint']
