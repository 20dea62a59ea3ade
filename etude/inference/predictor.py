"""A model ready for production inference, rebuilt from its export alone: prepare → model → decode.

    from etude.inference import Predictor

    predictor = Predictor.from_checkpoint('runs/<id>/checkpoints/best.pt')
    predictor.predict(['one.wav', 'two.flac'])          # [{'digit': '7', 'probability': 0.98}, ...]
    predictor.predict_arrays([waveform], sample_rate=44100)

Inputs are prepared as the training data was (`etude.inference.preprocess`), run through the model in eval mode in
batches without gradients, and decoded by the decoder of the export's task (`etude.inference.decoders`). `predict`
raises on the first bad file; `predict_files` yields a result or the error of each file in turn, so a caller such as
`etude infer` can skip one bad input among many and keep the rest.

Files are read by a few threads ahead of the model (libsndfile and soxr release the GIL), at most two batches ahead,
so decoding and resampling the next files overlap with featurising and running the current batch; the results keep
the order of the inputs.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import CheckpointError, DataFileError
from ..export import load_model
from ..model import Model
from .decoders import Decoder, class_names, decoder_for
from .preprocess import AudioPreprocessing

__all__ = ['Outcome', 'Predictor']


@dataclass(frozen=True)
class Outcome:
    """What became of one input: its decoded `result`, or the one-line `error` that made it unusable."""

    source: str
    result: dict[str, Any] | None = None
    error: str | None = None


class Predictor:
    """An exported model with the preparation of its inputs and the decoding of its outputs."""

    def __init__(self, model: Model, preparation: AudioPreprocessing, decoder: Decoder, settings: dict[str, Any], *,
                 device: str | torch.device = 'cpu', batch_size: int = 64, readers: int | None = None) -> None:
        self.model = model.to(device).eval()
        self.preparation = preparation
        self.decoder = decoder
        self.settings = settings  # the task as the decoder reads it: class names resolved, options such as `top`
        self.device = torch.device(device)
        self.batch_size = batch_size
        self.readers = readers or min(4, os.cpu_count() or 1)  # threads reading files ahead of the model
        self.featuriser = preparation.featuriser(self.device)

    @classmethod
    def from_checkpoint(cls, path: str | Path, *, device: str | torch.device = 'cpu', batch_size: int = 64, top: int = 1,
                        model_class: type[Model] | None = None, allow_modules: Sequence[str] = ()) -> Predictor:
        """Load an export (see `etude.load_model` for `model_class` and `allow_modules`) and prepare to run it.

        `top` > 1 makes a classifier report its `top` most probable classes too.
        """
        if batch_size < 1:
            raise CheckpointError(f'batch_size is {batch_size}; give at least 1')
        model = load_model(path, device=device, model_class=model_class, allow_modules=allow_modules)
        info = model.export_info
        task, dataset = dict(info.get('task') or {}), dict(info.get('dataset') or {})
        decoder = decoder_for(task, path)
        preparation = AudioPreprocessing.from_export(dataset, task, path)
        settings = {**task, 'top': top}
        if task['kind'] == 'classification':
            settings['classes'] = class_names(task, dataset)
        return cls(model, preparation, decoder, settings, device=device, batch_size=batch_size)

    @property
    def task(self) -> dict[str, Any]:
        return dict(self.model.export_info.get('task') or {})

    def predict(self, paths: Iterable[str | Path]) -> list[dict[str, Any]]:
        """One decoded result per file, in order; the first unusable file raises its DataFileError."""
        results = []
        for outcome in self.predict_files(paths):
            if outcome.error is not None:
                raise DataFileError(outcome.error)
            assert outcome.result is not None
            results.append(outcome.result)
        return results

    def predict_arrays(self, arrays: Iterable[np.ndarray], sample_rate: int) -> list[dict[str, Any]]:
        """One decoded result per `(samples,)` or `(channels, samples)` array recorded at `sample_rate`."""
        clips = [self.preparation.prepare(array, sample_rate, f'array {index}') for index, array in enumerate(arrays)]
        results: list[dict[str, Any]] = []
        for start in range(0, len(clips), self.batch_size):
            results += self.run(np.stack(clips[start:start + self.batch_size]))
        return results

    def predict_files(self, paths: Iterable[str | Path]) -> Iterator[Outcome]:
        """An `Outcome` per file, in order, read and run `batch_size` files at a time; bad files do not stop the rest."""
        pending: list[tuple[str, np.ndarray]] = []
        for source, clip, error in self._read_ahead(paths):
            if clip is None:
                yield from self._flush(pending)
                pending = []
                yield Outcome(source, error=error)
                continue
            pending.append((source, clip))
            if len(pending) == self.batch_size:
                yield from self._flush(pending)
                pending = []
        yield from self._flush(pending)

    def run(self, clips: np.ndarray) -> list[dict[str, Any]]:
        """`(batch, num_samples)` prepared clips → decoded results."""
        with torch.inference_mode():
            waveforms = torch.from_numpy(np.ascontiguousarray(clips, dtype=np.float32)).to(self.device)
            outputs = self.model(self.preparation.features(self.featuriser, waveforms))
        return self.decode(outputs)

    def decode(self, outputs: torch.Tensor) -> list[dict[str, Any]]:
        """The model's raw outputs of one batch → one result per item (see `etude.inference.decoders`)."""
        return self.decoder(outputs, self.settings)

    def _read_ahead(self, paths: Iterable[str | Path]) -> Iterator[tuple[str, np.ndarray | None, str | None]]:
        """(source, clip, None) or (source, None, error) per path, in order, read by `readers` threads two batches ahead."""
        def read(path: str | Path) -> tuple[np.ndarray | None, str | None]:
            try:
                return self.preparation.read(path), None
            except DataFileError as error:
                return None, str(error)

        window: deque[tuple[str, Future[tuple[np.ndarray | None, str | None]]]] = deque()
        with ThreadPoolExecutor(max_workers=self.readers, thread_name_prefix='etude-read') as pool:
            for path in paths:
                window.append((str(path), pool.submit(read, path)))
                if len(window) >= 2 * self.batch_size:
                    source, future = window.popleft()
                    yield (source, *future.result())
            while window:
                source, future = window.popleft()
                yield (source, *future.result())

    def _flush(self, pending: list[tuple[str, np.ndarray]]) -> Iterator[Outcome]:
        if not pending:
            return
        results = self.run(np.stack([clip for _, clip in pending]))
        for (source, _), result in zip(pending, results, strict=True):
            yield Outcome(source, result=result)
