"""Split metrics against scikit-learn and NumPy, merged from shares as torchrun gathers them, and monitored by the Routine."""

from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score
from torch.utils.data import TensorDataset

from etude import Routine
from etude.errors import ConfigError
from etude.export import load_export
from etude.metrics import Accuracy, Classification, DecodedMetric, Mean, MeanAbsoluteError, Metric, RootMeanSquaredError, fresh_metrics
from etude.model import Model
from etude.parameters import Parameters
from etude.training.early_stopping import EarlyStopping


def batches(*tensors: torch.Tensor, sizes: tuple[int, ...] = (7, 1, 30, 12)) -> list[tuple[torch.Tensor, ...]]:
    """The tensors cut into batches of uneven sizes (the last batch takes the rest)."""
    cuts = np.cumsum(sizes)
    bounds = [0, *[int(cut) for cut in cuts if cut < len(tensors[0])], len(tensors[0])]
    return [tuple(tensor[start:stop] for tensor in tensors) for start, stop in zip(bounds[:-1], bounds[1:], strict=True)]


def fed(metric: Metric, predictions: torch.Tensor, targets: torch.Tensor) -> Metric:
    for batch_predictions, batch_targets in batches(predictions, targets):
        metric.update(batch_predictions, batch_targets)
    return metric


