"""Task kinds: what a model does, for training, inference and evaluation (see `etude.tasks.base`).

    from etude.tasks import Classification, Regression
    routine.set_task(Classification(target='digit', classes=[str(digit) for digit in range(10)]))

This package holds the protocol (`base`), the registry of kinds (`registry`: entry points of the group `etude.tasks`,
and `--allow-module`), the conformance suite a kind of your own can be checked with (`testing.check_task`) and the
generic kinds, for models of one audio clip: `Classification` and `Regression`. Each music task's kind lives in its
own package (`etude.music.generation.Generation`, `etude.music.transcription.Transcription`,
`etude.music.performance.ExpressivePerformance`); `etude infer`, `Predictor` and `etude evaluate` find every kind
through the registry by its `kind`, with no per-task branch.

Names load on first use, so `etude -h` needs no torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_names

if TYPE_CHECKING:
    from ..argument_types import open_probability, positive_number, probability, whole_number
    from ..training.routine_data import SplitView
    from .audio import AudioTask
    from .base import Evaluation, InferenceContext, InferenceOption, InputKind, ListeningSet, Outcome, Task
    from .classification import Classification
    from .context import EvaluationContext, open_run
    from .options import inference_options
    from .registry import registered_kinds, task_class, task_from_dict, task_kinds
    from .regression import Regression
    from .testing import TaskCheckError, TaskExample, check_task

_SOURCES = {
    'AudioTask': '.audio',
    **dict.fromkeys(['Evaluation', 'InferenceContext', 'InferenceOption', 'InputKind', 'ListeningSet', 'Outcome', 'Task'], '.base'),
    **dict.fromkeys(['EvaluationContext', 'open_run'], '.context'),
    'SplitView': '..training.routine_data',
    **dict.fromkeys(['open_probability', 'positive_number', 'probability', 'whole_number'], '..argument_types'),
    **dict.fromkeys(['TaskCheckError', 'TaskExample', 'check_task'], '.testing'),
    'Classification': '.classification',
    'inference_options': '.options',
    **dict.fromkeys(['registered_kinds', 'task_class', 'task_from_dict', 'task_kinds'], '.registry'),
    'Regression': '.regression',
}

__all__ = ['AudioTask', 'Classification', 'Evaluation', 'EvaluationContext', 'InferenceContext', 'InferenceOption', 'InputKind', 'ListeningSet',
           'Outcome', 'Regression', 'SplitView', 'Task', 'TaskCheckError', 'TaskExample', 'check_task', 'inference_options', 'open_probability',
           'open_run', 'positive_number', 'probability', 'registered_kinds', 'task_class', 'task_from_dict', 'task_kinds', 'whole_number']

_MOVED = {'Generation': 'etude.music.generation', 'Transcription': 'etude.music.transcription', 'ExpressivePerformance': 'etude.music.performance'}

__getattr__, __dir__ = lazy_names(__name__, _SOURCES, __all__, _MOVED)
