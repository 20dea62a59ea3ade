"""W&B for real, in offline mode: a run logs locally with no account, and sweep values take part in resolution."""

from __future__ import annotations

from pathlib import Path

import yaml
from conftest import run_script

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
