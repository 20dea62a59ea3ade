"""Tiny runs of the generic kinds, for their conformance suite (`etude.tasks.testing.check_task`).

Each writes its data into a folder in a second or two and trains a small model for two epochs: classification tells
tones from noise in log-mel features (MelCNN), regression tells the size of synthesised circular drums (CRePE-tiny).
They are what `check_task(Classification)` and `check_task(Regression)` train, evaluate and run; `kind` is the class
being checked (a subclass of a shipped kind gets the same example, as itself).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from .testing import TaskExample

if TYPE_CHECKING:
    from ..training.routine import Routine
    from .classification import Classification
    from .regression import Regression

__all__ = ['classification_example', 'regression_example']

CLASSES = ('low', 'high', 'noise')
SAMPLE_RATE = 8000


def classification_example(folder: Path, kind: type[Classification]) -> TaskExample:
    """Eight half-second clips of each of a low tone, a high tone and noise, as `{class}_{index}.wav`."""
    import numpy as np

    from ..data.audio import write_audio
    from ..models.mel_cnn import MelCNN

    recordings = folder / 'recordings'
    recordings.mkdir(parents=True, exist_ok=True)
    generator = np.random.default_rng(0)
    time = np.arange(SAMPLE_RATE // 2) / SAMPLE_RATE
    for index in range(8):
        clips = {'low': np.sin(2 * np.pi * generator.uniform(150, 300) * time), 'high': np.sin(2 * np.pi * generator.uniform(1500, 3000) * time),
                 'noise': generator.uniform(-1, 1, len(time))}
        for name, clip in clips.items():
            write_audio(recordings / f'{name}_{index}.wav', (clip * generator.uniform(0.2, 0.8)).astype(np.float32), SAMPLE_RATE)

    def build(routine: Routine, parameters: Any) -> None:
        from ..data.cache import FeatureCache
        from ..data.dataset_layouts import audio_folder
        from ..data.representations import RepresentationSettings
        representation = RepresentationSettings(kind='log_mel', sample_rate=SAMPLE_RATE, n_fft=256, hop_length=128, n_mels=16,
                                                normalise='standardise')
        definition = audio_folder(recordings, '{label}_{index}.wav', label_types={'label': 'class'})
        stored = FeatureCache(definition, representation, num_samples=SAMPLE_RATE // 2, cache_root=folder / 'cache', progress=False,
                              workers=1).load()
        routine.set_dataset(stored, targets='label')
        routine.set_task(kind(target='label', classes=stored.metadata['classes']['label']))
        parameters = routine.update_parameters(parameters, MelCNN.input_hyperparameters(stored.metadata, 'label'), source='dataset metadata')
        routine.set_model(MelCNN(parameters))

    defaults = MelCNN.Parameters(channels=(4, 8), kernel_sizes=(3, 3), pool_sizes=(2, 2), hidden_units=8, batch_size=8, num_of_epochs=2,
                                 dataset_split=(0.5, 0.25, 0.25), learning_rate=3e-3)
    return TaskExample(defaults, build, inputs=[str(recordings / 'low_0.wav'), str(recordings / 'noise_1.wav')])


def regression_example(folder: Path, kind: type[Regression]) -> TaskExample:
    """Twelve synthesised circular drums, three strikes each (0.1 s at 16 kHz), and two strikes written as WAV files."""
    from ..data.audio import write_audio
    from ..data.samplers import CircularDrumSampler, CircularDrumSettings
    from ..data.sources import generate_dataset
    from ..data.store import read_dataset
    from ..models.crepe import CRePE

    sampler = CircularDrumSampler(CircularDrumSettings(number_of_drums=12, strikes_per_drum=3, duration=0.1))
    directory = folder / 'drums'
    if not directory.exists():
        generate_dataset(sampler, directory, seed=0, progress=False)
    stored = read_dataset(directory)
    inputs = []
    for index in (0, 5):
        path = folder / f'strike_{index}.wav'
        write_audio(path, stored.inputs[index], 16_000)
        inputs.append(str(path))

    def build(routine: Routine, parameters: Any) -> None:
        from ..data.torch_dataset import Crop
        routine.set_dataset(read_dataset(directory), targets=['diameter'], transform=Crop(parameters.input_length))
        routine.set_task(kind(targets=['diameter'], unit='cm', scale=100, input_length=parameters.input_length,
                                    min_samples=parameters.input_length, representation={'kind': 'waveform', 'sample_rate': 16_000, 'normalise': 'peak'}))
        routine.set_model(CRePE(parameters))

    defaults = CRePE.Parameters(depth='tiny', input_length=1024, batch_size=8, num_of_epochs=2, dataset_split=(0.5, 0.25, 0.25))
    return TaskExample(defaults, build, inputs=inputs)