def classification_data(seed: int, classes: int = 5, items: int = 80) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits and targets where class 3 is never the target but is sometimes predicted, and class 4 is neither."""
    generator = torch.Generator().manual_seed(seed)
    targets = torch.tensor([0, 1, 2])[torch.randint(0, 3, (items,), generator=generator)]
    logits = torch.randn(items, classes, generator=generator)
    logits[:, 4] -= 100.0
    logits[torch.arange(items), targets] += 1.0  # better than chance, not perfect
    return logits, targets


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_classification_matches_scikit_learn(seed: int) -> None:
    logits, targets = classification_data(seed)
    metric = fed(Classification(num_classes=5, name='digit'), logits, targets)
    assert isinstance(metric, Classification)
    true, predicted = targets.numpy(), logits.argmax(1).numpy()
    assert 3 in predicted and 3 not in true and 4 not in predicted, 'the data must hold a predicted-only and an absent class'
    seen = sorted(set(true) | set(predicted))
    result = metric.compute()
    assert result['digit_accuracy'] == pytest.approx(accuracy_score(true, predicted), abs=1e-12)
    assert result['digit_macro_f1'] == pytest.approx(f1_score(true, predicted, average='macro', labels=seen, zero_division=0), abs=1e-12)
    assert np.array_equal(metric.confusion, confusion_matrix(true, predicted, labels=list(range(5))))
    assert fed(Accuracy(), logits, targets).compute() == {'accuracy': pytest.approx(accuracy_score(true, predicted), abs=1e-12)}
    ids = fed(Classification(num_classes=5), logits.argmax(1), targets).compute()  # class ids instead of logits
    assert ids == {'accuracy': result['digit_accuracy'], 'macro_f1': result['digit_macro_f1']}


@pytest.mark.parametrize(('logits', 'targets', 'diagonal'), [
    (torch.eye(3)[[0, 1, 2]], torch.tensor([0, 1, 3]), [2, 2, 0]),  # a label beyond num_classes
    (torch.eye(4)[[0, 3, 2]], torch.tensor([0, 1, 2]), [2, 1, 1]),  # a model with more outputs than num_classes: 3 predicted for a 1
    (torch.eye(3)[[0, 1, 2]], torch.tensor([0, -1, 2]), [2, 1, 1]),
])
def test_a_class_outside_num_classes_is_a_one_line_error_not_another_cell(logits: torch.Tensor, targets: torch.Tensor, diagonal: list[int]) -> None:
    metric = Classification(num_classes=3)
    metric.update(torch.eye(3)[[0, 1]], torch.tensor([0, 1]))
    metric.update(logits, targets)
    assert metric.confusion.sum() == 4 and np.array_equal(np.diag(metric.confusion), diagonal), 'the stray item is in no cell'
    with pytest.raises(ConfigError, match=r'1 items have a target or predicted class outside 0\.\.2; set num_classes \(now 3\)') as raised:
        metric.compute()
    assert '\n' not in str(raised.value)


def regression_data(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(50, 3, generator=generator), torch.randn(50, 3, generator=generator) * 2


@pytest.mark.parametrize('seed', [0, 1])
def test_mae_and_rmse_match_numpy_overall_and_per_column(seed: int) -> None:
    predictions, targets = regression_data(seed)
    columns = ['width', 'height', 'depth']
    errors = predictions.double().numpy() - targets.double().numpy()
    mae = fed(MeanAbsoluteError(name='mae_cm', scale=100, columns=columns), predictions, targets).compute()
    rmse = fed(RootMeanSquaredError(columns=columns), predictions, targets).compute()
    assert mae['mae_cm'] == pytest.approx(np.abs(errors).mean() * 100, rel=1e-12)
    assert rmse['rmse'] == pytest.approx(np.sqrt(np.square(errors).mean()), rel=1e-12)
    for index, column in enumerate(columns):
        assert mae[f'mae_cm_{column}'] == pytest.approx(np.abs(errors[:, index]).mean() * 100, rel=1e-12)
        assert rmse[f'rmse_{column}'] == pytest.approx(np.sqrt(np.square(errors[:, index]).mean()), rel=1e-12)
    flat = fed(MeanAbsoluteError(), predictions[:, :1], targets[:, 0]).compute()  # (batch,) targets against (batch, 1) predictions
    assert flat == {'mae': pytest.approx(np.abs(errors[:, 0]).mean(), rel=1e-12)}


def test_mean_is_weighted_by_batch_size() -> None:
    values, weights = [2.0, 5.0, -1.0], [4, 1, 3]
    mean = Mean()
    for value, weight in zip(values, weights, strict=True):
        mean.add(torch.tensor(value), weight)
    assert mean.compute() == {'loss': pytest.approx(np.average(values, weights=weights), rel=1e-12)}
    assert Mean(name='empty').compute()['empty'] != Mean(name='empty').compute()['empty'], 'nothing added: NaN, not 0'


def every_metric() -> list[tuple[Metric, torch.Tensor, torch.Tensor]]:
    logits, labels = classification_data(5)
    predictions, targets = regression_data(5)
    return [(Classification(num_classes=5), logits, labels), (Accuracy(), logits, labels),
            (MeanAbsoluteError(columns=['a', 'b', 'c']), predictions, targets), (RootMeanSquaredError(scale=10), predictions, targets)]


@pytest.mark.parametrize('index', range(4))
def test_two_halves_merged_and_pickled_equal_the_whole(index: int) -> None:
    """Each torchrun process updates its share; all_gather_object pickles the metrics; rank order merges them."""
    prototype, predictions, targets = every_metric()[index]
    whole, first, second = fresh_metrics([prototype, prototype, prototype])
    fed(whole, predictions, targets)
    fed(first, predictions[:23], targets[:23])
    fed(second, predictions[23:], targets[23:])
    travelled = pickle.loads(pickle.dumps(second))
    assert travelled.compute() == second.compute(), 'a pickled metric keeps its statistics'
    first.merge(travelled)
    merged, expected = first.compute(), whole.compute()
    assert merged.keys() == expected.keys()
    for key, value in expected.items():
        assert merged[key] == pytest.approx(value, rel=1e-12), key
    assert prototype.compute() != expected, 'the prototype itself was never updated'


def test_decoded_metric_pools_items_of_the_whole_split_in_order() -> None:
    """Note F1 per piece and set divergences need the decoded items of the split, in dataset order, scored once."""
    def decode(predictions: torch.Tensor, targets: torch.Tensor) -> list[Any]:
        return [(int(target), float(prediction)) for prediction, target in zip(predictions, targets, strict=True)]

    scored: list[list[Any]] = []

    def score(items: list[Any]) -> dict[str, float]:
        scored.append(list(items))
        return {'order_weighted': sum(position * value for position, (_, value) in enumerate(items)), 'items': len(items)}

    predictions, identities = torch.randn(30), torch.arange(30)
    first, second = DecodedMetric(decode, score), DecodedMetric(lambda p, t: decode(p, t), score)
    for batch_predictions, batch_identities in batches(predictions[:11], identities[:11], sizes=(4, 4)):
        first.update(batch_predictions, batch_identities)
    for batch_predictions, batch_identities in batches(predictions[11:], identities[11:], sizes=(5,)):
        second.update(batch_predictions, batch_identities)
    first.merge(pickle.loads(pickle.dumps(second)))  # a lambda's metric still travels: only the items do
    result = first.compute()
    assert [identity for identity, _ in scored[-1]] == list(range(30))
    expected = sum(position * float(value) for position, value in enumerate(predictions))
    assert result == {'order_weighted': pytest.approx(expected, rel=1e-12), 'items': 30.0}


class WithinTolerance(DecodedMetric):
    """A task metric with a setting of its own, as note F1's onset tolerance is."""

    def __init__(self, tolerance: float) -> None:
        super().__init__(lambda predictions, targets: (predictions - targets).abs().tolist(), self.share)
        self.tolerance = tolerance

    def share(self, items: list[Any]) -> dict[str, float]:
        return {'within': float(np.mean(np.asarray(items) <= self.tolerance))}


