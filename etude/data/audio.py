"""Reading, writing and resampling audio files.

Files go through `soundfile` (libsndfile), not `torchaudio.load`/`save`, which since torchaudio 2.9 need torchcodec
and a system FFmpeg. The soundfile wheel bundles libsndfile >= 1.1, which reads and writes WAV, FLAC, OGG (Vorbis)
and MP3.

Layouts follow torchaudio: a multi-channel signal is `(channels, samples)`, a mono one `(samples,)`, always float32
in [-1, 1] when read. Every failure caused by a file (missing, empty, corrupt, unsupported) is a `DataFileError`
whose one-line message names the file and the reason, never a bare libsndfile traceback.
"""

from __future__ import annotations

import functools
import math
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import soundfile
import soxr

from ..atomic_files import fsync_directory
from ..errors import ConfigError, DataFileError

if TYPE_CHECKING:
    import torch

__all__ = [
    'AUDIO_FORMATS',
    'AudioInfo',
    'atomic_path',
    'audio_info',
    'read_audio',
    'resample',
    'resample_tensor',
    'write_audio',
]

# extension -> libsndfile major format
AUDIO_FORMATS: dict[str, str] = {'wav': 'WAV', 'flac': 'FLAC', 'ogg': 'OGG', 'mp3': 'MP3'}

# Kaiser-windowed sinc settings torchaudio documents as matching librosa's 'kaiser_best'.
_TENSOR_QUALITY = {
    'default': {'lowpass_filter_width': 6, 'rolloff': 0.99, 'resampling_method': 'sinc_interp_hann'},
    'high': {
        'lowpass_filter_width': 64,
        'rolloff': 0.9475937167399596,
        'resampling_method': 'sinc_interp_kaiser',
        'beta': 14.769656459379492,
    },
}


@dataclass(frozen=True)
class AudioInfo:
    """What an audio file holds, read from its header without decoding the samples.

    Attributes:
        sample_rate: samples per second per channel.
        channels: number of channels.
        frames: samples per channel (an estimate for some MP3 files, whose headers do not store it).
        duration: `frames / sample_rate` in seconds.
        format: libsndfile major format, e.g. 'WAV', 'FLAC', 'OGG', 'MP3'.
        subtype: sample encoding, e.g. 'PCM_16', 'FLOAT', 'VORBIS'.
    """

    sample_rate: int
    channels: int
    frames: int
    duration: float
    format: str
    subtype: str


@functools.cache
def _available_formats() -> frozenset[str]:
    """What this libsndfile reads: asked once per process (it costs 0.15 ms, on every file of a thousand)."""
    return frozenset(soundfile.available_formats())


def _format_of(path: Path) -> str:
    """The libsndfile format named by the file extension, or a `DataFileError` if etude does not read it."""
    extension = path.suffix.lower().lstrip('.')
    supported = ', '.join(AUDIO_FORMATS)
    if extension not in AUDIO_FORMATS:
        raise DataFileError(f"{path}: not a readable audio file (unsupported format '{extension}'); supported: {supported}")
    major = AUDIO_FORMATS[extension]
    if major not in _available_formats():
        raise DataFileError(
            f'{path}: {major} needs libsndfile >= 1.1, but soundfile uses {soundfile.__libsndfile_version__}; '
            'reinstall soundfile from its wheel'
        )
    return major


def _open(path: str | os.PathLike[str]) -> tuple[Path, soundfile.SoundFile]:
    """Open `path` for reading, turning every way it can fail into a `DataFileError` naming the file."""
    path = Path(path)
    _format_of(path)
    if not path.exists():
        raise DataFileError(f'{path}: no such file')
    if not path.is_file():
        raise DataFileError(f'{path}: not a file')
    if path.stat().st_size == 0:
        raise DataFileError(f'{path}: empty file (0 bytes)')
    try:
        handle = soundfile.SoundFile(path)
    except (soundfile.SoundFileError, RuntimeError, OSError) as error:
        reason = str(error).split(':')[-1].strip() or type(error).__name__
        if 'not a regular file' in reason:  # libsndfile's answer to an undecodable MP3, although the file is there
            reason = 'no decodable audio stream'
        raise DataFileError(f'{path}: corrupt or not a {path.suffix.lstrip(".")} audio file ({reason})') from None
    if handle.frames == 0:
        handle.close()
        raise DataFileError(f'{path}: empty audio (0 frames)')
    truncated = _truncation(handle.extra_info)
    if truncated is not None:
        handle.close()
        declared, present = truncated
        raise DataFileError(f'{path}: truncated: its header declares {declared} bytes of audio but the file holds {present}')
    return path, handle


