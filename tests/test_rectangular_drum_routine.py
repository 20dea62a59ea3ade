"""The rectangular-drum routine (seed 004) end to end: a real --testing run of scripts/train.py."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import run_script

from etude.data.store import read_dataset

TARGETS = ('drum_size', 'aspect_ratio')


@pytest.mark.slow
def test_testing_run_end_to_end(tmp_path: Path) -> None:
    result = run_script('--routine', 'rectangular_drum_dimensions', '--testing', '--device', 'cpu', 'number_of_drums=16', 'strikes_per_drum=3',
                        f'data_directory={tmp_path / "data"}', cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for name in TARGETS:
        assert f'test MAE {name} ' in result.stdout
    (run,) = [path for path in (tmp_path / 'runs').iterdir()]
    summary = json.loads((run / 'summary.json').read_text())
    assert {'mae', 'mae_drum_size', 'mae_aspect_ratio', 'rmse', 'rmse_drum_size', 'rmse_aspect_ratio'} <= set(summary['test'])
    # the mean predictor per dimension, recomputed from the stored labels and the run's split
    stored = read_dataset(summary['dataset_directory'])
    split = json.loads((run / 'split.json').read_text())
    train, test = split['train']['indices'], split['test']['indices']
    baseline = summary['baselines']['training mean']
    for name in TARGETS:
        labels = np.asarray(stored.labels[name], dtype=np.float64)
        assert baseline[f'mae_{name}'] == pytest.approx(np.abs(labels[test] - labels[train].mean()).mean(), rel=1e-6)
        assert summary['test'][f'mae_{name}'] > 0
    best = torch.load(run / 'checkpoints' / 'best.pt', weights_only=True)
    assert best['task']['targets'] == list(TARGETS) and best['hyperparameters']['outputs'] == 2
    assert best['dataset']['targets'] == list(TARGETS) and best['dataset']['sample_rate'] == 16000


def test_the_local_config_documents_the_defaults() -> None:
    from conftest import SCRIPTS

    from etude.configuration import resolve
    from etude.parameters import read_yaml_parameters
    from etude.training.routines import load_routine

    defaults = load_routine('rectangular_drum_dimensions').defaults
    path = SCRIPTS / 'config' / 'local' / 'rectangular_drum_dimensions.yaml'
    resolved, _ = resolve(defaults, config_path=path)
    assert resolved == defaults, 'every value in the file is the default it documents'
    assert len(read_yaml_parameters(path)) >= 10
