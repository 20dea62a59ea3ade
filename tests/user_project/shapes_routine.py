"""Shapes: tell a sine, a square, a sawtooth and noise apart from 256 samples."""

from dataclasses import dataclass
from pathlib import Path

from shapes import SHAPES, ShapeNet, ShapeSampler, ShapeSettings

from etude.tasks import Classification


@dataclass(kw_only=True)
class Shapes(ShapeNet.Parameters):
    per_shape: int = 100
    """Waveforms of each shape."""


DEFAULTS = Shapes(num_of_epochs=10, batch_size=32, learning_rate=3e-3)
TESTING = {'per_shape': 20, 'num_of_epochs': 2}


def build(routine, parameters):
    sampler = ShapeSampler(ShapeSettings(per_shape=parameters.per_shape, samples=parameters.samples))
    stored = routine.import_dataset(Path('data') / f'shapes-{sampler.fingerprint(parameters.seed)[:8]}', sampler=sampler)
    routine.set_dataset(stored, targets='shape')
    routine.set_task(Classification(target='shape', classes=list(SHAPES)))  # accuracy beside always the commonest shape
    routine.set_model(ShapeNet(parameters))


def report(summary):
    guess = summary['baselines']['majority class']['accuracy']
    return f'test accuracy {summary["test"]["accuracy"]:.1%} (always the most common training shape: {guess:.1%})'
