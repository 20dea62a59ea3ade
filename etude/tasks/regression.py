"""Regression: one clip of audio → one number per named target, in the task's reporting units (drum sizes, say).

    routine.set_task(Regression(targets=['diameter'], unit='cm', scale=100, input_length=1024))

Decoding: `(batch, targets)` values → `{'diameter': 31.2}` (each target times its scale). Metrics: MAE and RMSE in the
reporting units (`mae_cm` when every target is reported in cm), with a figure per target when there are several;
the baseline always predicts the training mean; the report draws predicted against true and the error histogram.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from ..errors import CheckpointError, ConfigError
from .audio import AudioTask
from .base import Evaluation, InferenceContext

if TYPE_CHECKING:
    import torch

    from ..metrics import Metric
    from ..model import Model
    from .testing import TaskExample

__all__ = ['Regression']


@dataclass(kw_only=True)
class Regression(AudioTask):
    """targets: the labels predicted, in output order; `scale`/`unit` for all of them, or `scales`/`units` per target,
    turn a label's value into the reported one (metres × 100 = cm)."""

    kind: ClassVar[str] = 'regression'

    targets: list[str] = field(default_factory=lambda: ['value'])
    unit: str = ''
    scale: float = 1.0
    units: dict[str, str] | None = None
    scales: dict[str, float] | None = None

    def check(self) -> None:
        super().check()
        self.targets = [str(name) for name in self.targets]
        if not self.targets or len(set(self.targets)) != len(self.targets):
            raise ConfigError(f'a regression task needs one or more different target names, got {self.targets}')
        for name in sorted(set(self.units or {}) | set(self.scales or {})):
            if name not in self.targets:
                raise ConfigError(f'units/scales name {name!r}, which is not one of the targets {self.targets}')

    @property
    def target_scales(self) -> dict[str, float]:
        return {name: float((self.scales or {}).get(name, self.scale)) for name in self.targets}

    @property
    def target_units(self) -> dict[str, str]:
        return {name: str((self.units or {}).get(name, self.unit)) for name in self.targets}

    def decode(self, outputs: torch.Tensor, context: InferenceContext | None) -> list[dict[str, Any]]:
        names, scales = self.targets, self.target_scales
        values = outputs.detach().float().cpu().reshape(outputs.shape[0], -1)
        if values.shape[1] != len(names):
            raise CheckpointError(f'the model gives {values.shape[1]} outputs per item but its task names {len(names)} targets ({", ".join(names)}); '
                                  'the export is inconsistent, retrain or re-export it')
        return [{name: float(row[column]) * scales[name] for column, name in enumerate(names)} for row in values.tolist()]

    def columns(self) -> list[tuple[str, str]]:
        units = self.target_units
        return [(name, f'{name} ({units[name]})' if units[name] else name) for name in self.targets]

    def metrics(self, model: Model | None = None) -> list[Metric]:
        from ..metrics import MeanAbsoluteError, RootMeanSquaredError

        names, scales, units = self.targets, self.target_scales, self.target_units
        one_scale = len(set(scales.values())) == 1
        scale = scales[names[0]] if one_scale else 1.0
        unit = units[names[0]] if len(set(units.values())) == 1 else ''
        suffix = f'_{unit}' if unit and one_scale else ''
        columns = names if len(names) > 1 else None
        return [MeanAbsoluteError(f'mae{suffix}', scale=scale, columns=columns), RootMeanSquaredError(f'rmse{suffix}', scale=scale, columns=columns)]

    def baseline(self, train_targets: Any, evaluated_targets: Any) -> tuple[str, dict[str, float]]:
        import numpy as np
        import torch

        train, evaluated = np.asarray(train_targets), np.asarray(evaluated_targets)
        mean = train.reshape(len(train), -1).astype(np.float64).mean(axis=0)
        predictions = torch.from_numpy(np.broadcast_to(mean, (len(evaluated), mean.size)).copy())
        truth = torch.from_numpy(np.ascontiguousarray(evaluated))
        result: dict[str, float] = {}
        for metric in self.metrics():
            metric.update(predictions, truth)
            result.update(metric.compute())
        return 'training mean', result

    @classmethod
    def example(cls, folder: Path) -> TaskExample:
        """A tiny run of this kind, for `etude.tasks.testing.check_task` (see `etude.tasks.examples`)."""
        from .examples import regression_example

        return regression_example(folder, cls)

    def truth(self, target: torch.Tensor) -> dict[str, Any]:
        scales = self.target_scales
        return {name: float(value) * scales[name] for name, value in zip(self.targets, target.reshape(-1).tolist(), strict=True)}

    def figures(self, evaluation: Evaluation, folder: Path) -> dict[str, Path]:
        from ..figures import regression_figures

        outputs, targets = evaluation.details['outputs'], evaluation.details['targets']
        if not outputs.numel():
            return {}
        factors = [self.target_scales[name] for name in self.targets]
        predicted = outputs.reshape(len(outputs), -1).double().numpy() * factors
        true = targets.reshape(len(targets), -1).double().numpy() * factors
        drawn = regression_figures(predicted, true, folder, names=self.targets, units=self.target_units)
        return {f'{name}: predicted vs true, and the errors': path for name, path in drawn.items()}
