"""Shapes: tell a sine, a square, a sawtooth and noise apart from 256 samples."""

from dataclasses import dataclass

import torch
from shapes import SHAPES, ShapeNet, waveforms
from torch.utils.data import TensorDataset

from etude.evaluation.metrics import Accuracy


@dataclass(kw_only=True)
class Shapes(ShapeNet.Parameters):
    per_shape: int = 100
    """Waveforms of each shape."""


DEFAULTS = Shapes(num_of_epochs=10, batch_size=32, learning_rate=3e-3)
TESTING = {'per_shape': 20, 'num_of_epochs': 2}


def build(routine, parameters):
    inputs, labels = waveforms(parameters.per_shape, parameters.samples, parameters.seed)
    routine.set_dataset(TensorDataset(inputs, labels))
    routine.set_task(Classification(target='shape', classes=list(SHAPES), sample_rate=8000, num_samples=parameters.samples))
    majority = torch.bincount(labels[routine.split['train']]).argmax()
    routine.add_baseline('majority class', {'accuracy': float((labels[routine.split['test']] == majority).float().mean())})
    routine.set_model(ShapeNet(parameters))
    return [Accuracy()]


def report(summary):
    guess = summary['baselines']['majority class']['accuracy']
    return f'test accuracy {summary["test"]["accuracy"]:.1%} (always the most common training shape: {guess:.1%})'
