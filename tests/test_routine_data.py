"""What the Routine trains on: any torch Dataset with groups or a split, dict targets, collate and sampler, and the lazy
adapter over a stored etude dataset."""

from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset, TensorDataset, WeightedRandomSampler
from torch.utils.data.dataloader import default_collate

from etude import Routine
from etude.data import DatasetWriter, read_dataset
from etude.data.store import StoredDataset
from etude.data.torch_dataset import Crop, StoredTorchDataset
from etude.errors import ConfigError, DatasetError, RoutineError
from etude.export import load_export
from etude.metrics import MeanAbsoluteError, RootMeanSquaredError
from etude.model import Model
from etude.parameters import Parameters
from etude.training.step import Step

OPTIONS = ['device=cpu', 'batch_size=4', 'patience=50']
WEIGHTS = [0.0] * 5 + [1.0] * 10 + [3.0] * 5  # over the 20 positions of the train split: the first five are never drawn


@dataclasses.dataclass(kw_only=True)
class LinearParameters(Parameters):
    features: int = 3
    """Inputs per item."""
    outputs: int = 1
    """Numbers predicted per item."""


class LinearModel(Model):
    Parameters = LinearParameters

    def __init__(self, hyperparameters: LinearParameters) -> None:
        super().__init__(hyperparameters)
        self.linear = torch.nn.Linear(hyperparameters.features, hyperparameters.outputs)
        self.seen: list[torch.Tensor] = []  # the inputs of every training batch

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """(batch, ...) → (batch, outputs), the inputs flattened."""
        return self.linear(inputs.flatten(1))

    def training_step(self, batch: Any, step: Step) -> dict[str, torch.Tensor]:
        self.seen.append(batch[0].clone())
        return super().training_step(batch, step)


def speakers_data(items: int = 40) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    generator = torch.Generator().manual_seed(2)
    inputs = torch.randn(items, 3, generator=generator)
    return inputs, inputs @ torch.tensor([[1.0], [2.0], [-1.0]]), np.array([f'speaker-{index % 9}' for index in range(items)])


def test_tensors_in_memory_train_in_five_lines(tmp_path: Path) -> None:
    inputs, targets, speakers = speakers_data()

    routine = Routine(runs_directory=tmp_path, verbose=False)
    parameters = routine.set_parameters(LinearParameters(), overrides=['device=cpu', 'num_of_epochs=2', 'batch_size=8'])
    routine.set_dataset(TensorDataset(inputs, targets), groups=speakers)
    routine.set_model(LinearModel(parameters))
    summary = routine.train()

    parts = {name: set(speakers[indices]) for name, indices in routine.split.items()}
    assert all(parts.values())
    assert not (parts['train'] & parts['validation'] or parts['train'] & parts['test'] or parts['validation'] & parts['test'])
    assert sorted(np.concatenate(list(routine.split.values()))) == list(range(40))
    best = load_export(summary['paths']['best'])
    model = LinearModel(parameters)
    model.load_state_dict(best['model_state_dict'])
    test = torch.as_tensor(routine.split['test'])
    with torch.no_grad():
        expected = torch.nn.functional.mse_loss(model(inputs[test]), targets[test]).item()
    assert summary['test']['loss'] == pytest.approx(expected, rel=1e-6)
    assert best['dataset'] == {'name': 'TensorDataset', 'size': 40}


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_groups_keep_each_group_in_one_split(tmp_path: Path, seed: int) -> None:
    sizes = np.random.default_rng(seed).integers(1, 7, size=12)  # groups of 1 to 6 items
    groups = np.repeat([f'g{index}' for index in range(12)], sizes)
    np.random.default_rng(seed + 10).shuffle(groups)
    routine = Routine(runs_directory=tmp_path, verbose=False)
    routine.set_parameters(LinearParameters(), overrides=[*OPTIONS, f'seed={seed}', 'dataset_split=[0.5, 0.25, 0.25]'])
    routine.set_dataset(TensorDataset(torch.zeros(len(groups), 3), torch.zeros(len(groups), 1)), groups=groups)
    owners: dict[str, set[str]] = {}
    for name, indices in routine.split.items():
        for group in groups[indices]:
            owners.setdefault(str(group), set()).add(name)
    assert len(owners) == 12 and all(len(parts) == 1 for parts in owners.values())
    assert sorted(np.concatenate(list(routine.split.values()))) == list(range(len(groups)))
    with pytest.raises(ConfigError, match=rf'groups= needs one key per item \({len(groups)}\), got 3'):
        routine.set_dataset(TensorDataset(torch.zeros(len(groups), 3)), groups=['a', 'b', 'c'])


