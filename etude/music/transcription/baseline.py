"""A transcriber that learns nothing, scored by the same code as the model, so a table shows what learning adds.

- a semitone spectrum: STFT magnitudes (2048-sample window at 16 kHz, bins 7.8 Hz apart) averaged over one band per piano key
  (a constant-Q view of the spectrum: each band a semitone wide), in dB;
- onsets: per key, peaks of the positive spectral flux (the rise of the band's level over `lag` frames) above
  `flux_db`, where the band is also, `settle` frames later (once the attack's noise has died), a peak across keys
  (a partial, not the skirt of a neighbour) within `range_db` of the loudest band;
- harmonics: a candidate whose key is an octave, an octave and a fifth or two octaves above a louder candidate of the
  same frame is taken for that note's partial and dropped;
- a key's candidates within `refractory` frames of the one before belong to the same attack;
- a note ends when its band falls `release_db` below its level at the onset, or at the key's next onset; every note
  has velocity `velocity`.
"""

from __future__ import annotations

import os

import numpy as np

from ...data.audio import read_audio
from ...data.midi import NOTE_DTYPE
from .settings import BEGIN_NOTE, NUM_PITCHES

__all__ = ['transcribe_baseline']


def _key_bands(sample_rate: int, n_fft: int) -> np.ndarray:
    """`(88, n_fft // 2 + 1)` weights: key k averages the bins whose frequencies round to its MIDI number (the lowest
    keys, narrower than a bin, have none and stay silent)."""
    frequencies = np.arange(n_fft // 2 + 1) * sample_rate / n_fft
    with np.errstate(divide='ignore'):
        midi = np.rint(69 + 12 * np.log2(np.maximum(frequencies, 1e-9) / 440.0))
    keys = np.arange(BEGIN_NOTE, BEGIN_NOTE + NUM_PITCHES)
    bands = (midi[None, :] == keys[:, None]).astype(np.float32)
    return bands / np.maximum(bands.sum(axis=1, keepdims=True), 1.0)  # the mean of a band's bins: wide bands are not louder


def semitone_spectrum(audio: np.ndarray, sample_rate: int = 16_000, hop_length: int = 160, n_fft: int = 2048) -> np.ndarray:
    """`(frames, 88)` level of each key's band in dB, frames `hop_length` apart and centred on `t * hop_length`."""
    padded = np.pad(audio.astype(np.float32), n_fft // 2)
    frames = 1 + (len(padded) - n_fft) // hop_length
    window = np.hanning(n_fft).astype(np.float32)
    bands = _key_bands(sample_rate, n_fft)
    levels = np.empty((max(frames, 0), NUM_PITCHES), dtype=np.float32)
    for begin in range(0, frames, 512):  # blocks of frames: the STFT of a long file is never held whole
        index = np.arange(begin, min(begin + 512, frames))[:, None] * hop_length + np.arange(n_fft)[None]
        magnitude = np.abs(np.fft.rfft(padded[index] * window, axis=1))
        levels[begin:begin + len(index)] = 20 * np.log10(magnitude @ bands.T + 1e-6)
    return levels


def transcribe_baseline(source: str | os.PathLike[str] | np.ndarray, *, sample_rate: int = 16_000, frames_per_second: float = 100.0,
                        flux_db: float = 8.0, range_db: float = 12.0, release_db: float = 20.0, velocity: int = 80, lag: int = 3,
                        refractory: int = 8, settle: int = 12) -> np.ndarray:
    """Notes (`NOTE_DTYPE`) of a file or of mono samples at `sample_rate`, by the rules in the module docstring."""
    audio = read_audio(source, sample_rate=sample_rate)[0] if not isinstance(source, np.ndarray) else source
    hop = round(sample_rate / frames_per_second)
    levels = semitone_spectrum(audio, sample_rate, hop)
    flux = np.maximum(levels - np.concatenate([np.repeat(levels[:1], lag, axis=0), levels[:-lag]]), 0.0)  # the rise over `lag` frames
    peak_in_time = (flux > flux_db) & (flux >= np.roll(flux, 1, axis=0)) & (flux > np.roll(flux, -1, axis=0))
    # judged `settle` frames after the rise, when the attack's broadband noise has died and the partials remain
    settled = np.concatenate([levels[settle:], np.repeat(levels[-1:], settle, axis=0)])
    padded = np.pad(settled, ((0, 0), (1, 1)), constant_values=-np.inf)
    peak_in_pitch = (settled >= padded[:, :-2]) & (settled >= padded[:, 2:])
    loud = settled > settled.max(axis=1, keepdims=True) - range_db
    candidates = peak_in_time & peak_in_pitch & loud
    for interval in (12, 19, 24):
        above = np.zeros_like(candidates)
        louder = candidates[:, :-interval] & (settled[:, :-interval] + 6 > settled[:, interval:])
        above[:, interval:] = louder
        for spread in (-1, 1):  # the fundamental's onset may be found a frame apart from its partial's
            shifted = np.roll(candidates, spread, axis=0)[:, :-interval] & (settled[:, :-interval] + 6 > settled[:, interval:])
            above[:, interval:] |= shifted
        candidates &= ~above
    rows = []
    for key in range(NUM_PITCHES):
        onsets = np.flatnonzero(candidates[:, key])
        if len(onsets):  # one attack, one onset: candidates within `refractory` frames of the one before are its own
            onsets = onsets[np.concatenate([[True], np.diff(onsets) > refractory])]
        for number, frame in enumerate(onsets):
            limit = onsets[number + 1] if number + 1 < len(onsets) else len(levels)
            quiet = np.flatnonzero(levels[frame + 1:limit, key] < settled[frame, key] - release_db)
            end = frame + 1 + quiet[0] if len(quiet) else limit
            rows.append((BEGIN_NOTE + key, frame / frames_per_second, max(end, frame + 1) / frames_per_second))
    notes = np.zeros(len(rows), dtype=NOTE_DTYPE)
    if rows:
        pitch, start, end = (np.asarray(values) for values in zip(*rows, strict=True))
        notes['pitch'], notes['start'], notes['end'], notes['velocity'] = pitch, start, end, velocity
        notes = notes[np.lexsort((notes['pitch'], notes['start']))]
        notes['duration'] = notes['end'] - notes['start']
        notes['step'] = np.diff(notes['start'], prepend=0.0)
    return notes
