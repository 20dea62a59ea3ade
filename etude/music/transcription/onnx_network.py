"""A piano transcriber as ONNX: the network from the power spectrogram on, run by onnxruntime; the STFT outside it.

    export_transcriber(model, 'model.onnx')             # what `etude export --onnx` writes for a transcription run
    transcriber = OnnxTranscriber(session, hyperparameters)
    transcribe(transcriber, 'piece.wav')                  # the same streaming decode as the torch model's

Where the front end lives: the STFT is computed outside the graph, in NumPy (`power_spectrogram`, the same centred,
reflect-padded, periodic-Hann STFT as torchaudio's), and the graph starts at the power spectrogram (mel filterbank, log,
band norm, convolutions, GRUs, heads). torch 2.14's exporters cannot take both halves: the TorchScript exporter has no
complex STFT, and the dynamo exporter, which exports the STFT as ONNX's STFT (opset 17 and later) cleanly, unrolls each
GRU over the frames it traced, so the time axis would be fixed and the graph thousands of nodes long. With the STFT
outside, the TorchScript exporter writes each GRU as one ONNX GRU node over a dynamic number of frames.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .settings import FrontEnd

if TYPE_CHECKING:
    import torch

    from .model import PianoTranscriber

__all__ = ['INPUT_NAME', 'OUTPUT_NAMES', 'OnnxTranscriber', 'export_transcriber', 'power_spectrogram']

INPUT_NAME = 'power_spectrogram'
OUTPUT_NAMES = ('onset', 'offset', 'frame', 'velocity')
OPSET = 17


def power_spectrogram(waveforms: np.ndarray, n_fft: int, hop_length: int) -> np.ndarray:
    """`(batch, samples)` float32 waveforms → `(batch, n_fft // 2 + 1, samples // hop_length + 1)` float32 power
    spectrogram: frames centred on each hop (the signal reflect-padded by `n_fft // 2`), a periodic Hann window, |rfft|²."""
    padded = np.pad(waveforms.astype(np.float32, copy=False), ((0, 0), (n_fft // 2, n_fft // 2)), mode='reflect')
    window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)).astype(np.float32)
    power = np.empty((len(waveforms), n_fft // 2 + 1, waveforms.shape[-1] // hop_length + 1), dtype=np.float32)
    for row, signal in enumerate(padded):  # one waveform at a time: the windowed frames and their spectrum stay one row's size
        frames = np.lib.stride_tricks.sliding_window_view(signal, n_fft)[::hop_length]  # (frames, n_fft), a view
        spectrum = np.fft.rfft(frames * window, axis=-1)  # (frames, n_fft // 2 + 1)
        power[row] = (np.square(spectrum.real, dtype=np.float32) + np.square(spectrum.imag, dtype=np.float32)).T
    return power


def _spectrogram_network(model: PianoTranscriber) -> torch.nn.Module:
    """`model` from the power spectrogram on: `(batch, n_fft // 2 + 1, frames)` → the four heads' `(batch, frames, 88)`."""
    import torch

    featuriser = model.featuriser
    if featuriser.settings.normalise != 'none' or featuriser.settings.kind != 'log_mel':
        raise ValueError(f'an ONNX export takes a log-mel front end without normalisation, not {featuriser.settings}')

    class SpectrogramNetwork(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transcriber = model
            self.mel_scale: torch.nn.Module = featuriser.spectrogram.mel_scale  # type: ignore[union-attr,assignment]

        def forward(self, power: torch.Tensor) -> tuple[torch.Tensor, ...]:
            outputs = self.transcriber.frame_outputs(torch.log(self.mel_scale(power) + featuriser.settings.log_offset))
            return tuple(outputs[name] for name in OUTPUT_NAMES)

    return SpectrogramNetwork().eval()


def export_transcriber(model: PianoTranscriber, path: Path, segment_seconds: float = 4.0) -> None:
    """Write `model` (in eval mode, on the CPU) as ONNX to `path`: input `power_spectrogram` `(batch, bins, frames)`,
    outputs `onset`, `offset`, `frame`, `velocity` `(batch, frames, 88)`; batch and frames are dynamic."""
    import torch

    front_end = model.front_end(segment_seconds)
    network = _spectrogram_network(model.cpu().eval())
    example = torch.from_numpy(power_spectrogram(np.zeros((2, front_end.segment_samples), dtype=np.float32), front_end.n_fft, front_end.hop_length))
    dynamic_axes = {INPUT_NAME: {0: 'batch', 2: 'frames'}, **{name: {0: 'batch', 1: 'frames'} for name in OUTPUT_NAMES}}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter('ignore')  # the TorchScript exporter's deprecation notice, and GRU's batch-size note
        torch.onnx.export(network, (example,), str(path), dynamo=False, opset_version=OPSET, input_names=[INPUT_NAME],
                          output_names=list(OUTPUT_NAMES), dynamic_axes=dynamic_axes)


class OnnxTranscriber:
    """A transcription model's ONNX export run by onnxruntime, with the `FrameTranscriber` protocol: `transcribe` (the
    streaming decode) runs it as it runs the torch model, on `(batch, samples)` arrays."""

    def __init__(self, session: Any, hyperparameters: Mapping[str, Any]) -> None:
        self.session = session
        self.values = {key: hyperparameters[key] for key in ('sample_rate', 'n_fft', 'hop_length', 'n_mels', 'f_min', 'f_max')}

    def front_end(self, segment_seconds: float) -> FrontEnd:
        """The front end the exported model hears, with segments of `segment_seconds`."""
        return FrontEnd(**self.values, segment_seconds=segment_seconds)

    def eval(self) -> OnnxTranscriber:
        """Nothing to switch: an ONNX export is inference only."""
        return self

    def __call__(self, waveforms: np.ndarray) -> dict[str, np.ndarray]:
        """`(batch, samples)` float32 waveforms → {head: `(batch, frames, 88)` float32 probabilities}."""
        power = power_spectrogram(waveforms, self.values['n_fft'], self.values['hop_length'])
        outputs = self.session.run(list(OUTPUT_NAMES), {INPUT_NAME: power})
        return dict(zip(OUTPUT_NAMES, outputs, strict=True))
