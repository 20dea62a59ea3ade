"""Task kinds: what a model does, for inference and evaluation (see `etude.tasks.base`).

    from etude.tasks import Classification, Regression
    routine.set_task(Classification(target='digit', classes=[str(digit) for digit in range(10)]))

Each kind lives in one module of this package, `etude/tasks/<kind>.py`, holding a `Task` subclass with its
settings, input reader, run, decoder, metrics and figures: adding a task is adding a file, and `etude infer`,
`Predictor` and `etude evaluate` find it here by its `kind` with no per-task branch.

Names load on first use, so `etude -h` needs no torch.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

from ..lazy import lazy_names

if TYPE_CHECKING:
    from .base import Evaluation, EvaluationContext, InferenceContext, InferenceOption, InputKind, Outcome, Task
    from .classification import Classification
    from .expressive_performance import ExpressivePerformance
    from .generation import Generation
    from .regression import Regression
    from .transcription import Transcription

_SOURCES = {
    'Evaluation': '.base', 'EvaluationContext': '.base', 'InferenceContext': '.base', 'InferenceOption': '.base', 'InputKind': '.base',
    'Outcome': '.base', 'Task': '.base', 'Classification': '.classification', 'ExpressivePerformance': '.expressive_performance',
    'Generation': '.generation', 'Regression': '.regression', 'Transcription': '.transcription',
}

__all__ = ['Classification', 'Evaluation', 'EvaluationContext', 'ExpressivePerformance', 'Generation', 'InferenceContext', 'InferenceOption',
           'InputKind', 'Outcome', 'Regression', 'Task', 'Transcription', 'inference_options', 'task_class', 'task_from_dict', 'task_kinds']


@cache
def task_kinds() -> dict[str, type[Task]]:
    """kind → Task class, for every kind in this package (each module's own concrete Task subclasses)."""
    from .base import Task

    kinds: dict[str, type[Task]] = {}
    for module_info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f'{__name__}.{module_info.name}')
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, Task) and value.__module__ == module.__name__ and 'kind' in value.__dict__:
                kinds[value.kind] = value
    return dict(sorted(kinds.items()))


def task_class(values: Mapping[str, Any], *, source: str = 'the checkpoint') -> type[Task]:
    """The Task class of a recorded task, by its kind."""
    from ..errors import CheckpointError

    kind = values.get('kind')
    if not kind:
        raise CheckpointError(f'{source} records no task, so its outputs cannot be decoded; train it with a routine that calls '
                              "routine.set_task(...), e.g. set_task(Classification(target='digit', classes=[...]))")
    known = task_kinds()
    if kind in known:
        return known[kind]
    raise CheckpointError(f"{source} is a model for the task '{kind}', which this etude does not know (it knows {', '.join(known)}); "
                          'upgrade etude')


def task_from_dict(values: Mapping[str, Any], *, source: str = 'the checkpoint') -> Task:
    """The Task an export recorded, its settings checked."""
    return task_class(values, source=source).from_dict(values, source=source)


def inference_options() -> list[InferenceOption]:
    """Every task kind's `etude infer` flags, each once (kinds that share a flag must declare it alike)."""
    options: dict[str, InferenceOption] = {}
    for kind in task_kinds().values():
        for option in kind.options:
            seen = options.get(option.flag)
            if seen is not None and (seen.type, seen.default, seen.is_switch) != (option.type, option.default, option.is_switch):
                raise TypeError(f'the tasks disagree on {option.flag}: declare it with the same type, default and kind')
            options.setdefault(option.flag, option)
    return list(options.values())


__getattr__, __dir__ = lazy_names(__name__, _SOURCES, __all__)
