"""The pip user's path: etude installed by `pip install git+<clone>`, used from an empty folder with no clone in sight.

What is real: a git repository made from this working tree (tracked and untracked files that git does not ignore),
installed by pip through a `git+file://` URL, not editable, into a fresh venv; the installed `etude` console script;
an empty working folder, with no PYTHONPATH and no scripts/ or bin/ anywhere near. What is not: the dependencies.
A venv of its own with torch would download or copy about 5 GB, too slow for a test, so the venv reads them from
the venv running the tests through one path entry (a .pth file). That entry adds only that folder to sys.path: the
.pth files inside it (the editable install of the development checkout among them) are not run, so `import etude`
can only find the copy pip installed, which the test checks.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from conftest import ROOT, needs_espeak

pytestmark = pytest.mark.slow

PROJECT = Path(__file__).resolve().parent / 'user_project'


def snapshot_repository(destination: Path) -> Path:
    """A git repository of the working tree as it is (committed or not), so pip clones what is being tested."""
    listed = subprocess.run(['git', 'ls-files', '-z', '--cached', '--others', '--exclude-standard'], cwd=ROOT, capture_output=True, check=True)
    for name in filter(None, listed.stdout.decode().split('\0')):
        source = ROOT / name
        if source.is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)
    identity = ['-c', 'user.name=etude tests', '-c', 'user.email=tests@etude.invalid']
    for command in (['init', '-q'], ['add', '-A'], [*identity, 'commit', '-q', '-m', 'snapshot']):
        subprocess.run(['git', *command], cwd=destination, check=True, capture_output=True)
    return destination


@pytest.fixture(scope='module')
def pip_installed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment of a shell whose PATH starts with a venv holding etude as pip installed it from a git URL."""
    if shutil.which('git') is None:
        pytest.skip('git is not installed')
    work = tmp_path_factory.mktemp('pip')
    repository = snapshot_repository(work / 'clone')
    venv = work / 'venv'
    subprocess.run([sys.executable, '-m', 'venv', '--without-pip', str(venv)], check=True)
    site_packages = Path(subprocess.run([str(venv / 'bin' / 'python'), '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'],
                                        capture_output=True, text=True, check=True).stdout.strip())
    (site_packages / 'shared-dependencies.pth').write_text(sysconfig.get_paths()['purelib'] + '\n')
    environment = {key: value for key, value in os.environ.items() if key not in ('PYTHONPATH', 'PIPENV_ACTIVE', 'VIRTUAL_ENV', 'PYTHONHOME')}
    environment.update(PATH=f'{venv / "bin"}{os.pathsep}{os.environ.get("PATH", "")}', VIRTUAL_ENV=str(venv), OMP_NUM_THREADS='1')
    installed = subprocess.run([str(venv / 'bin' / 'python'), '-m', 'pip', 'install', '-q', '--no-deps', '--no-build-isolation', '--ignore-installed',
                                f'git+file://{repository}'], env=environment, capture_output=True, text=True, timeout=600)
    assert installed.returncode == 0, installed.stderr[-3000:]
    assert (venv / 'bin' / 'etude').is_file(), 'pip installed the console script'
    return environment


def shell(*command: str, cwd: Path, environment: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(list(command), cwd=cwd, env=environment, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f'{" ".join(command)} exited {result.returncode}:\n{result.stderr[-3000:]}'
    return result


@needs_espeak
def test_from_an_empty_folder_a_pip_user_trains_a_shipped_routine_and_their_own(pip_installed: dict[str, str], tmp_path: Path) -> None:
    folder = tmp_path / 'empty'
    folder.mkdir()
    where = shell('python', '-c', 'import etude; print(etude.__file__)', cwd=folder, environment=pip_installed).stdout.strip()
    assert Path(where).parent.parent.name == 'site-packages' and not where.startswith(str(ROOT)), where
    assert shutil.which('etude', path=pip_installed['PATH']) == str(Path(pip_installed['VIRTUAL_ENV']) / 'bin' / 'etude')

    listing = shell('etude', 'train', '-h', cwd=folder, environment=pip_installed).stdout
    assert 'spoken_digits' in listing and 'circular_drum_size' in listing
    assert 'free-spoken-digit-dataset' in shell('etude', 'data', 'list', cwd=folder, environment=pip_installed).stdout

    digits = shell('etude', 'train', 'spoken_digits', '--testing', '--device', 'cpu', cwd=folder, environment=pip_installed).stdout
    assert 'test accuracy' in digits and 'always the most common training digit' in digits
    assert sorted(path.name for path in folder.iterdir()) == ['data', 'runs'], 'everything a run writes is in the folder it ran in'

    for item in PROJECT.iterdir():  # the user's own project: the package shapes and the routine file beside it
        if item.name != '__pycache__':
            (shutil.copytree if item.is_dir() else shutil.copy2)(item, folder / item.name)
    own = shell('etude', 'train', 'shapes_routine.py', '--testing', '--device', 'cpu', cwd=folder, environment=pip_installed).stdout
    assert 'test accuracy' in own and 'always the most common training shape' in own
    (run,) = (path for path in (folder / 'runs').iterdir() if 'per_shape' in (path / 'config.yaml').read_text())  # the shapes run, not the digits'
    checkpoint = str(run / 'checkpoints' / 'best.pt')

    import numpy as np
    import soundfile

    steps = np.arange(256)
    soundfile.write(folder / 'square.wav', 0.8 * np.sign((steps / 20) % 1 - 0.5), 8000, subtype='FLOAT')
    inferred = shell('etude', 'infer', checkpoint, 'square.wav', '--allow-module', 'shapes', '--jsonl', cwd=folder, environment=pip_installed).stdout
    assert json.loads(inferred.splitlines()[0])['shape'] == 'square', 'the console script imports the allowed package from the current folder'
    evaluated = shell('etude', 'evaluate', str(run), '--allow-module', 'shapes', cwd=folder, environment=pip_installed).stdout
    assert 'accuracy' in evaluated and (run / 'evaluation' / 'report.html').is_file()
    recorded = json.loads((run / 'summary.json').read_text())['test']['accuracy']
    assert json.loads((run / 'evaluation' / 'metrics.json').read_text())['metrics']['accuracy'] == recorded
