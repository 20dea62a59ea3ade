"""Names of a package loaded on first use (PEP 562), so importing a package costs nothing until a name is used.

    __getattr__, __dir__ = lazy_names(__name__, {'Routine': '.routine', ...}, __all__)

`import etude` loads no torch, and `etude -h` answers at once: each public name is imported from its module the
first time it is read, then kept in the package like an ordinary attribute.

A name that moved to another package (`moved`: name → its new package) is refused with one line that says where it
went, so `from etude.models import NoteLSTM` written for an older etude tells its reader what to write instead. The
refusal is an ImportError, not an AttributeError: Python's `from ... import` replaces an AttributeError's message
with its own.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from importlib import import_module
from typing import Any

__all__ = ['lazy_names']


def lazy_names(package: str, sources: Mapping[str, str], names: Sequence[str],
               moved: Mapping[str, str] | None = None) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The module-level `__getattr__` and `__dir__` of `package`: `sources` maps a public name to the (relative)
    module that defines it; `names` is what `dir()` lists; `moved` maps a former name to the package that has it now."""
    moved = dict(moved or {})

    def __getattr__(name: str) -> Any:  # noqa: N807 - the module hook's own name
        if name in sources:
            value = getattr(import_module(sources[name], package), name)
            setattr(sys.modules[package], name, value)
            return value
        if name in moved:
            raise ImportError(f'{package}.{name} moved to {moved[name]}: write from {moved[name]} import {name}')
        raise AttributeError(f'module {package!r} has no attribute {name!r}')

    def __dir__() -> list[str]:  # noqa: N807
        return sorted(names)

    return __getattr__, __dir__
