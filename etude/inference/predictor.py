"""A model ready for production inference, rebuilt from its export alone and driven by its task.

    from etude.inference import Predictor

    predictor = Predictor.from_checkpoint('runs/<id>/checkpoints/best.pt')
    predictor.predict(['one.wav', 'two.flac'])          # [{'digit': '7', 'probability': 0.98}, ...]
    predictor.predict_arrays([waveform], sample_rate=44100)

    generator = Predictor.from_checkpoint('runs/<gen>/checkpoints/best.pt', num=4, length=200, seed=1)
    for outcome in generator.predict_files([]):          # no inputs: pieces from scratch
        generator.write(outcome, 'out/')                 # out/<name>.mid

The export's task (`etude.tasks`) says how inputs are read, how the model is run and what comes out; the Predictor
holds the model, the task and the task's options, and knows nothing about any kind. `predict` raises on the first
bad input; `predict_files` yields a result or the error of each input in turn, so a caller such as `etude infer` can
skip one bad input among many and keep the rest.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from ..errors import ConfigError, DataFileError
from ..tasks import task_from_dict, task_kinds
from ..tasks.base import InferenceContext, Outcome, Task

if TYPE_CHECKING:
    import numpy as np
    import torch

    from ..model import Model

__all__ = ['Outcome', 'Predictor']


class Predictor:
    """An exported model with its task: the reading of its inputs, the way it is run and the decoding of its outputs."""

    def __init__(self, model: Model | Any, task: Task, context: InferenceContext) -> None:
        """`model`: a torch `Model`, or what the task's `onnx_model` wraps an onnxruntime session in (`from_onnx`, which
        loads no torch: a torch model means torch is loaded already)."""
        torch = sys.modules.get('torch')
        is_torch = torch is not None and isinstance(model, torch.nn.Module)
        self.model = cast('Model', model.to(context.device).eval() if is_torch else model)
        self.task = task
        self.context = context

    @classmethod
    def from_checkpoint(cls, path: str | Path, *, device: str | torch.device = 'cpu', batch_size: int = 64, model_class: type[Model] | None = None,
                        allow_modules: Sequence[str] = (), readers: int | None = None, **options: Any) -> Predictor:
        """Load an export (see `etude.load_model` for `model_class` and `allow_modules`) and prepare to run it.

        `options` are the task's own `etude infer` options by name (`top=3` for a classifier, `temperature=0.9` for a
        generator); one the task does not take is refused, and each left out takes its default.
        """
        import torch

        from ..export import load_model

        if batch_size < 1:
            raise ConfigError(f'batch_size is {batch_size}; give at least 1')
        model = load_model(path, device=device, model_class=model_class, allow_modules=allow_modules)
        export = model.export_info
        task = task_from_dict(dict(export.get('task') or {}), source=str(path), allow_modules=allow_modules)
        task.check_model(model)
        context = InferenceContext(export, str(path), torch.device(device), batch_size, task_options(task, options, str(path)),
                                   readers or min(4, os.cpu_count() or 1))
        return cls(model, task, context)

    @classmethod
    def from_onnx(cls, path: str | Path, *, batch_size: int = 64, threads: int | None = None, readers: int | None = None,
                  **options: Any) -> Predictor:
        """Open an ONNX file written by `etude export --onnx` and prepare to run it with onnxruntime on the CPU, with
        `threads` threads (None: the cores this process may use), without loading torch; its metadata holds the task,
        `options` as above."""
        from .onnx_files import open_onnx

        if batch_size < 1:
            raise ConfigError(f'batch_size is {batch_size}; give at least 1')
        session, metadata = open_onnx(path, threads)
        task = task_from_dict(dict(metadata.get('task') or {}), source=str(path))
        model = task.onnx_model(session, metadata)
        task.check_model(model)
        context = InferenceContext(metadata, str(path), cast('torch.device', 'cpu'), batch_size, task_options(task, options, str(path)),
                                   readers or min(4, os.cpu_count() or 1))
        return cls(model, task, context)

    @property
    def options(self) -> dict[str, Any]:
        return self.context.options

    def predict(self, paths: Iterable[str | Path]) -> list[dict[str, Any]]:
        """One result per input, in order; the first unusable input raises its DataFileError."""
        results = []
        for outcome in self.predict_files(paths):
            if outcome.error is not None:
                raise DataFileError(outcome.error)
            assert outcome.result is not None
            results.append(outcome.result)
        return results

    def predict_files(self, paths: Iterable[str | Path]) -> Iterator[Outcome]:
        """An `Outcome` per input (or per generated piece), in order; bad inputs do not stop the rest."""
        sources = [str(path) for path in paths]
        if not sources and self.task.inputs.required:
            raise ConfigError(f'no inputs; a {self.task.kind} model reads {self.task.inputs.description}')
        return self.task.infer(self.model, sources, self.context)

    def predict_arrays(self, arrays: Iterable[np.ndarray], sample_rate: int) -> list[dict[str, Any]]:
        """One result per `(samples,)` or `(channels, samples)` array recorded at `sample_rate` (models of one audio clip)."""
        import numpy as np

        from ..tasks.audio import AudioTask

        if not isinstance(self.task, AudioTask):
            raise ConfigError(f'predict_arrays runs models of one audio clip; this is a {self.task.kind} model: use predict_files')
        preparation = self.task.preparation(self.context)
        featuriser = preparation.featuriser(self.context.device)
        clips = [preparation.prepare(array, sample_rate, f'array {index}') for index, array in enumerate(arrays)]
        results: list[dict[str, Any]] = []
        for start in range(0, len(clips), self.context.batch_size):
            results += self.task.run_clips(self.model, preparation, featuriser, np.stack(clips[start:start + self.context.batch_size]), self.context)
        return results

    def planned_files(self, sources: Sequence[str | Path], folder: str | Path) -> list[tuple[str, list[Path]]]:
        """`(source, files)`: what `write` will write into `folder` for each source with these options, known before
        the model runs; `etude.inference.outputs.check_planned_files` refuses a plan that writes over an input."""
        return self.task.planned_files([str(source) for source in sources], Path(folder), self.options)

    def write(self, outcome: Outcome, folder: str | Path) -> list[Path]:
        """The files `outcome` becomes (MIDI, audio), written into `folder`; none for tasks whose results are rows.
        Check `planned_files` against the inputs first, as `etude infer` does: a task names its files after its inputs."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        return self.task.write(outcome, folder, self.context)


def task_options(task: Task, given: Mapping[str, Any], source: str) -> dict[str, Any]:
    """The task's option values: each given one (refused when the task does not take it), else its default."""
    declared = {option.name: option for option in task.options}
    for name in given:
        if name not in declared:
            takers = sorted(kind for kind, cls in task_kinds().items() if any(option.name == name for option in cls.options))
            flag = '--' + name.replace('_', '-')
            used_by = f'{flag} is for {" and ".join(takers)} models' if takers else f'{flag} is not an option of any task'
            raise ConfigError(f'{used_by}, and {source} is a {task.kind} model'
                                  + (f" (its options: {', '.join(option.flag for option in task.options)})" if task.options else ''))
    options = {name: given.get(name, option.default) for name, option in declared.items()}
    task.check_options(options)
    return options
