"""Batch augmentation on the device: audio and labels change together, per example, from one seeded generator.

Augmenting whole batches where the model runs (rather than per item in DataLoader workers) keeps the workers
cheap and puts the work on the accelerator; drawing every random number from one `torch.Generator` owned by
`BatchAugmentation` makes a run reproducible from its seed regardless of worker count or global RNG use.

Each `BatchAugmentor` decides per example, with probability `p`, whether to act; examples it skips come back
unchanged. Every augmentor draws the same amount of randomness whatever the coin flips give, so one seed always
yields the same sequence of decisions. Inputs are never modified in place and the caller's targets dict is never
mutated: a new dict is returned.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from fractions import Fraction
from typing import Any

import torch
import torchaudio

from etude.errors import ConfigError

__all__ = ['AddNoise', 'BatchAugmentation', 'BatchAugmentor', 'FrequencyMasking', 'Gain', 'PitchShift', 'TimeMasking']

Targets = dict[str, torch.Tensor] | torch.Tensor | None


def _uniform(batch: int, low: float, high: float, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """`(batch,)` floats uniform in [low, high], drawn on the generator's device and moved to `device`."""
    return (low + (high - low) * torch.rand(batch, generator=generator, device=generator.device)).to(device)


def _check_range(name: str, values: Sequence[float], integer: bool = False) -> tuple[float, float]:
    kind = int if integer else (int, float)
    if (len(values) != 2 or any(isinstance(v, bool) or not isinstance(v, kind) for v in values)
            or values[0] > values[1]):
        raise ConfigError(f'{name} is {values!r}; give a (low, high) pair of {"integers" if integer else "numbers"} '
                          'with low <= high')
    return values[0], values[1]


def _broadcast(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """`(batch,)` values reshaped to `(batch, 1, ..., 1)` so they broadcast against `like`."""
    return values.to(like.device).view(-1, *[1] * (like.dim() - 1))


class BatchAugmentor(torch.nn.Module):
    """Base class: transforms a batch of inputs and their targets together, each example with probability `p`.

    Subclasses implement `augment(inputs, targets, apply, generator)`, where `apply` is a `(batch,)` bool tensor
    saying which examples to change; the rest must come back unchanged. In eval mode `forward` is the identity.
    """

    def __init__(self, p: float = 1.0) -> None:
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, int | float) or not 0.0 <= p <= 1.0:
            raise ConfigError(f'{type(self).__name__} p is {p!r}; use a probability in [0, 1]')
        self.p = float(p)

    def forward(
        self, inputs: torch.Tensor, targets: Targets, generator: torch.Generator,
    ) -> tuple[torch.Tensor, Targets]:
        """`(batch, ...)` inputs and targets -> augmented `(batch, ...)` inputs and targets of the same shapes.

        Random numbers come from `generator` (on any device; results are moved to the inputs' device).
        """
        if not self.training:
            return inputs, targets
        if inputs.dim() == 0:
            raise ValueError(f'{type(self).__name__} expects a batch of inputs, got a scalar')
        apply = _uniform(inputs.shape[0], 0.0, 1.0, generator, inputs.device) < self.p
        return self.augment(inputs, targets, apply, generator)

    def augment(
        self, inputs: torch.Tensor, targets: Targets, apply: torch.Tensor, generator: torch.Generator,
    ) -> tuple[torch.Tensor, Targets]:
        """Change the examples where `apply` (`(batch,)` bool) is true; see the subclass for shapes."""
        raise NotImplementedError

    def extra_repr(self) -> str:
        simple = (int, float, str, tuple)
        return ', '.join(f'{k}={v!r}' for k, v in vars(self).items()
                         if not k.startswith('_') and k != 'training' and isinstance(v, simple))


