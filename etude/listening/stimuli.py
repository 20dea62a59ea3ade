"""Signal processing behind `create_test`: low-pass anchors, loudness normalisation and trimming.

Signals are float `(channels, samples)` numpy arrays, the layout of `read_audio(..., mono=False)`.
"""

from __future__ import annotations

import numpy as np

from ..errors import MissingDependencyError
from .plan import ListeningTestError

__all__ = ['FADE_SECONDS', 'integrated_loudness', 'lowpass_anchor', 'normalise_loudness', 'trim']

ANCHOR_FILTER_ORDER = 10  # applied forwards and backwards: 20th-order magnitude, about 120 dB/octave
FADE_SECONDS = 0.01  # a cut signal ends with a 10 ms raised-cosine fade, so the cut does not click


def lowpass_anchor(audio: np.ndarray, sample_rate: int, cutoff_hz: float) -> np.ndarray:
    """BS.1534's anchor: the reference low-pass filtered at `cutoff_hz` (3.5 kHz for the low anchor, 7 kHz mid).

    The Butterworth filter runs forwards and backwards (zero phase), so the anchor stays sample-aligned with the
    reference and a listener switching between them mid-play hears no jump in time.

    Args:
        audio: `(channels, samples)` float signal.
        sample_rate: its rate; the cutoff must lie below its Nyquist frequency.
        cutoff_hz: the -6 dB point (the -3 dB point of each pass).

    Returns:
        `(channels, samples)` float32.

    Raises:
        ListeningTestError: the cutoff is not below 0.95 × Nyquist, so the anchor would equal the reference.
    """
    from scipy.signal import butter, sosfiltfilt

    nyquist = sample_rate / 2
    if not 0 < cutoff_hz < 0.95 * nyquist:
        raise ListeningTestError(
            f'a {cutoff_hz:g} Hz low-pass anchor needs audio sampled above {cutoff_hz * 2 / 0.95:.0f} Hz, the reference is at '
            f'{sample_rate} Hz; leave that anchor out with --anchors'
        )
    sections = butter(ANCHOR_FILTER_ORDER, cutoff_hz, btype='lowpass', fs=sample_rate, output='sos')
    padding = min(audio.shape[-1] - 1, 3 * (2 * len(sections) + 1))  # scipy's default, cut for very short signals
    return sosfiltfilt(sections, np.asarray(audio, dtype=np.float64), axis=-1, padlen=padding).astype(np.float32)


def _meter(sample_rate: int):  # noqa: ANN202 - pyloudnorm is untyped
    try:
        import pyloudnorm
    except ImportError:
        raise MissingDependencyError('loudness normalisation needs pyloudnorm; install it with: pip install pyloudnorm') from None
    return pyloudnorm.Meter(sample_rate)  # ITU-R BS.1770-4 K-weighting with its gating


def integrated_loudness(audio: np.ndarray, sample_rate: int) -> float:
    """Integrated loudness in LUFS after ITU-R BS.1770-4 (pyloudnorm), of a `(channels, samples)` signal.

    Raises:
        ListeningTestError: the signal is shorter than one 400 ms gating block, or silent.
    """
    if audio.shape[-1] < round(0.4 * sample_rate):
        raise ListeningTestError(f'loudness needs at least 0.4 s of audio, got {audio.shape[-1] / sample_rate:.3f} s; leave out --loudness')
    loudness = float(_meter(sample_rate).integrated_loudness(np.asarray(audio, dtype=np.float64).T))
    if not np.isfinite(loudness):
        raise ListeningTestError('the signal is silent, its loudness cannot be measured; leave out --loudness or replace the file')
    return loudness


def normalise_loudness(audio: np.ndarray, sample_rate: int, target_lufs: float) -> tuple[np.ndarray, float]:
    """Scale a signal to `target_lufs` integrated loudness, so conditions differ in quality, not in level.

    Louder stimuli are reliably rated better, which would confound every comparison; BS.1534 asks for
    loudness-aligned stimuli.

    Returns:
        `(scaled (channels, samples) float32, the measured loudness before scaling in LUFS)`.
    """
    measured = integrated_loudness(audio, sample_rate)
    gain = 10 ** ((target_lufs - measured) / 20)
    return (np.asarray(audio, dtype=np.float64) * gain).astype(np.float32), measured


def trim(audio: np.ndarray, frames: int, sample_rate: int) -> np.ndarray:
    """The first `frames` samples, faded out over the last 10 ms when anything was cut off."""
    if audio.shape[-1] <= frames:
        return audio
    cut = np.array(audio[..., :frames], dtype=np.float32)
    fade = min(frames, round(FADE_SECONDS * sample_rate))
    if fade > 0:
        cut[..., frames - fade:] *= (0.5 + 0.5 * np.cos(np.linspace(0, np.pi, fade))).astype(np.float32)
    return cut
