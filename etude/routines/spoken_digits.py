"""Spoken digits: tell which digit (0-9) is spoken in a one-second recording (seed 003, the Free Spoken Digit Dataset).

Speaks the digits with espeak-ng in several voices, speeds and pitches, in FSDD's layout (or reads the real FSDD with
`dataset=free-spoken-digit-dataset`), caches log-mel features, trains MelCNN sized from the cache's metadata, and
reports the test accuracy on voices it never heard (`split=speaker`; `split=official` uses FSDD's recordings 0-4 of
every speaker as the test set) beside always guessing the most common training digit.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from etude import Routine
from etude.data import FeatureCache, RepresentationSettings, spoken_digit_folder
from etude.models import MelCNN
from etude.tasks import Classification

# twelve voices: five accents, male and female variants; split by voice, eight train, two validate, two test
VOICES = ('en-us+m3', 'en+f2', 'en-gb-scotland+m1', 'en-us+f4', 'en-gb-x-rp+m7', 'en-029+f3',
          'en-gb-x-gbclan+m2', 'en-us-nyc+f1', 'en-gb-x-gbcwmd+m4', 'en+f5', 'en-us+m6', 'en-gb+m5')
FSDD = 'free-spoken-digit-dataset'


@dataclass(kw_only=True)
class SpokenDigits(MelCNN.Parameters):
    dataset: Literal['generated', 'free-spoken-digit-dataset'] = 'generated'
    """generated (espeak-ng, here), or free-spoken-digit-dataset (installed into data_directory on first use)."""
    data_directory: str = 'data'
    """Where recordings are generated or installed, and features cached (data_directory/cache)."""
    split: Literal['speaker', 'official'] = 'speaker'
    """speaker: whole voices held out by dataset_split; official: FSDD's recordings 0-4 test, 5-9 validation, the rest train."""
    voices: tuple[str, ...] = VOICES
    """espeak-ng voices of the generated data (language+variant), one speaker each."""
    repetitions: int = 50
    """Generated recordings per digit and voice (FSDD has 50)."""
    clip_seconds: float = 1.0
    """Clip length: longer recordings are cut, shorter ones padded with silence."""
    sample_rate: int = 8000
    """Sample rate of the features (FSDD's)."""
    n_fft: int = 256
    """FFT size of the log-mel features."""
    hop_length: int = 128
    """Hop between frames of the log-mel features (frames follows from it and clip_seconds)."""


DEFAULTS = SpokenDigits(n_mels=40, batch_size=64, dataset_split=(0.66, 0.17, 0.17), learning_rate=2e-3, weight_decay=1e-4, num_of_epochs=30,
                        patience=8, monitor='validation_accuracy', monitor_mode='max', time_masks=2, frequency_masks=2, label_smoothing=0.05)
TESTING = {'repetitions': 2, 'num_of_epochs': 2, 'batch_size': 32}
PROJECT = 'etude-spoken-digits'


def build(routine: Routine, parameters: SpokenDigits) -> None:
    """Recordings in FSDD's layout → cached log-mel features of one clip each, labelled by file name; MelCNN sized from them."""
    recordings = obtain_recordings(parameters, progress=routine.verbose and sys.stderr.isatty())
    representation = RepresentationSettings(kind='log_mel', sample_rate=parameters.sample_rate, n_fft=parameters.n_fft,
                                            hop_length=parameters.hop_length, n_mels=parameters.n_mels, normalise='standardise')
    definition = spoken_digit_folder(recordings)
    stored = FeatureCache(definition, representation, num_samples=round(parameters.clip_seconds * parameters.sample_rate),
                          cache_root=Path(parameters.data_directory) / 'cache', progress=routine.verbose).load()
    routine.set_dataset(stored, targets='digit', split=official_split(stored.metadata['files']) if parameters.split == 'official' else None)
    # accuracy, macro F1 and the confusion matrix, beside always guessing the most common training digit
    routine.set_task(Classification(target='digit', classes=stored.metadata['classes']['digit']))

    # the model is sized by the data: n_mels and frames from the features' shape, classes from the digit labels
    parameters = routine.update_parameters(parameters, MelCNN.input_hyperparameters(stored.metadata, 'digit'), source='dataset metadata')
    routine.set_model(MelCNN(parameters))
    routine.add_to_summary({'test_set': 'held-out voices' if parameters.split == 'speaker' else "FSDD's official test recordings"})


def report(summary: dict[str, Any]) -> str:
    baseline = summary['baselines']['majority class']['accuracy']
    return (f'test accuracy {summary["test"]["accuracy"]:.1%} on {summary["test_set"]}, macro F1 {summary["test"]["macro_f1"]:.3f} '
            f'(always the most common training digit: {baseline:.1%})')


def obtain_recordings(parameters: SpokenDigits, progress: bool = True) -> Path:
    """The folder of `{digit}_{speaker}_{index}.wav` files: generated once per settings, or FSDD installed once."""
    data = Path(parameters.data_directory)
    if parameters.dataset == FSDD:
        root = data / FSDD
        if not (root / 'recordings').is_dir():
            from etude.data import install_dataset

            root = install_dataset(FSDD, data, progress=progress)
        return root / 'recordings'
    from etude.data import generate_spoken_digits

    settings = {'voices': list(parameters.voices), 'repetitions': parameters.repetitions, 'sample_rate': parameters.sample_rate, 'seed': parameters.seed}
    name = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:8]
    root = generate_spoken_digits(data / f'spoken-digits-{name}', speakers=parameters.voices, repetitions=parameters.repetitions,
                                  sample_rate=parameters.sample_rate, seed=parameters.seed, progress=progress)
    return root / 'recordings'


def official_split(files: Sequence[str]) -> dict[str, list[int]]:
    """FSDD's README: recordings 0-4 of every speaker are the test set; 5-9 are kept here for validation, 10-49 train."""
    split: dict[str, list[int]] = {'train': [], 'validation': [], 'test': []}
    for row, path in enumerate(files):
        found = re.search(r'_(\d+)\.[A-Za-z0-9]+$', path)
        index = int(found.group(1)) if found else 10
        split['test' if index < 5 else 'validation' if index < 10 else 'train'].append(row)
    return split

