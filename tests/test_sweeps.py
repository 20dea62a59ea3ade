"""`etude sweep`: W&B's meaning of a sweep file, resuming after a kill, workers sharing one storage, bad files.

The runner is tested with real processes: the repository's own sweep file on `--testing` trials of the circular drum
routine, and, where many epochs or trials are needed quickly, tests/sweep_programs/curve.py, a program with the same
run-folder contract as a Routine (config.yaml, metrics.jsonl per epoch, summary.json) and a tenth of a second per epoch.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT

from etude.cli import main
from etude.sweeps.hyperband import hyperband_should_stop
from etude.sweeps.parameters import read_parameters
from etude.sweeps.spec import Hyperband

CURVE = ROOT / 'tests' / 'sweep_programs' / 'curve.py'
SWEEP_FILE = ROOT / 'scripts' / 'config' / 'wandb' / 'circular_drum_size.yaml'
SMALL_TRIALS = ['--testing', '--set', 'number_of_drums=12', '--set', 'strikes_per_drum=4', '--set', 'num_of_epochs=2', '--set', 'device=cpu']


def _wandb_sweeps() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # the sweeps package (2022) predates pydantic 2's names
        return pytest.importorskip('sweeps.params')


# -- W&B's semantics of sampled values -------------------------------------------------------------------------------

DISTRIBUTIONS = {
    'c': {'value': 7},
    'cat': {'values': ['a', 'b', 'c', 'd']},
    'prob': {'values': [1, 2, 3], 'probabilities': [0.2, 0.5, 0.3]},
    'ints': {'min': 2, 'max': 9},
    'uni': {'min': -1.5, 'max': 2.0},
    'qu': {'distribution': 'q_uniform', 'min': 0.0, 'max': 10.0, 'q': 2.5},
    'qui': {'distribution': 'q_uniform', 'min': 0, 'max': 100, 'q': 5},
    'logu': {'distribution': 'log_uniform', 'min': -9.2, 'max': -2.3},
    'loguv': {'distribution': 'log_uniform_values', 'min': 1e-4, 'max': 1e-1},
    'invlog': {'distribution': 'inv_log_uniform', 'min': 0.1, 'max': 2.0},
    'invlogv': {'distribution': 'inv_log_uniform_values', 'min': 0.5, 'max': 8.0},
    'qlogu': {'distribution': 'q_log_uniform', 'min': 0.0, 'max': 5.0, 'q': 4},
    'qloguv': {'distribution': 'q_log_uniform_values', 'min': 8, 'max': 512, 'q': 8},
    'norm': {'distribution': 'normal', 'mu': 1.0, 'sigma': 2.0},
    'qnorm': {'distribution': 'q_normal', 'mu': 10.0, 'sigma': 3.0, 'q': 1},
    'lognorm': {'distribution': 'log_normal', 'mu': 0.5, 'sigma': 0.7},
    'qlognorm': {'distribution': 'q_log_normal', 'mu': 2.0, 'sigma': 0.5, 'q': 0.5},
    'beta': {'distribution': 'beta', 'a': 2.0, 'b': 5.0},
}


def test_every_distribution_gives_what_wandbs_own_engine_gives_for_the_same_draw() -> None:
    params = _wandb_sweeps()
    ours = {parameter.name: parameter for parameter in read_parameters(DISTRIBUTIONS, 'test')}
    draws = random.Random(4).random
    for name, config in DISTRIBUTIONS.items():
        theirs = params.HyperParameter(name, dict(config))
        for _ in range(200):
            quantile = min(max(draws(), 1e-9), 1 - 1e-9)
            expected, got = theirs.ppf(quantile), ours[name].ppf(quantile)
            expected = expected.item() if hasattr(expected, 'item') else expected
            if isinstance(expected, float):
                assert got == pytest.approx(expected, rel=1e-9, abs=1e-12), (name, quantile)
            else:
                assert got == expected and type(got) is type(expected), (name, quantile, got, expected)


def test_wandbs_meaning_without_the_package() -> None:
    ours = {parameter.name: parameter for parameter in read_parameters(DISTRIBUTIONS, 'test')}
    assert ours['logu'].ppf(0.0) == pytest.approx(2.718281828 ** -9.2) and ours['logu'].ppf(1.0) == pytest.approx(2.718281828 ** -2.3), 'exponents'
    assert {ours['ints'].ppf(k / 1000) for k in range(1000)} == set(range(2, 10)), 'int_uniform includes max'
    assert {ours['qui'].ppf(k / 997) for k in range(997)} <= set(range(0, 101, 5)) and isinstance(ours['qui'].ppf(0.3), int)
    assert ours['qu'].ppf(0.33) == 2.5, 'round(3.3 / 2.5) * 2.5'
    assert ours['c'].ppf(0.5) == 7 and not ours['c'].searched
    nested = read_parameters({'optimiser': {'parameters': {'lr': {'value': 0.1}, 'kind': {'values': ['adam']}}}}, 'test')
    assert [parameter.name for parameter in nested] == ['optimiser.kind', 'optimiser.lr']


def test_hyperband_stops_as_wandbs_engine_does() -> None:
    _wandb_sweeps()
    from sweeps.hyperband_stopping import hyperband_stop_runs
    from sweeps.run import RunState, SweepRun

    generator = random.Random(11)
    for settings in ({'min_iter': 2, 'eta': 3}, {'min_iter': 1, 'eta': 2}, {'max_iter': 9, 's': 2, 'eta': 3}):
        config = {'method': 'random', 'metric': {'name': 'loss', 'goal': 'minimize'}, 'early_terminate': {'type': 'hyperband', **settings},
                  'parameters': {'x': {'min': 0.0, 'max': 1.0}}}
        band = Hyperband.from_settings({'type': 'hyperband', **settings}, 'test')
        for _ in range(30):
            histories = [[generator.random() for _ in range(generator.randint(0, 8))] for _ in range(6)]
            states = [generator.choice([RunState.running, RunState.finished]) for _ in histories]
            runs = [SweepRun(name=str(index), state=state, sampledHistory=[{'loss': value} for value in history])  # its alias: pydantic 2 ignores history=
                    for index, (history, state) in enumerate(zip(histories, states, strict=True))]
            stopped = {run.name for run in hyperband_stop_runs(runs, config)}
            ours = {str(index) for index, (history, state) in enumerate(zip(histories, states, strict=True))
                    if state == RunState.running and history and hyperband_should_stop(history, histories, band.bands, band.eta, 'minimize')}
            assert ours == stopped, (settings, histories)


# -- bad sweep files: one line, exit 2, no trial -----------------------------------------------------------------------

def _sweep_file(tmp_path: Path, body: dict[str, Any] | str) -> Path:
    path = tmp_path / 'sweep.yaml'
    path.write_text(body if isinstance(body, str) else yaml.safe_dump(body))
    return path


def _repository_sweep(**changes: Any) -> dict[str, Any]:
    sweep = yaml.safe_load(SWEEP_FILE.read_text())
    sweep['program'] = str(ROOT / 'scripts' / 'train.py')
    sweep.update(changes)
    return sweep


@pytest.mark.parametrize(('body', 'message'), [
    ('method: grid\nparameters: {a: {values: [1, 2]}\n', 'is not valid YAML at line'),
    ({'program': 'train.py', 'method': 'hyperopt', 'parameters': {'a': {'value': 1}}}, "method 'hyperopt', which W&B does not have"),
    ({'program': 'train.py', 'method': 'random', 'parameters': {'a': {'distribution': 'log_unifrom', 'min': 1, 'max': 2}}}, "did you mean 'log_uniform'"),
    ({'program': 'train.py', 'method': 'random', 'parameters': {'a': {'min': 3.0, 'max': 1.0}}}, 'min 3.0 not below max 1.0'),
    ({'program': 'train.py', 'method': 'grid', 'parameters': {'a': {'min': 0.0, 'max': 1.0}}}, 'which a grid cannot enumerate'),
    ({'program': 'train.py', 'method': 'bayes', 'parameters': {'a': {'values': [1, 2]}}}, 'needs a metric'),
    (_repository_sweep(parameters={'learning_rat': {'values': [0.1]}}), "Unknown parameter 'learning_rat'"),
    (_repository_sweep(parameters={'depth': {'values': ['tiny', 'huge']}}), "'depth'"),
    # W&B's agent drops a macro it does not have: every trial would run with the routine's defaults
    (_repository_sweep(command=['${env}', '${interpreter}', '${program}', '--routine=circular_drum_size', '${arg}']),
     'has the macro ${arg}, which W&B does not have (did you mean ${args}?); its macros are ${env}, ${interpreter}, ${program}, ${args}, '),
    (_repository_sweep(command=['${interpreter}', '${program}', '--routine=circular_drum_size', '--values=${args_json}']),
     "has ${args_json} inside the word '--values=${args_json}'; W&B replaces a macro only when it is a whole word"),
])
def test_a_bad_sweep_file_is_one_line_and_exit_2_before_any_trial(tmp_path: Path, capsys: pytest.CaptureFixture[str], body: Any, message: str) -> None:
    path = _sweep_file(tmp_path, body)
    assert main(['sweep', str(path), '--dir', str(tmp_path / 'sweep')]) == 2
    error = capsys.readouterr().err
    assert error.startswith('error: ') and message in error and error.count('\n') == 1, error
    assert not (tmp_path / 'sweep' / 'trials').exists()


def test_an_unknown_key_suggests_the_nearest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _sweep_file(tmp_path, _repository_sweep(parameters={'learning_rat': {'values': [0.1]}}))
    assert main(['sweep', str(path), '--dir', str(tmp_path / 'sweep')]) == 2
    assert "did you mean 'learning_rate'?" in capsys.readouterr().err


# -- the runner on a fast program --------------------------------------------------------------------------------------

def _curve_sweep(tmp_path: Path, method: str = 'grid', **extra: Any) -> Path:
    sweep = {'program': str(CURVE), 'method': method, 'metric': {'name': 'validation_loss', 'goal': 'minimize'},
             'parameters': {'quality': {'values': [1, 2, 3]}, 'epochs': {'values': [2, 3]}, 'seconds': {'value': 0.05}}, **extra}
    return _sweep_file(tmp_path, sweep)


def _etude(*arguments: str, cwd: Path, **keywords: Any) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, 'PYTHONPATH': str(ROOT), 'OMP_NUM_THREADS': '1'}
    return subprocess.run([sys.executable, '-m', 'etude', *arguments], cwd=cwd, env=environment, capture_output=True, text=True, timeout=600, **keywords)


def _journal_trials(directory: Path) -> list[Any]:
    import optuna

    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(directory / 'sweep.journal')))
    (summary,) = optuna.get_all_study_summaries(storage)
    return [trial for trial in optuna.load_study(study_name=summary.study_name, storage=storage).get_trials() if not trial.user_attrs.get('surplus')]


@pytest.mark.slow
def test_a_grid_runs_every_point_once_in_wandbs_order_then_is_done(tmp_path: Path) -> None:
    pytest.importorskip('optuna')
    path = _curve_sweep(tmp_path)
    first = _etude('sweep', str(path), '--dir', 'sweep', cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    trials = _journal_trials(tmp_path / 'sweep')
    points = [(trial.user_attrs['values']['epochs'], trial.user_attrs['values']['quality']) for trial in trials]
    assert points == [(2, 1), (2, 2), (2, 3), (3, 1), (3, 2), (3, 3)], "each point once, W&B's order (names sorted, the last fastest)"
    assert 'trial 0: finished, validation_loss 0.5' in first.stdout
    best = yaml.safe_load((tmp_path / 'sweep' / 'best.yaml').read_text())
    assert best == {'epochs': 3, 'quality': 1, 'seconds': 0.05}
    again = _etude('sweep', str(path), '--dir', 'sweep', cwd=tmp_path)
    assert again.returncode == 0 and not re.search(r'^trial \d+:', again.stdout, re.MULTILINE), 'nothing is run twice'
    assert len(_journal_trials(tmp_path / 'sweep')) == 6
    status = _etude('sweep', str(path), '--dir', 'sweep', '--status', cwd=tmp_path)
    assert status.stdout.count('finished') == 6 and 'best: trial 3' in status.stdout


@pytest.mark.slow
def test_hyperband_stops_a_poor_trial_early_and_a_failed_trial_is_recorded(tmp_path: Path) -> None:
    pytest.importorskip('optuna')
    sweep = {'program': str(CURVE), 'method': 'grid', 'metric': {'name': 'validation_loss', 'goal': 'minimize'},
             'early_terminate': {'type': 'hyperband', 'min_iter': 1, 'eta': 3},
             'parameters': {'quality': {'values': [1, 4, 5]}, 'epochs': {'value': 6}, 'seconds': {'value': 0.3}, 'fail_on': {'value': 4}}}
    result = _etude('sweep', str(_sweep_file(tmp_path, sweep)), '--dir', 'sweep', cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    good, failed, poor = _journal_trials(tmp_path / 'sweep')
    assert good.state.name == 'COMPLETE' and len((tmp_path / good.user_attrs['run'] / 'metrics.jsonl').read_text().splitlines()) == 6
    assert failed.state.name == 'FAIL' and failed.user_attrs['error'] == 'error: quality 4.0 is not allowed here; choose another'
    assert poor.state.name == 'PRUNED', 'quality 5 is worse than the threshold at band 1'
    epochs = len((tmp_path / poor.user_attrs['run'] / 'metrics.jsonl').read_text().splitlines())
    assert 2 <= epochs < 6, 'stopped at the epoch boundary after band 1 (its second epoch), not run to the end'
    assert 'trial 2: stopped after epoch 2 (hyperband)' in result.stdout


@pytest.mark.slow
def test_two_sweeps_on_one_storage_share_the_grid(tmp_path: Path) -> None:
    pytest.importorskip('optuna')
    sweep = {'program': str(CURVE), 'method': 'grid', 'metric': {'name': 'validation_loss', 'goal': 'minimize'},
             'parameters': {'quality': {'values': [1, 2, 3, 4]}, 'epochs': {'values': [2, 3]}, 'seconds': {'value': 0.2}}}
    path = _sweep_file(tmp_path, sweep)
    environment = {**os.environ, 'PYTHONPATH': str(ROOT), 'OMP_NUM_THREADS': '1'}
    launch = [sys.executable, '-m', 'etude', 'sweep', str(path), '--dir', 'sweep']
    processes = [subprocess.Popen([*launch, '--workers', str(workers)], cwd=tmp_path, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for workers in (2, 1)]
    outputs = [process.communicate(timeout=600) for process in processes]
    assert [process.returncode for process in processes] == [0, 0], outputs
    trials = _journal_trials(tmp_path / 'sweep')
    points = sorted((trial.user_attrs['values']['quality'], trial.user_attrs['values']['epochs']) for trial in trials)
    assert points == sorted((quality, epochs) for quality in (1, 2, 3, 4) for epochs in (2, 3)), 'every point exactly once'
    assert all(trial.state.name == 'COMPLETE' for trial in trials)
    assert len({trial.user_attrs['owner'] for trial in trials}) == 2, 'both sweeps ran trials'
    assert len(list((tmp_path / 'sweep' / 'trials').glob('*/*/summary.json'))) == 8


# -- the repository's sweep file, killed and resumed -------------------------------------------------------------------

@pytest.mark.slow
def test_the_repository_sweep_killed_then_resumed_completes_without_repeating_a_trial(tmp_path: Path) -> None:
    pytest.importorskip('optuna')
    arguments = ['sweep', str(SWEEP_FILE), '--count', '2', '--dir', 'sweep', *SMALL_TRIALS]
    (tmp_path / 'scripts').symlink_to(ROOT / 'scripts')  # the file's program: scripts/train.py, relative to where the sweep starts
    environment = {**os.environ, 'PYTHONPATH': str(ROOT), 'OMP_NUM_THREADS': '1'}
    sweep = subprocess.Popen([sys.executable, '-m', 'etude', *arguments], cwd=tmp_path, env=environment,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    metrics = None
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and sweep.poll() is None:  # kill -9 the sweep and its trial once trial 0 has finished one epoch of two
        found = list((tmp_path / 'sweep' / 'trials' / 'trial-0000').glob('*/metrics.jsonl'))
        if found and found[0].read_text().count('\n') >= 1:
            metrics = found[0]
            break
        time.sleep(0.2)
    assert metrics is not None, 'trial 0 never finished an epoch'
    os.killpg(sweep.pid, signal.SIGKILL)
    sweep.wait()
    first_run = metrics.parent
    resumed = _etude(*arguments, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f'trial 0: resuming {Path("sweep") / "trials" / "trial-0000" / first_run.name}' in resumed.stdout
    trials = _journal_trials(tmp_path / 'sweep')
    assert [trial.state.name for trial in trials] == ['COMPLETE', 'COMPLETE'], 'two trials, the killed one completed, none repeated'
    runs = sorted((tmp_path / 'sweep' / 'trials').glob('*/*/summary.json'))
    assert [run.parent.parent.name for run in runs] == ['trial-0000', 'trial-0001'] and runs[0].parent == first_run
    assert [json.loads(line)['epoch'] for line in metrics.read_text().splitlines()] == [1, 2], 'resumed after epoch 1, not restarted'
    assert '--wandb' in json.loads((tmp_path / 'sweep' / 'trials' / 'trial-0000' / 'command.json').read_text()), "the file's own command"
    # the best trial's values rerun with --config
    best = tmp_path / 'sweep' / 'best.yaml'
    chosen = yaml.safe_load(best.read_text())
    rerun = subprocess.run([sys.executable, str(ROOT / 'scripts' / 'train.py'), '--config', str(best), '--testing', '--device', 'cpu',
                            'number_of_drums=12', 'strikes_per_drum=4', 'num_of_epochs=1', '--runs-dir', 'rerun'],
                           cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    (config,) = (tmp_path / 'rerun').glob('*/config.yaml')
    recorded = yaml.safe_load(config.read_text())
    assert all(recorded[key] == value for key, value in chosen.items() if key != 'num_of_epochs')


@pytest.mark.slow
@pytest.mark.parametrize('how', ['kill -9 of the sweep alone', 'Ctrl-C'])
def test_a_stopped_sweep_resumes_its_running_trial_and_loses_nothing(tmp_path: Path, how: str) -> None:
    """kill -9 of `etude sweep` alone leaves its trial running: the same command watches it to its end. Ctrl-C stops
    the trial too (SIGINT to the terminal's process group): the same command resumes it from its last epoch."""
    pytest.importorskip('optuna')
    sweep = {'program': str(CURVE), 'method': 'grid', 'metric': {'name': 'validation_loss', 'goal': 'minimize'},
             'parameters': {'quality': {'values': [1, 2]}, 'epochs': {'value': 5}, 'seconds': {'value': 0.6}}}
    path = _sweep_file(tmp_path, sweep)
    environment = {**os.environ, 'PYTHONPATH': str(ROOT), 'OMP_NUM_THREADS': '1'}
    command = [sys.executable, '-m', 'etude', 'sweep', str(path), '--dir', 'sweep']
    process = subprocess.Popen(command, cwd=tmp_path, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not any(path.read_text() for path in (tmp_path / 'sweep' / 'trials').glob('trial-0000/*/metrics.jsonl')):
        time.sleep(0.1)
    if how == 'Ctrl-C':
        os.killpg(process.pid, signal.SIGINT)
        assert process.wait(timeout=60) == 130
    else:
        process.kill()
        process.wait()
    (first_run,) = (tmp_path / 'sweep' / 'trials' / 'trial-0000').glob('*/metrics.jsonl')
    resumed = _etude('sweep', str(path), '--dir', 'sweep', cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert ('still running' if how != 'Ctrl-C' else 'trial 0: resuming') in resumed.stdout
    trials = _journal_trials(tmp_path / 'sweep')
    assert [trial.state.name for trial in trials] == ['COMPLETE', 'COMPLETE']
    assert [json.loads(line)['epoch'] for line in first_run.read_text().splitlines()] == [1, 2, 3, 4, 5], 'every epoch once'
    assert len(list((tmp_path / 'sweep' / 'trials' / 'trial-0000').glob('*/summary.json'))) == 1, 'one run folder: not started again'
    assert trials[0].value == pytest.approx(0.2)


# -- SIGTERM, as Slurm, systemd and Docker send it ------------------------------------------------------------------------

def _wait_for_epochs(sweep: subprocess.Popen[str], folder: Path, trials: int, epochs: int = 1, timeout: float = 120) -> None:
    """Until `trials` trials have each finished `epochs` epochs; the sweep's output, should it end or take too long."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and sweep.poll() is None:
        logs = list(folder.glob('trials/trial-*/*/metrics.jsonl'))
        if len(logs) >= trials and all(len(log.read_text().splitlines()) >= epochs for log in logs):
            return
        time.sleep(0.1)
    sweep.kill()
    output = sweep.communicate()
    trial_logs = ''.join(log.read_text()[-1500:] for log in folder.glob('trials/trial-*/output.log'))
    raise AssertionError(f'{trials} trials never finished {epochs} epoch(s): {output} {trial_logs}')


@pytest.mark.slow
def test_sigterm_to_the_sweep_alone_stops_its_trials_says_what_it_stopped_and_how_to_resume(tmp_path: Path) -> None:
    """Docker sends SIGTERM to the sweep's process alone: it passes it on to both running trials (each keeps what it
    saved), prints them and the command that resumes, and exits 143; that command then finishes every epoch once."""
    pytest.importorskip('optuna')
    sweep = {'program': str(CURVE), 'method': 'grid', 'metric': {'name': 'validation_loss', 'goal': 'minimize'},
             'parameters': {'quality': {'values': [1, 2]}, 'epochs': {'value': 8}, 'seconds': {'value': 0.5}}}
    path = _sweep_file(tmp_path, sweep)
    # the resume line names this interpreter, not `pipenv run python`, which it would under `pipenv run` (as CI runs the suite)
    environment = {**{key: value for key, value in os.environ.items() if key != 'PIPENV_ACTIVE'}, 'PYTHONPATH': str(ROOT), 'OMP_NUM_THREADS': '1'}
    process = subprocess.Popen([sys.executable, '-m', 'etude', 'sweep', str(path), '--dir', 'sweep', '--workers', '2'], cwd=tmp_path, env=environment,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    _wait_for_epochs(process, tmp_path / 'sweep', trials=2)
    trial_processes = [int(pid) for pid in subprocess.run(['pgrep', '-P', str(process.pid)], capture_output=True, text=True).stdout.split()]
    assert len(trial_processes) == 2
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 143, stderr
    assert 'Traceback' not in stderr
    lines = stdout.splitlines()
    start = lines.index('etude sweep: stopped by SIGTERM; 2 running trials stopped:')
    assert [line.split(':')[0] for line in lines[start + 1:start + 3]] == ['  trial 0', '  trial 1']
    assert all(re.fullmatch(r'  trial \d: keeps sweep/trials/trial-000\d/\w+/checkpoints/last.pt; it resumes from there', line)
               for line in lines[start + 1:start + 3]), lines
    resume = lines[start + 3]
    interpreter, *rest = resume.removeprefix('resume with: ').split()
    assert rest == ['-m', 'etude', 'sweep', str(path), '--dir', 'sweep', '--workers', '2'], resume
    on_path = shutil.which('python', path=environment.get('PATH'))
    assert interpreter == sys.executable or (interpreter == 'python' and on_path and Path(on_path).resolve() == Path(sys.executable).resolve()), \
        'this interpreter, by its path or as the python on PATH'
    assert not [pid for pid in trial_processes if os.path.exists(f'/proc/{pid}') and 'Z' not in open(f'/proc/{pid}/stat').read().split()[2]], \
        'no trial is left training'
    assert [trial.state.name for trial in _journal_trials(tmp_path / 'sweep')] == ['RUNNING', 'RUNNING']
    resumed = subprocess.run(resume.removeprefix('resume with: ').split(), cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert 'trial 0: resuming' in resumed.stdout and 'trial 1: resuming' in resumed.stdout
    assert [trial.state.name for trial in _journal_trials(tmp_path / 'sweep')] == ['COMPLETE', 'COMPLETE']
    for metrics in (tmp_path / 'sweep' / 'trials').glob('*/*/metrics.jsonl'):
        assert [json.loads(line)['epoch'] for line in metrics.read_text().splitlines()] == list(range(1, 9)), 'every epoch once'


@pytest.mark.slow
def test_sigterm_to_a_sweep_of_etude_trials_keeps_each_trials_last_pt(tmp_path: Path) -> None:
    """With a real routine: the trial ends as an interrupted etude run (its last.pt kept, its resume line in its log)."""
    pytest.importorskip('optuna')
    sweep = _repository_sweep(method='grid', parameters={'depth': {'value': 'tiny'}, 'num_of_epochs': {'value': 4}}, early_terminate=None)
    path = _sweep_file(tmp_path, sweep)
    environment = {**os.environ, 'PYTHONPATH': str(ROOT), 'OMP_NUM_THREADS': '1'}
    process = subprocess.Popen([sys.executable, '-m', 'etude', 'sweep', str(path), '--dir', 'sweep', '--testing', '--set', 'number_of_drums=12',
                                '--set', 'strikes_per_drum=4', '--set', 'device=cpu'], cwd=tmp_path, env=environment,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    _wait_for_epochs(process, tmp_path / 'sweep', trials=1, timeout=240)
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 143, stdout + stderr
    (last,) = (tmp_path / 'sweep' / 'trials' / 'trial-0000').glob('*/checkpoints/last.pt')
    assert f'  trial 0: keeps {last.relative_to(tmp_path)}; it resumes from there' in stdout.splitlines()
    log = (tmp_path / 'sweep' / 'trials' / 'trial-0000' / 'output.log').read_text()
    assert '--resume' in log and 'Traceback' not in log, log[-2000:]


@pytest.mark.slow
def test_testing_makes_short_trials_even_when_the_sweep_file_sets_num_of_epochs(tmp_path: Path) -> None:
    """The repository's sweep file sets num_of_epochs: 0 (until early stopping), and a trial's sweep values win over
    --testing in `etude train`: `etude sweep --testing` appends the routine's testing num_of_epochs after them."""
    pytest.importorskip('optuna')
    sweep = _repository_sweep(method='grid', early_terminate=None,
                              parameters={'depth': {'value': 'tiny'}, 'num_of_epochs': {'value': 0}, 'patience': {'value': 6}})
    path = _sweep_file(tmp_path, sweep)
    result = _etude('sweep', str(path), '--dir', 'sweep', '--testing', '--set', 'number_of_drums=12', '--set', 'strikes_per_drum=4',
                    '--set', 'device=cpu', cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "etude sweep: --testing: each trial trains num_of_epochs=2 (the routine's testing value" in result.stdout
    command = json.loads((tmp_path / 'sweep' / 'trials' / 'trial-0000' / 'command.json').read_text())
    assert command.index('num_of_epochs=2') > command.index('--num_of_epochs=0'), 'after the sweep value, so it wins'
    (metrics,) = (tmp_path / 'sweep' / 'trials' / 'trial-0000').glob('*/metrics.jsonl')
    assert len(metrics.read_text().splitlines()) == 2, 'two epochs, as circular_drum_size --testing trains'