class BatchAugmentation(torch.nn.Module):
    """A chain of `BatchAugmentor`s applied in order, like `torch.nn.Sequential`, with its own seeded generator.

    `forward(inputs, targets=None) -> (inputs, targets)`; identity in eval mode. The generator is created on the
    inputs' device at the first call, seeded with `torch.Generator.manual_seed(seed)`. The seed is required (the
    run's, e.g. `parameters.seed`): drawing one from torch's global generator would make the augmentation stream
    depend on what else was built first.
    The generator's state is part of `state_dict()` (as extra state) so a resumed run continues the same
    sequence; if it resumes on another device type the generator restarts from the seed instead.
    """

    def __init__(self, *augmentors: BatchAugmentor, seed: int | None = None) -> None:
        super().__init__()
        for augmentor in augmentors:
            if not isinstance(augmentor, BatchAugmentor):
                raise ConfigError(f'BatchAugmentation takes BatchAugmentor instances, got {type(augmentor).__name__}')
        if seed is None:
            raise ConfigError("BatchAugmentation needs seed=...; pass the run's seed (parameters.seed) so the augmentation draws from it")
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ConfigError(f'BatchAugmentation seed is {seed!r}; use a non-negative integer')
        self.augmentors = torch.nn.ModuleList(augmentors)
        self.seed = seed
        self._generator: torch.Generator | None = None
        self._pending_state: dict[str, Any] | None = None

    def __len__(self) -> int:
        return len(self.augmentors)

    def __iter__(self) -> Iterator[BatchAugmentor]:
        return iter(self.augmentors)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> BatchAugmentor:
        return self.augmentors[index]  # type: ignore[return-value]

    def generator(self, device: torch.device | str) -> torch.Generator:
        """The generator for `device`, created (and seeded, or restored from a loaded state) if needed."""
        device = torch.device(device)
        if self._generator is None or self._generator.device.type != device.type:
            self._generator = torch.Generator(device=device).manual_seed(self.seed)
            pending, self._pending_state = self._pending_state, None
            if pending is not None and pending['device'] == device.type:
                self._generator.set_state(pending['state'])
        return self._generator

    def reset(self, seed: int | None = None) -> None:
        """Restart the random sequence from `seed` (default: the current seed)."""
        if seed is not None:
            self.seed = seed
        self._generator, self._pending_state = None, None

    def forward(self, inputs: torch.Tensor, targets: Targets = None) -> tuple[torch.Tensor, Targets]:
        """`(batch, ...)` inputs and targets through every augmentor in order; unchanged in eval mode."""
        if not self.training:
            return inputs, targets
        generator = self.generator(inputs.device)
        for augmentor in self.augmentors:
            inputs, targets = augmentor(inputs, targets, generator)
        return inputs, targets

    def get_extra_state(self) -> dict[str, Any]:
        if self._generator is not None:
            return {'seed': self.seed, 'device': self._generator.device.type, 'state': self._generator.get_state()}
        if self._pending_state is not None:  # loaded but not used yet
            return dict(self._pending_state)
        return {'seed': self.seed, 'device': '', 'state': torch.empty(0, dtype=torch.uint8)}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        self.seed = int(state['seed'])
        self._generator = None
        self._pending_state = state if state['device'] else None

    def extra_repr(self) -> str:
        return f'seed={self.seed}'


class Gain(BatchAugmentor):
    """Scales each example by a gain drawn uniformly in [min_db, max_db] decibels. Labels are unchanged.

    Inputs: waveforms `(batch, ...)`; output has the same shape. No clipping is applied, so gains above 0 dB can
    take samples beyond [-1, 1] (harmless for float pipelines; add a limiter if a model relies on the range).
    """

    def __init__(self, min_db: float = -6.0, max_db: float = 6.0, p: float = 1.0) -> None:
        super().__init__(p)
        self.min_db, self.max_db = _check_range('Gain (min_db, max_db)', (min_db, max_db))

    def augment(
        self, inputs: torch.Tensor, targets: Targets, apply: torch.Tensor, generator: torch.Generator,
    ) -> tuple[torch.Tensor, Targets]:
        db = torch.where(apply, _uniform(inputs.shape[0], self.min_db, self.max_db, generator, inputs.device), 0.0)
        return inputs * _broadcast(10.0 ** (db / 20.0), inputs).to(inputs.dtype), targets


