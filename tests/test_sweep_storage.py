"""`etude sweep --storage`, `--dir` and `--status` with a state that cannot work are one line and exit 2 before any
trial (issue 26 §2): an unknown scheme, a missing database driver, a SQLite file in a folder not made yet (made, as a
journal's is), a folder as the journal, `--dir` an existing file, a journal of random bytes or of malformed records."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import ROOT

from etude.cli import main

pytest.importorskip('optuna')

CURVE = ROOT / 'tests' / 'sweep_programs' / 'curve.py'
EXAMPLES = 'sqlite:///sweeps.db, postgresql://user@host/sweeps or mysql://user@host/sweeps'


@pytest.fixture
def sweep_file(tmp_path: Path) -> Path:
    path = tmp_path / 'curve.yaml'
    path.write_text(yaml.safe_dump({'program': str(CURVE), 'method': 'grid', 'metric': {'name': 'validation_loss', 'goal': 'minimize'},
                                    'parameters': {'quality': {'values': [1, 2]}, 'epochs': {'value': 2}, 'seconds': {'value': 0.01}}}))
    return path


def refused(capsys: pytest.CaptureFixture[str], *arguments: str) -> str:
    assert main(['sweep', *arguments]) == 2
    captured = capsys.readouterr()
    assert captured.err.count('\n') == 1 and captured.err.startswith('error: '), captured.err
    assert 'trial 0' not in captured.out
    return captured.err.removeprefix('error: ').rstrip('\n')


def test_a_storage_url_that_cannot_work_is_one_line_before_any_trial(sweep_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = ['--dir', str(tmp_path / 'sweep')]
    assert refused(capsys, str(sweep_file), '--storage', 'postgress://user@host/sweeps', *folder) == (
        f"--storage postgress://user@host/sweeps: no database has the scheme 'postgress'; give a URL such as {EXAMPLES}, or a journal file path")
    assert refused(capsys, str(sweep_file), '--storage', 'not a url://', *folder).startswith('--storage not a url://')
    for url, module in (('postgresql://etude:secret@127.0.0.1:1/sweeps', 'psycopg'), ('mysql+pymysql://etude@127.0.0.1:1/sweeps', 'pymysql')):
        if importlib.util.find_spec(module) is not None:
            continue  # the driver is installed here
        line = refused(capsys, str(sweep_file), '--storage', url, *folder)
        assert f"needs the database driver '{module}', which is not installed; install it with: pip install" in line
        assert 'secret' not in line, 'a password is never printed'
    corrupt = tmp_path / 'corrupt.db'
    corrupt.write_bytes(os.urandom(4096))
    assert refused(capsys, str(sweep_file), '--storage', f'sqlite:///{corrupt}', *folder).startswith(
        f'--storage sqlite:///{corrupt}: the database cannot be opened (')
    assert not (tmp_path / 'sweep' / 'trials').exists()


def test_a_folder_as_the_journal_and_a_file_as_the_sweep_folder_are_refused(sweep_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert refused(capsys, str(sweep_file), '--storage', str(tmp_path), '--dir', str(tmp_path / 'sweep')) == (
        f'--storage {tmp_path} is a folder; give a journal file (e.g. {tmp_path / "sweep.journal"}) or a database URL such as {EXAMPLES}')
    (tmp_path / 'a-file').write_text('not a folder')
    for extra in ([], ['--status']):
        assert refused(capsys, str(sweep_file), '--dir', str(tmp_path / 'a-file'), *extra) == (
            f'The sweep folder {tmp_path / "a-file"} is a file, not a folder; pass --dir a folder for the sweep (its journal, trials and best.yaml)')
    assert refused(capsys, str(sweep_file), '--dir', str(tmp_path / 'a-file' / 'sweep')) == (
        f'The sweep folder {tmp_path / "a-file" / "sweep"} cannot be made: {tmp_path / "a-file"} is a file, not a folder; pass --dir a folder you can write')


@pytest.mark.parametrize(('journal', 'reason'), [
    (os.urandom(3000).replace(b'\n', b'') + b'\n', 'UnicodeDecodeError'),
    (b'{"op_code": 0}\n{"foo": 1}\n', "KeyError: 'study_name'"),
    (b'[1, 2, 3]\n', 'TypeError'),
])
def test_a_journal_that_is_not_one_is_one_line_for_status_and_for_a_run(sweep_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                          journal: bytes, reason: str) -> None:
    (tmp_path / 'sweep').mkdir()
    (tmp_path / 'sweep' / 'sweep.journal').write_bytes(journal)
    for extra in (['--status'], []):
        line = refused(capsys, str(sweep_file), '--dir', str(tmp_path / 'sweep'), *extra)
        assert line.startswith(f'{tmp_path / "sweep" / "sweep.journal"} is not a sweep journal Optuna can read (') and reason in line
        assert line.endswith('move it away to start the sweep afresh, or restore it from a backup')
    assert (tmp_path / 'sweep' / 'sweep.journal').read_bytes() == journal, 'the journal is left as it was'


@pytest.mark.slow
def test_a_sqlite_file_in_a_folder_not_made_yet_runs_the_sweep_and_status_reads_it(sweep_file: Path, tmp_path: Path) -> None:
    """As a journal's folder is made, so is a SQLite file's (SQLite makes the file, not its folder); a real process."""
    environment = {**os.environ, 'PYTHONPATH': str(ROOT), 'OMP_NUM_THREADS': '1'}
    url = f'sqlite:///{tmp_path}/not/made/yet/sweeps.db'
    status = subprocess.run([sys.executable, '-m', 'etude', 'sweep', str(sweep_file), '--storage', url, '--dir', 'sweep', '--status'],
                            cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=300)
    assert status.returncode == 2 and status.stderr == f'error: No sweep curve in {url} yet; start it: etude sweep {sweep_file}\n'
    ran = subprocess.run([sys.executable, '-m', 'etude', 'sweep', str(sweep_file), '--storage', url, '--dir', 'sweep'],
                         cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=300)
    assert ran.returncode == 0, ran.stderr
    status = subprocess.run([sys.executable, '-m', 'etude', 'sweep', str(sweep_file), '--storage', url, '--dir', 'sweep', '--status'],
                            cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=300)
    assert status.returncode == 0 and status.stdout.count('finished') == 2, status.stdout + status.stderr


def test_status_of_a_sweep_not_started_makes_nothing(sweep_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert refused(capsys, str(sweep_file), '--dir', str(tmp_path / 'sweep'), '--status') == (
        f'No sweep curve in {tmp_path / "sweep"} yet; start it: etude sweep {sweep_file}')
    assert not (tmp_path / 'sweep').exists()
