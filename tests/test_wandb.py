"""W&B for real, in offline mode: a run logs locally with no account, and sweep values take part in resolution."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, run_script

pytestmark = pytest.mark.slow  # real subprocesses with W&B offline

SMALL = ['--testing', '--device', 'cpu', 'number_of_drums=12', 'strikes_per_drum=4']


def test_offline_run_logs_metrics_and_best_checkpoint(tmp_path: Path) -> None:
    result = run_script(*SMALL, '--wandb', cwd=tmp_path, env={'WANDB_MODE': 'offline'})
    assert result.returncode == 0, result.stderr
    (offline_run,) = (tmp_path / 'runs' / 'wandb').glob('offline-run-*')
    assert list(offline_run.glob('*.wandb')), 'the run wrote its local log'
    assert list(offline_run.rglob('best.pt')), 'the best checkpoint is saved with the W&B run'


def test_sweep_values_then_command_line(tmp_path: Path) -> None:
    """What `wandb agent` does: write the chosen values to a file, name it in WANDB_SWEEP_PARAM_PATH, pass --key=value."""
    sweep_values = tmp_path / 'sweep-config.yaml'
    sweep_values.write_text(yaml.safe_dump({'learning_rate': {'value': 0.002}, 'dropout': {'value': 0.05}, 'batch_size': {'value': 8}}))
    environment = {'WANDB_MODE': 'offline', 'WANDB_SWEEP_PARAM_PATH': str(sweep_values)}
    result = run_script(*SMALL, '--wandb', '--batch_size=12', cwd=tmp_path, env=environment)
    assert result.returncode == 0, result.stderr
    (run,) = [path for path in (tmp_path / 'runs').iterdir() if path.name != 'wandb']
    config = yaml.safe_load((run / 'config.yaml').read_text())
    assert (config['learning_rate'], config['dropout'], config['batch_size']) == (0.002, 0.05, 12)


def test_sweep_file_runs_as_the_agent_starts_it(tmp_path: Path) -> None:
    """Build the command `wandb agent` would run for our sweep file with wandb's own helpers, then run it."""
    from wandb.sdk.launch.sweeps import utils as sweep_utils
    from wandb.sdk.lib.config_util import save_config_file_from_dict

    sweep = sweep_utils.load_sweep_config(str(ROOT / 'scripts' / 'config' / 'wandb' / 'circular_drum_size.yaml'))
    assert sweep is not None and sweep['program'] == 'scripts/train.py'
    chosen = {'batch_size': {'value': 16}, 'dropout': {'value': 0.2}, 'learning_rate': {'value': 0.003}, 'depth': {'value': 'small'},
              'num_of_epochs': {'value': 2}, 'patience': {'value': 6}}
    assert set(chosen) == set(sweep['parameters']), 'one value for every swept parameter'
    variables = {**sweep_utils.create_sweep_command_args({'args': chosen}), 'env': [], 'interpreter': [sys.executable],
                 'program': [str(ROOT / sweep['program'])]}
    command: list[str] = []
    for part in sweep_utils.create_sweep_command(sweep['command']):
        command += variables[part[2:-1]] if part.startswith('${') else [part]
    assert '--learning_rate=0.003' in command and '--wandb' in command
    save_config_file_from_dict(tmp_path / 'sweep-config.yaml', chosen)
    environment = {**os.environ, 'PYTHONPATH': str(ROOT), 'WANDB_MODE': 'offline', 'WANDB_SWEEP_PARAM_PATH': str(tmp_path / 'sweep-config.yaml')}
    result = subprocess.run([*command, 'number_of_drums=12', 'strikes_per_drum=4', '--device=cpu', '--testing'], cwd=tmp_path, env=environment,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    (run,) = [path for path in (tmp_path / 'runs').iterdir() if path.name != 'wandb']
    config = yaml.safe_load((run / 'config.yaml').read_text())
    assert (config['batch_size'], config['dropout'], config['learning_rate'], config['depth']) == (16, 0.2, 0.003, 'small')
