"""Room and microphone augmentation: a synthetic room response and a random equaliser, per example, on the device.

Both are `BatchAugmentor`s (see `etude.data.augment`): they draw every random number from the chain's seeded
generator, the same amount whatever the coin flips give, and change only the examples that drew `apply`; the rest
come back bit for bit. They change how a performance sounds (the hall, the microphone), not what is played, so
every target passes through unchanged.
"""

from __future__ import annotations

import math

import torch
import torchaudio.functional

from etude.data.augment import BatchAugmentor, Targets, _check_range, _uniform
from etude.errors import ConfigError

__all__ = ['Equalizer', 'Reverb']

# 60 dB of energy decay over RT60 seconds: the amplitude envelope is 10 ** (-3 t / RT60)
_DECADES_PER_RT60 = 3.0


def _log_uniform(batch: int, low: float, high: float, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """`(batch,)` floats whose logarithm is uniform in [log low, log high] (frequencies, Q: ratios matter)."""
    return torch.exp(_uniform(batch, math.log(low), math.log(high), generator, device))


def _check_sample_rate(name: str, sample_rate: int) -> int:
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or sample_rate <= 0:
        raise ConfigError(f'{name} sample_rate is {sample_rate!r}; use a positive integer in Hz')
    return sample_rate


class Reverb(BatchAugmentor):
    """Convolves each chosen example with a synthetic room impulse response drawn for it.

    The response is a direct path (a unit impulse at delay 0) plus a reverberant tail of white Gaussian noise under
    an exponential envelope that loses 60 dB in a drawn RT60 (uniform in `rt60_seconds`), starting after a drawn
    pre-delay (uniform in `pre_delay_seconds`), and scaled so the direct-to-reverberant energy ratio is a drawn
    value in `direct_to_reverberant_db`. This is the usual statistical model of late reverberation (Polack's);
    it leaves out early reflections and the faster decay of high frequencies, which measured responses would bring
    (no package shipping them was found among those installable here).

    The direct path keeps unit gain, so an attack is as loud as before (what the velocity head reads) and the tail
    only adds energy after it. The response is truncated where the longest drawable decay reaches -60 dB (`length`
    samples), and applied with one FFT convolution for the chosen examples; the output is cut to the input's
    length (the tail of the last notes beyond the segment is dropped, as a segment of a longer recording would).

    Targets are unchanged. Onsets do not move: the direct path has no delay, so every attack stays where it was.
    Offsets are left as written, on purpose: the key release stops the string (the damper falls) at the written
    time whatever the room; what rings on after it is the room's tail, not a sounding key, and a transcriber
    should learn to mark the release through it rather than be taught that a wet room lengthens notes.

    Inputs: waveforms `(batch, samples)` or `(batch, channels, samples)`; the output has the same shape (one
    response per example, shared by its channels).
    """

    def __init__(
        self,
        sample_rate: int,
        rt60_seconds: tuple[float, float] = (0.2, 1.5),
        direct_to_reverberant_db: tuple[float, float] = (-3.0, 12.0),
        pre_delay_seconds: tuple[float, float] = (0.0, 0.02),
        p: float = 1.0,
    ) -> None:
        super().__init__(p)
        self.sample_rate = _check_sample_rate('Reverb', sample_rate)
        self.rt60_seconds = _check_range('Reverb rt60_seconds', rt60_seconds)
        if not (0.0 < self.rt60_seconds[0] and self.rt60_seconds[1] <= 10.0):
            raise ConfigError(f'Reverb rt60_seconds is {rt60_seconds!r}; use decay times above 0 and at most 10 s')
        self.direct_to_reverberant_db = _check_range('Reverb direct_to_reverberant_db', direct_to_reverberant_db)
        self.pre_delay_seconds = _check_range('Reverb pre_delay_seconds', pre_delay_seconds)
        if self.pre_delay_seconds[0] < 0.0 or self.pre_delay_seconds[1] > 0.2:
            raise ConfigError(f'Reverb pre_delay_seconds is {pre_delay_seconds!r}; use delays in [0, 0.2] s')
        # the response's length: the longest pre-delay and decay the ranges allow, to -60 dB
        self.length = 1 + math.ceil((self.pre_delay_seconds[1] + self.rt60_seconds[1]) * sample_rate)

    def impulse_responses(self, batch: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
        """`(batch, length)` float32 room responses drawn from `generator`, on `device`; also what `augment` draws."""
        rt60 = _uniform(batch, *self.rt60_seconds, generator, device)
        ratio_db = _uniform(batch, *self.direct_to_reverberant_db, generator, device)
        pre_delay = _uniform(batch, *self.pre_delay_seconds, generator, device)
        noise = torch.randn((batch, self.length), generator=generator, device=generator.device).to(device)
        time = torch.arange(self.length, device=device, dtype=torch.float32) / self.sample_rate  # (length,)
        late = (time - pre_delay.unsqueeze(1)).clamp_min(0.0)  # (batch, length): seconds since the tail began
        envelope = torch.pow(10.0, -_DECADES_PER_RT60 * late / rt60.unsqueeze(1))
        envelope = envelope * ((time > pre_delay.unsqueeze(1)) & (time > 0)).float()  # the tail after the direct path
        tail = noise * envelope
        energy = tail.pow(2).sum(dim=1, keepdim=True).clamp_min(torch.finfo(tail.dtype).tiny)
        tail = tail * torch.sqrt(10.0 ** (-ratio_db.unsqueeze(1) / 10.0) / energy)  # tail energy against the direct 1
        tail[:, 0] = 1.0  # the direct path
        return tail

    def augment(
        self, inputs: torch.Tensor, targets: Targets, apply: torch.Tensor, generator: torch.Generator,
    ) -> tuple[torch.Tensor, Targets]:
        if inputs.dim() not in (2, 3):
            raise ValueError(f'Reverb expects (batch, samples) or (batch, channels, samples) waveforms, '
                             f'got shape {tuple(inputs.shape)}')
        responses = self.impulse_responses(inputs.shape[0], generator, inputs.device)
        index = apply.nonzero().squeeze(1)
        if index.numel() == 0:
            return inputs, targets
        import scipy.fft  # where used: its import took 0.57 s here, beside torch and torchaudio already loaded

        samples = inputs.shape[-1]
        # a length with small prime factors: torchaudio's fftconvolve takes exactly samples + length - 1, which can be
        # a large prime's multiple (87,999 = 3 x 29,333 for 24,000 taps at 4 s: nine times slower on the CPU)
        size = scipy.fft.next_fast_len(samples + self.length - 1, real=True)
        chosen = inputs[index]
        response = responses[index].to(inputs.dtype)
        if chosen.dim() == 3:
            response = response.unsqueeze(1)
        wet = torch.fft.irfft(torch.fft.rfft(chosen, n=size) * torch.fft.rfft(response, n=size), n=size)
        output = inputs.clone()
        output[index] = wet[..., :samples].to(inputs.dtype)
        return output, targets


class Equalizer(BatchAugmentor):
    """Filters each chosen example through `bands` peaking equalisers, each with a drawn centre, gain and Q.

    Per example and band: the centre frequency is log-uniform in `frequency_hz`, the gain uniform in
    [-gain_db, gain_db] decibels, and Q log-uniform in `q`. Each band is the peaking biquad of the Audio EQ
    Cookbook (R. Bristow-Johnson), the filter `torchaudio.functional.equalizer_biquad` applies; its coefficients
    are written out here because that function takes one set per call, and here every example has its own. The
    biquads run as `torchaudio.functional.lfilter` with one filter per example (`batching=True`), without its
    clamping to [-1, 1] (a boost may take samples beyond it, as `Gain` may). A band at 0 dB is the identity.

    This stands for a microphone, a piano's voicing and a room's colour; broad bands (low Q) tilt the spectrum as a
    shelf would. Targets are unchanged (a filter of a few samples' group delay moves no onset by a frame).

    Inputs: waveforms `(batch, samples)` or `(batch, channels, samples)`; the output has the same shape.
    """

    def __init__(
        self,
        sample_rate: int,
        gain_db: float = 6.0,
        bands: int = 3,
        frequency_hz: tuple[float, float] = (60.0, 6000.0),
        q: tuple[float, float] = (0.5, 2.0),
        p: float = 1.0,
    ) -> None:
        super().__init__(p)
        self.sample_rate = _check_sample_rate('Equalizer', sample_rate)
        if isinstance(gain_db, bool) or not isinstance(gain_db, int | float) or not 0.0 <= gain_db <= 24.0:
            raise ConfigError(f'Equalizer gain_db is {gain_db!r}; use a number of decibels in [0, 24]')
        self.gain_db = float(gain_db)
        if isinstance(bands, bool) or not isinstance(bands, int) or not 1 <= bands <= 16:
            raise ConfigError(f'Equalizer bands is {bands!r}; use an integer from 1 to 16')
        self.bands = bands
        self.frequency_hz = _check_range('Equalizer frequency_hz', frequency_hz)
        if not (0.0 < self.frequency_hz[0] and self.frequency_hz[1] < sample_rate / 2):
            raise ConfigError(f'Equalizer frequency_hz is {frequency_hz!r}; use centres above 0 and below '
                              f'{sample_rate / 2:g} Hz (half the sample rate)')
        self.q = _check_range('Equalizer q', q)
        if not self.q[0] > 0.0:
            raise ConfigError(f'Equalizer q is {q!r}; use quality factors above 0')

    def draw_bands(self, batch: int, generator: torch.Generator,
                   device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """`(bands, batch)` centres (Hz), gains (dB) and Qs in float64 on `device`: what `augment` draws."""
        shape = self.bands * batch
        centre = _log_uniform(shape, *self.frequency_hz, generator, device).double().view(self.bands, batch)
        gain = _uniform(shape, -self.gain_db, self.gain_db, generator, device).double().view(self.bands, batch)
        q = _log_uniform(shape, *self.q, generator, device).double().view(self.bands, batch)
        return centre, gain, q

    def coefficients(self, centre: torch.Tensor, gain: torch.Tensor,
                     q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Peaking biquads of `(...)` centres, gains and Qs -> `(..., 3)` denominators `a` and numerators `b`."""
        w0 = 2 * math.pi * centre / self.sample_rate
        amplitude = 10.0 ** (gain / 40.0)
        alpha = torch.sin(w0) / (2 * q)
        cosine = -2 * torch.cos(w0)
        b = torch.stack([1 + alpha * amplitude, cosine, 1 - alpha * amplitude], dim=-1)
        a = torch.stack([1 + alpha / amplitude, cosine, 1 - alpha / amplitude], dim=-1)
        return a, b

    def augment(
        self, inputs: torch.Tensor, targets: Targets, apply: torch.Tensor, generator: torch.Generator,
    ) -> tuple[torch.Tensor, Targets]:
        if inputs.dim() not in (2, 3):
            raise ValueError(f'Equalizer expects (batch, samples) or (batch, channels, samples) waveforms, '
                             f'got shape {tuple(inputs.shape)}')
        a, b = self.coefficients(*self.draw_bands(inputs.shape[0], generator, inputs.device))
        index = apply.nonzero().squeeze(1)
        if index.numel() == 0:
            return inputs, targets
        chosen = inputs[index]
        # lfilter's batching applies filter i to row i of (..., filters, time): examples on that axis
        filtered = chosen.transpose(0, 1) if chosen.dim() == 3 else chosen
        for band in range(self.bands):
            filtered = torchaudio.functional.lfilter(filtered, a[band, index].to(inputs.dtype),
                                                     b[band, index].to(inputs.dtype), clamp=False, batching=True)
        output = inputs.clone()
        output[index] = filtered.transpose(0, 1) if chosen.dim() == 3 else filtered
        return output, targets
