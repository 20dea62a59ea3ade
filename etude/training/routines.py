"""Which routine `etude train ROUTINE` runs: a registered one by name, a Python file by its path, or `module:attribute`.

    etude train spoken_digits                 # etude/routines/spoken_digits.py, registered by etude
    etude train music_generation              # etude/music/generation/routine.py, registered by etude
    etude train my_routine.py                 # a file; its folder goes on sys.path first, as `python my_routine.py` does
    etude train my_lab.routines:small_cnn     # the attribute small_cnn of the module my_lab.routines, imported from
                                              # the current folder or the installed packages, as `python -m` would

Whatever the form, a routine is something holding the same declarations as a shipped routine module: DEFAULTS (a
Parameters instance), `build(routine, parameters)`, and optionally TESTING, PROJECT and `report(summary)`. The
`module:attribute` form lets one module hold several routines (each a submodule, a class or a SimpleNamespace with
those names).

Routines are registered by name under the entry-point group `etude.routines` (`name = module`): etude's own in its
`setup.py`, and any installed package's the same way, so a lab's package of routines runs as `etude train NAME` too.
They are listed from their source with `ast` (the module's file is found without running it), so `etude train -h`
imports no torch.
"""

from __future__ import annotations

import ast
import difflib
import importlib
import importlib.util
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from ..errors import RoutineError
from ..imports import ENTRY_POINT_GROUPS

__all__ = ['DEFAULT_ROUTINE', 'ENTRY_POINT_GROUP', 'RoutineDefinition', 'load_routine', 'registered_routines', 'shipped_routines']

ENTRY_POINT_GROUP = ENTRY_POINT_GROUPS[1]
DEFAULT_ROUTINE = 'circular_drum_size'
CONTRACT = 'a routine declares DEFAULTS = SomeModel.Parameters(...) and def build(routine, parameters) (see etude train -h)'


@dataclass(frozen=True)
class RoutineDefinition:
    """A routine as the command runs it, however it was named."""

    name: str
    """What the user wrote (a shipped name, a path or module:attribute): the resume line repeats it."""
    summary: str
    """The first line of its docstring."""
    defaults: Any
    """DEFAULTS: a Parameters instance (hyperparameters and the routine's own settings)."""
    build: Callable[[Any, Any], Any]
    """build(routine, parameters) -> extra metrics or None: sets the dataset, task, baselines and model."""
    testing: Mapping[str, Any]
    """TESTING: what --testing sets (below a --config file and key=value)."""
    project: str
    """PROJECT: the tracker's project (W&B) or experiment name."""
    report: Callable[[dict[str, Any]], str] | None
    """report(summary) -> the result line printed after the test, or None."""


def registered_routines() -> dict[str, str]:
    """Registered routine name → its module, for every installed distribution (the same name and module twice is one)."""
    import importlib.metadata

    found: dict[str, str] = {}
    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if found.get(entry.name, entry.value) != entry.value:
            raise RoutineError(f"the routine '{entry.name}' is registered twice, as {found[entry.name]} and {entry.value}; "
                               'uninstall one of the two packages')
        found[entry.name] = entry.value
    return dict(sorted(found.items()))


def shipped_routines() -> dict[str, str]:
    """Registered routine name → first line of its docstring, read without running the module (that would load torch)."""
    routines = {}
    for name, module_name in registered_routines().items():
        spec = importlib.util.find_spec(module_name)
        if spec is not None and spec.origin is not None and spec.origin.endswith('.py'):
            routines[name] = first_line(ast.get_docstring(ast.parse(Path(spec.origin).read_text(encoding='utf-8'))))
    return routines


def load_routine(name: str) -> RoutineDefinition:
    """The routine called `name` (see the module docstring), imported and checked against the contract."""
    path = Path(name)
    if name.endswith('.py') or os.sep in name or '/' in name or (path.is_file() and ':' not in name):
        return _definition(name, _import_file(path))
    if ':' in name:
        module_name, _, attribute = name.partition(':')
        if not module_name or not attribute.isidentifier():
            raise RoutineError(f"Cannot read routine {name!r}; write module:attribute, e.g. my_lab.routines:small_cnn")
        module = _import_module(module_name, name)
        if not hasattr(module, attribute):
            raise RoutineError(f'{module_name} has no attribute {attribute!r} (from {name}); name the object that holds DEFAULTS and build')
        return _definition(name, getattr(module, attribute))
    registered = registered_routines()
    if name not in registered:
        nearest = [f'{name}.py'] if Path(f'{name}.py').is_file() else difflib.get_close_matches(name, registered, n=1)
        hint = f'did you mean {nearest[0]!r}? ' if nearest else ''
        raise RoutineError(f"No routine {name!r}: {hint}the registered routines are {', '.join(registered)}; "
                           'a routine of your own is named by its file (my_routine.py) or as module:attribute')
    return _definition(name, _run_user_code(lambda: importlib.import_module(registered[name]), name, registered[name]))


