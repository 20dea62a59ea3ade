"""Circular drum size: predict a drum's diameter from the first 1024 samples of one strike (kac_prediction's task).

Trains CRePE on drums synthesised locally (or on kac_drumset's 5000-circular-drums-of-varying-size with
`dataset=5000-circular-drums-of-varying-size`) and reports the test error in centimetres beside the error of always
predicting the training mean.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import TensorDataset

from etude import Model, Routine
from etude.data.samplers import CircularDrumSampler, CircularDrumSettings
from etude.models import CRePE


@dataclass(kw_only=True)
class CircularDrumSize(CRePE.Parameters):
    dataset: str = 'generated'  # or 5000-circular-drums-of-varying-size (kac_drumset, downloaded on first use)
    data_directory: str = 'data'
    number_of_drums: int = 240
    strikes_per_drum: int = 5


DEFAULTS = CircularDrumSize(batch_size=32, dataset_split=(0.7, 0.15, 0.15), learning_rate=1e-3, num_of_epochs=12, patience=4, dropout=0.1)
TESTING = {'number_of_drums': 24, 'num_of_epochs': 2, 'batch_size': 16}


def evaluate(model: Model, batch: Any) -> dict[str, torch.Tensor]:
    """Validation and test: the loss, and the mean absolute error in centimetres."""
    inputs, diameters = batch
    predictions = model(inputs)
    return {'loss': model.loss(predictions, diameters), 'mae_cm': (predictions - diameters).abs().mean() * 100}


def main(config_path: str | None = None, overrides: Sequence[str] = (), use_wandb: bool = False, resume: str | None = None,
         runs_directory: str = 'runs') -> dict[str, Any]:
    routine = Routine(runs_directory=runs_directory, use_wandb=use_wandb, wandb_settings={'project': 'etude-circular-drum-size'}, resume=resume)
    parameters = routine.set_parameters(DEFAULTS, config_path=config_path, overrides=overrides, testing_defaults=TESTING)

    # dataset: generated from physics unless an official one is named
    sampler = CircularDrumSampler(CircularDrumSettings(number_of_drums=parameters.number_of_drums, strikes_per_drum=parameters.strikes_per_drum))
    if parameters.dataset == 'generated':
        dataset = routine.import_dataset(Path(parameters.data_directory) / f'circular-drums-{sampler.fingerprint(parameters.seed)[:8]}', sampler=sampler)
    else:
        dataset = routine.import_dataset(Path(parameters.data_directory) / parameters.dataset, official_name=parameters.dataset)
    label = 'diameter' if 'diameter' in dataset.labels else 'drum_size'
    inputs = torch.from_numpy(np.ascontiguousarray(dataset.inputs[:, : parameters.input_length]))
    diameters = torch.from_numpy(np.array(dataset.labels[label], dtype=np.float32).reshape(len(dataset), 1))

    # the bar to clear: always predicting the mean diameter of the training drums
    training_mean = diameters[routine.split['train']].mean()
    mean_predictor_cm = float((diameters[routine.split['test']] - training_mean).abs().mean() * 100)
    routine.add_to_summary({'test_mae_cm_mean_predictor': mean_predictor_cm})

    routine.set_model(CRePE(parameters))
    summary = routine.train(TensorDataset(inputs, diameters), evaluate=evaluate)
    summary['test_mae_cm'] = summary['test'].get('mae_cm')
    routine.run.write_summary(summary)  # type: ignore[union-attr]
    print(f'test MAE {summary["test_mae_cm"]:.1f} cm (always predicting the training mean: {mean_predictor_cm:.1f} cm)')
    print(f'run: {summary["paths"]["run"]}  model: {summary["paths"]["best"]}')
    return summary


if __name__ == '__main__':
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from train import run_cli

    raise SystemExit(run_cli(['--routine', 'circular_drum_size', *sys.argv[1:]]))
