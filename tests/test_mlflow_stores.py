"""`--tracker mlflow` with a store that cannot work is one line and exit 2 before any data is made (issue 26 §2):
MLflow 3's file store without MLFLOW_ALLOW_FILE_STORE, a scheme MLflow does not know, a database whose driver is
not installed, a SQLite file on a read-only disk (new or existing), and a password in the URI is never printed."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from etude.errors import ConfigError, MissingDependencyError, shown_url

pytest.importorskip('mlflow')

from etude.trackers.mlflow import MlflowTracker  # noqa: E402 - after the skip

WORKTREE = Path(__file__).resolve().parent.parent
FIX = 'set MLFLOW_TRACKING_URI to a store you can write'


@pytest.fixture
def read_only_disk(tmp_path: Path) -> Iterator[Path]:
    """A read-only tmpfs holding an MLflow SQLite store made before it was made read-only (root only)."""
    disk = tmp_path / 'read-only'
    disk.mkdir()
    mounted = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', str(disk)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f'mounting a tmpfs is not permitted here ({mounted.stderr.strip()})')
    try:
        made = subprocess.run([sys.executable, '-c', 'import sys; from mlflow.tracking import MlflowClient; MlflowClient(sys.argv[1])',
                               f'sqlite:///{disk}/existing.db'], capture_output=True, text=True, timeout=120)  # in its own process, which lets go
        assert made.returncode == 0, made.stderr
        subprocess.run(['mount', '-o', 'remount,ro', str(disk)], check=True)
        yield disk
    finally:
        subprocess.run(['umount', '--lazy', str(disk)], check=False)


def train_with_store(uri: str, folder: Path) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if key != 'MLFLOW_ALLOW_FILE_STORE'}
    environment.update(PYTHONPATH=str(WORKTREE), WANDB_MODE='offline', MLFLOW_TRACKING_URI=uri)
    return subprocess.run([sys.executable, '-m', 'etude', 'train', 'circular_drum_size', '--testing', '--tracker', 'mlflow',
                           f'data_directory={folder / "data"}', '--runs-dir', str(folder / 'runs')],
                          cwd=folder, env=environment, capture_output=True, text=True, timeout=120)


CASES = {
    'file store': ('file:./mlruns', 'MLflow 3 refuses its file store unless MLFLOW_ALLOW_FILE_STORE=true is set; set it, or ' + FIX),
    'a plain path': ('./mlruns', 'MLflow 3 refuses its file store unless MLFLOW_ALLOW_FILE_STORE=true'),
    'unknown scheme': ('mlfow://server', "MLflow knows no scheme 'mlfow:' (it takes databricks, databricks-uc, file, http, https, mssql, mysql, "),
    'missing driver': ('postgresql://etude:secret@127.0.0.1:1/runs', "its database driver, the Python module 'psycopg"),
}


@pytest.mark.slow
@pytest.mark.parametrize('case', list(CASES))
def test_etude_train_refuses_a_store_that_cannot_work_in_one_line_before_any_data(case: str, tmp_path: Path) -> None:
    uri, expected = CASES[case]
    if case == 'missing driver' and (importlib.util.find_spec('psycopg') or importlib.util.find_spec('psycopg2')):
        pytest.skip('a PostgreSQL driver is installed here')
    result = train_with_store(uri, tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count('\n') == 1 and result.stderr.startswith('error: --tracker mlflow cannot '), result.stderr
    assert expected in result.stderr
    assert 'secret' not in result.stderr, 'a password in the URI is never printed'
    assert not (tmp_path / 'data').exists() and not (tmp_path / 'runs').exists() and not (tmp_path / 'mlruns').exists()


def test_a_sqlite_store_on_a_read_only_disk_new_or_existing_is_refused(read_only_disk: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv('MLFLOW_TRACKING_URI', raising=False)
    for database in ('existing.db', 'new.db', 'new/folder/new.db'):
        with pytest.raises(ConfigError, match=f'^--tracker mlflow cannot write its tracking URI sqlite:///{read_only_disk}/{database}: '
                                              f'{read_only_disk}/{database} (cannot be made: {read_only_disk} )?is on a read-only file system; {FIX}'):
            MlflowTracker(tracking_uri=f'sqlite:///{read_only_disk}/{database}')
    monkeypatch.chdir(read_only_disk)  # no URI: MLflow's default store, ./mlflow.db
    with pytest.raises(ConfigError, match=r"^--tracker mlflow cannot write MLflow's default store \(sqlite:///mlflow.db\): mlflow.db cannot be made: "
                                          r'\. is on a read-only file system'):
        MlflowTracker()


def test_the_file_store_opens_when_allowed_and_sqlite_makes_its_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv('MLFLOW_ALLOW_FILE_STORE', 'true')
    MlflowTracker(tracking_uri='file:./mlruns')
    MlflowTracker(tracking_uri=f'sqlite:///{tmp_path}/a/new/folder/mlflow.db')  # MLflow makes the folder
    assert (tmp_path / 'a' / 'new' / 'folder' / 'mlflow.db').is_file()
    (tmp_path / 'a-file').write_text('in the way')
    with pytest.raises(ConfigError, match='a-file is a file, not a folder'):
        MlflowTracker(tracking_uri=f'sqlite:///{tmp_path}/a-file/mlflow.db')


def test_a_missing_driver_names_the_package_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    if importlib.util.find_spec('pymysql'):
        pytest.skip('PyMySQL is installed here')
    with pytest.raises(MissingDependencyError, match=r"the Python module 'pymysql', is not installed; install it with: pip install \"PyMySQL\"$"):
        MlflowTracker(tracking_uri='mysql+pymysql://etude@127.0.0.1:1/runs')


def test_a_password_is_never_shown() -> None:
    assert shown_url('postgresql://etude:secret@host:5432/runs?sslmode=require') == 'postgresql://etude:***@host:5432/runs?sslmode=require'
    assert shown_url('sqlite:///runs/mlflow.db') == 'sqlite:///runs/mlflow.db'