def first_line(docstring: str | None) -> str:
    return (docstring or '').strip().split('\n')[0]


def _definition(name: str, routine: Any) -> RoutineDefinition:
    """Check the declarations of `routine` (a module or any object with the same names)."""
    from ..parameters import Parameters

    defaults = getattr(routine, 'DEFAULTS', None)
    if not isinstance(defaults, Parameters):
        found = 'no DEFAULTS' if defaults is None else f'DEFAULTS of type {type(defaults).__name__}, not a Parameters instance'
        raise RoutineError(f'{name} has {found}; {CONTRACT}')
    build = getattr(routine, 'build', None)
    if not callable(build):
        raise RoutineError(f'{name} has no build function; {CONTRACT}')
    testing = getattr(routine, 'TESTING', None) or {}
    if not isinstance(testing, Mapping):
        raise RoutineError(f'{name} has TESTING of type {type(testing).__name__}; TESTING is a dict of key: value, e.g. {{"num_of_epochs": 2}}')
    stem = Path(name).stem if name.endswith('.py') else name.rpartition(':')[2] or name
    project = getattr(routine, 'PROJECT', None) or f'etude-{stem.replace("_", "-")}'
    report = getattr(routine, 'report', None)
    own_doc = routine.__doc__ if isinstance(routine, (ModuleType, type)) else vars(routine).get('__doc__') if hasattr(routine, '__dict__') else None
    return RoutineDefinition(name=name, summary=first_line(own_doc), defaults=defaults, build=build, testing=dict(testing), project=str(project),
                             report=report if callable(report) else None)


def _import_file(path: Path) -> ModuleType:
    """A routine file, run as Python runs a script: its folder first on sys.path, so a package beside it imports."""
    if not path.is_file():
        hint = '' if path.exists() else f' (looked in {Path.cwd()})' if not path.is_absolute() else ''
        raise RoutineError(f'No routine file {path}{hint}; give the path to a .py file, or a shipped routine (etude train -h)')
    resolved = path.resolve()
    folder = str(resolved.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    module_name = _module_name_for(resolved)
    spec = importlib.util.spec_from_file_location(module_name, resolved)
    if spec is None or spec.loader is None:
        raise RoutineError(f'Cannot import {path} as Python; a routine file ends in .py')
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses and typing resolve annotations through sys.modules
    try:
        _run_user_code(lambda: spec.loader.exec_module(module), str(path))  # type: ignore[union-attr]
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    return module


def _module_name_for(path: Path) -> str:
    """The file's own stem, so that classes defined in it keep an importable path (`etude infer --allow-module STEM`
    from the same folder), unless that name is another module's."""
    stem = path.stem
    if stem.isidentifier() and stem not in sys.modules:
        try:
            found = importlib.util.find_spec(stem)
        except (ImportError, ValueError):
            found = None
        if found is None or (found.origin is not None and Path(found.origin).resolve() == path):
            return stem
    return f'etude_user_routine_{stem if stem.isidentifier() else "file"}'


def _import_module(module_name: str, name: str) -> ModuleType:
    """`module_name` from the current folder or the installed packages (the current folder first, as `python -m` has it)."""
    here = os.getcwd()
    if here not in sys.path and '' not in sys.path:
        sys.path.insert(0, here)
    module: ModuleType = _run_user_code(lambda: importlib.import_module(module_name), name, module_name)
    return module


def _run_user_code(load: Callable[[], Any], label: str, module_name: str = '') -> Any:
    """Run `load` (an import of the user's code), turning the two mistakes an import reports into one line each."""
    try:
        return load()
    except SyntaxError as error:
        raise RoutineError(f'{error.filename or label} line {error.lineno}: {error.msg}; fix the routine and run the command again') from None
    except ModuleNotFoundError as error:
        if error.name and (module_name == error.name or module_name.startswith(f'{error.name}.')):
            raise RoutineError(f'No module named {error.name!r} for routine {label}, neither in {os.getcwd()} nor installed; '
                               'run from the folder that holds it, or install it') from None
        raise RoutineError(f'{label} imports {error.name!r}, which is not installed or not on the path; install it, '
                           'or put it beside the routine file') from None
