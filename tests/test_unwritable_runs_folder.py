"""A runs folder that cannot be written is one line and exit 2 when the run starts, not an OSError after the first
epoch has trained (issue 26 §2). The read-only disk is real: a tmpfs mounted read-only for the test (root only;
skipped where mounting is not permitted)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from etude import Routine
from etude.errors import ConfigError
from etude.routines import circular_drum_size

WORKTREE = Path(__file__).resolve().parent.parent


def _mount(folder: Path, options: str) -> None:
    mounted = subprocess.run(['mount', '-t', 'tmpfs', '-o', options, 'tmpfs', str(folder)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f'mounting a tmpfs is not permitted here ({mounted.stderr.strip()})')


@pytest.fixture
def read_only_disk(tmp_path: Path) -> Iterator[Path]:
    """A read-only disk holding `runs/old/checkpoints/last.pt` (written before it was made read-only)."""
    disk = tmp_path / 'read-only'
    disk.mkdir()
    if os.geteuid() != 0:
        pytest.skip('mounting a tmpfs needs root')
    _mount(disk, 'size=1m')
    try:
        (disk / 'runs' / 'old' / 'checkpoints').mkdir(parents=True)
        (disk / 'runs' / 'old' / 'checkpoints' / 'last.pt').write_bytes(b'a checkpoint')
        (disk / 'runs' / 'old' / 'config.yaml').write_text('seed: 0\n')
        subprocess.run(['mount', '-o', 'remount,ro', str(disk)], check=True)
        yield disk
    finally:
        subprocess.run(['umount', str(disk)], check=False)


def test_etude_train_refuses_a_read_only_runs_folder_before_any_data_is_made(read_only_disk: Path, tmp_path: Path) -> None:
    data = tmp_path / 'data'
    result = subprocess.run([sys.executable, '-m', 'etude', 'train', 'circular_drum_size', '--testing', '--runs-dir', str(read_only_disk / 'runs'),
                             f'data_directory={data}'], cwd=tmp_path, env={**os.environ, 'PYTHONPATH': str(WORKTREE), 'WANDB_MODE': 'offline'},
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert result.stderr == (f'error: The runs folder {read_only_disk / "runs"} is on a read-only file system; '
                             'pass --runs-dir a folder you can write\n')
    assert not data.exists(), 'refused before the dataset is generated, let alone an epoch trained'


def test_a_runs_folder_to_be_made_on_a_read_only_disk_and_a_resume_there_are_refused_in_python(read_only_disk: Path) -> None:
    routine = Routine(runs_directory=read_only_disk / 'new' / 'runs', verbose=False)
    with pytest.raises(ConfigError, match=f'^The runs folder {read_only_disk / "new" / "runs"} cannot be made: {read_only_disk} is on a read-only '
                                          'file system; pass --runs-dir a folder you can write$'):
        routine.set_parameters(circular_drum_size.DEFAULTS, testing_defaults=circular_drum_size.TESTING, overrides=['testing=true'])
    with pytest.raises(ConfigError, match=f'^Cannot resume {read_only_disk / "runs" / "old"}: the folder .* is on a read-only file system; '
                                          'copy the run to a folder you can write and resume that copy$'):
        Routine(resume=read_only_disk / 'runs' / 'old')


def test_a_file_in_the_runs_folders_path_is_refused_when_the_run_starts(tmp_path: Path) -> None:
    (tmp_path / 'a-file').write_text('not a folder')
    routine = Routine(runs_directory=tmp_path / 'a-file' / 'runs', verbose=False)
    with pytest.raises(ConfigError, match='cannot be made: .*a-file is a file, not a folder; pass --runs-dir'):
        routine.set_parameters(circular_drum_size.DEFAULTS, testing_defaults=circular_drum_size.TESTING, overrides=['testing=true'])
