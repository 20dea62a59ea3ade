"""scripts/train.py as a user runs it: a real subprocess, its exit codes and its one-line errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from conftest import ROOT, SCRIPTS, run_script

from etude import load_model

pytestmark = pytest.mark.slow  # scripts/train.py in real subprocesses

SMALL = ['--testing', '--device', 'cpu', 'number_of_drums=12', 'strikes_per_drum=4']


def only_run(runs: Path) -> Path:
    (run,) = [path for path in runs.iterdir() if path.name != 'wandb']
    return run


def assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert 'Traceback' not in result.stderr
    assert len(lines) == 1 and lines[0].startswith('error: '), lines
    for fragment in fragments:
        assert fragment in lines[-1], lines[-1]


def test_testing_run_end_to_end(tmp_path: Path) -> None:
    result = run_script(*SMALL, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert 'test MAE' in result.stdout and 'always predicting the training mean' in result.stdout
    run = only_run(tmp_path / 'runs')
    summary = json.loads((run / 'summary.json').read_text())
    assert summary['test']['mae_cm'] > 0 and summary['baselines']['training mean']['mae_cm'] > 0
    assert len((run / 'metrics.jsonl').read_text().splitlines()) == 2
    config = yaml.safe_load((run / 'config.yaml').read_text())
    assert 'testing' not in config and 'device' not in config, 'run options are not hyperparameters'
    assert summary['run_options']['testing'] is True and summary['run_options']['device'] == 'cpu'
    best = torch.load(run / 'checkpoints' / 'best.pt', weights_only=True)
    assert best['run_info']['run_options']['testing'] is True and 'device' not in best['hyperparameters']
    model = load_model(run / 'checkpoints' / 'best.pt')
    assert model.export_info['dataset']['size'] == 48
    assert (tmp_path / 'data').is_dir()


def test_help_lists_routines() -> None:
    result = subprocess.run([sys.executable, str(SCRIPTS / 'train.py'), '-h'], capture_output=True, text=True, env={**os.environ, 'PYTHONPATH': str(ROOT)})
    assert result.returncode == 0
    assert 'circular_drum_size' in result.stdout and '--resume DIR' in result.stdout


def test_help_of_a_routine_lists_its_keys() -> None:
    result = subprocess.run([sys.executable, str(SCRIPTS / 'train.py'), '--routine', 'circular_drum_size', '-h'], capture_output=True, text=True,
                            env={**os.environ, 'PYTHONPATH': str(ROOT)})
    assert result.returncode == 0, result.stderr
    lines = {line.split('=')[0].strip(): line for line in result.stdout.splitlines() if '=' in line}
    assert 'int' in lines['number_of_drums'] and 'Drums to synthesise' in lines['number_of_drums']
    assert 'Peak learning rate' in lines['learning_rate'] and 'float' in lines['learning_rate']
    assert "one of 'fp32', 'bf16', 'fp16'" in lines['precision']
    assert 'run options' in result.stdout and '--testing sets: number_of_drums=24' in result.stdout


@pytest.mark.parametrize(('arguments', 'fragments'), [
    (['--config', 'absent.yaml'], ['absent.yaml does not exist']),
    (['learnig_rate=0.1'], ["Unknown parameter 'learnig_rate'", "did you mean 'learning_rate'"]),
    (['--batch_size=lots'], ["'batch_size'", 'must be int', "'lots'"]),
    (['--resume', 'runs/nothing-here'], ['Cannot resume', 'no checkpoints/last.pt']),
    (['dataset=5000-square-drums'], ['5000-square-drums']),
    (['--verbose'], ["unrecognised argument '--verbose'"]),
    (['--routine', 'nope'], ["No routine 'nope'", 'the registered routines are circular_drum_size']),
    (['learning_rate=-1'], ["'learning_rate'", 'must be > 0', '-1']),
    (['precision=fp16'], ['fp16 needs a CUDA device']),
])
def test_user_mistakes_are_one_line_and_exit_2(tmp_path: Path, arguments: list[str], fragments: list[str]) -> None:
    assert_one_line_error(run_script(*SMALL, *arguments, cwd=tmp_path), *fragments)


def test_malformed_yaml_is_one_line(tmp_path: Path) -> None:
    config = tmp_path / 'bad.yaml'
    config.write_text('learning_rate: [0.1\n')
    assert_one_line_error(run_script(*SMALL, '--config', str(config), cwd=tmp_path), 'bad.yaml is not valid YAML')


def test_checkpoint_of_another_model_is_refused_on_resume(tmp_path: Path) -> None:
    assert run_script(*SMALL, cwd=tmp_path).returncode == 0
    run = only_run(tmp_path / 'runs')
    before = {path.name: path.read_bytes() for path in run.rglob('*') if path.is_file()}
    result = run_script(*SMALL, '--resume', str(run), 'depth=small', 'num_of_epochs=3', cwd=tmp_path)
    assert_one_line_error(result, "cannot change depth='small' (the run has 'tiny')")
    after = {path.name: path.read_bytes() for path in run.rglob('*') if path.is_file() and path.name in before}
    assert after == before, 'a refused resume changes nothing in the run directory'


@pytest.mark.parametrize('signal_number', [signal.SIGINT, signal.SIGTERM], ids=['ctrl-c', 'sigterm'])
def test_ctrl_c_or_sigterm_saves_and_prints_the_resume_command(tmp_path: Path, signal_number: int) -> None:
    """Ctrl-C, or the SIGTERM that Slurm, Docker and systemd send before a kill: the epoch in hand is kept, the command to resume printed."""
    environment = {**os.environ, 'PYTHONPATH': str(ROOT)}
    process = subprocess.Popen([sys.executable, str(SCRIPTS / 'train.py'), *SMALL, 'num_of_epochs=200', 'patience=200'], cwd=tmp_path, env=environment,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 180
    while time.time() < deadline and not any(path.read_text() for path in (tmp_path / 'runs').glob('*/metrics.jsonl')):
        time.sleep(0.2)
    time.sleep(0.5)
    process.send_signal(signal_number)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 2
    assert 'Traceback' not in stderr
    run = only_run(tmp_path / 'runs')
    assert f'--resume {run.relative_to(tmp_path)}' in stderr.strip().splitlines()[-1]
    saved_epoch = load_model(run / 'checkpoints' / 'last.pt').export_info['run_info']['epoch']
    assert saved_epoch >= 1
    resumed = run_script(*SMALL, '--resume', str(run), f'num_of_epochs={saved_epoch + 1}', cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    epochs = [record['epoch'] for record in map(json.loads, (run / 'metrics.jsonl').read_text().splitlines())]
    assert epochs == list(range(1, saved_epoch + 2)), 'the resumed run continues after the saved epoch, and only once'
