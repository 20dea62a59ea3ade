"""Shared fixtures: a small drum dataset generated once per session, and a tiny CRePE configuration."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault('WANDB_MODE', 'offline')
os.environ.setdefault('WANDB_SILENT', 'true')

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / 'scripts'


@pytest.fixture(scope='session')
def drum_dataset_directory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 drums × 4 strikes, 0.1 s at 16 kHz: enough for the split to have every part, fast to train on."""
    from etude.data.samplers import CircularDrumSampler, CircularDrumSettings
    from etude.data.sources import generate_dataset

    directory = tmp_path_factory.mktemp('data') / 'drums'
    sampler = CircularDrumSampler(CircularDrumSettings(number_of_drums=12, strikes_per_drum=4, duration=0.1))
    generate_dataset(sampler, directory, seed=0, progress=False)
    return directory


def run_script(*arguments: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run scripts/train.py as a user would: a real process, its own interpreter."""
    environment = {**os.environ, 'PYTHONPATH': str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, str(SCRIPTS / 'train.py'), *arguments], cwd=cwd, env=environment, capture_output=True, text=True, timeout=timeout)


def _has_soundfont() -> bool:
    from etude.data.generators import find_soundfont
    from etude.errors import MissingDependencyError

    try:
        find_soundfont()
    except MissingDependencyError:
        return False
    return True


needs_espeak = pytest.mark.skipif(shutil.which('espeak-ng') is None, reason='espeak-ng is not installed (apt-get install espeak-ng)')
needs_fluidsynth = pytest.mark.skipif(
    shutil.which('fluidsynth') is None or not _has_soundfont(),
    reason='fluidsynth or a GM soundfont is not installed (apt-get install fluidsynth fluid-soundfont-gm)',
)
