"""Metrics over a whole split: update per batch, compute once, merge across processes.

Averaging per-batch scalars cannot express a note F1 over pieces or a divergence between the histograms of a whole
generated set, and under torchrun each process sees only its share of a split. So a metric keeps sufficient
statistics (sums, counts, a confusion matrix, or decoded items), `update` adds a batch to them, `merge` adds another
process's, and `compute` turns them into numbers once. State stays on the device while batches are added (no sync
per batch) and travels to the CPU when a metric is pickled to be gathered.

    metrics = [MeanAbsoluteError(name='mae_cm', scale=100), Classification(num_classes=10)]
    routine.train(metrics=metrics)          # validation_mae_cm ... in metrics.jsonl, test_mae_cm in summary.json

Each metric reads `predictions[key]` and `targets[key]` when `key` is given, so dict targets (onset, frame, ...) get
one metric each.
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, Self

import numpy as np
import torch

from .errors import ConfigError

__all__ = ['Accuracy', 'Classification', 'DecodedMetric', 'Mean', 'MeanAbsoluteError', 'Metric', 'RootMeanSquaredError', 'fresh_metrics']


class Metric(ABC):
    """Sufficient statistics of one figure (or a few) over a split; subclasses name their tensor state in `_state`."""

    key: str | None = None
    _state: tuple[str, ...] = ()

    @abstractmethod
    def update(self, predictions: Any, targets: Any) -> None:
        """Add one batch: `predictions` as the model returned them, `targets` as the dataset gave them."""

    @abstractmethod
    def compute(self) -> dict[str, float]:
        """The figures, once every batch (and every process's share) has been added."""

    def merge(self, other: Self) -> None:
        """Add another process's statistics of the same metric (sums add; subclasses with other state override)."""
        for name in self._state:
            mine = getattr(self, name)
            setattr(self, name, mine + getattr(other, name).to(mine.device))

    def select(self, predictions: Any, targets: Any) -> tuple[torch.Tensor, torch.Tensor]:
        if self.key is None:
            return predictions, targets
        return predictions[self.key], targets[self.key]

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        for name in self._state:
            state[name] = state[name].detach().cpu()
        return state


def fresh_metrics(prototypes: Sequence[Metric]) -> list[Metric]:
    """Unused copies of `prototypes`, one set per evaluation pass (a prototype itself is never updated)."""
    return [copy.deepcopy(prototype) for prototype in prototypes]


def _accumulator(device: torch.device | str = 'cpu', size: int | tuple[int, ...] = ()) -> torch.Tensor:
    dtype = torch.float32 if torch.device(device).type == 'mps' else torch.float64  # MPS has no float64
    return torch.zeros(size, dtype=dtype, device=device)


class Mean(Metric):
    """A weighted mean of values: the split's loss is the mean of per-batch mean losses weighted by batch size."""

    _state = ('total', 'weight')

    def __init__(self, name: str = 'loss') -> None:
        self.name = name
        self.total, self.weight = _accumulator(), _accumulator()

    def add(self, value: torch.Tensor, weight: int | float = 1) -> None:
        value = value.detach()
        if self.total.device != value.device:
            self.total, self.weight = self.total.to(value.device), self.weight.to(value.device)
        self.total = self.total + value.to(self.total.dtype) * weight
        self.weight = self.weight + weight

    def update(self, predictions: Any, targets: Any) -> None:
        raise TypeError('Mean collects values with add(value, weight), not predictions')

    def compute(self) -> dict[str, float]:
        weight = float(self.weight)
        return {self.name: float(self.total) / weight if weight else float('nan')}


class _ElementwiseError(Metric):
    """Sums of an element-wise error, overall and per output column (the last axis), for regression targets."""

    _state = ('sums', 'counts')

    def __init__(self, name: str, *, scale: float = 1.0, columns: Sequence[str] | None = None, key: str | None = None) -> None:
        self.name, self.scale, self.columns, self.key = name, scale, tuple(columns) if columns else None, key
        self.sums, self.counts = _accumulator(size=len(self.columns or (0,))), _accumulator(size=len(self.columns or (0,)))

    @staticmethod
    @abstractmethod
    def error(difference: torch.Tensor) -> torch.Tensor: ...

    @abstractmethod
    def finish(self, mean: float) -> float: ...

    def update(self, predictions: Any, targets: Any) -> None:
        predicted, true = self.select(predictions, targets)
        errors = self.error(predicted.detach().to(self.sums.dtype) - true.detach().to(self.sums.dtype).reshape(predicted.shape))
        if self.sums.device != errors.device:
            self.sums, self.counts = self.sums.to(errors.device), self.counts.to(errors.device)
        if self.columns is None:
            self.sums, self.counts = self.sums + errors.sum(), self.counts + errors.numel()
        else:
            columns = errors.reshape(-1, len(self.columns))
            self.sums, self.counts = self.sums + columns.sum(0), self.counts + columns.shape[0]

    def compute(self) -> dict[str, float]:
        sums, counts = self.sums.cpu().numpy(), self.counts.cpu().numpy()
        result = {self.name: self.finish(float(sums.sum() / counts.sum())) * self.scale if counts.sum() else float('nan')}
        for index, column in enumerate(self.columns or ()):
            result[f'{self.name}_{column}'] = self.finish(float(sums[index] / counts[index])) * self.scale if counts[index] else float('nan')
        return result


class MeanAbsoluteError(_ElementwiseError):
    """mean |prediction - target| × `scale` (e.g. 100 for metres → centimetres), overall and per named column."""

    def __init__(self, name: str = 'mae', *, scale: float = 1.0, columns: Sequence[str] | None = None, key: str | None = None) -> None:
        super().__init__(name, scale=scale, columns=columns, key=key)

    @staticmethod
    def error(difference: torch.Tensor) -> torch.Tensor:
        return difference.abs()

    def finish(self, mean: float) -> float:
        return mean


class RootMeanSquaredError(_ElementwiseError):
    """sqrt(mean (prediction - target)²) × `scale`, overall and per named column."""

    def __init__(self, name: str = 'rmse', *, scale: float = 1.0, columns: Sequence[str] | None = None, key: str | None = None) -> None:
        super().__init__(name, scale=scale, columns=columns, key=key)

    @staticmethod
    def error(difference: torch.Tensor) -> torch.Tensor:
        return difference.square()

    def finish(self, mean: float) -> float:
        return mean**0.5


def _labels(predictions: torch.Tensor) -> torch.Tensor:
    """Class ids from `(batch, classes)` logits or scores, or `(batch,)` ids as they are."""
    return predictions.argmax(-1) if predictions.dim() > 1 else predictions.long()


class Accuracy(Metric):
    """The share of items whose predicted class (argmax of the logits) is the target class."""

    _state = ('correct', 'count')

    def __init__(self, name: str = 'accuracy', *, key: str | None = None) -> None:
        self.name, self.key = name, key
        self.correct, self.count = _accumulator(), _accumulator()

    def update(self, predictions: Any, targets: Any) -> None:
        predicted, true = self.select(predictions, targets)
        hits = (_labels(predicted.detach()) == true.detach().reshape(-1).long()).sum()
        if self.correct.device != hits.device:
            self.correct, self.count = self.correct.to(hits.device), self.count.to(hits.device)
        self.correct, self.count = self.correct + hits, self.count + true.numel()

    def compute(self) -> dict[str, float]:
        count = float(self.count)
        return {self.name: float(self.correct) / count if count else float('nan')}


class Classification(Metric):
    """A confusion matrix over the split, and from it accuracy and macro F1 (the mean of per-class F1 scores).

    `matrix[true, predicted]` counts items, as scikit-learn's `confusion_matrix` does. A class that is neither
    predicted nor present has no F1 and is left out of the macro mean (scikit-learn's `labels=` of the classes seen).
    """

    _state = ('matrix',)

    def __init__(self, num_classes: int, *, name: str = '', class_names: Sequence[str] | None = None, key: str | None = None) -> None:
        self.num_classes, self.prefix, self.key = num_classes, f'{name}_' if name else '', key
        self.class_names = list(class_names) if class_names is not None else [str(index) for index in range(num_classes)]
        self.matrix = torch.zeros(num_classes * num_classes + 1, dtype=torch.int64)  # the extra cell: items outside the classes

    def update(self, predictions: Any, targets: Any) -> None:
        predicted, true = self.select(predictions, targets)
        true, guessed = true.detach().reshape(-1).long(), _labels(predicted.detach()).reshape(-1)
        # a class id outside 0..num_classes-1 would land in another class's cell (or break bincount's length), so such
        # items are counted apart, on the device, and reported once by compute()
        inside = (true >= 0) & (true < self.num_classes) & (guessed >= 0) & (guessed < self.num_classes)
        cells = torch.where(inside, true * self.num_classes + guessed, self.num_classes**2)
        counts = torch.bincount(cells, minlength=self.num_classes**2 + 1)
        if self.matrix.device != counts.device:
            self.matrix = self.matrix.to(counts.device)
        self.matrix = self.matrix + counts

    @property
    def confusion(self) -> np.ndarray:
        """`(classes, classes)` counts, rows the true class, columns the predicted one."""
        return self.matrix.cpu().numpy()[:-1].reshape(self.num_classes, self.num_classes)

    def compute(self) -> dict[str, float]:
        outside = int(self.matrix[-1])
        if outside:
            raise ConfigError(f'{outside} items have a target or predicted class outside 0..{self.num_classes - 1}; '
                              f'set num_classes (now {self.num_classes}) to the number of classes the labels and the model have')
        matrix = self.confusion.astype(np.float64)
        total = matrix.sum()
        true_positives = np.diag(matrix)
        predicted, actual = matrix.sum(0), matrix.sum(1)
        seen = (predicted + actual) > 0
        f1 = np.divide(2 * true_positives, predicted + actual, out=np.zeros_like(true_positives), where=seen)
        return {
            f'{self.prefix}accuracy': float(true_positives.sum() / total) if total else float('nan'),
            f'{self.prefix}macro_f1': float(f1[seen].mean()) if seen.any() else float('nan'),
        }


class DecodedMetric(Metric):
    """The hook for task metrics computed on decoded outputs (notes from piano rolls, a generated set's histograms).

    `decode(predictions, targets)` turns one batch into a list of items (anything picklable: note arrays, strings),
    kept on the CPU; `score(items)` computes the figures once from the items of the whole split, in dataset order, so
    it may pair, group or pool them as the task needs (mir_eval's note F1 per piece, a divergence over the set).
    """

    def __init__(self, decode: Callable[[Any, Any], list[Any]], score: Callable[[list[Any]], dict[str, float]]) -> None:
        self.decode, self.score = decode, score
        self.items: list[Any] = []

    def update(self, predictions: Any, targets: Any) -> None:
        self.items.extend(self.decode(predictions, targets))

    def merge(self, other: Self) -> None:
        self.items.extend(other.items)

    def __getstate__(self) -> dict[str, Any]:
        # the functions stay with the process that computes (lambdas do not pickle; the routine puts them back after
        # gathering); the items and any settings of a subclass (an onset tolerance) travel
        return {key: value for key, value in self.__dict__.items() if not callable(value)}

    def __deepcopy__(self, memo: dict[int, Any]) -> Self:
        """A fresh copy for an evaluation pass (`fresh_metrics`): the functions shared, everything else copied.
        (The default deepcopy goes through `__getstate__` and would lose the functions.)"""
        copied = object.__new__(type(self))
        memo[id(self)] = copied
        copied.__dict__.update({key: value if callable(value) else copy.deepcopy(value, memo) for key, value in self.__dict__.items()})
        return copied

    def compute(self) -> dict[str, float]:
        return {name: float(value) for name, value in self.score(self.items).items()}
