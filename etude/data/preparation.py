"""From a raw audio file to one model input, exactly as the training data was made, read from the export alone.

The feature cache read each training clip with `read_audio(path, sample_rate=rate, duration_seconds=num_samples /
rate)` (resampled with soxr, mixed to mono), zero-padded it to `num_samples` and featurised it with a `Featuriser`
of the cache's representation settings; a generated dataset's clips are its sampler's waveforms as they are. The
export records all of it (`export['dataset']`: sample rate, clip length, representation; `export['task']`: what
the routine adds, such as the `input_length` its `Crop` kept), so inference repeats the same calls in the same order
and gives the model the input it was trained on, whatever the file's sample rate or channel count:

    read (resample, mono) → first num_samples, zero-padded → featurise (batch) → first input_length of the last axis

A file is refused (a `DataFileError` naming it) when it cannot be read, holds samples that are not finite numbers
(NaN or ±inf: a model would turn them into 'probability nan'), or holds less sound than the model needs:
`task['min_samples']`, else one analysis window of the representation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import CheckpointError, ConfigError, DataFileError
from .audio import read_audio, resample
from .representations import Featuriser, RepresentationSettings, output_shape

__all__ = ['AudioPreprocessing']


@dataclass(frozen=True)
class AudioPreprocessing:
    """The preparation of one audio model's inputs: `(samples,)` files → `(batch, *input_shape)` features."""

    sample_rate: int
    num_samples: int
    representation: RepresentationSettings
    input_length: int | None = None
    minimum_samples: int = 1

    @classmethod
    def from_export(cls, dataset: Mapping[str, Any], task: Mapping[str, Any], path: str | Path = 'the checkpoint') -> AudioPreprocessing:
        """Read the preparation from an export's `dataset` summary and `task`; the task's entries win where both have one."""
        settings = task.get('representation') or dataset.get('representation')
        sample_rate = task.get('sample_rate') or dataset.get('sample_rate') or (settings or {}).get('sample_rate')
        num_samples = task.get('num_samples') or dataset.get('num_samples')
        if not sample_rate or not num_samples:
            missing = 'sample rate' if not sample_rate else 'clip length (num_samples)'
            raise CheckpointError(f'{path} records no {missing} of its inputs, so audio cannot be prepared for it; '
                                  'export it from a routine whose dataset is audio (a feature cache or a sampler with a sample rate)')
        try:
            representation = RepresentationSettings.from_dict(dict(settings or {'kind': 'waveform', 'sample_rate': int(sample_rate)}))
        except ConfigError as error:
            raise CheckpointError(f'{path} records representation settings this etude cannot read ({error}); upgrade etude') from None
        if representation.sample_rate != int(sample_rate):
            raise CheckpointError(f'{path} records inputs at {sample_rate} Hz but features at {representation.sample_rate} Hz; the export is inconsistent')
        input_length = task.get('input_length')
        minimum = task.get('min_samples') or (1 if representation.kind == 'waveform' else representation.n_fft // 2 + 1)
        preparation = cls(int(sample_rate), int(num_samples), representation, int(input_length) if input_length else None, int(minimum))
        recorded = dataset.get('input_shape')
        if recorded is not None and tuple(recorded) != preparation.stored_shape:
            raise CheckpointError(f'{path} records inputs of shape {tuple(recorded)}, but its representation gives {preparation.stored_shape}; '
                                  'the export is inconsistent, retrain or re-export it')
        return preparation

    @property
    def stored_shape(self) -> tuple[int, ...]:
        """The shape of one clip's features before the crop: what the stored dataset held per item."""
        return output_shape(self.representation, self.num_samples)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The shape of one model input: `stored_shape` with its last axis cut to `input_length`."""
        shape = self.stored_shape
        return (*shape[:-1], min(shape[-1], self.input_length)) if self.input_length else shape

    def read(self, path: str | Path) -> np.ndarray:
        """`(num_samples,)` float32: the start of the file at the model's rate, mono, zero-padded."""
        audio, _ = read_audio(path, sample_rate=self.sample_rate, mono=True, duration_seconds=self.num_samples / self.sample_rate)
        return self._fit(audio, str(path))

    def prepare(self, audio: np.ndarray, sample_rate: int, name: str = 'the array') -> np.ndarray:
        """`(num_samples,)` float32 from an array of `(samples,)` or `(channels, samples)` at `sample_rate`, as `read` makes from a file."""
        audio = np.asarray(audio, dtype=np.float32)
        if audio.ndim == 2:
            audio = audio.mean(axis=0)
        if audio.ndim != 1:
            raise DataFileError(f'{name}: audio must be (samples,) or (channels, samples), got shape {audio.shape}')
        if sample_rate != self.sample_rate:
            audio = resample(audio, sample_rate, self.sample_rate)
        return self._fit(audio[: self.num_samples], name)

    def featuriser(self, device: str | torch.device = 'cpu') -> Featuriser:
        """The batched featuriser of the training data's representation, on `device`, in eval mode."""
        return Featuriser(self.representation).to(device).eval()

    def features(self, featuriser: Featuriser, waveforms: torch.Tensor) -> torch.Tensor:
        """`(batch, num_samples)` waveforms → `(batch, *input_shape)` model inputs on the featuriser's device."""
        features = featuriser(waveforms)
        return features[..., : self.input_length] if self.input_length else features

    def _fit(self, audio: np.ndarray, name: str) -> np.ndarray:
        if len(audio) < self.minimum_samples:
            raise DataFileError(f'{name}: too short for this model ({len(audio) / self.sample_rate:.3f} s of audio; it needs at least '
                                f'{self.minimum_samples / self.sample_rate:.3f} s)')
        finite = np.isfinite(audio[: self.num_samples])
        if not finite.all():
            raise DataFileError(f'{name}: holds {np.count_nonzero(~finite)} samples that are not numbers (NaN or infinite) in the part the model '
                                'reads; it is not usable audio, re-export or repair the file')
        clip = np.zeros(self.num_samples, dtype=np.float32)
        clip[: min(len(audio), self.num_samples)] = audio[: self.num_samples]
        return clip
