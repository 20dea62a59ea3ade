"""Shared fixtures: a small drum dataset generated once per session, and a tiny CRePE configuration."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

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


def has_fluidsynth() -> bool:
    """FluidSynth and a General MIDI soundfont are installed (renders can be made)."""
    return shutil.which('fluidsynth') is not None and _has_soundfont()


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


CHROMIUM, CHROMEDRIVER = '/usr/bin/chromium', '/usr/bin/chromedriver'
needs_chromium = pytest.mark.skipif(not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()),
                                    reason='Debian chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)')


@contextmanager
def headless_chromium(width: int, height: int) -> Iterator[Any]:
    """Debian's Chromium driven by Selenium, headless, with its own empty profile and no background networking (the
    machine's network is closed: without those flags Chromium's own connections are refused, many at a time);
    SE_OFFLINE keeps Selenium from looking for a driver to download."""
    import tempfile

    os.environ['SE_OFFLINE'] = 'true'
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix='etude-chromium-')
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ('--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
                 '--disable-component-update', '--disable-sync', f'--user-data-dir={profile}', f'--window-size={width},{height}'):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(20)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


# the (n)ASAP copy the project keeps beside its checkouts for machines without the host (or ETUDE_TEST_NASAP_ARCHIVE)
NASAP_ARCHIVE = Path(os.environ.get('ETUDE_TEST_NASAP_ARCHIVE') or ROOT.parent / 'shared' / 'data' / 'nasap-4097b45.tar.xz')
needs_nasap = pytest.mark.skipif(not NASAP_ARCHIVE.is_file(),
                                 reason=f'the (n)ASAP archive is not at {NASAP_ARCHIVE} (kept beside the project on its own machines)')


@pytest.fixture(scope='session')
def nasap_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """(n)ASAP installed as a user installs it, `etude data install nasap --archive`, once per session (about a minute)."""
    if not NASAP_ARCHIVE.is_file():
        pytest.skip(f'the (n)ASAP archive is not at {NASAP_ARCHIVE} (kept beside the project on its own machines)')
    from etude.data.download import install_dataset

    return install_dataset('nasap', tmp_path_factory.mktemp('datasets'), archive=NASAP_ARCHIVE, progress=False)
