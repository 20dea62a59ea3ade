"""The task protocol: what a kind of model does, in one place, so inference and evaluation need no per-task branch.

A routine declares its task with a `Task` instance, `routine.set_task(Classification(target='digit', classes=[...]))`,
and the export records `task.to_dict()`. Everything that depends on the kind of model reads it back through
`task_from_dict` and calls the same few methods:

    inputs / options           what `etude infer` reads (audio, MIDI primers, scores, nothing) and the flags it takes
    infer(model, sources, ..)  read the inputs, run the model in the task's own way (one forward pass per batch, a
                               sampling loop, overlapping segments), decode: one `Outcome` per input (or per piece)
    write(outcome, folder)     the files an outcome becomes (MIDI, audio); `predictions.jsonl` is written by the command
    planned_files(sources, ..) the files `write` will write, named before the model runs (checked against the inputs)
    evaluate(context)          the task's metrics and its baselines on one split of a finished run, recomputed
    figures(evaluation, dir)   the figures its report shows

Settings are typed dataclass fields, checked when the task is made (so `set_task` catches a typo at once, not
`etude infer` weeks later) and again when an export is read. Subclasses import torch, matplotlib or music libraries
inside their methods, so `etude -h`, which lists every task's inference flags, stays light.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Self

from ..errors import CheckpointError, ConfigError

if TYPE_CHECKING:
    import numpy as np
    import torch

    from ..model import Model

__all__ = ['Evaluation', 'EvaluationContext', 'InferenceContext', 'InferenceOption', 'InputKind', 'Outcome', 'Task']


@dataclass(frozen=True)
class InputKind:
    """What `etude infer` takes as inputs: a folder given as input is searched for files with these `extensions`;
    `required=False` means the task can run with no input at all (a generator sampling from scratch)."""

    description: str
    extensions: tuple[str, ...]
    required: bool = True


@dataclass(frozen=True)
class InferenceOption:
    """A flag of `etude infer` that only some tasks take, e.g. `--temperature` for generation.

    `type` converts and checks the text (raise ValueError or argparse.ArgumentTypeError to refuse it); options of the
    same `flag` declared by several tasks must agree, since `etude infer` has one parser for all of them.
    """

    flag: str
    help: str
    type: Callable[[str], Any] = str
    default: Any = None
    metavar: str | None = None
    is_switch: bool = False  # a flag without a value (store_true)

    @property
    def name(self) -> str:
        """The key of the option's value in `InferenceContext.options`: `--top-k` → `top_k`."""
        return self.flag.lstrip('-').replace('-', '_')


@dataclass(frozen=True)
class Outcome:
    """What became of one input (or one generated piece): its JSON-safe `result` and any `artefacts` its files are
    written from (notes, audio), or the one-line `error` that made the input unusable."""

    source: str
    result: dict[str, Any] | None = None
    error: str | None = None
    name: str = ''  # the stem of the files written for it; default the source's stem
    artefacts: dict[str, Any] = field(default_factory=dict)

    @property
    def stem(self) -> str:
        return self.name or Path(self.source).stem


@dataclass
class InferenceContext:
    """Everything a task's `infer` may need besides the model: the export, where it came from, the device, the
    batch size and the values of the task's own `etude infer` options (each option's default when not given)."""

    export: Mapping[str, Any]
    checkpoint: str
    device: torch.device
    batch_size: int = 64
    options: dict[str, Any] = field(default_factory=dict)
    readers: int = 4  # threads that read input files ahead of the model

    @property
    def dataset(self) -> dict[str, Any]:
        return dict(self.export.get('dataset') or {})


@dataclass
class Evaluation:
    """A model's figures on one split of its run, with what the report draws them from.

    `metrics` and `baselines` are named as in `summary.json`; `predictions` is one JSON-safe row per evaluated item
    (piece, clip); `details` holds what only the task's `figures` reads (outputs and targets, a confusion matrix,
    generated pieces).
    """

    split: str
    metrics: dict[str, float]
    baselines: dict[str, dict[str, float]]
    predictions: list[dict[str, Any]]
    details: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # sentences the report prints under the figures (bins, conventions)
    record: dict[str, Any] = field(default_factory=dict)  # further entries of metrics.json (a confusion matrix's counts)


