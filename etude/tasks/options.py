"""The `etude infer` flags of every task kind this etude knows, each once (kinds that share a flag declare it alike)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from .registry import task_kinds

if TYPE_CHECKING:
    from .base import InferenceOption

__all__ = ['inference_options']


def inference_options(allow_modules: Sequence[str] = ()) -> list[InferenceOption]:
    """Every known kind's `etude infer` flags, each once; two kinds that declare one flag differently are refused (a
    ConfigError naming the flag and the two kinds)."""
    from ..errors import ConfigError

    options: dict[str, InferenceOption] = {}
    owners: dict[str, str] = {}
    for name, kind in task_kinds(allow_modules).items():
        for option in kind.options:
            seen = options.get(option.flag)
            if seen is not None and (seen.type, seen.default, seen.is_switch) != (option.type, option.default, option.is_switch):
                raise ConfigError(f'the task kinds {owners[option.flag]} and {name} both declare {option.flag}, differently (type, default or '
                                  'switch); declare it alike in both, or name one otherwise')
            options.setdefault(option.flag, option)
            owners.setdefault(option.flag, name)
    return list(options.values())
