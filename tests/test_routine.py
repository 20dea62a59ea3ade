"""The Routine end to end in-process: reproducibility, exact resume, early stopping, exports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from etude import Routine, load_model
from etude.data import read_dataset
from etude.data.torch_dataset import Crop
from etude.errors import ConfigError, RoutineError
from etude.export import load_export
from etude.models import CRePE

OVERRIDES = ['batch_size=8', 'dropout=0.2', 'dataset_split=[0.5, 0.25, 0.25]', 'device=cpu', 'patience=50']


def train_drums(runs: Path, data: Path, overrides: list[str], resume: Path | None = None) -> tuple[Routine, dict[str, Any]]:
    routine = Routine(runs_directory=runs, resume=resume, verbose=False)
    parameters = routine.set_parameters(CRePE.Parameters(), overrides=[*OVERRIDES, *overrides])
    routine.set_dataset(read_dataset(data), targets=['diameter'], transform=Crop(1024))
    routine.set_model(CRePE(parameters))
    return routine, routine.train()


def losses(run: Path) -> list[tuple[float, float]]:
    return [(line['training_loss'], line['validation_loss']) for line in map(json.loads, (run / 'metrics.jsonl').read_text().splitlines())]


def test_same_seed_gives_identical_losses_and_run_directory(tmp_path: Path, drum_dataset_directory: Path) -> None:
    first, summary = train_drums(tmp_path / 'a', drum_dataset_directory, ['num_of_epochs=2'])
    second, _ = train_drums(tmp_path / 'b', drum_dataset_directory, ['num_of_epochs=2'])
    assert losses(first.run.path) == losses(second.run.path)
    assert len(losses(first.run.path)) == 2
    for name in ('config.yaml', 'split.json', 'metrics.jsonl', 'summary.json', 'checkpoints/best.pt', 'checkpoints/last.pt'):
        assert (first.run.path / name).is_file(), name
    assert set(summary['test']) == {'loss'} and summary['best_epoch'] in (1, 2)
    assert summary['versions']['torch'] == torch.__version__
    other_seed, _ = train_drums(tmp_path / 'c', drum_dataset_directory, ['num_of_epochs=2', 'seed=1'])
    assert losses(other_seed.run.path) != losses(first.run.path)


def test_resume_gives_the_same_weights_as_an_uninterrupted_run(tmp_path: Path, drum_dataset_directory: Path) -> None:
    straight, _ = train_drums(tmp_path / 'straight', drum_dataset_directory, ['num_of_epochs=4'])
    halfway, _ = train_drums(tmp_path / 'resumed', drum_dataset_directory, ['num_of_epochs=2'])
    resumed, _ = train_drums(tmp_path / 'resumed', drum_dataset_directory, ['num_of_epochs=4'], resume=halfway.run.path)
    assert resumed.run.path == halfway.run.path
    straight_weights = load_export(straight.run.last_checkpoint)['model_state_dict']
    resumed_weights = load_export(resumed.run.last_checkpoint)['model_state_dict']
    for name, tensor in straight_weights.items():
        assert torch.equal(tensor, resumed_weights[name]), name
    assert losses(straight.run.path) == losses(resumed.run.path)


def test_export_reloads_with_the_same_predictions(tmp_path: Path, drum_dataset_directory: Path) -> None:
    routine, summary = train_drums(tmp_path, drum_dataset_directory, ['num_of_epochs=2'])
    model = load_model(summary['paths']['best'])
    assert not model.training and isinstance(model, CRePE)
    best = torch.load(summary['paths']['best'], weights_only=True)
    assert best['format'] == 'etude-model' and best['hyperparameters']['batch_size'] == 8
    assert best['dataset']['fingerprint'] == read_dataset(drum_dataset_directory).fingerprint
    assert best['run_info']['epoch'] == summary['best_epoch'] and best['testing_metrics'] == summary['test']
    assert best['model']['class_path'] == 'etude.models.crepe.CRePE'
    inputs = torch.from_numpy(np.array(read_dataset(drum_dataset_directory).inputs[:6, :1024]))
    original = routine.model.eval()
    with torch.no_grad():
        assert torch.equal(original(inputs), model(inputs))


def test_early_stopping_ends_training(tmp_path: Path, drum_dataset_directory: Path) -> None:
    routine, summary = train_drums(tmp_path, drum_dataset_directory, ['num_of_epochs=0', 'patience=1', 'min_delta=1e9'])
    assert summary['stopped_early'] and summary['epochs'] == 2 and summary['best_epoch'] == 1


def test_training_without_a_model_is_a_clear_error(tmp_path: Path, drum_dataset_directory: Path) -> None:
    routine = Routine(runs_directory=tmp_path, verbose=False)
    with pytest.raises(RoutineError, match='set_parameters'):
        routine.train(TensorDataset(torch.zeros(1)))
    routine.set_parameters(CRePE.Parameters(), overrides=OVERRIDES)
    routine.set_dataset(read_dataset(drum_dataset_directory))
    with pytest.raises(RoutineError, match='no model'):
        routine.train(TensorDataset(torch.zeros(48)))


def test_routine_trains_exactly_as_a_hand_written_loop(tmp_path: Path, drum_dataset_directory: Path) -> None:
    """Same seed, same split, same batches, same arithmetic: the Routine adds bookkeeping, never other numbers."""
    routine, _ = train_drums(tmp_path, drum_dataset_directory, ['num_of_epochs=2', 'dropout=0.2'])
    dataset = read_dataset(drum_dataset_directory)
    inputs = torch.from_numpy(np.array(dataset.inputs[:, :1024]))
    targets = torch.from_numpy(np.array(dataset.labels['diameter'])).reshape(-1, 1)
    train = TensorDataset(inputs[routine.split['train']], targets[routine.split['train']])
    torch.manual_seed(0)
    model = CRePE(routine.parameters)
    optimiser = torch.optim.Adam(model.parameters(), lr=routine.parameters.learning_rate)
    for epoch in (1, 2):
        model.train()
        order = torch.Generator().manual_seed(0 * 100_003 + epoch)  # the Routine's documented per-epoch shuffle
        for batch_inputs, batch_targets in torch.utils.data.DataLoader(train, batch_size=8, shuffle=True, generator=order):
            optimiser.zero_grad()
            torch.nn.functional.mse_loss(model(batch_inputs), batch_targets).backward()
            optimiser.step()
    for name, tensor in load_export(routine.run.last_checkpoint)['model_state_dict'].items():
        assert torch.equal(tensor, model.state_dict()[name]), name


class Diverging(CRePE):
    """CRePE whose loss turns to NaN, as a far too high learning rate makes it."""

    def loss(self, predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return super().loss(predictions, targets) * float('nan')


def test_diverging_training_stops_with_a_clear_error(tmp_path: Path, drum_dataset_directory: Path) -> None:
    routine = Routine(runs_directory=tmp_path, verbose=False)
    parameters = routine.set_parameters(CRePE.Parameters(), overrides=[*OVERRIDES, 'num_of_epochs=3'])
    routine.set_dataset(read_dataset(drum_dataset_directory), targets=['diameter'], transform=Crop(1024))
    routine.set_model(Diverging(parameters))
    with pytest.raises(ConfigError, match='Training diverged: the loss was NaN or infinite in 3 updates in a row .*lower learning_rate'):
        routine.train()
    assert not routine.run.path.exists(), 'a run that trained nothing leaves no run directory'


def test_a_dataset_with_its_own_split_keeps_it(tmp_path: Path) -> None:
    """MAESTRO-like data names each item's split; the Routine uses it instead of dealing groups out by fractions."""
    from etude.data import DatasetWriter

    splits = ['train'] * 6 + ['validation'] * 3 + ['test'] * 3
    writer = DatasetWriter(tmp_path / 'data', size=12, input_shape=(4,), label_shapes={'y': ()})
    writer.write(slice(0, 12), np.zeros((12, 4), dtype=np.float32), {'y': np.zeros(12)}, np.arange(12))
    dataset = writer.finish({'name': 'own-split', 'fingerprint': 'x', 'splits': splits})
    routine = Routine(runs_directory=tmp_path / 'runs', verbose=False)
    routine.set_parameters(CRePE.Parameters(), overrides=['device=cpu', 'dataset_split=[0.34, 0.33, 0.33]'])
    routine.set_dataset(dataset)
    assert {name: indices.tolist() for name, indices in routine.split.items()} == {
        'train': [0, 1, 2, 3, 4, 5], 'validation': [6, 7, 8], 'test': [9, 10, 11]}
