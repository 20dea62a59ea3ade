"""Which task kinds this etude knows: the registered ones, and those of modules the caller allows.

A task kind is registered by the package that defines it, under the entry-point group `etude.tasks`, as
`kind = module:Class`. etude registers its own kinds the same way (`setup.py`), so a kind from an installed package
of yours is found exactly as `classification` is:

    # your package's pyproject.toml
    [project.entry-points."etude.tasks"]
    shape_count = "my_lab.tasks:ShapeCount"

A kind in a module of the current folder, not installed, is found with `--allow-module MODULE` (`allow_modules` in
Python), as a model class outside etude is: the export records the task's class path, and its module is imported only
when allowed, since importing runs its code.

Entry points are read once per process (`importlib.metadata`), without importing any task module, so `etude -h` stays
light; a kind's module is imported when the kind is first needed.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from collections.abc import Mapping, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any

from ..errors import CheckpointError, ConfigError
from ..imports import ENTRY_POINT_GROUPS

if TYPE_CHECKING:
    from .base import Task

__all__ = ['ENTRY_POINT_GROUP', 'registered_kinds', 'task_class', 'task_from_dict', 'task_kinds']

ENTRY_POINT_GROUP = ENTRY_POINT_GROUPS[0]


@cache
def registered_kinds() -> dict[str, str]:
    """kind → `module:Class` of every task kind registered by an installed distribution (etude's own among them).

    The same kind registered twice with the same target (etude installed twice on the path, as a test's venv may have
    it) is one kind; two different targets for one kind are refused, since either choice would be a guess.
    """
    found: dict[str, tuple[str, str]] = {}
    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        distribution = entry.dist.name if entry.dist is not None else 'an unnamed distribution'
        seen = found.get(entry.name)
        if seen is not None and seen[0] != entry.value:
            raise ConfigError(f"the task kind '{entry.name}' is registered twice, as {seen[0]} ({seen[1]}) and {entry.value} ({distribution}); "
                              'uninstall one of the two packages')
        found[entry.name] = (entry.value, distribution)
    if not found:
        raise ConfigError("no task kind is registered, not even etude's own: etude is not installed here; "
                          'install it (pip install etude, or pip install -e . in a clone)')
    return {kind: value for kind, (value, _) in sorted(found.items())}


def _load(kind: str, target: str) -> type[Task]:
    """The class an entry point names, checked to be a Task of that kind."""
    from .base import Task

    module_name, _, attribute = target.partition(':')
    try:
        value = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise ConfigError(f"the task kind '{kind}' is registered as {target}, which cannot be imported ({error}); "
                          'reinstall the package that registers it') from None
    if not (isinstance(value, type) and issubclass(value, Task)) or getattr(value, 'kind', None) != kind:
        raise ConfigError(f"the task kind '{kind}' is registered as {target}, which is not a Task whose kind is '{kind}'; "
                          'fix the entry point of the package that registers it')
    return value


def _allowed_kinds(allow_modules: Sequence[str]) -> dict[str, type[Task]]:
    """The concrete Task subclasses defined in each allowed module (imported from the current folder first)."""
    from ..imports import current_folder_importable
    from .base import Task

    kinds: dict[str, type[Task]] = {}
    for module_name in allow_modules:
        try:
            with current_folder_importable(True):
                module = importlib.import_module(module_name)
        except ImportError as error:
            raise ConfigError(f'--allow-module {module_name}: it cannot be imported ({error}); run from the folder that holds it') from None
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, Task) and 'kind' in value.__dict__ and value.__module__ == module.__name__:
                kinds[value.kind] = value
    return kinds


def task_kinds(allow_modules: Sequence[str] = ()) -> dict[str, type[Task]]:
    """kind → Task class: every registered kind (imported), and the kinds defined in `allow_modules`."""
    kinds = {kind: _load(kind, target) for kind, target in registered_kinds().items()}
    for kind, value in _allowed_kinds(allow_modules).items():
        kinds.setdefault(kind, value)
    return kinds


def task_class(values: Mapping[str, Any], *, source: str = 'the checkpoint', allow_modules: Sequence[str] = ()) -> type[Task]:
    """The Task class of a recorded task (`Task.to_dict()`): its kind registered, or its class in an allowed module."""
    kind = values.get('kind')
    if not kind:
        raise CheckpointError(f'{source} records no task, so its outputs cannot be decoded; train it with a routine that calls '
                              "routine.set_task(...), e.g. set_task(Classification(target='digit', classes=[...]))")
    registered = registered_kinds()
    if kind in registered:
        return _load(kind, registered[kind])
    recorded = str(values.get('class_path') or '')
    module_name = recorded.rpartition('.')[0]
    allowed = [module for module in allow_modules if module_name == module or module_name.startswith(f'{module}.')]
    if allowed:
        found = _allowed_kinds([module_name])
        if kind in found:
            return found[kind]
    where = f' (defined in {recorded})' if recorded else ''
    top = module_name.split('.')[0] if module_name else 'MODULE'
    raise CheckpointError(f"{source} is a model for the task kind '{kind}'{where}, which is not registered here (known: {', '.join(registered)}); "
                          f"install the package that registers it (entry point group {ENTRY_POINT_GROUP}), or pass --allow-module {top} "
                          "if it is a module of the current folder you trust")


def task_from_dict(values: Mapping[str, Any], *, source: str = 'the checkpoint', allow_modules: Sequence[str] = ()) -> Task:
    """The Task an export recorded, its settings checked."""
    return task_class(values, source=source, allow_modules=allow_modules).from_dict(values, source=source)