class AddNoise(BatchAugmentor):
    """Adds white Gaussian noise at a signal-to-noise ratio drawn uniformly in `snr_db` decibels.

    Inputs: waveforms `(batch, ...)`; output has the same shape. The noise is scaled by its measured power, not
    its expected power, so each example's SNR is exactly the one drawn. Silent examples stay silent (their SNR
    is undefined). Labels are unchanged.
    """

    def __init__(self, snr_db: tuple[float, float] = (10.0, 40.0), p: float = 1.0) -> None:
        super().__init__(p)
        self.snr_db = _check_range('AddNoise snr_db', snr_db)

    def augment(
        self, inputs: torch.Tensor, targets: Targets, apply: torch.Tensor, generator: torch.Generator,
    ) -> tuple[torch.Tensor, Targets]:
        snr = _uniform(inputs.shape[0], *self.snr_db, generator, inputs.device)
        noise = torch.randn(inputs.shape, generator=generator, device=generator.device).to(inputs)
        signal_power = inputs.detach().flatten(1).pow(2).mean(dim=1)
        noise_power = noise.flatten(1).pow(2).mean(dim=1).clamp_min(torch.finfo(noise.dtype).tiny)
        scale = torch.sqrt(signal_power / (noise_power * 10.0 ** (snr / 10.0)))
        scale = torch.where(apply, scale, 0.0)
        return inputs + noise * _broadcast(scale, inputs), targets


class _Masking(BatchAugmentor):
    """SpecAugment masks along one axis of `(batch, ..., freq, time)` spectrograms, drawn per example."""

    axis = 0  # overridden: -1 for time, -2 for frequency

    def __init__(self, max_width: int, num_masks: int = 1, min_width: int = 0, mask_value: float = 0.0,
                 p: float = 1.0) -> None:
        super().__init__(p)
        name = type(self).__name__
        low, high = _check_range(f'{name} (min_width, max_width)', (min_width, max_width), integer=True)
        self.min_width, self.max_width = int(low), int(high)
        if self.min_width < 0:
            raise ConfigError(f'{name} min_width is {min_width}; widths must be >= 0')
        if isinstance(num_masks, bool) or not isinstance(num_masks, int) or num_masks < 0:
            raise ConfigError(f'{name} num_masks is {num_masks!r}; use a non-negative integer')
        self.num_masks = num_masks
        self.mask_value = float(mask_value)

    def sample_mask(self, batch: int, size: int, generator: torch.Generator) -> torch.Tensor:
        """`(batch, size)` bool: the union of `num_masks` bands per example, each of width uniform in
        [min_width, max_width] (capped at `size`) starting uniformly where it fits. On the generator's device."""
        device = generator.device
        widths = torch.randint(self.min_width, self.max_width + 1, (batch, self.num_masks), generator=generator,
                               device=device).clamp_max(size)
        starts = (torch.rand((batch, self.num_masks), generator=generator, device=device)
                  * (size - widths + 1)).floor().long()
        positions = torch.arange(size, device=device).view(1, 1, size)
        inside = (positions >= starts.unsqueeze(-1)) & (positions < (starts + widths).unsqueeze(-1))
        return inside.any(dim=1)

    def augment(
        self, inputs: torch.Tensor, targets: Targets, apply: torch.Tensor, generator: torch.Generator,
    ) -> tuple[torch.Tensor, Targets]:
        if inputs.dim() < 3:
            raise ValueError(f'{type(self).__name__} expects (batch, freq, time) spectrograms, '
                             f'got shape {tuple(inputs.shape)}')
        mask = self.sample_mask(inputs.shape[0], inputs.shape[self.axis], generator).to(inputs.device)
        mask = mask & apply.unsqueeze(1)
        shape = [inputs.shape[0]] + [1] * (inputs.dim() - 1)
        shape[self.axis] = inputs.shape[self.axis]
        return inputs.masked_fill(mask.view(shape), self.mask_value), targets


