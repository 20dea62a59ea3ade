"""Rectangular drum dimensions: predict a rectangular drum's size and aspect ratio from the start of one strike (seed 004).

Trains CRePE with two outputs on rectangular membranes synthesised locally (or on kac_drumset's
5000-rectangular-drums-of-varying-dimension with `dataset=5000-rectangular-drums-of-varying-dimension`), labelled as
kac_drumset labels them: `drum_size` (the side of the square of the same area, m) and `aspect_ratio` (width /
height). Reports the test error of each beside the error of always predicting its training mean.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from etude import Routine
from etude.data import Crop, RectangularDrumSampler, RectangularDrumSettings
from etude.models import CRePE
from etude.tasks import Regression

TARGETS = ['drum_size', 'aspect_ratio']


@dataclass(kw_only=True)
class RectangularDrumDimensions(CRePE.Parameters):
    dataset: str = 'generated'
    """generated (synthesised here), or 5000-rectangular-drums-of-varying-dimension (kac_drumset, downloaded on first use)."""
    data_directory: str = 'data'
    """Where datasets are generated or installed."""
    number_of_drums: int = 2000
    """Drums to synthesise (each a split group); the aspect ratio needs many (at 300 drums CRePE learns only the size)."""
    strikes_per_drum: int = 5
    """Strikes of each drum, the first at its centre."""
    sample_rate: int = 16000
    """Sample rate of the synthesised strikes (0.5 s each)."""


DEFAULTS = RectangularDrumDimensions(outputs=2, input_length=1024, batch_size=32, dataset_split=(0.7, 0.15, 0.15), learning_rate=1e-3,
                                     num_of_epochs=20, patience=5, dropout=0.1)
TESTING = {'number_of_drums': 24, 'num_of_epochs': 2, 'batch_size': 16}
PROJECT = 'etude-rectangular-drums'


def build(routine: Routine, parameters: RectangularDrumDimensions) -> None:
    """Drums (generated from physics unless an official dataset is named), read lazily as the first input_length samples of each strike."""
    sampler = RectangularDrumSampler(RectangularDrumSettings(number_of_drums=parameters.number_of_drums, strikes_per_drum=parameters.strikes_per_drum,
                                                             sample_rate=parameters.sample_rate))
    if parameters.dataset == 'generated':
        stored = routine.import_dataset(Path(parameters.data_directory) / f'rectangular-drums-{sampler.fingerprint(parameters.seed)[:8]}', sampler=sampler)
    else:
        stored = routine.import_dataset(Path(parameters.data_directory) / parameters.dataset, official_name=parameters.dataset)
    routine.set_dataset(stored, targets=TARGETS, transform=Crop(parameters.input_length))
    # the sampler's strikes are peak-normalised: inference normalises a file's clip the same way before cropping it
    # its metrics are MAE and RMSE per dimension; its baseline always predicts each dimension's mean over the training drums
    routine.set_task(Regression(targets=TARGETS, units={'drum_size': 'm', 'aspect_ratio': ''}, input_length=parameters.input_length,
                                min_samples=parameters.input_length, representation={'kind': 'waveform', 'sample_rate': int(stored.metadata['sample_rate']),
                                                                                     'normalise': 'peak' if parameters.dataset == 'generated' else 'none'}))
    routine.set_model(CRePE(parameters))


def report(summary: dict[str, Any]) -> str:
    baseline = summary['baselines']['training mean']
    lines = []
    for name, unit in (('drum_size', ' m'), ('aspect_ratio', '')):
        error, guess = summary['test'][f'mae_{name}'], baseline[f'mae_{name}']
        lines.append(f'test MAE {name} {error:.3f}{unit} (always the training mean: {guess:.3f}{unit}; ratio {error / guess:.2f})')
    return '\n'.join(lines)
