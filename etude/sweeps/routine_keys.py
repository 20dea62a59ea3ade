"""The keys the sweep's routine takes (its `-h` listing: hyperparameters and run options), to check a sweep file's
parameters before any trial starts, with the nearest-key suggestion etude gives everywhere.

The routine is the one the trial command names (`--routine=NAME` or `--routine NAME`), else the default of the
program when it is etude's trainer. It is found beside the program as `routines/NAME.py` (the repository's
scripts/), else as `etude.routines.NAME` (a shipped routine). A command that runs no etude routine is not checked.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from ..errors import ConfigError
from ..parameters import coerce, unknown_key_message
from .parameters import SweepParameter

__all__ = ['check_parameters', 'routine_name', 'routine_settings']


def routine_name(command: Sequence[str], program: str | None) -> str | None:
    for index, word in enumerate(command):
        if word.startswith('--routine='):
            return word.split('=', 1)[1]
        if word == '--routine' and index + 1 < len(command):
            return command[index + 1]
    if program and Path(program).is_file():
        for node in ast.parse(Path(program).read_text()).body:  # the trainer's DEFAULT_ROUTINE = '...', read without running it
            if isinstance(node, ast.Assign) and any(isinstance(target, ast.Name) and target.id == 'DEFAULT_ROUTINE' for target in node.targets):
                if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                    return node.value.value
    return None


def _load(name: str, program: str | None) -> ModuleType | None:
    """The routine beside the program (routines/NAME.py), else the shipped etude.routines.NAME; None if neither loads."""
    path = Path(program).resolve().parent / 'routines' / f'{name}.py' if program else None
    try:
        if path is not None and path.is_file():
            spec = importlib.util.spec_from_file_location(f'etude_routines.{name}', path)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
            spec.loader.exec_module(module)
            return module
        if importlib.util.find_spec('etude.routines') is not None and importlib.util.find_spec(f'etude.routines.{name}') is not None:
            return importlib.import_module(f'etude.routines.{name}')
    except ImportError:
        return None  # a routine that does not import here is not checked: its trials will say what is wrong
    return None


def routine_settings(command: Sequence[str], program: str | None) -> tuple[str, dict[str, Any]] | None:
    """(routine name, key → type) of every key the routine takes, or None when the command runs no etude routine."""
    name = routine_name(command, program)
    if name is None:
        return None
    module = _load(name, program)
    if module is None or not hasattr(module, 'DEFAULTS'):
        return None
    from ..run_options import RunOptions

    return name, {**module.DEFAULTS.field_types(), **RunOptions.field_types()}


def check_parameters(parameters: Sequence[SweepParameter], types: Mapping[str, Any], source: str) -> None:
    """Every swept name is a key of the routine, and every value it can take is of the key's type (one line if not)."""
    for parameter in parameters:
        key = parameter.name.split('.', 1)[0]
        if key not in types:
            raise ConfigError(unknown_key_message(key, types, source))
        expected = types[key]
        if parameter.distribution == 'constant':
            candidates: tuple[Any, ...] = (parameter.value,)
        elif parameter.distribution == 'categorical':
            candidates = parameter.values
        else:
            candidates = (parameter.ppf(0.5),)  # one value of the distribution: an int or a float, as W&B gives it
        if '.' not in parameter.name:
            for value in candidates:
                coerce(value, expected, key, source)
