"""Tasks whose model reads one clip of audio and answers with one row of numbers: the shared half of classification
and regression.

Inference prepares each file as the training clips were made (`etude.data.preparation.AudioPreprocessing`, read from
the export alone), runs `batch_size` clips at a time through the model without gradients and decodes each batch;
files are read by a few threads ahead of the model (libsndfile and soxr release the GIL), at most two batches
ahead, so decoding the next files overlaps featurising and running the current batch, and results keep the order of
the inputs. Evaluation runs the routine's evaluation pass over the run's stored dataset, cut as the routine cut it
(`input_length`); the baseline (`baseline`: the simplest honest guess) is fitted on the train split's targets.
"""

from __future__ import annotations

from abc import abstractmethod
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from ..errors import ConfigError
from .base import Evaluation, InferenceContext, InputKind, Outcome, Task

if TYPE_CHECKING:
    import numpy as np
    import torch

    from ..data.preparation import AudioPreprocessing
    from ..metrics import Metric
    from ..model import Model
    from ..training.routine_data import SplitView
    from .context import EvaluationContext

__all__ = ['AUDIO_INPUTS', 'AudioTask']

AUDIO_INPUTS = InputKind('audio files', ('.wav', '.flac', '.ogg', '.mp3'))  # etude.data.definitions.AUDIO_EXTENSIONS (which loads numpy)


