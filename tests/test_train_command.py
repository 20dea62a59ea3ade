"""`etude train ROUTINE` with a routine of the user's own: a file beside their package, or module:attribute.

The user's project is tests/user_project (a package `shapes` with a model, and the routine file shapes_routine.py),
copied into a fresh folder and trained by `python -m etude train` in a real subprocess, as a user runs it. The
mistakes a user can make naming a routine are each one line and exit status 2; the resume line is a command that
runs as printed.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import ROOT

PROJECT = Path(__file__).resolve().parent / 'user_project'


def user_folder(tmp_path: Path) -> Path:
    folder = tmp_path / 'project'
    shutil.copytree(PROJECT, folder, ignore=shutil.ignore_patterns('__pycache__'))
    return folder


def etude(*arguments: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, 'PYTHONPATH': str(ROOT), 'OMP_NUM_THREADS': '1'}
    return subprocess.run([sys.executable, '-m', 'etude', *arguments], cwd=cwd, env=environment, capture_output=True, text=True, timeout=timeout)


def one_error_line(status: int, stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert status == 2, stderr
    assert len(lines) == 1 and lines[0].startswith('error: '), lines
    return lines[0]


HELP_WITHOUT_TORCH = '''
import sys
from etude.cli import main
try:
    main(['train', '-h'])
except SystemExit as exit_:
    assert not exit_.code, exit_.code
heavy = sorted(name for name in ('torch', 'numpy', 'wandb') if name in sys.modules)
assert not heavy, heavy
'''


def test_train_help_lists_the_shipped_routines_without_importing_torch(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, '-c', HELP_WITHOUT_TORCH], capture_output=True, text=True, cwd=tmp_path, timeout=120,
                            env={**os.environ, 'PYTHONPATH': str(ROOT)})
    assert result.returncode == 0, result.stderr
    listed = {line.split()[0]: line for line in result.stdout.splitlines() if line.startswith('  ') and not line.strip().startswith('-')}
    assert {'circular_drum_size', 'rectangular_drum_dimensions', 'spoken_digits'} <= set(listed)
    assert 'Spoken digits: tell which digit' in listed['spoken_digits']
    assert 'path/to/my_routine.py' in listed and 'my_module:attribute' in listed


@pytest.mark.slow
def test_a_users_routine_file_trains_beside_a_baseline_and_lists_its_keys(tmp_path: Path) -> None:
    folder = user_folder(tmp_path)
    listing = etude('train', 'shapes_routine.py', '-h', cwd=folder)
    assert listing.returncode == 0, listing.stderr
    assert listing.stdout.startswith('shapes_routine.py: Shapes: tell a sine')
    keys = {line.split('=')[0].strip(): line for line in listing.stdout.splitlines() if '=' in line}
    assert 'int' in keys['per_shape'] and 'Waveforms of each shape' in keys['per_shape'] and 'Units of the hidden layer' in keys['hidden_units']
    assert '--testing sets: per_shape=20 num_of_epochs=2' in listing.stdout

    result = etude('train', 'shapes_routine.py', '--testing', '--device', 'cpu', cwd=folder)
    assert result.returncode == 0, result.stderr
    assert 'test accuracy' in result.stdout and 'always the most common training shape' in result.stdout
    (run,) = (folder / 'runs').iterdir()
    assert f'run: runs/{run.name}  model: runs/{run.name}/checkpoints/best.pt' in result.stdout
    summary = json.loads((run / 'summary.json').read_text())
    assert summary['split_sizes'] == {'train': 64, 'validation': 8, 'test': 8}, '4 shapes x per_shape=20 from TESTING'
    assert summary['test']['accuracy'] > summary['baselines']['majority class']['accuracy'], 'two epochs already beat guessing'
    assert len((run / 'metrics.jsonl').read_text().splitlines()) == 2
    export = torch.load(run / 'checkpoints' / 'best.pt', weights_only=True)
    assert export['model']['class_path'] == 'shapes.ShapeNet' and export['hyperparameters']['per_shape'] == 20


MODULE_ROUTINES = '''"""Two routines in one module, each a namespace of the routine declarations."""
from types import SimpleNamespace

import shapes_routine

small = SimpleNamespace(__doc__='Shapes with a small hidden layer.', DEFAULTS=shapes_routine.Shapes(hidden_units=8, num_of_epochs=1),
                        TESTING={'per_shape': 10}, build=shapes_routine.build, PROJECT='shapes-small')
'''


@pytest.mark.slow
def test_a_routine_named_module_colon_attribute_is_imported_from_the_current_folder(tmp_path: Path) -> None:
    folder = user_folder(tmp_path)
    (folder / 'lab').mkdir()
    (folder / 'lab' / '__init__.py').write_text('')
    (folder / 'lab' / 'routines.py').write_text(MODULE_ROUTINES)
    result = etude('train', 'lab.routines:small', '--testing', '--device', 'cpu', cwd=folder)
    assert result.returncode == 0, result.stderr
    (run,) = (folder / 'runs').iterdir()
    summary = json.loads((run / 'summary.json').read_text())
    assert summary['split_sizes']['train'] + summary['split_sizes']['validation'] + summary['split_sizes']['test'] == 40
    assert summary['epochs'] == 1 and 'test accuracy' not in result.stdout, 'no report declared: the run line only'


NO_DEFAULTS = 'def build(routine, parameters):\n    pass\n'
NO_BUILD = 'from etude import Parameters\nDEFAULTS = Parameters()\n'
BAD_TESTING = 'from etude import Parameters\nDEFAULTS = Parameters()\nTESTING = [1]\ndef build(routine, parameters):\n    pass\n'
SYNTAX = 'DEFAULTS = (\n'
MISSING_IMPORT = 'import no_such_package_here\n'


@pytest.mark.parametrize(('arguments', 'files', 'fragments'), [
    (['nope'], {}, ["No routine 'nope'", 'the registered routines are circular_drum_size', 'my_routine.py']),
    (['spoken_digit'], {}, ["did you mean 'spoken_digits'"]),
    (['no_build'], {'no_build.py': NO_BUILD}, ["did you mean 'no_build.py'"]),
    (['absent.py'], {}, ['No routine file absent.py']),
    (['no_defaults.py'], {'no_defaults.py': NO_DEFAULTS}, ['no_defaults.py has no DEFAULTS', 'def build(routine, parameters)']),
    (['no_build.py'], {'no_build.py': NO_BUILD}, ['no_build.py has no build function']),
    (['bad_testing.py'], {'bad_testing.py': BAD_TESTING}, ['TESTING of type list']),
    (['broken_syntax.py'], {'broken_syntax.py': SYNTAX}, ['broken_syntax.py line 1']),
    (['missing_import.py'], {'missing_import.py': MISSING_IMPORT}, ["missing_import.py imports 'no_such_package_here'"]),
    (['no_such_lab.routines:small'], {}, ["No module named 'no_such_lab'", 'neither in']),
    (['json:small'], {}, ["json has no attribute 'small'"]),
    (['lab:'], {}, ['write module:attribute']),
    (['learning_rate=3'], {}, ['the routine comes first']),
    ([], {}, ['say which routine to train']),
    (['circular_drum_size', 'stray'], {}, ["unrecognised argument 'stray'"]),
])
def test_naming_a_routine_wrongly_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                                         arguments: list[str], files: dict[str, str], fragments: list[str]) -> None:
    from etude.cli import main

    for name, text in files.items():
        (tmp_path / name).write_text(text)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, 'path', list(sys.path))  # a routine file's folder goes on sys.path: not beyond this test
    line = one_error_line(main(['train', *arguments]), capsys.readouterr().err)
    for fragment in fragments:
        assert fragment in line, line
    assert not (tmp_path / 'runs').exists()


@pytest.mark.slow
def test_an_interrupted_run_prints_a_resume_command_that_runs_as_printed(tmp_path: Path) -> None:
    folder = user_folder(tmp_path)
    environment = {**os.environ, 'PYTHONPATH': str(ROOT), 'OMP_NUM_THREADS': '1'}
    environment.pop('PIPENV_ACTIVE', None)
    process = subprocess.Popen([sys.executable, '-m', 'etude', 'train', 'shapes_routine.py', '--device', 'cpu', 'num_of_epochs=500', 'patience=500',
                                'num_workers=0'], cwd=folder, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 180
    while time.time() < deadline and not any(path.read_text() for path in (folder / 'runs').glob('*/metrics.jsonl')):
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    line = one_error_line(process.returncode, stderr)
    (run,) = (folder / 'runs').iterdir()
    command = line.split('Resume with: ', 1)[1]
    on_path = shutil.which('python', path=environment.get('PATH'))
    python = 'python' if on_path is not None and Path(on_path).resolve() == Path(sys.executable).resolve() else shlex.quote(sys.executable)
    assert command == f'{python} -m etude train shapes_routine.py --device cpu num_workers=0 --resume runs/{run.name}', command
    saved = len((run / 'metrics.jsonl').read_text().splitlines())
    words = shlex.split(command)
    resumed = subprocess.run([*words, f'num_of_epochs={saved + 1}'], cwd=folder, env=environment, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert [json.loads(record)['epoch'] for record in (run / 'metrics.jsonl').read_text().splitlines()] == list(range(1, saved + 2))


@pytest.mark.parametrize(('environment', 'invoked', 'script', 'expected'), [
    ({'TORCHELASTIC_RUN_ID': 'a', 'LOCAL_WORLD_SIZE': '2'}, 'etude/__main__.py', None, 'torchrun --standalone --nproc_per_node=2 -m etude train'),
    ({'TORCHELASTIC_RUN_ID': 'a', 'LOCAL_WORLD_SIZE': '4', 'PIPENV_ACTIVE': '1'}, 'scripts/train.py', 'scripts/train.py',
     'pipenv run torchrun --standalone --nproc_per_node=4 scripts/train.py'),
    ({'PIPENV_ACTIVE': '1'}, 'scripts/train.py', 'scripts/train.py', 'pipenv run python scripts/train.py'),
    ({}, 'scripts/train.py', 'scripts/train.py', '{python} scripts/train.py'),
    ({}, 'etude/__main__.py', None, '{python} -m etude train'),
    ({'PIPENV_ACTIVE': '1'}, 'etude/__main__.py', None, 'pipenv run python -m etude train'),
    ({}, 'bin/etude', None, 'etude train'),
    ({}, 'elsewhere/etude', None, '{folder}/elsewhere/etude train'),
], ids=['torchrun -m etude', 'pipenv torchrun script', 'pipenv script', 'script', 'python -m etude', 'pipenv python -m etude', 'etude on PATH',
        'etude off PATH'])
def test_the_launcher_is_how_this_process_was_started(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], invoked: str,
                                                       script: str | None, expected: str) -> None:
    from etude.training.resume_command import launcher, resume_command

    for name in ('TORCHELASTIC_RUN_ID', 'LOCAL_WORLD_SIZE', 'PIPENV_ACTIVE'):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    for executable in ('bin/etude', 'elsewhere/etude', 'scripts/train.py', 'etude/__main__.py'):
        (tmp_path / executable).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / executable).write_text('')
        (tmp_path / executable).chmod(0o755)
    monkeypatch.setenv('PATH', str(tmp_path / 'bin'))  # no python on it: a plain python is shown by its full path
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, 'argv', [str(tmp_path / invoked), 'train'])
    words = expected.format(python=sys.executable, folder=tmp_path).split()
    assert launcher(str(tmp_path / script) if script else None) == words
    assert resume_command(tmp_path / 'runs' / 'x', ['shapes_routine.py'], script=script) == shlex.join([*words, 'shapes_routine.py', '--resume', 'runs/x'])


THREADS_ROUTINE = '''"""Shapes, recording how many threads torch computes with while the routine builds."""
import torch

import shapes_routine
from shapes_routine import DEFAULTS, TESTING


def build(routine, parameters):
    routine.add_to_summary({'torch_threads_in_build': torch.get_num_threads()})
    return shapes_routine.build(routine, parameters)
'''


@pytest.mark.slow
def test_threads_is_honoured_and_defaults_to_the_cores_this_process_may_use(tmp_path: Path) -> None:
    folder = user_folder(tmp_path)
    (folder / 'threads_routine.py').write_text(THREADS_ROUTINE)
    environment = {key: value for key, value in os.environ.items() if key != 'OMP_NUM_THREADS'}
    seen = {}
    for given in (['--threads', '1'], []):
        result = subprocess.run([sys.executable, '-m', 'etude', 'train', 'threads_routine.py', '--testing', '--device', 'cpu', *given,
                                 '--runs-dir', f'runs{len(given)}'], cwd=folder, env={**environment, 'PYTHONPATH': str(ROOT)},
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        (run,) = (folder / f'runs{len(given)}').iterdir()
        summary = json.loads((run / 'summary.json').read_text())
        seen[len(given)] = (summary['torch_threads_in_build'], summary['threads'], summary['run_options']['threads'])
    assert seen[2] == (1, 1, 1)
    cores = len(os.sched_getaffinity(0))
    assert seen[0] == (cores, cores, 0), 'threads=0: the cores this process may use'
