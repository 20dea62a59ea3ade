"""The worker side of the feature cache: read a chunk of clips, featurise them, and write their rows in place.

Each chunk covers consecutive rows of the cache; a row is a clip of `num_samples` samples from `offset` seconds into a
file (0 unless the cache cuts long recordings into segments). With piano-roll targets, each row also gets the frame-
wise transcription targets of its clip, computed from the item's MIDI companion on the same frames as the features.
Workers write straight into the memory-mapped arrays of the unfinished cache, so nothing large crosses processes.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import DataFileError
from .audio import read_audio
from .builder import exit_with_parent
from .representations import Featuriser, RepresentationSettings

__all__ = ['PIANO_ROLL_DTYPES', 'Chunk', 'compute_chunk', 'start_worker']

# How each `etude.data.midi.piano_roll_targets` output is stored: 0/1 targets and MIDI velocities (0-127) as uint8,
# the fractional regression targets as float16, so an hour of 100 fps, 88-key targets takes 127 MB, not 760 MB.
PIANO_ROLL_DTYPES = {'frame': 'uint8', 'onset': 'uint8', 'offset': 'uint8', 'velocity': 'uint8',
                     'onset_regression': 'float16', 'offset_regression': 'float16'}
PIANO_KEYS = 88


@dataclass(frozen=True)
class Chunk:
    """Rows `start:start + len(paths)` of the cache in `directory`: clip i is `paths[i]` from `offsets[i]` seconds."""

    index: int
    start: int
    paths: tuple[str, ...]
    offsets: tuple[float, ...]
    midi_paths: tuple[str, ...]  # the MIDI companion of each row when `targets` are asked for, else empty
    directory: str
    settings: dict[str, Any]
    num_samples: int
    batch_size: int
    on_error: str
    targets: tuple[str, ...] = ()
    frames_per_second: float = 0.0
    frame_time: float = 0.0  # seconds from a clip's start to the centre of its frame 0


_featurisers: dict[str, Any] = {}


def start_worker(threads: int) -> None:
    """Workers leave Ctrl-C to the main process (which stops the build cleanly), share the cores out, and exit when
    the main process is gone (after kill -9 they would otherwise wait on the task queue forever)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(threads)
    exit_with_parent()


def compute_chunk(chunk: Chunk) -> list[tuple[int, str]]:
    """Read, featurise and store one chunk's rows, `batch_size` clips at a time (so memory stays at one batch of
    waveforms however long the files); return (row, reason) for each unreadable clip, whose row is left zero."""
    settings = RepresentationSettings.from_dict(chunk.settings)
    key = settings.fingerprint()
    if key not in _featurisers:
        _featurisers[key] = Featuriser(settings).eval()
    featuriser, rate = _featurisers[key], settings.sample_rate
    directory = Path(chunk.directory)
    inputs = np.load(directory / 'inputs.npy', mmap_mode='r+')
    targets = {name: np.load(directory / 'labels' / f'{name}.npy', mmap_mode='r+') for name in chunk.targets}
    notes: dict[str, np.ndarray] = {}  # the rows of one file are consecutive: read its MIDI once
    bad: list[tuple[int, str]] = []
    for begin in range(0, len(chunk.paths), chunk.batch_size):
        rows = range(begin, min(begin + chunk.batch_size, len(chunk.paths)))
        waveforms = np.zeros((len(rows), chunk.num_samples), dtype=np.float32)
        unreadable = []
        for position, row in enumerate(rows):
            path = chunk.paths[row]
            try:
                audio = read_audio(path, sample_rate=rate, offset_seconds=chunk.offsets[row], duration_seconds=chunk.num_samples / rate)[0]
                if chunk.targets:
                    rolls = _piano_roll(chunk, row, notes, targets[chunk.targets[0]].shape[1])
            except DataFileError as error:
                if chunk.on_error == 'raise':
                    raise DataFileError(f"{error}; fix or remove the file, or build with on_error='skip'") from None
                unreadable.append(position)
                bad.append((chunk.start + row, str(error).removeprefix(f'{path}: ')))
                continue
            waveforms[position, :len(audio)] = audio[:chunk.num_samples]
            for name in chunk.targets:
                targets[name][chunk.start + row] = _encode(name, rolls[name])
        with torch.inference_mode():
            features = featuriser(torch.from_numpy(waveforms)).numpy()
        features[unreadable] = 0.0
        inputs[chunk.start + rows.start:chunk.start + rows.stop] = features
    for array in (inputs, *targets.values()):
        array.flush()
    del inputs, targets
    return bad


def _piano_roll(chunk: Chunk, row: int, cache: dict[str, np.ndarray], num_frames: int) -> dict[str, np.ndarray]:
    """The transcription targets of one clip, on the features' frames, from the notes of its MIDI companion."""
    from .midi import midi_to_notes, piano_roll_targets

    path = chunk.midi_paths[row]
    if path not in cache:
        cache.clear()
        cache[path] = midi_to_notes(path)
    begin = chunk.offsets[row] + chunk.frame_time
    end = begin + num_frames / chunk.frames_per_second
    notes = cache[path]
    notes = notes[(notes['end'] > begin) & (notes['start'] < end)].copy()  # the clip's notes: few, however long the piece
    notes['start'] -= begin
    notes['end'] -= begin
    return piano_roll_targets(notes, frames_per_second=chunk.frames_per_second, num_frames=num_frames, num_pitches=PIANO_KEYS)


def _encode(name: str, values: np.ndarray) -> np.ndarray:
    if name == 'velocity':
        return np.rint(values * 127).astype(np.uint8)
    return values.astype(PIANO_ROLL_DTYPES[name]) if PIANO_ROLL_DTYPES[name] == 'float16' else np.rint(values).astype(np.uint8)