# Context decoded on each side of an excerpt that is resampled: longer than soxr's HQ filter reaches.
_RESAMPLING_CONTEXT_SECONDS = 0.02

# Streaming writers leave a placeholder in the size field (they cannot seek back), which is not a truncation.
_PLACEHOLDER_SIZES = {0, 0xFFFFFFFF, 0x7FFFFFFF, 0xFFFFFFFF - 1}


def _truncation(log: str) -> tuple[int, int] | None:
    """(declared, present) bytes when libsndfile's header log shows a data chunk cut short, else None.

    libsndfile reads what is there of a cut WAV/AIFF without complaint and notes `data : 32000 (should be 10637)`
    in its log; a dataset built from such a file would silently hold a clip of the wrong length.
    """
    match = re.search(r'data\s*:\s*(\d+)\s*\(should be (\d+)\)', log)
    if match is None:
        return None
    declared, present = int(match.group(1)), int(match.group(2))
    return (declared, present) if present < declared and declared not in _PLACEHOLDER_SIZES else None


def audio_info(path: str | os.PathLike[str]) -> AudioInfo:
    """Read an audio file's header.

    Args:
        path: a WAV, FLAC, OGG or MP3 file.

    Returns:
        AudioInfo with sample_rate, channels, frames, duration (seconds), format and subtype.

    Raises:
        DataFileError: the file is missing, empty, corrupt or of an unsupported format.
    """
    _, handle = _open(path)
    with handle:
        return AudioInfo(
            sample_rate=handle.samplerate,
            channels=handle.channels,
            frames=handle.frames,
            duration=handle.frames / handle.samplerate,
            format=handle.format,
            subtype=handle.subtype,
        )