class TimeMasking(_Masking):
    """SpecAugment time masks: sets `num_masks` bands of frames per example to `mask_value`, each band
    `min_width`..`max_width` frames wide, independently per example (torchaudio's version masks the whole batch
    alike and uses the global RNG). Inputs `(batch, ..., freq, time)`; same shape out.

    Labels are unchanged, frame-level ones included: the model must infer the masked frames from context, which
    is the point of the augmentation. Mask with 0 for linear spectrograms; for log features use the value of
    silence (e.g. log(log_offset)) or standardise features first so 0 is the mean.
    """

    axis = -1


class FrequencyMasking(_Masking):
    """SpecAugment frequency masks: like `TimeMasking` but sets bands of frequency bins (axis -2) of
    `(batch, ..., freq, time)` spectrograms to `mask_value`, per example. Labels are unchanged."""

    axis = -2


class PitchShift(BatchAugmentor):
    """Shifts each example's audio by a whole number of semitones drawn uniformly in `semitones` (inclusive),
    and its pitch labels by the same amount, keeping the length.

    Audio: `(batch, samples)` or `(batch, channels, samples)` waveforms. Each distinct shift n in the batch is
    applied once to the examples that drew it: a phase-vocoder time stretch by 2**(n/12) followed by a resample
    back to the original length, which multiplies every frequency by 2**(n/12). This is the recipe of
    torchaudio.functional.pitch_shift with two fixes: (1) the vocoder locks each bin's phase to its spectral
    peak (Laroche & Dolson), because torchaudio's unlocked vocoder lets neighbouring bins drift out of phase
    after a transient and so cancels up to half the amplitude of a plain sine; (2) the resampling ratio is the
    nearest fraction with denominator <= 200 (error under 1 cent), because torchaudio's int(sample_rate / ratio)
    does not reduce for 1 semitone at 16 kHz and needs a sinc kernel of about 1 GB.

    Targets must be a dict (or None); a bare tensor raises, because whether it should move with the pitch is
    unknowable. Keys present in the dict are handled by kind, others pass through unchanged:
        label_keys: pitch numbers in semitones (MIDI), any shape `(batch, ...)`: + n. Negative values mark 'no
            pitch' and are kept; a pitch pushed outside 0..127 becomes -1 too (the note left the MIDI range, so no
            valid class remains; a loss with `ignore_index=-1` skips it).
        hz_keys: frequencies in Hz (e.g. f0), `(batch, ...)`: * 2**(n/12); 0 (unvoiced) stays 0.
        roll_keys: piano rolls with pitch along `roll_pitch_dim` (default -1, i.e. `(batch, frames, pitch)`) in
            ascending pitch order: shifted by n bins with zero fill, so notes pushed off the range are dropped
            rather than wrapped to the other end. The defaults cover every target of
            `etude.data.midi.piano_roll_targets`. A key of this kind with no axis beyond the batch (a per-example
            `velocity`, say) has no pitch to move and passes through unchanged.
    """

    def __init__(
        self,
        sample_rate: int,
        semitones: tuple[int, int] = (-2, 2),
        label_keys: Sequence[str] = ('pitch', 'pitches', 'midi_pitch', 'next_pitch'),
        hz_keys: Sequence[str] = ('f0', 'frequency'),
        roll_keys: Sequence[str] = ('frame', 'frames', 'onset', 'onsets', 'offset', 'offsets', 'velocity',
                                    'velocities', 'onset_regression', 'offset_regression', 'roll', 'piano_roll'),
        roll_pitch_dim: int = -1,
        n_fft: int | None = None,
        p: float = 1.0,
    ) -> None:
        super().__init__(p)
        if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or sample_rate <= 0:
            raise ConfigError(f'PitchShift sample_rate is {sample_rate!r}; use a positive integer in Hz')
        low, high = _check_range('PitchShift semitones', semitones, integer=True)
        self.semitones = (int(low), int(high))
        if max(abs(low), abs(high)) > 48:
            raise ConfigError(f'PitchShift semitones {semitones} exceed four octaves; use a range within (-48, 48)')
        if roll_pitch_dim == 0:
            raise ConfigError('PitchShift roll_pitch_dim is 0, the batch axis; use the pitch axis (e.g. -1)')
        overlap = set(label_keys) & set(hz_keys) | set(label_keys) & set(roll_keys) | set(hz_keys) & set(roll_keys)
        if overlap:
            raise ConfigError(f'PitchShift keys {sorted(overlap)} are listed under more than one kind; list each once')
        self.sample_rate = sample_rate
        self.label_keys, self.hz_keys, self.roll_keys = tuple(label_keys), tuple(hz_keys), tuple(roll_keys)
        self.roll_pitch_dim = roll_pitch_dim
        # ~32 ms frames: fine frequency resolution for the vocoder without smearing transients too much.
        self.n_fft = n_fft if n_fft is not None else 2 ** max(6, math.ceil(math.log2(sample_rate * 0.032)))

    def augment(
        self, inputs: torch.Tensor, targets: Targets, apply: torch.Tensor, generator: torch.Generator,
    ) -> tuple[torch.Tensor, Targets]:
        if isinstance(targets, torch.Tensor):
            raise ConfigError('PitchShift got a bare target tensor; pass targets as a dict and name its keys in '
                              'label_keys, hz_keys or roll_keys (other keys pass through unchanged)')
        if inputs.dim() not in (2, 3):
            raise ValueError(f'PitchShift expects (batch, samples) or (batch, channels, samples) waveforms, '
                             f'got shape {tuple(inputs.shape)}')
        low, high = self.semitones
        shifts = torch.randint(low, high + 1, (inputs.shape[0],), generator=generator, device=generator.device)
        shifts = torch.where(apply.to(shifts.device), shifts, 0).cpu()
        output = inputs.clone()
        for n in shifts.unique().tolist():
            if n != 0:
                index = (shifts == n).nonzero().squeeze(1).to(inputs.device)
                output[index] = self.shift_audio(inputs[index], n)
        if targets is None:
            return output, None
        return output, {key: self._shift_target(key, value, shifts) for key, value in targets.items()}

    def shift_audio(self, waveforms: torch.Tensor, semitones: int) -> torch.Tensor:
        """`(..., samples)` waveforms shifted by `semitones`, same shape and device."""
        shape = waveforms.shape
        x = waveforms.reshape(-1, shape[-1])
        ratio = Fraction(2.0 ** (semitones / 12)).limit_denominator(200)
        hop = self.n_fft // 4
        window = torch.hann_window(self.n_fft, device=x.device, dtype=x.dtype)
        spec = torch.stft(x, self.n_fft, hop, window=window, return_complex=True)
        stretched = _phase_locked_stretch(spec, float(1 / ratio), hop, self.n_fft)
        longer = torch.istft(stretched, self.n_fft, hop, window=window, length=round(shape[-1] * ratio))
        y = torchaudio.functional.resample(longer, ratio.numerator, ratio.denominator)
        y = torch.nn.functional.pad(y, (0, max(0, shape[-1] - y.shape[-1])))[..., :shape[-1]]
        return y.reshape(shape).to(waveforms.dtype)

    def _shift_target(self, key: str, value: torch.Tensor, shifts: torch.Tensor) -> torch.Tensor:
        if key not in self.label_keys + self.hz_keys + self.roll_keys:
            return value
        if value.dim() == 0 or value.shape[0] != shifts.shape[0]:
            raise ValueError(f'PitchShift target {key!r} has shape {tuple(value.shape)}; its first axis must be the '
                             f'batch of {shifts.shape[0]}')
        if key in self.label_keys:
            moved = value + _broadcast(shifts, value).to(value.dtype)
            moved = torch.where((moved >= 0) & (moved <= 127), moved, torch.full_like(moved, -1))
            return torch.where(value >= 0, moved, value)
        if key in self.hz_keys:
            moved = value * 2.0 ** (_broadcast(shifts, value).float() / 12)
            return moved.to(value.dtype if value.is_floating_point() else torch.float32)
        if value.dim() < 2:
            return value  # one value per example (a note's velocity): nothing along pitch to move
        dim = self.roll_pitch_dim % value.dim()
        if dim == 0:
            raise ValueError(f'PitchShift roll {key!r} of shape {tuple(value.shape)} has no pitch axis '
                             f'{self.roll_pitch_dim}')
        result = value.clone()
        for n in shifts.unique().tolist():
            if n != 0:
                index = (shifts == n).nonzero().squeeze(1).to(value.device)
                result[index] = _shift_zero_fill(value[index], n, dim)
        return result