def test_an_explicit_split_is_used_as_given(tmp_path: Path) -> None:
    inputs, targets, _ = speakers_data(20)
    split = {'train': [19, 3, 7, 0, 12, 5, 8, 1], 'validation': [2, 4, 6], 'test': [9, 10]}
    routine = Routine(runs_directory=tmp_path, verbose=False)
    parameters = routine.set_parameters(LinearParameters(), overrides=[*OPTIONS, 'num_of_epochs=1'])
    routine.set_dataset(TensorDataset(torch.arange(20).float().unsqueeze(1).repeat(1, 3), targets), split=split)
    assert {name: indices.tolist() for name, indices in routine.split.items()} == split
    model = LinearModel(parameters)
    routine.set_model(model)
    summary = routine.train()
    trained_on = sorted(int(row[0]) for batch in model.seen for row in batch)
    assert trained_on == sorted(split['train'])
    assert summary['split_sizes'] == {'train': 8, 'validation': 3, 'test': 2}


@pytest.mark.parametrize(('split', 'message'), [
    ({'train': [0, 1, 2], 'validation': [2, 3], 'test': [4]}, 'lists an item in two parts'),
    ({'train': [0, 1, 1], 'validation': [3], 'test': [4]}, 'lists an item in two parts'),
    ({'train': [0, 1], 'validation': [3], 'test': [10]}, r'index outside 0\.\.9'),
    ({'train': [-1, 1], 'validation': [3], 'test': [4]}, r'index outside 0\.\.9'),
    ({'train': [0, 1], 'valid': [3], 'test': [4]}, r"parts \['valid'\]; name them train, validation and test"),
    ({'train': [0, 1, 2], 'test': [4]}, 'The validation split of TensorDataset is empty'),
])
def test_bad_splits_are_one_line_errors(tmp_path: Path, split: dict[str, list[int]], message: str) -> None:
    routine = Routine(runs_directory=tmp_path, verbose=False)
    routine.set_parameters(LinearParameters(), overrides=OPTIONS)
    with pytest.raises(ConfigError, match=message) as raised:
        routine.set_dataset(TensorDataset(torch.zeros(10, 3)), split=split)
    assert '\n' not in str(raised.value)


class TwoTargets(Dataset[tuple[torch.Tensor, dict[str, torch.Tensor]]]):
    """Items with a dict of targets, as transcription's onset / frame / velocity are."""

    def __init__(self, items: int = 24) -> None:
        generator = torch.Generator().manual_seed(4)
        self.inputs = torch.randn(items, 3, generator=generator)
        self.a = self.inputs.sum(1, keepdim=True)
        self.b = torch.stack([self.inputs[:, 0] * 2, -self.inputs[:, 1]], dim=1)

    def __len__(self) -> int:
        return len(self.inputs)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return self.inputs[index], {'a': self.a[index], 'b': self.b[index]}


class TwoHeads(Model):
    Parameters = LinearParameters

    def __init__(self, hyperparameters: LinearParameters) -> None:
        super().__init__(hyperparameters)
        self.head_a, self.head_b = torch.nn.Linear(3, 1), torch.nn.Linear(3, 2)

    def forward(self, inputs: torch.Tensor) -> dict[str, torch.Tensor]:  # type: ignore[override]
        """(batch, 3) → {'a': (batch, 1), 'b': (batch, 2)}."""
        return {'a': self.head_a(inputs), 'b': self.head_b(inputs)}

    def loss(self, predictions: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]) -> torch.Tensor:  # type: ignore[override]
        mse = torch.nn.functional.mse_loss
        return mse(predictions['a'], targets['a']) + mse(predictions['b'], targets['b'])


