"""Transcribe audio of any length: overlapping segments through the model, stitched, decoded as they come.

The file is read one segment at a time (soundfile seeks; a file at another rate is resampled per segment, and the
overlap keeps the resampler's edges out of the frames that are kept), segments go through the model in batches, and
the kept middle of each (`stitched_frames`) is fed to a `NoteStream`. So what stays in memory is one batch of audio
and outputs plus the notes, whatever the file's length.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ...data.audio import audio_info, read_audio
from ...errors import DataFileError
from .decoding import OUTPUT_KEYS, NoteStream, segment_plan, stitched_frames
from .settings import DecodingSettings, FrontEnd

if TYPE_CHECKING:
    import torch

    from .protocol import FrameTranscriber

__all__ = ['network_outputs', 'transcribe']

MIN_SECONDS = 0.1  # shorter input is refused: no note can be told from a frame or two


def _segments(source: str | os.PathLike[str] | np.ndarray, front_end: FrontEnd, hop_frames: int, count: int) -> Iterator[np.ndarray]:
    """`(segment_samples,)` float32 audio of each segment, zero-padded past the end."""
    length, hop_samples = front_end.segment_samples, hop_frames * front_end.hop_length
    for index in range(count):
        segment = np.zeros(length, dtype=np.float32)
        begin = index * hop_samples
        if isinstance(source, np.ndarray):
            clip = source[begin:begin + length]
        else:
            clip = read_audio(source, sample_rate=front_end.sample_rate, offset_seconds=begin / front_end.sample_rate,
                              duration_seconds=front_end.segment_seconds)[0]
        segment[:len(clip)] = clip[:length]
        yield segment


def network_outputs(model: FrameTranscriber, waveforms: np.ndarray, device: torch.device | str) -> dict[str, np.ndarray]:
    """`(batch, samples)` float32 waveforms → each head's `(batch, frames, 88)` float32 outputs: a torch model on
    `device`, or a model that runs on arrays (an ONNX export, `onnx_network.OnnxTranscriber`) as it is. The only
    step where the two differ; the segments, the stitching and the decoding are the same. Loads no torch: a torch
    model means torch is loaded already."""
    torch = sys.modules.get('torch')
    if torch is None or not isinstance(model, torch.nn.Module):
        return {key: np.asarray(value, dtype=np.float32) for key, value in model(waveforms).items()}
    with torch.no_grad():
        outputs = model(torch.from_numpy(waveforms).to(device))
    return {key: outputs[key].float().cpu().numpy() for key in OUTPUT_KEYS}


def transcribe(model: FrameTranscriber, source: str | os.PathLike[str] | np.ndarray, *, settings: DecodingSettings = DecodingSettings(),
               segment_seconds: float = 4.0, batch_size: int = 8, device: torch.device | str = 'cpu') -> tuple[np.ndarray, float]:
    """Notes (`NOTE_DTYPE`) of an audio file (or of mono float samples at the model's rate) and its duration in seconds,
    from a torch model or its ONNX export (`network_outputs`).

    Raises:
        DataFileError: the file cannot be read as audio, or is shorter than `MIN_SECONDS`, or is silent.
    """
    front_end = model.front_end(segment_seconds)
    if isinstance(source, np.ndarray):
        num_samples = len(source)
        peak = float(np.abs(source).max()) if num_samples else 0.0
        name = 'audio'
    else:
        info = audio_info(source)
        num_samples, name = round(info.duration * front_end.sample_rate), str(Path(source))
        peak = None
    duration = num_samples / front_end.sample_rate
    if duration < MIN_SECONDS:
        raise DataFileError(f'{name}: only {duration * 1000:.0f} ms of audio; transcription needs at least {MIN_SECONDS * 1000:.0f} ms')
    num_frames = front_end.frames(num_samples)
    segment_frames = front_end.frames(front_end.segment_samples)
    hop, count = segment_plan(num_frames, segment_frames, settings.segment_overlap)
    stream = NoteStream(settings, front_end.frames_per_second)
    model.eval()
    notes, loudest, batch = [], 0.0, []
    index = 0
    for segment in _segments(source, front_end, hop, count):
        if not np.isfinite(segment).all():
            raise DataFileError(f'{name}: holds {np.count_nonzero(~np.isfinite(segment))} samples that are not numbers (NaN or infinite); '
                                'it is not usable audio, re-export or repair the file')
        loudest = max(loudest, float(np.abs(segment).max()))
        batch.append(segment)
        if len(batch) == batch_size or index + len(batch) == count:
            outputs = network_outputs(model, np.stack(batch), device)
            for row in range(len(batch)):
                begin, end = stitched_frames(index, count, hop, segment_frames, num_frames)
                notes.append(stream.feed({key: outputs[key][row, begin:end] for key in OUTPUT_KEYS}))
                index += 1
            batch = []
    if (peak if peak is not None else loudest) < 1e-4:
        raise DataFileError(f'{name}: the audio is silent (peak below -80 dBFS); nothing to transcribe')
    notes.append(stream.finish())
    merged = np.concatenate(notes)
    merged = merged[np.lexsort((merged['pitch'], merged['start']))]
    merged['step'] = np.diff(merged['start'], prepend=0.0)
    return merged, duration
