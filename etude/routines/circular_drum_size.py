"""Circular drum size: predict a drum's diameter from the first 1024 samples of one strike (kac_prediction's task).

Trains CRePE on drums synthesised locally (or on kac_drumset's 5000-circular-drums-of-varying-size with
`dataset=5000-circular-drums-of-varying-size`) and reports the test error in centimetres beside the error of always
predicting the training mean.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from etude import Routine
from etude.data import CircularDrumSampler, CircularDrumSettings, Crop
from etude.models import CRePE
from etude.tasks import Regression


@dataclass(kw_only=True)
class CircularDrumSize(CRePE.Parameters):
    dataset: str = 'generated'
    """generated (synthesised here), or 5000-circular-drums-of-varying-size (kac_drumset, downloaded on first use)."""
    data_directory: str = 'data'
    """Where datasets are generated or installed."""
    number_of_drums: int = 240
    """Drums to synthesise (each a split group)."""
    strikes_per_drum: int = 5
    """Strikes of each drum, the first at its centre."""


DEFAULTS = CircularDrumSize(batch_size=32, dataset_split=(0.7, 0.15, 0.15), learning_rate=1e-3, num_of_epochs=12, patience=4, dropout=0.1)
TESTING = {'number_of_drums': 24, 'num_of_epochs': 2, 'batch_size': 16}
PROJECT = 'etude-circular-drum-size'


def build(routine: Routine, parameters: CircularDrumSize) -> None:
    """Drums (generated from physics unless an official dataset is named), read lazily as 1024 samples of each strike."""
    sampler = CircularDrumSampler(CircularDrumSettings(number_of_drums=parameters.number_of_drums, strikes_per_drum=parameters.strikes_per_drum))
    if parameters.dataset == 'generated':
        stored = routine.import_dataset(Path(parameters.data_directory) / f'circular-drums-{sampler.fingerprint(parameters.seed)[:8]}', sampler=sampler)
    else:
        stored = routine.import_dataset(Path(parameters.data_directory) / parameters.dataset, official_name=parameters.dataset)
    label = 'diameter' if 'diameter' in stored.labels else 'drum_size'
    routine.set_dataset(stored, targets=[label], transform=Crop(parameters.input_length))
    # the sampler's strikes are peak-normalised: inference normalises a file's clip the same way before cropping it; the
    # task reports MAE and RMSE in cm beside its baseline, always predicting the mean diameter of the training drums
    routine.set_task(Regression(targets=[label], unit='cm', scale=100, input_length=parameters.input_length, min_samples=parameters.input_length,
                                representation={'kind': 'waveform', 'sample_rate': int(stored.metadata['sample_rate'] or 48_000),
                                                'normalise': 'peak' if parameters.dataset == 'generated' else 'none'}))
    routine.set_model(CRePE(parameters))


def report(summary: dict[str, Any]) -> str:
    baseline = summary['baselines']['training mean']['mae_cm']
    return f'test MAE {summary["test"]["mae_cm"]:.1f} cm (always predicting the training mean: {baseline:.1f} cm)'
