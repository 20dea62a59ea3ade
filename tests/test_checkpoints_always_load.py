"""No sequence of public calls writes an export that load_model cannot rebuild; every summary counts the model's parameters."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch.utils.data import TensorDataset

from etude import Routine, load_model
from etude.errors import RoutineError
from etude.models import MelCNN

# what a feature cache's metadata says about tiny log-mel clips of two digits
METADATA = {'input_shape': [8, 16], 'classes': {'digit': ['0', '1']}}
OVERRIDES = ['channels=[4]', 'kernel_sizes=[3]', 'pool_sizes=[2]', 'hidden_units=0', 'batch_size=8', 'num_of_epochs=1', 'device=cpu',
             'time_masks=0', 'frequency_masks=0', 'dataset_split=[0.5,0.25,0.25]']


def digits() -> TensorDataset:
    generator = torch.Generator().manual_seed(0)
    return TensorDataset(torch.randn(32, 8, 16, generator=generator), torch.arange(32) % 2)


def test_the_readme_sequence_is_refused_in_one_line_naming_the_keys_and_the_call(tmp_path: Path) -> None:
    routine = Routine(runs_directory=tmp_path, verbose=False)
    parameters = routine.set_parameters(MelCNN.Parameters(), overrides=OVERRIDES)
    parameters = parameters.updated(MelCNN.input_hyperparameters(METADATA, 'digit'), source='dataset metadata')  # the README's line
    with pytest.raises(RoutineError) as refused:
        routine.set_model(MelCNN(parameters))
    message = str(refused.value)
    assert '\n' not in message
    for expected in ('n_mels=8 (routine: 64)', 'frames=16 (routine: 32)', 'classes=2 (routine: 10)',
                     "routine.update_parameters(parameters, {'n_mels': 8, 'frames': 16, 'classes': 2}, source=...)"):
        assert expected in message, message
    assert routine.model is None
    assert not any(tmp_path.rglob('*.pt')), 'nothing was written'


def test_update_parameters_trains_a_checkpoint_that_loads_and_counts_its_parameters(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    routine = Routine(runs_directory=tmp_path)
    parameters = routine.set_parameters(MelCNN.Parameters(), overrides=OVERRIDES)
    parameters = routine.update_parameters(parameters, MelCNN.input_hyperparameters(METADATA, 'digit'), source='dataset metadata')
    model = routine.set_model(MelCNN(parameters))
    expected = sum(weights.numel() for weights in model.parameters())
    summary = routine.train(digits())
    assert f'etude: model MelCNN, {expected:,} trainable parameters' in capsys.readouterr().out
    assert summary['parameter_count'] == expected
    rebuilt = load_model(summary['paths']['best'])
    assert (rebuilt.hyperparameters.n_mels, rebuilt.hyperparameters.frames, rebuilt.hyperparameters.classes) == (8, 16, 2)
    assert rebuilt(torch.zeros(3, 8, 16)).shape == (3, 2)


def test_frozen_weights_are_not_counted(tmp_path: Path) -> None:
    routine = Routine(runs_directory=tmp_path, verbose=False)
    parameters = routine.set_parameters(MelCNN.Parameters(), overrides=OVERRIDES)
    parameters = routine.update_parameters(parameters, MelCNN.input_hyperparameters(METADATA, 'digit'), source='dataset metadata')
    model = MelCNN(parameters)
    total = sum(weights.numel() for weights in model.parameters())
    first = next(model.parameters())
    first.requires_grad_(False)
    routine.set_model(model)
    assert routine.parameter_count == total - first.numel()
