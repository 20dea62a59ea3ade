"""Classification: one clip of audio → one of the task's classes (spoken digits, say).

    routine.set_task(Classification(target='digit', classes=stored.metadata['classes']['digit']))

Decoding: `(batch, classes)` logits → `{'digit': '7', 'probability': 0.98}` (+ `'top': [...]` with `--top K`).
Metrics: `Classification` (accuracy, macro F1 and the confusion matrix); the report draws the confusion matrix.
Baseline: always the most common training class.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from ..argument_types import whole_number
from ..errors import CheckpointError, ConfigError
from .audio import AudioTask
from .base import Evaluation, InferenceContext, InferenceOption

if TYPE_CHECKING:
    from collections.abc import Sequence

    import torch

    from ..metrics import Metric
    from ..model import Model
    from ..training.routine_data import SplitView
    from .context import EvaluationContext
    from .testing import TaskExample

__all__ = ['Classification']


@dataclass(kw_only=True)
class Classification(AudioTask):
    """target: the label's name (the result's key); classes: the class of each output index, in order."""

    kind: ClassVar[str] = 'classification'
    options: ClassVar[tuple[InferenceOption, ...]] = (
        InferenceOption('--top', 'classifiers: also list the K most probable classes (default 1)', type=whole_number(1), default=1, metavar='K'),
    )

    target: str = 'class'
    classes: list[str] = field(default_factory=list)

    def check(self) -> None:
        super().check()
        self.classes = [str(name) for name in self.classes]
        if len(self.classes) < 2:
            raise ConfigError(f'a classification task needs at least two classes, got {self.classes}; '
                              'pass classes=[...] (e.g. stored.metadata["classes"][target])')
        if len(set(self.classes)) != len(self.classes):
            raise ConfigError(f'the classes of a classification task must differ, got {self.classes}')

    def decode(self, outputs: torch.Tensor, context: InferenceContext | None) -> list[dict[str, Any]]:
        import torch

        names = self.classes
        if outputs.dim() != 2 or outputs.shape[1] != len(names):
            raise CheckpointError(f'the model gives outputs of shape {tuple(outputs.shape[1:])} but its task lists {len(names)} classes; '
                                  'the export is inconsistent, retrain or re-export it')
        probabilities = torch.softmax(outputs.detach().float(), dim=1).cpu()
        top = max(1, min(int(context.options.get('top', 1)) if context is not None else 1, len(names)))
        values, indices = probabilities.topk(top, dim=1)
        results = []
        for item_values, item_indices in zip(values.tolist(), indices.tolist(), strict=True):
            result: dict[str, Any] = {self.target: names[item_indices[0]], 'probability': round(item_values[0], 6)}
            if top > 1:
                result['top'] = [{'class': names[index], 'probability': round(value, 6)} for index, value in zip(item_indices, item_values, strict=True)]
            results.append(result)
        return results

    def columns(self) -> list[tuple[str, str]]:
        return [(self.target, self.target), ('probability', 'probability')]

    def metrics(self, model: Model | None = None) -> list[Metric]:
        from ..metrics import Classification as ConfusionMatrix

        return [ConfusionMatrix(num_classes=len(self.classes), class_names=self.classes)]

    def baseline(self, train_targets: Any, evaluated_targets: Any) -> tuple[str, dict[str, float]]:
        import numpy as np
        import torch

        train, evaluated = np.asarray(train_targets), np.asarray(evaluated_targets)
        majority = int(np.bincount(train.reshape(-1).astype(np.int64), minlength=len(self.classes)).argmax())
        predictions = torch.full((len(evaluated),), majority, dtype=torch.int64)
        result: dict[str, float] = {}
        for metric in self.metrics():
            metric.update(predictions, torch.from_numpy(evaluated))
            result.update(metric.compute())
        return 'majority class', result

    @classmethod
    def example(cls, folder: Path) -> TaskExample:
        """A tiny run of this kind, for `etude.tasks.testing.check_task` (see `etude.tasks.examples`)."""
        from .examples import classification_example

        return classification_example(folder, cls)

    def truth(self, target: torch.Tensor) -> dict[str, Any]:
        return {self.target: self.classes[int(target)]}

    def describe(self, evaluation: Evaluation, context: EvaluationContext, data: SplitView, kept: list[Any], metrics: Sequence[Metric]) -> None:
        from ..metrics import Classification as ConfusionMatrix

        super().describe(evaluation, context, data, kept, metrics)
        matrix = [metric for metric in metrics if isinstance(metric, ConfusionMatrix)][-1]  # the task's, with its names
        evaluation.details['confusion'] = matrix.confusion
        evaluation.record['confusion_matrix'] = {'classes': self.classes, 'counts': matrix.confusion.tolist()}

    def figures(self, evaluation: Evaluation, folder: Path) -> dict[str, Path]:
        from ..figures import confusion_matrix_figure

        return {'confusion matrix': confusion_matrix_figure(evaluation.details['confusion'], self.classes, folder / 'confusion_matrix.png',
                                                            title=f'Confusion matrix ({evaluation.split})')}