def test_dict_targets_go_through_loss_metrics_and_logging(tmp_path: Path) -> None:
    data = TwoTargets()
    routine = Routine(runs_directory=tmp_path, verbose=False)
    parameters = routine.set_parameters(LinearParameters(), overrides=[*OPTIONS, 'num_of_epochs=2', 'learning_rate=0.05'])
    routine.set_dataset(data, split={'train': list(range(16)), 'validation': list(range(16, 20)), 'test': list(range(20, 24))})
    routine.set_model(TwoHeads(parameters))
    summary = routine.train(metrics=[MeanAbsoluteError(name='mae_a', key='a'), RootMeanSquaredError(name='rmse_b', key='b', columns=['x', 'y'])])
    assert routine.run is not None
    for line in routine.run.read_metrics():
        assert set(line['validation_metrics']) == {'mae_a', 'rmse_b', 'rmse_b_x', 'rmse_b_y'}
    model = TwoHeads(parameters)
    model.load_state_dict(load_export(summary['paths']['best'])['model_state_dict'])
    with torch.no_grad():
        predicted = model(data.inputs[20:])
    error_a = (predicted['a'] - data.a[20:]).double().numpy()
    error_b = (predicted['b'] - data.b[20:]).double().numpy()
    assert summary['test']['mae_a'] == pytest.approx(np.abs(error_a).mean(), rel=1e-6)
    assert summary['test']['rmse_b'] == pytest.approx(np.sqrt(np.square(error_b).mean()), rel=1e-6)
    assert summary['test']['rmse_b_y'] == pytest.approx(np.sqrt(np.square(error_b[:, 1]).mean()), rel=1e-6)
    assert summary['test']['loss'] == pytest.approx(np.square(error_a).mean() + np.square(error_b).mean(), rel=1e-5)