def read_audio(
    path: str | os.PathLike[str],
    *,
    sample_rate: int | None = None,
    mono: bool = True,
    channel: int | None = None,
    offset_seconds: float = 0.0,
    duration_seconds: float | None = None,
) -> tuple[np.ndarray, int]:
    """Read (part of) an audio file as float32 samples.

    Only the frames in `[offset_seconds, offset_seconds + duration_seconds)` are decoded, so reading a short excerpt
    of a long file is cheap.

    Args:
        path: a WAV, FLAC, OGG or MP3 file.
        sample_rate: resample to this rate (with soxr, high quality) if given and different from the file's.
        mono: average the channels into one. Ignored when `channel` is given.
        channel: keep only this channel (0-based) instead of averaging, e.g. one microphone of a stereo pair.
        offset_seconds: where to start reading.
        duration_seconds: how much to read; `None` reads to the end. An excerpt running past the end is cut short.

    Returns:
        `(audio, sample_rate)`: `audio` is float32 `(samples,)` when `mono` or `channel` is set, otherwise
        `(channels, samples)`; `sample_rate` is the rate of the returned samples.

    Raises:
        DataFileError: the file is missing, empty, corrupt or unsupported; `channel` is not in the file; the offset
            is past the end of the file.
        ConfigError: an offset or duration that is negative or not a finite number, or a sample rate that is not a
            positive whole number.
    """
    _check_read_arguments(sample_rate, offset_seconds, duration_seconds)
    path, handle = _open(path)
    with handle:
        rate = handle.samplerate
        if channel is not None and not 0 <= channel < handle.channels:
            raise DataFileError(f'{path}: has {handle.channels} channel(s), channel {channel} was requested')
        start = round(offset_seconds * rate)
        if start >= handle.frames:
            raise DataFileError(
                f'{path}: offset {offset_seconds:g} s is past the end of the file ({handle.frames / rate:g} s)'
            )
        frames = handle.frames - start if duration_seconds is None else min(round(duration_seconds * rate), handle.frames - start)
        # Resampling an excerpt on its own would filter against silence at its edges; decode some context on each
        # side (a whole number of resampling periods, so the cut lands on an output sample) and cut after resampling.
        before = after = 0
        if sample_rate is not None and sample_rate != rate:
            period = rate // math.gcd(rate, sample_rate)
            margin = period * math.ceil(_RESAMPLING_CONTEXT_SECONDS * rate / period)
            before, after = (start // period) * period if start < margin else margin, min(margin, handle.frames - start - frames)
        try:
            handle.seek(start - before)
            audio = handle.read(before + frames + after, dtype='float32', always_2d=True).T  # (channels, samples)
        except (soundfile.SoundFileError, RuntimeError) as error:
            raise DataFileError(f'{path}: corrupt audio data ({error})') from None
    if channel is not None:
        audio = audio[channel]
    elif mono:
        audio = audio.mean(axis=0)
    if sample_rate is not None and sample_rate != rate:
        audio = resample(audio, rate, sample_rate)
        first = before * sample_rate // rate
        audio = audio[..., first:first + round(frames * sample_rate / rate)]
        rate = sample_rate
    return np.ascontiguousarray(audio, dtype=np.float32), rate


def _check_read_arguments(sample_rate: object, offset_seconds: object, duration_seconds: object) -> None:
    """The arguments of `read_audio`, checked where they enter: a ConfigError that names the bad one, not a
    ValueError from deep inside the resampler."""
    if sample_rate is not None and (isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0):
        raise ConfigError(f'read_audio sample_rate is {sample_rate!r}; give a positive whole number of samples per second, or None')
    for name, value in (('offset_seconds', offset_seconds), ('duration_seconds', duration_seconds)):
        if value is None and name == 'duration_seconds':
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not math.isfinite(value) or value < 0:
            raise ConfigError(f'read_audio {name} is {value!r}; give a number of seconds >= 0' + (', or None' if name == 'duration_seconds' else ''))


def resample(audio: np.ndarray, from_rate: int, to_rate: int, *, quality: str = 'HQ') -> np.ndarray:
    """Resample a numpy signal with soxr (a band-limited polyphase resampler, the one librosa defaults to).

    Args:
        audio: `(samples,)` or `(..., samples)`; resampled along the last axis. Float64 stays float64, anything else
            becomes float32.
        from_rate: the signal's sample rate.
        to_rate: the wanted sample rate.
        quality: soxr quality, 'QQ', 'LQ', 'MQ', 'HQ' (default) or 'VHQ'.

    Returns:
        `(..., round(samples * to_rate / from_rate))` array.
    """
    if from_rate <= 0 or to_rate <= 0:
        raise ValueError(f'sample rates must be positive, got {from_rate} and {to_rate}')
    audio = np.asarray(audio)
    dtype = np.float64 if audio.dtype == np.float64 else np.float32
    audio = audio.astype(dtype, copy=False)
    if from_rate == to_rate:
        return audio.copy()
    *leading, samples = audio.shape
    if samples == 0:
        return np.zeros((*leading, 0), dtype=dtype)
    # soxr wants (samples, channels): fold every leading axis into channels.
    flat = np.ascontiguousarray(audio.reshape(-1, samples).T)
    out = soxr.resample(flat, from_rate, to_rate, quality=quality)
    return np.ascontiguousarray(out.T.reshape(*leading, -1), dtype=dtype)


def resample_tensor(
    waveform: torch.Tensor,
    from_rate: int,
    to_rate: int,
    *,
    quality: Literal['default', 'high'] = 'default',
) -> torch.Tensor:
    """Resample a batch of signals on their own device with `torchaudio.functional.resample`.

    Use this inside a model or data pipeline on the GPU; use `resample` for single files on the CPU.

    Args:
        waveform: `(..., samples)` float tensor, on any device.
        from_rate: the signal's sample rate (int).
        to_rate: the wanted sample rate (int).
        quality: 'default' (torchaudio's Hann-windowed sinc, 6 zero crossings, fast) or 'high' (Kaiser-windowed
            sinc with 64 zero crossings, matching librosa's 'kaiser_best'; slower, flatter passband).

    Returns:
        `(..., ceil(samples * to_rate / from_rate))` tensor on the same device and of the same dtype.
    """
    import torchaudio.functional

    if from_rate <= 0 or to_rate <= 0:
        raise ValueError(f'sample rates must be positive, got {from_rate} and {to_rate}')
    if quality not in _TENSOR_QUALITY:
        raise ValueError(f"quality must be one of {', '.join(_TENSOR_QUALITY)}, got {quality!r}")
    if from_rate == to_rate:
        return waveform
    return torchaudio.functional.resample(waveform, int(from_rate), int(to_rate), **_TENSOR_QUALITY[quality])


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside `path` to write to; move it onto `path` only if the block succeeds.

    `os.replace` within one directory is atomic, so readers see the old file or the whole new one, never half a
    file, and a crash leaves at most a hidden `.<name>.*.tmp` file behind. The file is fsynced before, and the folder
    after, the rename, as `etude.atomic_files.write_atomic` does (this is its form for writers that take a path, not
    a file object: libsndfile, pretty_midi, music21). The new file gets the old file's permissions, or 0o644
    (mkstemp creates 0o600 files).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f'.{path.name}.', suffix='.tmp')
    os.close(descriptor)
    try:
        yield Path(temporary)
        os.chmod(temporary, path.stat().st_mode & 0o777 if path.exists() else 0o644)
        descriptor = os.open(temporary, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    fsync_directory(path.parent)


def write_audio(
    path: str | os.PathLike[str],
    audio: np.ndarray | torch.Tensor,
    sample_rate: int,
    *,
    subtype: str | None = None,
) -> Path:
    """Write audio to a file, atomically, in the format named by the extension.

    Args:
        path: destination ending in .wav, .flac, .ogg or .mp3; parent directories are created.
        audio: numpy array or torch tensor (any device), `(samples,)` or `(channels, samples)`. Floats are expected
            in [-1, 1]; integer arrays are written as they are.
        sample_rate: samples per second.
        subtype: sample encoding, e.g. 'PCM_16', 'PCM_24', 'FLOAT'; `None` takes libsndfile's default for the
            format (PCM_16 for WAV and FLAC, VORBIS for OGG, MPEG_LAYER_III for MP3).

    Returns:
        The path written.

    Raises:
        DataFileError: the extension is not a supported format, or the subtype does not fit the format.
        ValueError: `audio` is not 1-D or 2-D, holds NaN or infinite samples an integer encoding cannot keep, or the sample
            rate is not positive.
    """
    path = Path(path)
    major = _format_of(path)
    if hasattr(audio, 'detach'):
        audio = audio.detach().cpu().numpy()
    audio = np.asarray(audio)
    if audio.ndim not in (1, 2):
        raise ValueError(f'audio must be (samples,) or (channels, samples), got shape {audio.shape}')
    if sample_rate <= 0:
        raise ValueError(f'sample_rate must be positive, got {sample_rate}')
    if np.issubdtype(audio.dtype, np.floating) and not np.isfinite(audio).all() and (subtype or '').upper() not in ('FLOAT', 'DOUBLE'):
        # an integer encoding turns NaN into full-scale noise without a word; a float one keeps what was given
        raise ValueError(f'{path}: the audio holds {np.count_nonzero(~np.isfinite(audio))} samples that are not numbers (NaN or infinite), '
                         'which this encoding cannot hold; write with subtype="FLOAT" to keep them, or repair the audio')
    if subtype is not None and not soundfile.check_format(major, subtype):
        raise DataFileError(f'{path}: subtype {subtype!r} cannot be written as {major}')
    data = audio.T if audio.ndim == 2 else audio  # soundfile wants (samples, channels)
    try:
        with atomic_path(path) as temporary:
            soundfile.write(temporary, data, int(sample_rate), subtype=subtype, format=major)
    except (soundfile.SoundFileError, RuntimeError) as error:
        raise DataFileError(f'{path}: could not write audio ({error})') from None
    return path
