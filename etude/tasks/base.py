"""The task protocol: what a kind of model does, in one place, so the loop, inference and evaluation need no branch.

A routine declares its task with a `Task` instance, `routine.set_task(Classification(target='digit', classes=[...]))`,
and the export records `task.to_dict()`. Everything that depends on the kind of model asks the task:

    model_protocol             the methods a model of this kind must have (a typing.Protocol), checked by set_model
    metrics(model)             the figures of a split: the Routine's validation and test passes and `etude evaluate`
    baselines(data, split)     the task's baselines, fitted on the train split and scored on `split`: computed once
                               when a run starts, recorded in its baselines.json, read back by everyone after
    on_split_end(...)          whole-item work after a split's pass (sampling and judging pieces, say): more figures
    inputs / options           what `etude infer` reads (audio, MIDI primers, scores, nothing) and the flags it takes
    infer(model, sources, ..)  read the inputs, run the model in the task's own way (one forward pass per batch, a
                               sampling loop, overlapping segments), decode: one `Outcome` per input (or per piece)
    write(outcome, folder)     the files an outcome becomes (MIDI, audio); `predictions.jsonl` is written by the command
    planned_files(sources, ..) the files `write` will write, named before the model runs (checked against the inputs)
    evaluate(context)          a finished run's figures on one split: the same pass, metrics and hooks as training,
                               beside the recorded baselines; `describe` adds the task's rows and details
    figures(evaluation, dir)   the figures its report shows
    listening_set(...)         folders of audio for a listening test of a run (`etude listen from-run`)

Settings are typed dataclass fields, checked when the task is made (so `set_task` catches a typo at once, not
`etude infer` weeks later) and again when an export is read. Subclasses import torch, matplotlib or music libraries
inside their methods, so `etude -h`, which lists every task's inference flags, stays light. A kind of your own is a
subclass registered by entry point (see `etude.tasks.registry`) and checked with `etude.tasks.testing.check_task`.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Self

from ..errors import CheckpointError, ConfigError

if TYPE_CHECKING:
    import torch

    from ..metrics import Metric
    from ..model import Model
    from ..training.routine_data import SplitView
    from .context import EvaluationContext

__all__ = ['Evaluation', 'InferenceContext', 'InferenceOption', 'InputKind', 'ListeningSet', 'Outcome', 'Task']

ListeningKind = Literal['mushra', 'mos', 'ab']


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
    device: torch.device  # the string 'cpu' for an ONNX file run by onnxruntime, which loads no torch
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


@dataclass(frozen=True)
class ListeningSet:
    """What a task offers a listening test of a run: folders of audio files paired by name, one per condition.

    `reference` is what MUSHRA compares against (the recording a transcription was made from, a pianist's
    performance; named by the task's `listening_reference`, under which a MOS or A/B test rates it as one more
    condition); None where no reference exists (generated music). `default_kind` is the test a listener of this task
    is usually given.
    """

    conditions: dict[str, Path]
    reference: Path | None = None
    title: str = ''
    default_kind: ListeningKind = 'mos'


@dataclass(kw_only=True)
class Task(ABC):
    """A kind of model: subclass as a dataclass of its settings, and implement `infer` (and what its kind needs of the
    rest: `metrics`, `baselines`, `describe`, `figures`, `listening_set`)."""

    kind: ClassVar[str]
    inputs: ClassVar[InputKind]
    writes_files: ClassVar[bool] = False  # `etude infer` needs --output: its outcomes are files
    options: ClassVar[tuple[InferenceOption, ...]] = ()
    listening_reference: ClassVar[str | None] = None
    """The name of the reference its listening set holds (the recording, the pianist's performance), which MUSHRA
    compares against; None where there is none (generated music). Declared, so a test is refused before any work."""
    model_protocol: ClassVar[type | None] = None
    """A `typing.Protocol` naming the methods a model of this kind must have beyond `etude.Model`'s (a note model's
    `run`, a transcriber's `front_end`); None when any Model will do."""

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
                                  f"(it knows {', '.join(sorted(known)) or 'none'}); upgrade etude")
        try:
            return cls(**settings)
        except (ConfigError, TypeError) as error:
            raise CheckpointError(f'{source} records {cls.kind} settings that do not work: {error}') from None

    # -- the model ----------------------------------------------------------------------------------------------

    def check_model(self, model: Model) -> None:
        """Refuse a model that lacks a method of `model_protocol`, in one line naming it (before anything trains)."""
        if self.model_protocol is None:
            return
        missing = [name for name in _protocol_members(self.model_protocol) if not hasattr(model, name)]
        if missing:
            raise ConfigError(f'a {self.kind} task needs a model with {", ".join(missing)} ({self.model_protocol.__module__}.'
                              f'{self.model_protocol.__qualname__}); {type(model).__name__} has no {missing[0]}: add it, or choose the task '
                              'kind this model is for')

    # -- training and evaluation --------------------------------------------------------------------------------

    def metrics(self, model: Model) -> list[Metric]:
        """The metrics a split of a run is judged by, named as in `summary.json`: the Routine computes them in every
        validation and test pass, and `etude evaluate` in the same pass over the same items. None by default."""
        return []

    def baselines(self, data: SplitView, split: str) -> dict[str, dict[str, float]]:
        """`{name: figures}` of the task's baselines, fitted on `data`'s train split and scored on `split` (the
        training mean, the majority class, a Markov chain), named as the model's figures are. None by default.

        The Routine calls this once when a run starts, for the validation and the test split, and records the
        answer; `etude evaluate` reads that record (it calls this only for a run that recorded none)."""
        return {}

    def on_split_end(self, model: Model, split: str, data: SplitView, metrics: Sequence[Metric],
                     device: torch.device) -> dict[str, float]:
        """More figures of `split` once its pass is over: whole-item work no batch can do (sampling pieces from the
        model and judging them against the split's). `metrics` are the pass's metric objects, computed. None by
        default; a task doing costly work may do it for the test split only."""
        return {}

    def evaluation_data(self, context: EvaluationContext) -> SplitView:
        """The data `etude evaluate` runs the pass over: by default the run's stored dataset read as the export says
        (its targets), split as `split.json` says. A task whose routine built its items another way rebuilds them."""
        return context.split_view(context.torch_dataset())

    def evaluate(self, context: EvaluationContext) -> Evaluation:
        """A finished run's figures on `context.split`: the Routine's evaluation pass over the same items with this
        task's metrics, the end-of-split work, and the baselines the run recorded; then `describe` adds the rows."""
        data = self.evaluation_data(context)
        indices = data.indices[context.split]
        metrics, kept, objects = context.evaluation_pass(data.dataset, indices, self.metrics(context.model), keep=self.keeps_outputs,
                                                         collate=data.collate)
        metrics.update(self.on_split_end(context.model, context.split, data, objects, context.device))
        baselines, computed = context.recorded_baselines(self, data)
        notes = [f'Baselines computed now from the train split: {context.checkpoint} recorded none.'] if computed else []
        evaluation = Evaluation(context.split, metrics, baselines, predictions=[], notes=notes)
        self.describe(evaluation, context, data, kept, objects)
        return evaluation

    keeps_outputs: ClassVar[bool] = False
    """Whether `evaluate` keeps each batch's predictions and targets for `describe` (costs memory)."""

    def describe(self, evaluation: Evaluation, context: EvaluationContext, data: SplitView, kept: list[Any],  # noqa: B027
                 metrics: Sequence[Metric]) -> None:
        """Fill `evaluation`'s predictions (one row per item or piece), details (what `figures` draws) and notes."""

    def figures(self, evaluation: Evaluation, folder: Path) -> dict[str, Path]:
        """`caption → PNG` drawn into `folder` for the report; none by default."""
        return {}

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

    # -- ONNX ---------------------------------------------------------------------------------------------------

    def export_onnx(self, model: Model, path: Path) -> None:
        """Write `model` (loaded from an export, on the CPU) as ONNX to `path`, as `onnx_model` runs it; `etude export
        --onnx` then records the task and the hyperparameters in the file's metadata. Refused by default."""
        raise ConfigError(f'a {self.kind} model cannot be exported as ONNX; etude exports transcription models as ONNX')

    def onnx_model(self, session: Any, metadata: Mapping[str, Any]) -> Any:
        """What `infer` runs in place of the torch model: an onnxruntime `session` of an `export_onnx` file, wrapped with
        what the task needs of a model. `metadata` holds the export's `hyperparameters` and `task`. Refused by default."""
        raise ConfigError(f'a {self.kind} model has no ONNX runner; run its torch export (.pt) instead')

    # -- listening ----------------------------------------------------------------------------------------------

    def listening_set(self, context: EvaluationContext, folder: Path, *, pieces: int, seconds: float, seed: int) -> ListeningSet:
        """Write audio for a listening test of the run into `folder` (which exists): one subfolder per condition, the
        same file names in each, `pieces` held-out items of about `seconds` each. Refused by tasks whose outputs
        are not sound or music."""
        raise ConfigError(f'a {self.kind} model writes no audio or music, so there is nothing to listen to; '
                          'listening tests are for the tasks that write audio or MIDI (generation, transcription, expressive performance)')


def _protocol_members(protocol: type) -> list[str]:
    """The names a Protocol class declares (methods and attributes), without the machinery every Protocol has."""
    names = [name for name in vars(protocol) if not name.startswith('_')]
    names += [name for name in getattr(protocol, '__annotations__', {}) if not name.startswith('_') and name not in names]
    return sorted(names)