@dataclass
class EvaluationContext:
    """What `evaluate_run` hands a task: the rebuilt model, its export, the run's split and, on demand, its stored
    dataset (checked against the export's fingerprint) and the routine's evaluation pass over any part of it."""

    model: Model
    export: Mapping[str, Any]
    checkpoint: Path
    split: str
    indices: dict[str, np.ndarray]
    device: torch.device
    batch_size: int
    dataset_directory: Path
    summary: Mapping[str, Any] = field(default_factory=dict)
    _stored: Any = None

    @property
    def dataset(self) -> dict[str, Any]:
        return dict(self.export.get('dataset') or {})

    def stored_dataset(self) -> Any:
        """The run's stored dataset (`etude.data.StoredDataset`), refused when it is not the one the run trained on."""
        if self._stored is None:
            from ..data.store import read_dataset
            from ..errors import DatasetError

            stored = read_dataset(self.dataset_directory)
            recorded = self.dataset.get('fingerprint')
            if recorded is not None and stored.fingerprint != recorded:
                raise DatasetError(f'{self.dataset_directory} holds dataset {stored.fingerprint[:12]}, but {self.checkpoint} was trained on '
                                   f'{str(recorded)[:12]}; pass --data with the dataset the run trained on')
            self._stored = stored
        return self._stored

    def torch_dataset(self, transform: Any = None) -> Any:
        """The stored dataset as the routine read it: the export's targets, and `transform` (e.g. the task's Crop)."""
        from ..data.torch_dataset import StoredTorchDataset

        return StoredTorchDataset(self.stored_dataset(), self.dataset.get('targets'), transform)

    def evaluation_pass(self, dataset: Any, indices: np.ndarray, metrics: Sequence[Any], *, keep: bool = True,
                        collate: Any = None) -> tuple[dict[str, float], list[Any], list[Any]]:
        """The routine's evaluation pass over `indices` of `dataset`: the mean loss weighted by batch size and every
        metric, as `summary.json` has them; with `keep`, each batch's `(predictions, targets)` on the CPU, in order;
        and the computed metric objects."""
        from .passes import evaluation_pass

        return evaluation_pass(self.model, dataset, indices, metrics, batch_size=self.batch_size, device=self.device, keep=keep, collate=collate)


@dataclass(kw_only=True)
class Task(ABC):
    """A kind of model: subclass as a dataclass of its settings, and implement `infer` and `evaluate`."""

    kind: ClassVar[str]
    inputs: ClassVar[InputKind]
    writes_files: ClassVar[bool] = False  # `etude infer` needs --output: its outcomes are files
    options: ClassVar[tuple[InferenceOption, ...]] = ()

    def __post_init__(self) -> None:
        self.check()

    def check(self) -> None:  # noqa: B027 - optional: most tasks have settings that cannot be wrong alone
        """Refuse settings that cannot work (a ConfigError naming the setting and what to give instead)."""

    # -- the record in an export --------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """`{'kind': ..., 'class_path': ..., **settings}`, plain values only (an export is read with `weights_only=True`);
        settings left at None are left out, so the record lists what the routine said. The class path lets a kind
        that is not registered be found in a module the reader allows (`--allow-module`)."""
        values = {item.name: getattr(self, item.name) for item in dataclasses.fields(self)}
        settings = {key: list(value) if isinstance(value, tuple) else value for key, value in values.items() if value is not None}
        return {'kind': self.kind, 'class_path': f'{type(self).__module__}.{type(self).__qualname__}', **settings}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], *, source: str = 'the checkpoint') -> Self:
        """The task an export recorded; a CheckpointError when its settings are not this task's."""
        settings = {key: value for key, value in values.items() if key not in ('kind', 'class_path')}
        known = {item.name for item in dataclasses.fields(cls)}
        unknown = sorted(set(settings) - known)
        if unknown:
            raise CheckpointError(f"{source} records the {cls.kind} setting {unknown[0]!r}, which this etude does not know "
                                  f"(it knows {', '.join(sorted(known))}); upgrade etude")
        try:
            return cls(**settings)
        except (ConfigError, TypeError) as error:
            raise CheckpointError(f'{source} records {cls.kind} settings that do not work: {error}') from None

    # -- inference ----------------------------------------------------------------------------------------------

    def check_options(self, options: Mapping[str, Any]) -> None:  # noqa: B027 - optional, as check
        """Refuse option values that cannot work together (each was converted by its own `type` already)."""

    @abstractmethod
    def infer(self, model: Model, sources: Sequence[str], context: InferenceContext) -> Iterator[Outcome]:
        """One `Outcome` per source, in order; a bad source is an Outcome with an `error`, and the rest still run."""

    def write(self, outcome: Outcome, folder: Path, context: InferenceContext) -> list[Path]:
        """Write the files `outcome` becomes into `folder` (which exists) and return their paths; none by default.
        A task that writes files writes only those its `planned_files` names."""
        return []

    def planned_files(self, sources: Sequence[str], folder: Path, options: Mapping[str, Any]) -> list[tuple[str, list[Path]]]:
        """`(source, the files infer and write would write for it into folder)` for each source (`''` for what a
        generator makes from scratch), known before the model runs, so `etude infer` can refuse a run that would write
        over one of its inputs (a score named `score.mid` whose performance is `score.mid`). A file that may not be
        written after all (a render of an empty result) may be listed; one written must be. None by default."""
        return []

    def columns(self) -> list[tuple[str, str]]:
        """`(result key, column title)` of the table `etude infer` prints; every key of the first result when empty."""
        return []

    # -- evaluation ---------------------------------------------------------------------------------------------

    @abstractmethod
    def evaluate(self, context: EvaluationContext) -> Evaluation:
        """The task's metrics on `context.split` of the run, with its baselines recomputed on the same items."""

    def figures(self, evaluation: Evaluation, folder: Path) -> dict[str, Path]:
        """`caption → PNG` drawn into `folder` for the report; none by default."""
        return {}