def test_decoded_metrics_copied_for_a_pass_or_pickled_keep_their_settings() -> None:
    prototype = WithinTolerance(0.5)
    first, second = fresh_metrics([prototype, prototype])
    assert isinstance(second, WithinTolerance)
    first.update(torch.tensor([0.0, 1.0]), torch.tensor([0.2, 0.2]))
    second.update(torch.tensor([3.0]), torch.tensor([2.9]))
    assert prototype.items == [] and first.compute() == {'within': 0.5}, 'a fresh copy keeps its functions and starts empty'
    travelled = pickle.loads(pickle.dumps(second))
    assert isinstance(travelled, WithinTolerance) and travelled.tolerance == 0.5 and travelled.items == second.items
    first.merge(travelled)
    assert first.compute() == {'within': pytest.approx(2 / 3)}


@dataclasses.dataclass(kw_only=True)
class PlannedParameters(Parameters):
    classes: int = 4
    """Classes of the toy task."""


ACCURACY_PLAN = [2, 4, 3]  # residues (of 4) predicted right in epochs 1, 2, 3: accuracy 0.5, 1.0, 0.75
LOSS_PLAN = [1.0, 3.0, 2.0]  # the loss is lowest in epoch 1, the accuracy highest in epoch 2


class PlannedClassifier(Model):
    """Trains a linear layer, but reports the validation results planned for each epoch, so the monitor decides alone."""

    Parameters = PlannedParameters

    def __init__(self, hyperparameters: PlannedParameters) -> None:
        super().__init__(hyperparameters)
        self.linear = torch.nn.Linear(1, hyperparameters.classes)
        self.training_batches = 0

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """(batch, 1) item index → (batch, classes) logits."""
        return self.linear(inputs)

    def loss(self, predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.training_batches += 1
        return torch.nn.functional.cross_entropy(predictions, targets)

    def evaluation_step(self, batch: Any) -> dict[str, Any]:
        inputs, targets = batch
        epoch = min(max(0, self.training_batches // 2 - 1), 2)  # 2 training batches per epoch
        right = (inputs[:, 0].long() % 4) < ACCURACY_PLAN[epoch]
        predicted = torch.where(right, targets, (targets + 1) % 4)
        return {'loss': torch.tensor(LOSS_PLAN[epoch]), 'predictions': torch.nn.functional.one_hot(predicted, 4).float(), 'targets': targets}


@pytest.mark.parametrize(('monitor', 'mode', 'best_epoch'), [('validation_accuracy', 'max', 2), ('validation_loss', 'min', 1)])
def test_the_monitored_metric_picks_best_pt(tmp_path: Path, monitor: str, mode: str, best_epoch: int) -> None:
    items = torch.arange(24)
    routine = Routine(runs_directory=tmp_path, verbose=False)
    parameters = routine.set_parameters(PlannedParameters(), overrides=[
        'device=cpu', 'batch_size=4', 'num_of_epochs=3', 'patience=10', f'monitor={monitor}', f'monitor_mode={mode}'])
    routine.set_dataset(TensorDataset(items.float().unsqueeze(1), items % 4),
                        split={'train': list(range(8)), 'validation': list(range(8, 16)), 'test': list(range(16, 24))})
    routine.set_model(PlannedClassifier(parameters))
    summary = routine.train(metrics=[Classification(num_classes=4)])
    assert routine.run is not None
    logged = [line['validation_metrics']['accuracy'] for line in routine.run.read_metrics()]
    assert logged == [plan / 4 for plan in ACCURACY_PLAN]
    best = load_export(routine.run.best_checkpoint)
    assert best['run_info']['epoch'] == summary['best_epoch'] == best_epoch
    assert best['validation_metrics']['accuracy'] == ACCURACY_PLAN[best_epoch - 1] / 4
    assert summary['monitor'] == monitor
    assert summary['best_validation'] == (ACCURACY_PLAN[best_epoch - 1] / 4 if monitor == 'validation_accuracy' else LOSS_PLAN[best_epoch - 1])
    assert set(summary['test']) == {'loss', 'accuracy', 'macro_f1'}


def test_monitoring_a_metric_that_is_not_reported_is_a_one_line_error(tmp_path: Path) -> None:
    routine = Routine(runs_directory=tmp_path, verbose=False)
    parameters = routine.set_parameters(PlannedParameters(), overrides=['device=cpu', 'batch_size=4', 'num_of_epochs=1', 'monitor=validation_f1'])
    items = torch.arange(24)
    routine.set_dataset(TensorDataset(items.float().unsqueeze(1), items % 4), split={'train': list(range(8)), 'validation': list(range(8, 16)),
                                                                                   'test': list(range(16, 24))})
    routine.set_model(PlannedClassifier(parameters))
    with pytest.raises(ConfigError, match='monitor is validation_f1, but the validation metrics are .*validation_macro_f1') as raised:
        routine.train(metrics=[Classification(num_classes=4)])
    assert '\n' not in str(raised.value)


@pytest.mark.parametrize('mode', ['min', 'max'])
def test_a_nan_first_value_does_not_freeze_the_best(mode: str) -> None:
    """A metric undefined in the first epoch (NaN) must not stay the best for ever: NaN compares false with everything."""
    stopping = EarlyStopping(patience=3, mode=mode)  # type: ignore[arg-type]
    nan = float('nan')
    assert [stopping.update(epoch, value) for epoch, value in enumerate([nan, nan, 0.5, nan, 0.4, 0.6], start=1)] == [
        True, False, True, False, mode == 'min', mode == 'max']
    assert stopping.best_epoch == (5 if mode == 'min' else 6) and stopping.epochs_without_improvement == (1 if mode == 'min' else 0)


def test_the_routine_monitors_a_decoded_metric_that_starts_undefined(tmp_path: Path) -> None:
    plan = iter([float('nan'), 0.25, 0.5, 0.1])  # validation of epochs 1-3, then the test pass

    def score(items: list[Any]) -> dict[str, float]:
        return {'planned': next(plan)}

    items = torch.arange(24)
    routine = Routine(runs_directory=tmp_path, verbose=False)
    parameters = routine.set_parameters(PlannedParameters(), overrides=[
        'device=cpu', 'batch_size=4', 'num_of_epochs=3', 'patience=10', 'monitor=validation_planned', 'monitor_mode=max'])
    routine.set_dataset(TensorDataset(items.float().unsqueeze(1), items % 4),
                        split={'train': list(range(8)), 'validation': list(range(8, 16)), 'test': list(range(16, 24))})
    routine.set_model(PlannedClassifier(parameters))
    summary = routine.train(metrics=[DecodedMetric(lambda predictions, targets: [0] * len(targets), score)])
    assert summary['best_epoch'] == 3 and summary['best_validation'] == 0.5 and summary['test']['planned'] == 0.1
