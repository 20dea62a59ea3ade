"""The data layer feeds the Routine: spoken digits from espeak-ng → file-name labels → cached log-mels → training.

This is the path stage 3's spoken-digit classifier (seed 003) takes; here it only has to run end to end and use the
sizes the cache's metadata reports instead of hard-coded shapes.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from etude import Model, Parameters, Routine
from etude.metrics import Accuracy

pytestmark = [pytest.mark.slow, pytest.mark.skipif(shutil.which('espeak-ng') is None, reason='needs espeak-ng (sudo apt-get install espeak-ng)')]


class TinyDigitClassifier(Model):
    """Log-mel `(batch, mels, frames)` → class logits: one convolution, global pooling, a linear layer."""

    @dataclass(kw_only=True)
    class Parameters(Parameters):
        mels: int = 32
        classes: int = 10

    def __init__(self, hyperparameters: TinyDigitClassifier.Parameters) -> None:
        super().__init__(hyperparameters)
        self.convolution = torch.nn.Conv1d(hyperparameters.mels, 16, 3, padding=1)
        self.linear = torch.nn.Linear(16, hyperparameters.classes)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.linear(torch.relu(self.convolution(inputs)).mean(dim=2))

    def loss(self, predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.cross_entropy(predictions, targets)


def test_spoken_digits_train_through_the_feature_cache(tmp_path: Path) -> None:
    from etude.data.cache import FeatureCache
    from etude.data.generators import generate_spoken_digits, spoken_digit_folder
    from etude.data.representations import RepresentationSettings

    voices = {'alice': 'en+f2', 'bob': 'en-us+m3', 'carol': 'en-us+f4', 'dave': 'en-gb-scotland+m1'}
    recordings = generate_spoken_digits(tmp_path / 'fsdd', speakers=voices, repetitions=1, seed=0) / 'recordings'
    definition = spoken_digit_folder(recordings)
    cache = FeatureCache(definition, RepresentationSettings(kind='log_mel', sample_rate=8000, n_fft=256, hop_length=128, n_mels=32),
                         num_samples=8000, cache_root=tmp_path / 'cache', workers=1, progress=False)
    dataset = cache.load()
    assert len(dataset) == 40 and dataset.metadata['classes']['digit'] == [str(digit) for digit in range(10)]
    mels, frames = dataset.metadata['input_shape']

    routine = Routine(runs_directory=tmp_path / 'runs', verbose=False)
    parameters = routine.set_parameters(TinyDigitClassifier.Parameters(mels=mels, classes=len(dataset.metadata['classes']['digit'])),
                                        overrides=['num_of_epochs=2', 'batch_size=8', 'dataset_split=[0.5, 0.25, 0.25]', 'device=cpu'])
    routine.set_dataset(dataset, targets='digit')  # read lazily from the cache's memory-mapped arrays
    speakers_by_split = [set(dataset.groups[indices].tolist()) for indices in routine.split.values()]
    assert all(len(speakers) == 1 for speakers in speakers_by_split[1:]), 'each held-out split is one whole speaker'
    routine.set_model(TinyDigitClassifier(parameters))
    summary = routine.train(dataset, metrics=[Accuracy()])  # the natural call after set_dataset: the same dataset, trained on once
    assert set(summary['test']) == {'loss', 'accuracy'} and summary['dataset']['size'] == 40
    assert summary['dataset']['targets'] == 'digit' and summary['dataset']['input_shape'] == [mels, frames]
    assert cache.load().directory == dataset.directory, 'the second load is a cache hit'
