"""The conformance suite of a task kind, after scikit-learn's `check_estimator`: prove a kind of your own behaves as
etude's commands expect, before a user meets it.

    from etude.tasks.testing import check_task
    checks = check_task(MyKind)          # raises TaskCheckError naming the first check that fails; returns what passed

A kind opts in by saying how to make a tiny run of itself, `MyKind.example(folder) -> TaskExample`: a routine's
DEFAULTS (a small model, one or two epochs), its `build`, and a few input files for inference. The suite then:

1. reads the class: a dataclass Task with a `kind`, its inputs, its options (distinct flags, none taken by `etude
   infer` itself), its model protocol (a `typing.Protocol`, or None);
2. trains the example through the Routine (the task's metrics, baselines and end-of-split figures), and checks the
   summary holds every metric and the run recorded its baselines for the validation and test splits;
3. reads the task back from the export (`to_dict` / `from_dict` round trip, plain values only) and refuses a setting
   it does not know, in one line; refuses a model without the protocol's methods, in one line;
4. evaluates the run as `etude evaluate` does and checks the figures equal the run's own and the baselines are the
   recorded ones; draws the report's figures;
5. runs inference on the example's inputs and on one unusable input: one outcome per input (or per piece), the bad
   one an error of one line, the rest still run, results JSON-safe, files written where asked and never over an
   input; each option's value checker refuses nonsense in one line;
6. with `listening=True`, writes its listening set (folders of audio paired by name).

Each check is named in the returned list; a failure is a `TaskCheckError` (an AssertionError, so pytest shows it as a
test failure) whose one line says which check and why.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import CheckpointError, ConfigError
from .base import InferenceOption, InputKind, ListeningSet, Task

__all__ = ['TaskCheckError', 'TaskExample', 'check_task']

# flags of `etude infer` itself, which no task option may take
COMMAND_FLAGS = ('--output', '-o', '--overwrite', '--jsonl', '--batch-size', '--device', '--allow-module', '--help', '-h')


class TaskCheckError(AssertionError):
    """A task kind does not behave as etude's commands expect: the message names the check and what was found."""


@dataclass
class TaskExample:
    """A tiny run of a task kind, made in a folder: what the conformance suite trains, evaluates and runs."""

    defaults: Any
    """The routine's DEFAULTS: a Parameters instance with a small model and one or two epochs."""
    build: Callable[[Any, Any], Any]
    """`build(routine, parameters)`: sets the dataset, the task (an instance of the kind) and the model."""
    inputs: list[str] = field(default_factory=list)
    """Files `etude infer` would be given (at least one, unless the kind needs no input)."""
    options: dict[str, Any] = field(default_factory=dict)
    """Values of the task's `etude infer` options for the inference check (the others take their defaults)."""


def check_task(task_class: type[Task], folder: str | Path | None = None, *, listening: bool = False) -> list[str]:
    """Run the conformance suite (see the module docstring) on `task_class`; returns the names of the checks passed.

    `folder` is where the example run is made (a temporary folder, removed after, when None); `listening` also writes
    the kind's listening set (which may need FluidSynth).
    """
    if folder is None:
        with tempfile.TemporaryDirectory(prefix='etude-check-task-') as scratch:
            return check_task(task_class, scratch, listening=listening)
    root = Path(folder)
    passed: list[str] = []
    _check_class(task_class)
    passed.append('class')
    example = _example(task_class, root)
    routine, summary = _train(task_class, example, root)
    passed.append('training')
    task = routine.task
    assert isinstance(task, task_class)
    checkpoint = Path(summary['paths']['best'])
    _check_record(task_class, task, checkpoint)
    passed.append('record')
    _check_model_protocol(task_class, task)
    passed.append('model protocol')
    context = _check_evaluation(task_class, type(routine.model), summary, checkpoint.parent.parent, root)
    passed.append('evaluation')
    _check_inference(task, context, example, root)
    passed.append('inference')
    _check_options(task_class)
    passed.append('options')
    if listening:
        _check_listening(task, context, root)
        passed.append('listening')
    return passed


def _fail(check: str, problem: str) -> TaskCheckError:
    return TaskCheckError(f'{check}: {problem}')


def _one_line(error: BaseException | str) -> bool:
    text = str(error).strip()
    return bool(text) and '\n' not in text