def _shift_zero_fill(x: torch.Tensor, shift: int, dim: int) -> torch.Tensor:
    """`x` moved by `shift` positions along `dim` (towards higher indices if positive), vacated entries zero."""
    size = x.shape[dim]
    out = torch.zeros_like(x)
    if abs(shift) >= size:
        return out
    if shift > 0:
        out.narrow(dim, shift, size - shift).copy_(x.narrow(dim, 0, size - shift))
    else:
        out.narrow(dim, 0, size + shift).copy_(x.narrow(dim, -shift, size + shift))
    return out


def _phase_locked_stretch(spec: torch.Tensor, rate: float, hop: int, n_fft: int) -> torch.Tensor:
    """Time-stretch `(n, freq, frames)` complex STFTs (Hann, `hop`, `n_fft`) to `(n, freq, ceil(frames / rate))`.

    Magnitudes are interpolated between analysis frames. Each output frame's spectral peaks advance their phase
    by their measured instantaneous frequency, and every other bin keeps, relative to its nearest peak, the phase
    offset it has in the analysis frame; that keeps the bins of one partial coherent, so overlap-add does not
    cancel them. The loop over output frames is sequential by nature (each frame's phases build on the last).
    """
    # Frames first and contiguous: per-frame slices are whole blocks and the loop below touches no strides.
    frames = torch.nn.functional.pad(spec, (0, 1)).permute(2, 0, 1).contiguous()  # (t + 1, n, freq)
    t, f = spec.shape[-1], spec.shape[-2]
    magnitude, angle = frames.abs(), frames.angle()
    expected = (2 * math.pi * hop / n_fft) * torch.arange(f, device=spec.device, dtype=angle.dtype)
    deviation = angle[1:] - angle[:-1] - expected
    deviation -= 2 * math.pi * torch.round(deviation / (2 * math.pi))
    advance = torch.remainder(expected + deviation, 2 * math.pi)  # (t, n, freq), wrapped so phases stay small
    # Peaks and the peak owning each bin, on the analysis frames.
    magnitude_in = magnitude[:-1]
    below = torch.nn.functional.pad(magnitude_in[..., :-1], (1, 0), value=-1.0)
    above = torch.nn.functional.pad(magnitude_in[..., 1:], (0, 1), value=-1.0)
    is_peak = (magnitude_in > below) & (magnitude_in >= above)  # every frame has one: its maximum
    position = torch.arange(f, device=spec.device).expand_as(magnitude_in)
    previous = torch.cummax(torch.where(is_peak, position, -1), dim=-1).values
    following = torch.cummin(torch.where(is_peak, position, f).flip(-1), dim=-1).values.flip(-1)
    use_previous = (following >= f) | ((previous >= 0) & (position - previous <= following - position))
    owner = torch.where(use_previous, previous, following)
    relative = angle[:-1] - angle[:-1].gather(-1, owner)
    # Output frame j reads analysis frames base[j] and base[j] + 1.
    steps = torch.arange(0, t, rate, dtype=torch.float64)  # on the CPU: some devices lack float64
    base = steps.long().to(spec.device)
    alpha = (steps - steps.floor()).to(device=spec.device, dtype=magnitude.dtype).view(-1, 1, 1)
    stretched = torch.lerp(magnitude[base], magnitude[base + 1], alpha)
    advance, owner, relative = advance[base], owner[base], relative[base]
    phases = torch.empty_like(stretched)
    phases[0] = angle[0]
    for j in range(1, phases.shape[0]):
        torch.add(phases[j - 1], advance[j - 1], out=phases[j])
        phases[j] = torch.remainder(phases[j].gather(-1, owner[j]), 2 * math.pi) + relative[j]
    return torch.polar(stretched, phases).permute(1, 2, 0)