class Sequences(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """Sequences of 2 to 7 frames of 2 values; the target is the mean over frames of their sum."""

    def __init__(self, items: int = 24) -> None:
        generator = torch.Generator().manual_seed(5)
        lengths = torch.randint(2, 8, (items,), generator=generator)
        self.sequences = [torch.randn(int(length), 2, generator=generator) for length in lengths]

    def __len__(self) -> int:
        return len(self.sequences)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.sequences[index], self.sequences[index].sum(1).mean().reshape(1)


def pad_with_mask(items: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[tuple[torch.Tensor, torch.Tensor], torch.Tensor]:
    """((batch, longest, 2) zero-padded frames, (batch, longest) True on real frames), (batch, 1) targets."""
    sequences = [sequence for sequence, _ in items]
    lengths = torch.tensor([len(sequence) for sequence in sequences])
    padded = torch.nn.utils.rnn.pad_sequence(sequences, batch_first=True)
    return (padded, torch.arange(padded.shape[1]) < lengths[:, None]), torch.stack([target for _, target in items])


class MaskedMean(Model):
    Parameters = LinearParameters

    def __init__(self, hyperparameters: LinearParameters) -> None:
        super().__init__(hyperparameters)
        self.frame = torch.nn.Linear(2, 1)
        self.padded_batches = 0

    def forward(self, inputs: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:  # type: ignore[override]
        """((batch, frames, 2), (batch, frames) mask) → (batch, 1): the mean over real frames of a per-frame linear map."""
        frames, mask = inputs
        self.padded_batches += int(not bool(mask.all()))
        per_frame = self.frame(frames).squeeze(-1) * mask
        return (per_frame.sum(1) / mask.sum(1)).unsqueeze(1)


def test_collate_pads_variable_length_sequences_with_a_mask(tmp_path: Path) -> None:
    data = Sequences()
    routine = Routine(runs_directory=tmp_path, verbose=False)
    parameters = routine.set_parameters(LinearParameters(), overrides=[*OPTIONS, 'num_of_epochs=2', 'learning_rate=0.05'])
    routine.set_dataset(data, split={'train': list(range(16)), 'validation': list(range(16, 20)), 'test': list(range(20, 24))}, collate=pad_with_mask)
    model = MaskedMean(parameters)
    routine.set_model(model)
    summary = routine.train()
    assert model.padded_batches > 0, 'the batches were padded'
    alone = MaskedMean(parameters)
    alone.load_state_dict(load_export(summary['paths']['best'])['model_state_dict'])
    with torch.no_grad():  # each test item on its own: no padding at all
        errors = [float(alone((sequence[None], torch.ones(1, len(sequence), dtype=torch.bool))) - target) for sequence, target in
                  (data[index] for index in range(20, 24))]
    assert summary['test']['loss'] == pytest.approx(float(np.mean(np.square(errors))), rel=1e-5)


def sampled_ids(tmp_path: Path, generator: torch.Generator) -> list[list[int]]:
    """Per epoch, the ids of the items trained on, with a weighted sampler over the positions of the train split."""
    ids = torch.arange(28).float().unsqueeze(1).repeat(1, 3)
    weights = WEIGHTS
    routine = Routine(runs_directory=tmp_path, verbose=False)
    parameters = routine.set_parameters(LinearParameters(), overrides=[*OPTIONS, 'num_of_epochs=2', 'seed=3'])
    routine.set_dataset(TensorDataset(ids, torch.zeros(28, 1)), split={'train': list(range(8, 28)), 'validation': [0, 1, 2, 3], 'test': [4, 5, 6, 7]},
                        sampler=WeightedRandomSampler(weights, num_samples=20, replacement=True, generator=generator))
    model = LinearModel(parameters)
    routine.set_model(model)
    routine.train()
    flat = [int(row[0]) for batch in model.seen for row in batch]
    return [flat[:20], flat[20:]]


def test_a_weighted_sampler_draws_the_same_batches_on_a_rerun_from_seed_and_epoch_alone(tmp_path: Path) -> None:
    advanced = torch.Generator().manual_seed(99)
    torch.rand(17, generator=advanced)  # a generator already drawn from: the draws must still depend on (seed, epoch) only
    first, second = sampled_ids(tmp_path / 'a', torch.Generator()), sampled_ids(tmp_path / 'b', advanced)
    assert first == second
    weights = WEIGHTS
    for epoch, drawn in enumerate(first, start=1):
        documented = torch.Generator().manual_seed(3 * 100_003 + epoch)
        positions = list(WeightedRandomSampler(weights, num_samples=20, replacement=True, generator=documented))
        assert drawn == [8 + position for position in positions]
        assert not set(drawn) & set(range(8, 13)), 'a zero weight is never drawn'
    assert first[0] != first[1]


def test_a_sampler_over_the_wrong_positions_or_under_torchrun_is_a_one_line_error(tmp_path: Path) -> None:
    routine = Routine(runs_directory=tmp_path, verbose=False)
    parameters = routine.set_parameters(LinearParameters(), overrides=[*OPTIONS, 'num_of_epochs=1'])
    split = {'train': list(range(8, 28)), 'validation': [0, 1, 2, 3], 'test': [4, 5, 6, 7]}
    everything = WeightedRandomSampler([1.0] * 28, num_samples=20)  # weights over the whole dataset, not the train split
    routine.set_dataset(TensorDataset(torch.zeros(28, 3), torch.zeros(28, 1)), split=split, sampler=everything)
    routine.set_model(LinearModel(parameters))
    with pytest.raises(ConfigError, match=r"sampler= weighs 28 positions but the train split has 20 items; give one weight per position") as raised:
        routine.train()
    assert '\n' not in str(raised.value)
    from etude.training.distributed import Distributed
    from etude.training.loaders import training_loader

    with pytest.raises(ConfigError, match='sampler= is not supported under torchrun'):
        training_loader(TensorDataset(torch.zeros(20, 3)), np.arange(20), batch_size=4, seed=0, epoch=1, num_workers=0, device=torch.device('cpu'),
                        distributed=Distributed(rank=0, world_size=2), sampler=WeightedRandomSampler(WEIGHTS, num_samples=20))


@pytest.mark.parametrize('details', [{'split': {'validation': [0, 1], 'test': [2, 3]}}, {}])
def test_an_empty_train_split_is_a_one_line_error(tmp_path: Path, details: dict[str, Any]) -> None:
    routine = Routine(runs_directory=tmp_path, verbose=False)
    routine.set_parameters(LinearParameters(), overrides=[*OPTIONS, 'dataset_split=[0, 0.5, 0.5]'])
    with pytest.raises(ConfigError, match=r'The train split of TensorDataset is empty \(12 items\); give dataset_split a train fraction') as raised:
        routine.set_dataset(TensorDataset(torch.zeros(12, 3)), **details)
    assert '\n' not in str(raised.value)


def write_store(directory: Path, labels: tuple[str, ...] = ('digit', 'width', 'height', 'frame')) -> StoredDataset:
    """12 items of (2, 6) inputs; labels: digit () int64, width and height () float32, frame (3,) float32."""
    rng = np.random.default_rng(0)
    shapes: dict[str, tuple[int, ...]] = {'digit': (), 'width': (), 'height': (), 'frame': (3,)}
    values = {'digit': rng.integers(0, 10, 12), 'width': rng.random(12), 'height': rng.random(12), 'frame': rng.random((12, 3))}
    writer = DatasetWriter(directory, size=12, input_shape=(2, 6), label_shapes={name: shapes[name] for name in labels},
                           label_dtypes={'digit': 'int64'} if 'digit' in labels else None)
    writer.write(slice(0, 12), rng.standard_normal((12, 2, 6)).astype(np.float32), {name: values[name] for name in labels}, np.arange(12) // 2)
    return writer.finish({'name': 'toy-store', 'fingerprint': f'toy-{"-".join(labels)}'})


def equal(first: Any, second: Any) -> bool:
    if isinstance(first, torch.Tensor):
        return isinstance(second, torch.Tensor) and first.dtype == second.dtype and torch.equal(first, second)
    if isinstance(first, dict):
        return isinstance(second, dict) and first.keys() == second.keys() and all(equal(first[key], second[key]) for key in first)
    if isinstance(first, (tuple, list)):
        return type(first) is type(second) and len(first) == len(second) and all(equal(a, b) for a, b in zip(first, second, strict=True))
    return bool(first == second)


def test_target_specs_choose_the_labels(tmp_path: Path) -> None:
    stored = write_store(tmp_path / 'store')
    labels = {name: np.array(array) for name, array in stored.labels.items()}
    inputs = np.array(stored.inputs)
    item = 5
    digit = StoredTorchDataset(stored, 'digit')[item]
    assert equal(digit, (torch.from_numpy(inputs[item]), torch.tensor(labels['digit'][item])))
    assert digit[1].shape == () and digit[1].dtype == torch.int64
    assert equal(StoredTorchDataset(stored, ['width'])[item][1], torch.tensor([labels['width'][item]]))
    assert equal(StoredTorchDataset(stored, ['width', 'height'])[item][1], torch.tensor([labels['width'][item], labels['height'][item]]))
    assert equal(StoredTorchDataset(stored, ['frame', 'width'])[item][1], torch.from_numpy(np.append(labels['frame'][item], labels['width'][item])))
    assert equal(StoredTorchDataset(stored, ('frame', 'digit'))[item][1], (torch.from_numpy(labels['frame'][item]), torch.tensor(labels['digit'][item])))
    assert equal(StoredTorchDataset(stored, {'onset': 'frame', 'class': 'digit'})[item][1],
                 {'onset': torch.from_numpy(labels['frame'][item]), 'class': torch.tensor(labels['digit'][item])})
    assert equal(StoredTorchDataset(stored)[item][1], {name: torch.as_tensor(labels[name][item]) for name in ('digit', 'width', 'height', 'frame')})
    only = write_store(tmp_path / 'only', labels=('width',))
    assert equal(StoredTorchDataset(only)[item][1], torch.tensor(np.asarray(only.labels['width'])[item]))
    cropped = StoredTorchDataset(stored, 'digit', transform=Crop(4))[item][0]
    assert equal(cropped, torch.from_numpy(inputs[item, :, :4]))


@pytest.mark.parametrize('targets', ['digit', ['width', 'height'], ('frame', 'digit'), {'f': 'frame'}])
def test_batched_reads_equal_item_reads_in_any_order(tmp_path: Path, targets: Any) -> None:
    stored = write_store(tmp_path / 'store')
    for transform in (None, Crop(3)):
        dataset = StoredTorchDataset(stored, targets, transform=transform)
        for indices in ([0, 1, 2], [11, 3, 7, 0], [5, 1, 5, 0, 11, 5], list(np.random.default_rng(1).permutation(12))):
            assert equal(dataset.__getitems__(indices), [dataset[int(index)] for index in indices]), indices


def test_pickling_drops_the_memory_maps_and_workers_read_the_right_items(tmp_path: Path) -> None:
    stored = write_store(tmp_path / 'store')
    dataset = StoredTorchDataset(stored, ['width', 'height'], transform=Crop(5))
    travelled = pickle.loads(pickle.dumps(dataset))
    assert travelled._stored is None, 'memory maps are reopened where they are read, never pickled'
    assert not any(isinstance(value, np.memmap) for value in dataset.__getstate__().values())
    expected = [default_collate([dataset[index] for index in range(start, min(start + 5, 12))]) for start in range(0, 12, 5)]
    assert equal([travelled[index] for index in range(12)], [dataset[index] for index in range(12)])
    loader = DataLoader(dataset, batch_size=5, num_workers=2, multiprocessing_context='forkserver')  # workers get the dataset pickled
    assert equal(list(loader), expected)


def test_unknown_or_no_labels_are_dataset_errors(tmp_path: Path) -> None:
    stored = write_store(tmp_path / 'store')
    for targets, message in (('colour', "No label 'colour' in this dataset; its labels are (digit|frame|height|width)(, (digit|frame|height|width)){3}$"),
                             (['width', 'depth'], "No label 'depth'"), ({'x': 'nope'}, "No label 'nope'"), ([], 'targets names no label')):
        with pytest.raises(DatasetError, match=message) as raised:
            StoredTorchDataset(stored, targets)
        assert '\n' not in str(raised.value)
    routine = Routine(runs_directory=tmp_path / 'runs', verbose=False)
    routine.set_parameters(LinearParameters(), overrides=[*OPTIONS, 'dataset_split=[0.34, 0.33, 0.33]'])
    with pytest.raises(DatasetError, match="No label 'colour'"):
        routine.set_dataset(stored, targets='colour')
    with pytest.raises(RoutineError, match='targets= and transform= choose labels of a stored etude dataset'):
        routine.set_dataset(TensorDataset(torch.zeros(12, 3)), targets='digit')


def test_train_takes_the_stored_dataset_it_was_given_but_no_other(tmp_path: Path) -> None:
    stored = write_store(tmp_path / 'store')
    routine = Routine(runs_directory=tmp_path / 'runs', verbose=False)
    parameters = routine.set_parameters(LinearParameters(features=12), overrides=[*OPTIONS, 'num_of_epochs=1', 'dataset_split=[0.34, 0.33, 0.33]'])
    routine.set_dataset(stored, targets=['width'])
    routine.set_model(LinearModel(parameters))
    summary = routine.train(read_dataset(stored.directory))  # the same folder opened again is the same dataset
    assert summary['dataset']['name'] == 'toy-store' and summary['dataset']['targets'] == ['width']
    other = write_store(tmp_path / 'other', labels=('width',))
    for data in (other, TensorDataset(torch.zeros(12, 12), torch.zeros(12, 1))):
        with pytest.raises(RoutineError, match='train\\(\\) got another dataset than set_dataset\\(\\)'):
            routine.train(data)