@dataclass(kw_only=True)
class AudioTask(Task):
    """Settings of the audio input, where the routine sets them (else the export's dataset summary tells them).

    representation: the features' settings (`RepresentationSettings.to_dict()`), when the task's differ from the
        stored dataset's (a sampler's raw waveforms normalised by peak, say).
    sample_rate, num_samples: the clip inference reads from each file.
    input_length: the first `input_length` values of the last axis the model was trained on (the routine's Crop).
    min_samples: the least audio a file must hold (default one analysis window).
    """

    inputs: ClassVar[InputKind] = AUDIO_INPUTS

    representation: dict[str, Any] | None = None
    sample_rate: int | None = None
    num_samples: int | None = None
    input_length: int | None = None
    min_samples: int | None = None

    def check(self) -> None:
        for name in ('sample_rate', 'num_samples', 'input_length', 'min_samples'):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ConfigError(f'{self.kind} task: {name} must be a positive whole number, got {value!r}')

    # -- what a subclass says ----------------------------------------------------------------------------------

    @abstractmethod
    def decode(self, outputs: torch.Tensor, context: InferenceContext | None) -> list[dict[str, Any]]:
        """One batch of raw outputs → one JSON-safe result per item."""

    @abstractmethod
    def metrics(self, model: Model | None = None) -> list[Metric]:
        """The metrics the task is judged by, named as in `summary.json` (they need nothing of the model)."""

    @abstractmethod
    def baseline(self, train_targets: Any, evaluated_targets: Any) -> tuple[str, dict[str, float]]:
        """`(name, metrics)` of the simplest honest guess learnt from the train targets, scored on the evaluated ones."""

    def baselines(self, data: SplitView, split: str) -> dict[str, dict[str, float]]:
        """The `baseline` fitted on the train split's targets and scored on `split`'s (none without train items)."""
        if not len(data.indices['train']) or not len(data.indices[split]):
            return {}
        name, figures = self.baseline(data.targets('train').numpy(), data.targets(split).numpy())
        return {name: figures}

    @abstractmethod
    def truth(self, target: torch.Tensor) -> dict[str, Any]:
        """One item's target as the decoder would have written it."""

    # -- inference ----------------------------------------------------------------------------------------------

    def preparation(self, context: InferenceContext) -> AudioPreprocessing:
        from ..data.preparation import AudioPreprocessing

        return AudioPreprocessing.from_export(context.dataset, self.to_dict(), context.checkpoint)

    def infer(self, model: Model, sources: Sequence[str], context: InferenceContext) -> Iterator[Outcome]:
        preparation = self.preparation(context)
        featuriser = preparation.featuriser(context.device)
        pending: list[tuple[str, np.ndarray]] = []
        for source, clip, error in self._read_ahead(preparation, sources, context):
            if clip is None:
                yield from self._flush(model, preparation, featuriser, pending, context)
                pending = []
                yield Outcome(source, error=error)
                continue
            pending.append((source, clip))
            if len(pending) == context.batch_size:
                yield from self._flush(model, preparation, featuriser, pending, context)
                pending = []
        yield from self._flush(model, preparation, featuriser, pending, context)

    def run_clips(self, model: Model, preparation: AudioPreprocessing, featuriser: Any, clips: np.ndarray, context: InferenceContext) -> list[dict[str, Any]]:
        """`(batch, num_samples)` prepared clips → decoded results."""
        import numpy as np
        import torch

        with torch.inference_mode():
            waveforms = torch.from_numpy(np.ascontiguousarray(clips, dtype=np.float32)).to(context.device)
            outputs = model(preparation.features(featuriser, waveforms))
        return self.decode(outputs, context)

    def _flush(self, model: Model, preparation: AudioPreprocessing, featuriser: Any, pending: list[tuple[str, np.ndarray]],
               context: InferenceContext) -> Iterator[Outcome]:
        if not pending:
            return
        import numpy as np

        results = self.run_clips(model, preparation, featuriser, np.stack([clip for _, clip in pending]), context)
        for (source, _), result in zip(pending, results, strict=True):
            yield Outcome(source, result=result)

    @staticmethod
    def _read_ahead(preparation: AudioPreprocessing, paths: Sequence[str],
                    context: InferenceContext) -> Iterator[tuple[str, np.ndarray | None, str | None]]:
        """(source, clip, None) or (source, None, error) per path, in order, read by a few threads two batches ahead."""
        from ..errors import DataFileError

        def read(path: str) -> tuple[np.ndarray | None, str | None]:
            try:
                return preparation.read(path), None
            except DataFileError as error:
                return None, str(error)

        window: deque[tuple[str, Future[tuple[np.ndarray | None, str | None]]]] = deque()
        with ThreadPoolExecutor(max_workers=context.readers, thread_name_prefix='etude-read') as pool:
            for path in paths:
                window.append((str(path), pool.submit(read, path)))
                if len(window) >= 2 * context.batch_size:
                    source, future = window.popleft()
                    yield (source, *future.result())
            while window:
                source, future = window.popleft()
                yield (source, *future.result())

    # -- evaluation ---------------------------------------------------------------------------------------------

    keeps_outputs: ClassVar[bool] = True

    def evaluation_data(self, context: EvaluationContext) -> SplitView:
        from ..data.torch_dataset import Crop

        return context.split_view(context.torch_dataset(Crop(self.input_length) if self.input_length else None))

    def describe(self, evaluation: Evaluation, context: EvaluationContext, data: SplitView, kept: list[Any], metrics: Sequence[Metric]) -> None:
        """One row per clip: its file, the truth and what the model said; the outputs and targets for the figures."""
        import torch

        outputs = torch.cat([predictions for predictions, _ in kept]) if kept else torch.empty(0)
        targets = torch.cat([target for _, target in kept]) if kept else torch.empty(0)
        decoded = self.decode(outputs, None) if len(outputs) else []
        stored = context.stored_dataset()
        files, root = stored.metadata.get('files'), stored.metadata.get('raw_root')
        for position, index in enumerate(data.indices[evaluation.split]):
            row: dict[str, Any] = {'index': int(index)}
            if files is not None:
                row['file'] = str(Path(root) / files[index]) if root else files[index]
            row['true'] = self.truth(targets[position])
            row['predicted'] = decoded[position]
            evaluation.predictions.append(row)
        evaluation.details.update({'outputs': outputs, 'targets': targets, 'metrics': list(metrics)})
