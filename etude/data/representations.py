"""Input representations: typed settings, shape arithmetic and a batched, device-aware featuriser.

Functions first, modules second: `output_shape` answers 'what will I get?' without computing anything (so caches,
model constructors and exports can size themselves up front), `Featuriser` is the `torch.nn.Module` that computes it
on whatever device it is moved to, and `featurise` runs a `Featuriser` over an array too big for one batch.

Shapes, for a batch of `batch` mono waveforms of `samples` samples each (`frames` as returned by `num_frames`):

    waveform  (batch, samples)
    stft      (batch, n_fft // 2 + 1, frames)     magnitude (power=1) or power (power=2)
    mel       (batch, n_mels, frames)
    log_mel   (batch, n_mels, frames)             log(mel + log_offset), natural log
    mfcc      (batch, n_mfcc, frames)             orthonormal DCT-II of log_mel

Log compression is `log(mel + log_offset)` rather than decibels with `top_db`, because torchaudio's `top_db` clamp
is taken relative to the loudest value of the whole batch: an example's features would then depend on which other
examples happen to share its batch, and cached features would differ from features computed on the fly.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import math
from typing import Any, Literal, get_args

import numpy as np
import torch
import torchaudio

from etude.errors import ConfigError

__all__ = ['Featuriser', 'RepresentationSettings', 'featurise', 'num_frames', 'output_shape']

Kind = Literal['waveform', 'stft', 'mel', 'log_mel', 'mfcc']
Normalise = Literal['none', 'peak', 'standardise', 'min_max']
MelScale = Literal['htk', 'slaney']

_INT_FIELDS = ('sample_rate', 'n_fft', 'hop_length', 'n_mels', 'n_mfcc')
_FLOAT_FIELDS = ('power', 'f_min', 'log_offset')


@dataclasses.dataclass(frozen=True)
class RepresentationSettings:
    """How to turn a mono waveform into model input. Immutable, validated on construction, JSON-serialisable.

    Every field is validated whatever `kind` is, so switching `kind` later never exposes a bad value; only the
    cross-field rule n_mfcc <= n_mels is limited to 'mfcc', so that n_mels can be lowered for the other kinds.

    Attributes:
        kind: which representation; see the module docstring for the output shape of each.
        sample_rate: sample rate of the waveforms in Hz (the featuriser never resamples).
        n_fft: FFT size in samples; the STFT has `n_fft // 2 + 1` frequency bins.
        hop_length: samples between successive frames; at most `n_fft`, otherwise samples are skipped.
        win_length: Hann window length in samples, at most `n_fft`; None means `n_fft`.
        power: 1.0 for magnitude, 2.0 for power; used by 'stft' and by the mel spectrogram under the mel kinds.
        n_mels: number of mel bands ('mel', 'log_mel', 'mfcc').
        f_min: lowest mel band edge in Hz.
        f_max: highest mel band edge in Hz, at most `sample_rate / 2`; None means `sample_rate / 2`.
        mel_scale: 'htk' or 'slaney' mel formula.
        n_mfcc: number of cepstral coefficients kept, at most `n_mels`.
        log_offset: added before the natural log in 'log_mel' and 'mfcc' so that silence gives log(log_offset)
            instead of -inf.
        center: pad the waveform by `n_fft // 2` on both sides (reflect) so frame t is centred on sample
            `t * hop_length`; changes the number of frames (see `num_frames`).
        normalise: per-example normalisation. 'peak' scales each waveform to max |x| == 1 BEFORE the transform
            (removes recording gain); 'standardise' gives each example's features zero mean and unit standard
            deviation AFTER the transform; 'min_max' scales each example's features to [0, 1] AFTER the transform.
            Silent or constant examples are left as zeros rather than divided by zero.
    """

    kind: Kind = 'log_mel'
    sample_rate: int = 16000
    n_fft: int = 1024
    hop_length: int = 256
    win_length: int | None = None
    power: float = 2.0
    n_mels: int = 128
    f_min: float = 0.0
    f_max: float | None = None
    mel_scale: MelScale = 'htk'
    n_mfcc: int = 40
    log_offset: float = 1e-6
    center: bool = True
    normalise: Normalise = 'none'

    def __post_init__(self) -> None:
        for name, allowed in (('kind', Kind), ('normalise', Normalise), ('mel_scale', MelScale)):
            value = getattr(self, name)
            if value not in get_args(allowed):
                options = ', '.join(repr(option) for option in get_args(allowed))
                raise ConfigError(f'RepresentationSettings.{name} is {value!r}; use one of {options}')
        for name in _INT_FIELDS + (('win_length',) if self.win_length is not None else ()):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ConfigError(f'RepresentationSettings.{name} is {value!r}; it must be a positive integer')
        # Ints are accepted for float fields and stored as floats so that e.g. power=2 and power=2.0 have the
        # same fingerprint.
        for name in _FLOAT_FIELDS + (('f_max',) if self.f_max is not None else ()):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise ConfigError(f'RepresentationSettings.{name} is {value!r}; it must be a finite number')
            object.__setattr__(self, name, float(value))
        if not isinstance(self.center, bool):
            raise ConfigError(f'RepresentationSettings.center is {self.center!r}; use true or false')
        if self.hop_length > self.n_fft:
            raise ConfigError(
                f'RepresentationSettings.hop_length ({self.hop_length}) exceeds n_fft ({self.n_fft}), which skips '
                'samples; use a hop_length of at most n_fft'
            )
        if self.win_length is not None and self.win_length > self.n_fft:
            raise ConfigError(
                f'RepresentationSettings.win_length ({self.win_length}) exceeds n_fft ({self.n_fft}); '
                'use a win_length of at most n_fft, or None'
            )
        if self.power not in (1.0, 2.0):
            raise ConfigError(
                f'RepresentationSettings.power is {self.power}; use 1.0 for magnitude or 2.0 for power'
            )
        nyquist = self.sample_rate / 2
        if not 0.0 <= self.f_min < nyquist:
            raise ConfigError(
                f'RepresentationSettings.f_min is {self.f_min} Hz; it must be in [0, sample_rate / 2 = {nyquist})'
            )
        if self.f_max is not None and not self.f_min < self.f_max <= nyquist:
            raise ConfigError(
                f'RepresentationSettings.f_max is {self.f_max} Hz; it must be above f_min ({self.f_min}) and at '
                f'most sample_rate / 2 = {nyquist}, or None'
            )
        if self.kind == 'mfcc' and self.n_mfcc > self.n_mels:
            raise ConfigError(
                f'RepresentationSettings.n_mfcc ({self.n_mfcc}) exceeds n_mels ({self.n_mels}); '
                'use n_mfcc <= n_mels'
            )
        if self.log_offset <= 0.0:
            raise ConfigError(
                f'RepresentationSettings.log_offset is {self.log_offset}; it must be positive (e.g. 1e-6)'
            )

    def to_dict(self) -> dict[str, Any]:
        """All fields as a JSON-safe dict (str, int, float, bool, None), for caches, exports and configs."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> RepresentationSettings:
        """Build settings from a dict such as one from `to_dict` or a config file; missing keys take defaults.

        Raises:
            ConfigError: `values` is not a dict, has a key that is not a field (naming the nearest field), or
                holds an invalid value.
        """
        if not isinstance(values, dict):
            raise ConfigError(
                f'representation settings must be a mapping of field to value, not {type(values).__name__}'
            )
        names = [field.name for field in dataclasses.fields(cls)]
        for key in values:
            if key not in names:
                nearest = difflib.get_close_matches(str(key), names, n=1)  # a suggestion only for a near miss
                hint = f'did you mean {nearest[0]!r}? ' if nearest else ''
                raise ConfigError(f'unknown representation setting {key!r}; {hint}Valid keys: {", ".join(names)}')
        return cls(**values)

    def fingerprint(self) -> str:
        """sha256 hex digest of the settings' sorted, compact JSON: equal settings give equal digests in any
        process on any machine (unlike Python's salted `hash`), so it can key feature caches and exports."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(',', ':'))
        return hashlib.sha256(text.encode('utf-8')).hexdigest()


def num_frames(settings: RepresentationSettings, num_samples: int) -> int:
    """Number of STFT frames for a waveform of `num_samples` samples.

    Raises:
        ConfigError: the waveform is too short for the settings (reflect padding needs more than `n_fft // 2`
            samples when `center` is true; an uncentred frame needs at least `n_fft` samples).
    """
    _check_num_samples(num_samples)
    if settings.center:
        if num_samples <= settings.n_fft // 2:
            raise ConfigError(
                f'{num_samples} samples is too short for n_fft={settings.n_fft} with center=True (needs more than '
                f'{settings.n_fft // 2}); use longer clips or a smaller n_fft'
            )
        return 1 + num_samples // settings.hop_length
    if num_samples < settings.n_fft:
        raise ConfigError(
            f'{num_samples} samples is shorter than n_fft={settings.n_fft} with center=False; '
            'use longer clips, a smaller n_fft or center=True'
        )
    return 1 + (num_samples - settings.n_fft) // settings.hop_length


def _check_num_samples(num_samples: int) -> None:
    if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples <= 0:
        raise ConfigError(f'num_samples is {num_samples!r}; it must be a positive integer')


def output_shape(settings: RepresentationSettings, num_samples: int) -> tuple[int, ...]:
    """Shape of the features of ONE example of `num_samples` samples, without computing them.

    Returns `(samples,)` for 'waveform', `(n_fft // 2 + 1, frames)` for 'stft', `(n_mels, frames)` for 'mel' and
    'log_mel', `(n_mfcc, frames)` for 'mfcc'. `Featuriser` returns `(batch, *output_shape(...))`.
    """
    if settings.kind == 'waveform':
        _check_num_samples(num_samples)
        return (num_samples,)
    frames = num_frames(settings, num_samples)
    if settings.kind == 'stft':
        return (settings.n_fft // 2 + 1, frames)
    if settings.kind == 'mfcc':
        return (settings.n_mfcc, frames)
    return (settings.n_mels, frames)


class Featuriser(torch.nn.Module):
    """Computes the representation described by `settings` for a batch of waveforms.

    Built from torchaudio transforms, so its filterbank, window and DCT matrix are buffers: `.to(device)` moves
    them and the featuriser then runs there. Differentiable, so it can sit inside a model.

    Input: `(batch, samples)` floating-point tensor (a 1-D tensor is treated as a batch of one and returned
    without the batch axis). It is moved to the featuriser's device and dtype (float32 unless the module was
    converted, e.g. with `.double()`). Output: `(batch, *output_shape(settings, samples))`.
    """

    dct: torch.Tensor | None
    _reference: torch.Tensor

    def __init__(self, settings: RepresentationSettings) -> None:
        super().__init__()
        if not isinstance(settings, RepresentationSettings):
            raise ConfigError(f'Featuriser needs RepresentationSettings, not {type(settings).__name__}')
        self.settings = settings
        s = settings
        self.spectrogram: torch.nn.Module | None = None
        if s.kind == 'stft':
            self.spectrogram = torchaudio.transforms.Spectrogram(
                n_fft=s.n_fft, win_length=s.win_length, hop_length=s.hop_length, power=s.power, center=s.center,
                pad_mode='reflect',
            )
        elif s.kind in ('mel', 'log_mel', 'mfcc'):
            self.spectrogram = torchaudio.transforms.MelSpectrogram(
                sample_rate=s.sample_rate, n_fft=s.n_fft, win_length=s.win_length, hop_length=s.hop_length,
                f_min=s.f_min, f_max=s.f_max, n_mels=s.n_mels, power=s.power, center=s.center, pad_mode='reflect',
                mel_scale=s.mel_scale,
            )
        # (n_mels, n_mfcc) orthonormal DCT-II; applied by hand instead of torchaudio.transforms.MFCC so that
        # log_offset is honoured and no batch-dependent top_db clamp is applied.
        dct = torchaudio.functional.create_dct(s.n_mfcc, s.n_mels, norm='ortho') if s.kind == 'mfcc' else None
        self.register_buffer('dct', dct)
        # Carries the module's device and dtype even for 'waveform', which has no other buffers.
        self.register_buffer('_reference', torch.zeros(()), persistent=False)

    def extra_repr(self) -> str:
        return f'kind={self.settings.kind!r}, fingerprint={self.settings.fingerprint()[:12]}'

    def forward(self, waveforms: torch.Tensor) -> torch.Tensor:
        """`(batch, samples)` waveforms -> `(batch, *output_shape(settings, samples))` features."""
        if not isinstance(waveforms, torch.Tensor) or not waveforms.is_floating_point():
            raise TypeError('Featuriser expects a floating-point torch.Tensor of waveforms in [-1, 1]; '
                            'convert integer PCM first')
        if waveforms.dim() == 1:
            return self.forward(waveforms.unsqueeze(0)).squeeze(0)
        if waveforms.dim() != 2:
            raise ValueError(f'Featuriser expects (batch, samples) waveforms, got shape {tuple(waveforms.shape)}; '
                             'mix or select channels first')
        s = self.settings
        output_shape(s, waveforms.shape[-1])  # raises a clear error for clips that are too short
        x = waveforms.to(device=self._reference.device, dtype=self._reference.dtype)
        if s.normalise == 'peak':
            x = x / _nonzero(x.abs().amax(dim=-1, keepdim=True))
        if self.spectrogram is not None:
            x = self.spectrogram(x)
        if s.kind in ('log_mel', 'mfcc'):
            x = torch.log(x + s.log_offset)
        if self.dct is not None:
            x = torch.matmul(x.transpose(-1, -2), self.dct).transpose(-1, -2)
        if s.normalise == 'standardise':
            dims = tuple(range(1, x.dim()))
            mean = x.mean(dim=dims, keepdim=True)
            std = x.std(dim=dims, keepdim=True, unbiased=False)
            x = (x - mean) / _nonzero(std)
        elif s.normalise == 'min_max':
            flat = x.flatten(1)
            low = flat.amin(dim=1).view(-1, *[1] * (x.dim() - 1))
            high = flat.amax(dim=1).view(-1, *[1] * (x.dim() - 1))
            x = (x - low) / _nonzero(high - low)
        return x


def _nonzero(scale: torch.Tensor) -> torch.Tensor:
    """`scale` with zeros replaced by ones, so silent or constant examples are left unscaled instead of NaN."""
    return torch.where(scale > 0, scale, torch.ones_like(scale))


def featurise(
    waveforms: torch.Tensor | np.ndarray,
    settings: RepresentationSettings,
    device: torch.device | str | None = None,
    batch_size: int = 64,
) -> torch.Tensor:
    """Features for many waveforms, computed `batch_size` at a time on `device` (default CPU).

    Input: `(n, samples)` (or `(samples,)`) floating-point tensor or numpy array; float64 is converted to
    float32. Output: float32 CPU tensor `(n, *output_shape(settings, samples))` (no leading axis for 1-D input),
    allocated once up front. Results are gathered on the CPU because the point of this function is arrays larger
    than a device holds; use `Featuriser` directly to keep features on the device.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
        raise ConfigError(f'featurise batch_size is {batch_size!r}; it must be a positive integer')
    data = torch.from_numpy(np.ascontiguousarray(waveforms)) if isinstance(waveforms, np.ndarray) else waveforms
    if not isinstance(data, torch.Tensor) or not data.is_floating_point():
        raise TypeError('featurise expects floating-point waveforms (tensor or numpy array) in [-1, 1]')
    if data.dim() == 1:
        return featurise(data.unsqueeze(0), settings, device, batch_size).squeeze(0)
    if data.dim() != 2:
        raise ValueError(f'featurise expects (n, samples) waveforms, got shape {tuple(data.shape)}')
    featuriser = Featuriser(settings).to(device if device is not None else 'cpu')
    result = torch.empty((data.shape[0], *output_shape(settings, data.shape[1])), dtype=torch.float32)
    with torch.no_grad():
        for start in range(0, data.shape[0], batch_size):
            batch = data[start:start + batch_size].to(torch.float32)
            result[start:start + batch.shape[0]] = featuriser(batch).cpu()
    return result
