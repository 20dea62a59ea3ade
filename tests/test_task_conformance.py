"""The conformance suite (`etude.tasks.testing.check_task`) passes on every registered kind, and fails, in one line
naming the check, on kinds that break the promises etude's commands rely on."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest
from conftest import has_fluidsynth

from etude.tasks import Classification, TaskCheckError, TaskExample, check_task, registered_kinds
from etude.tasks.registry import _load

MUSIC_KINDS = ('generation', 'metrical_generation', 'transcription', 'expressive_performance')  # the kinds with a listening set, which renders with FluidSynth


@pytest.mark.slow
@pytest.mark.parametrize('kind', sorted(registered_kinds()))
def test_every_registered_kind_passes_the_conformance_suite(kind: str, tmp_path: Path) -> None:
    """Every kind etude ships; a music kind also writes its listening set where FluidSynth is installed (one run each)."""
    listening = kind in MUSIC_KINDS and has_fluidsynth()
    checks = check_task(_load(kind, registered_kinds()[kind]), tmp_path, listening=listening)
    assert checks == ['class', 'training', 'record', 'model protocol', 'evaluation', 'inference', 'options', *(['listening'] if listening else [])]


@dataclass(kw_only=True)
class Forgetful(Classification):
    """Loses its classes' order when read back from an export: the record check must catch it."""

    kind: ClassVar[str] = 'forgetful_classification'

    @classmethod
    def from_dict(cls, values: Any, *, source: str = 'the checkpoint') -> Any:
        task = super().from_dict(values, source=source)
        task.classes = sorted(task.classes, reverse=True)
        return task


@dataclass(kw_only=True)
class SecondRoute(Classification):
    """Computes its evaluation figures by a route of its own: `etude evaluate` would disagree with the run."""

    kind: ClassVar[str] = 'second_route_classification'

    def evaluate(self, context: Any) -> Any:
        evaluation = super().evaluate(context)
        evaluation.metrics['accuracy'] = evaluation.metrics['accuracy'] * 0.5 + 0.25
        return evaluation


@dataclass(kw_only=True)
class NoExample(Classification):
    kind: ClassVar[str] = 'no_example'
    example: ClassVar[Any] = None


@dataclass(kw_only=True)
class TakesOutput(Classification):
    from etude.tasks import InferenceOption

    kind: ClassVar[str] = 'takes_output'
    options: ClassVar[tuple[Any, ...]] = (InferenceOption('--output', 'clashes with etude infer'),)


@dataclass(kw_only=True)
class SilentOnBadFiles(Classification):
    """Drops an unusable input without an outcome: the user would never hear of it."""

    kind: ClassVar[str] = 'silent_on_bad_files'

    def infer(self, model: Any, sources: Any, context: Any) -> Any:
        return (outcome for outcome in super().infer(model, sources, context) if outcome.error is None)


@pytest.mark.slow
@pytest.mark.parametrize(('kind', 'check'), [(Forgetful, 'record'), (SecondRoute, 'evaluation'), (SilentOnBadFiles, 'inference')])
def test_a_kind_that_breaks_a_promise_fails_the_check_that_holds_it(kind: type[Classification], check: str, tmp_path: Path) -> None:
    with pytest.raises(TaskCheckError) as failure:
        check_task(kind, tmp_path)
    assert str(failure.value).startswith(f'{check}: ') and '\n' not in str(failure.value), failure.value


@pytest.mark.parametrize(('kind', 'fragment'), [(NoExample, 'no example(folder)'), (TakesOutput, '--output, a flag of etude infer')])
def test_a_kind_the_suite_cannot_run_is_refused_in_one_line(kind: type[Classification], fragment: str, tmp_path: Path) -> None:
    with pytest.raises(TaskCheckError, match='^class: .*' + fragment.replace('(', r'\(').replace(')', r'\)')):
        check_task(kind, tmp_path)


def test_an_example_is_a_tiny_run(tmp_path: Path) -> None:
    example = Classification.example(tmp_path)
    assert isinstance(example, TaskExample) and example.defaults.num_of_epochs <= 2 and all(Path(path).is_file() for path in example.inputs)