def _check_class(task_class: type[Task]) -> None:
    if not (isinstance(task_class, type) and issubclass(task_class, Task)):
        raise _fail('class', f'{task_class!r} is not a subclass of etude.tasks.Task')
    if not dataclasses.is_dataclass(task_class):
        raise _fail('class', f'{task_class.__name__} is not a dataclass; decorate it with @dataclass(kw_only=True)')
    kind = task_class.__dict__.get('kind')
    if not isinstance(kind, str) or not kind.isidentifier():
        raise _fail('class', f'{task_class.__name__} declares no kind of its own (a ClassVar[str] such as kind = \'shape_count\')')
    if not isinstance(getattr(task_class, 'inputs', None), InputKind):
        raise _fail('class', f'{task_class.__name__}.inputs is not an InputKind')
    flags = [option.flag for option in task_class.options]
    if any(not isinstance(option, InferenceOption) for option in task_class.options) or len(set(flags)) != len(flags):
        raise _fail('class', f'{task_class.__name__}.options must be InferenceOptions with distinct flags, got {flags}')
    taken = sorted(set(flags) & set(COMMAND_FLAGS))
    if taken:
        raise _fail('class', f'{task_class.__name__} declares {taken[0]}, a flag of etude infer itself; name the option otherwise')
    protocol = task_class.model_protocol
    if protocol is not None and not getattr(protocol, '_is_protocol', False):
        raise _fail('class', f'{task_class.__name__}.model_protocol must be a typing.Protocol (or None), got {protocol!r}')
    if not callable(getattr(task_class, 'example', None)):
        raise _fail('class', f'{task_class.__name__} has no example(folder) classmethod; the suite needs one to train, evaluate and run it')


def _example(task_class: type[Task], root: Path) -> TaskExample:
    example = task_class.example(root / 'example')  # type: ignore[attr-defined]
    if not isinstance(example, TaskExample):
        raise _fail('example', f'{task_class.__name__}.example(folder) returned {type(example).__name__}, not a TaskExample')
    if task_class.inputs.required and not example.inputs:
        raise _fail('example', f'{task_class.__name__}.example gives no input files, and a {task_class.kind} model needs some')
    return example


def _train(task_class: type[Task], example: TaskExample, root: Path) -> tuple[Any, dict[str, Any]]:
    from ..training.routine import Routine

    routine = Routine(runs_directory=root / 'runs', verbose=False)
    parameters = routine.set_parameters(example.defaults, overrides=['device=cpu'])
    example.build(routine, parameters)
    if not isinstance(routine.task, task_class):
        raise _fail('training', f'the example build set no {task_class.__name__} task (routine.set_task) before its model')
    summary = routine.train()
    assert routine.model is not None
    if routine.task.metrics(routine.model) and set(summary['test']) <= {'loss'}:
        raise _fail('training', 'the task has metrics, but the summary holds no test figure of theirs')
    recorded = routine.split_baselines
    if sorted(recorded) != ['test', 'validation'] or any(not isinstance(figures, dict) for named in recorded.values() for figures in named.values()):
        raise _fail('training', f'the run recorded baselines for {sorted(recorded)}, not for validation and test')
    return routine, summary


def _check_record(task_class: type[Task], task: Task, checkpoint: Path) -> None:
    import torch

    try:
        record = torch.load(checkpoint, map_location='cpu', weights_only=True)['task']
    except Exception as error:  # noqa: BLE001 - any failure here means the record is not plain values
        raise _fail('record', f'the export does not load with weights_only=True ({type(error).__name__}): the task\'s to_dict must hold plain values') from None
    if record != task.to_dict():
        raise _fail('record', f'the export records {record}, not the task\'s to_dict()')
    json.dumps(record)
    again = task_class.from_dict(record)
    if again != task:
        raise _fail('record', f'from_dict(to_dict()) gives {again}, not the task it was made from')
    try:
        task_class.from_dict({**record, 'no_such_setting': 1})
    except CheckpointError as error:
        if not _one_line(error) or 'no_such_setting' not in str(error):
            raise _fail('record', f'an unknown setting is refused with {str(error)!r}, not one line naming it') from None
    else:
        raise _fail('record', 'from_dict takes a setting the kind does not know (no_such_setting) without a word')


def _check_model_protocol(task_class: type[Task], task: Task) -> None:
    if task_class.model_protocol is None:
        return
    from ..model import Model
    from ..parameters import Parameters

    class Bare(Model):  # a model with none of the protocol's methods
        def forward(self, inputs: Any) -> Any:
            return inputs

    try:
        task.check_model(Bare(Parameters()))
    except ConfigError as error:
        if not _one_line(error):
            raise _fail('model protocol', f'a model without the protocol is refused with {str(error)!r}, not one line') from None
        return
    raise _fail('model protocol', f'check_model takes a model without the methods of {task_class.model_protocol.__name__}')


