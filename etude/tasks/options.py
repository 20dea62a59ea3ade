"""The `etude infer` flags of every task kind this etude knows, each once (kinds that share a flag declare it alike)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from .registry import task_kinds

if TYPE_CHECKING:
    from .base import InferenceOption

__all__ = ['inference_options']


def inference_options(allow_modules: Sequence[str] = ()) -> list[InferenceOption]:
    """Every known kind's `etude infer` flags, each once; two kinds that declare one flag differently are refused."""
    options: dict[str, InferenceOption] = {}
    for kind in task_kinds(allow_modules).values():
        for option in kind.options:
            seen = options.get(option.flag)
            if seen is not None and (seen.type, seen.default, seen.is_switch) != (option.type, option.default, option.is_switch):
                raise TypeError(f'the tasks disagree on {option.flag}: declare it with the same type, default and kind')
            options.setdefault(option.flag, option)
    return list(options.values())
