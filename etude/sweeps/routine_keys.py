"""The keys the sweep's routine takes (its `-h` listing: hyperparameters and run options), to check a sweep file's
parameters before any trial starts, with the nearest-key suggestion etude gives everywhere.

The routine is the one the trial command names (`--routine=NAME`, `--routine NAME`, `etude train NAME`), else the
default of scripts/train.py, found as `etude train` finds it. A command that runs no etude routine is not checked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError, EtudeError
from ..parameters import coerce, unknown_key_message
from .parameters import SweepParameter

__all__ = ['check_parameters', 'routine_name', 'routine_settings', 'routine_testing']


def routine_name(command: Sequence[str], program: str | None) -> str | None:
    """The routine a trial command runs: `--routine=NAME` / `--routine NAME` (scripts/train.py), the word after
    `train` (`etude train NAME`), else the trainer's default when the program is scripts/train.py."""
    for index, word in enumerate(command):
        if word.startswith('--routine='):
            return word.split('=', 1)[1]
        if word in ('--routine', 'train') and index + 1 < len(command) and not command[index + 1].startswith('-'):
            return command[index + 1]
    if program and Path(program).name == 'train.py':
        from ..training.routines import DEFAULT_ROUTINE

        return DEFAULT_ROUTINE
    return None


def _load(name: str, program: str | None) -> Any:
    """The routine as `etude train` finds it (a shipped name, a .py file, module:attribute); None if it does not load."""
    from ..training.routines import load_routine

    try:
        return load_routine(name)
    except (EtudeError, ImportError):
        return None  # a routine that does not import here is not checked: its trials will say what is wrong


def routine_settings(command: Sequence[str], program: str | None) -> tuple[str, dict[str, Any]] | None:
    """(routine name, key → type) of every key the routine takes, or None when the command runs no etude routine."""
    found = _definition(command, program)
    if found is None:
        return None
    from ..run_options import RunOptions

    name, definition = found
    return name, {**definition.defaults.field_types(), **RunOptions.field_types()}


def routine_testing(command: Sequence[str], program: str | None) -> dict[str, Any]:
    """The values the routine's `--testing` sets (its TESTING), or none when the command runs no etude routine."""
    found = _definition(command, program)
    return dict(found[1].testing) if found is not None else {}


def _definition(command: Sequence[str], program: str | None) -> tuple[str, Any] | None:
    name = routine_name(command, program)
    if name is None:
        return None
    definition = _load(name, program)
    return (name, definition) if definition is not None else None


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