def _check_evaluation(task_class: type[Task], model_class: type, summary: dict[str, Any], run: Path, root: Path) -> Any:
    from .context import open_run

    # the kind and the model are found as `etude evaluate` finds them: registered, or in their modules when allowed
    context = open_run(run, split='test', allow_modules=[task_class.__module__, model_class.__module__])
    evaluation = context.task.evaluate(context)
    for name, value in summary['test'].items():
        if isinstance(value, float) and name in evaluation.metrics and not _close(value, evaluation.metrics[name]):
            raise _fail('evaluation', f'etude evaluate computes {name} = {evaluation.metrics[name]!r}, the run {value!r}: two routes to one figure')
    recorded = summary['baselines']
    if sorted(evaluation.baselines) != sorted(recorded):
        raise _fail('evaluation', f'etude evaluate reports baselines {sorted(evaluation.baselines)}, the run recorded {sorted(recorded)}')
    for name, figures in recorded.items():
        differing = [key for key, value in figures.items() if not _close(float(value), float(evaluation.baselines[name].get(key, math.nan)))]
        if differing:
            raise _fail('evaluation', f'etude evaluate reports the {name} baseline\'s {differing[0]} as {evaluation.baselines[name].get(differing[0])!r}, '
                                      f'the run recorded {figures[differing[0]]!r}')
    folder = root / 'figures'
    folder.mkdir(parents=True, exist_ok=True)
    for caption, path in context.task.figures(evaluation, folder).items():
        if not Path(path).is_file():
            raise _fail('evaluation', f'the figure {caption!r} was not written ({path})')
    return context


def _close(first: float, second: float) -> bool:
    return (math.isnan(first) and math.isnan(second)) or math.isclose(first, second, rel_tol=1e-5, abs_tol=1e-7)


def _check_inference(task: Task, context: Any, example: TaskExample, root: Path) -> None:
    from .base import InferenceContext

    options = {option.name: option.default for option in task.options}
    options.update(example.options)
    inference = InferenceContext(context.export, str(context.checkpoint), context.device, batch_size=4, options=options, readers=1)
    bad = root / f'not-an-input{task.inputs.extensions[0] if task.inputs.extensions else ".txt"}'
    bad.write_text('this is not what the model reads\n')
    sources = [*example.inputs, str(bad)]
    outcomes = list(task.infer(context.model, sources, inference))
    refused = [outcome for outcome in outcomes if outcome.source == str(bad)]
    if len(refused) != 1 or refused[0].error is None or not _one_line(refused[0].error):
        raise _fail('inference', f'an unusable input ({bad.name}) gave {refused}, not one outcome with a one-line error')
    answered = {outcome.source for outcome in outcomes if outcome.result is not None}
    if not set(example.inputs) <= answered:
        raise _fail('inference', f'inputs {sorted(set(example.inputs) - answered)} got no result once an unusable input was among them')
    output = root / 'inference'
    output.mkdir(parents=True, exist_ok=True)
    inputs = {Path(source).resolve() for source in sources}
    for outcome in outcomes:
        if outcome.result is None:
            continue
        json.dumps(outcome.result)
        written = task.write(outcome, output, inference)
        if task.writes_files and not written:
            raise _fail('inference', f'a {task.kind} task writes files, but wrote none for {outcome.source}')
        for path in written:
            if not Path(path).is_file() or Path(path).resolve() in inputs:
                raise _fail('inference', f'{path} was not written, or was written over an input')


def _check_options(task_class: type[Task]) -> None:
    for option in task_class.options:
        if option.is_switch or option.type is str:
            continue
        try:
            option.type('not-a-value')
        except (ValueError, argparse.ArgumentTypeError) as error:
            if not _one_line(error):
                raise _fail('options', f'{option.flag} refuses nonsense with {str(error)!r}, not one line') from None
            continue
        raise _fail('options', f'{option.flag} takes the value "not-a-value" without a word')


def _check_listening(task: Task, context: Any, root: Path) -> None:
    folder = root / 'listening'
    folder.mkdir(parents=True, exist_ok=True)
    stimuli = task.listening_set(context, folder, pieces=1, seconds=2.0, seed=0)
    if not isinstance(stimuli, ListeningSet) or not stimuli.conditions:
        raise _fail('listening', f'listening_set returned {stimuli!r}, not a ListeningSet with conditions')
    folders = [*stimuli.conditions.values(), *([stimuli.reference] if stimuli.reference is not None else [])]
    stems = [sorted(path.stem for path in Path(each).iterdir() if path.suffix == '.wav') for each in folders]
    if not stems[0] or any(names != stems[0] for names in stems):
        raise _fail('listening', f'the condition folders do not hold the same audio files by name: {stems}')
