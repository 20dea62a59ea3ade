"""Typed hyperparameters and their resolution.

A model declares its hyperparameters as a dataclass with types and defaults (a subclass of `Parameters`). The values
of one run resolve in this order, each layer overriding the one before:

    the dataclass defaults < a YAML file < W&B sweep values (`wandb.config`) < command-line `key=value` overrides

Every layer is checked at the boundary, so a typo or a wrong type fails before any data is loaded or any weight is
trained, with one line that names the key, the expected type and the value (and the nearest valid key for a typo).
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import inspect
import math
import re
import textwrap
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, Self, get_args, get_origin

import yaml

from .errors import ConfigError

__all__ = ['AT_LEAST_ONE', 'FINITE', 'NON_NEGATIVE', 'POSITIVE', 'Parameters', 'Range', 'Settings', 'parse_overrides', 'read_yaml_parameters']


@dataclasses.dataclass(frozen=True)
class Range:
    """The values a numeric field accepts, declared beside its type: `learning_rate: Annotated[float, Range(0, exclusive_minimum=True)]`.

    Checked wherever values enter (defaults, YAML, W&B, the command line, a checkpoint), so every model's fields get
    the same one-line errors without writing them. Floats are also refused when NaN or infinite, unless
    `allow_nonfinite` says that a field means something by them.
    """

    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    exclusive_maximum: bool = False
    allow_nonfinite: bool = False

    def describe(self) -> str:
        if self.minimum is not None and self.maximum is not None:
            low, high = '(' if self.exclusive_minimum else '[', ')' if self.exclusive_maximum else ']'
            return f'in {low}{_number(self.minimum)}, {_number(self.maximum)}{high}'
        if self.minimum is not None:
            return f'{">" if self.exclusive_minimum else ">="} {_number(self.minimum)}'
        if self.maximum is not None:
            return f'{"<" if self.exclusive_maximum else "<="} {_number(self.maximum)}'
        return 'finite'

    def admits(self, value: float) -> bool:
        if isinstance(value, float) and not math.isfinite(value):
            return self.allow_nonfinite
        if self.minimum is not None and (value < self.minimum or (self.exclusive_minimum and value == self.minimum)):
            return False
        return not (self.maximum is not None and (value > self.maximum or (self.exclusive_maximum and value == self.maximum)))


FINITE = Range()
POSITIVE = Range(0, exclusive_minimum=True)
NON_NEGATIVE = Range(0)
AT_LEAST_ONE = Range(1)


def _number(value: float) -> str:
    return f'{value:g}' if isinstance(value, float) else str(value)


class Settings:
    """Typed, checked settings resolved from layers of plain values; the machinery `Parameters` and `RunOptions` share.

    Subclasses are keyword-only dataclasses. A field's docstring (a string literal on the line after it) is its
    description in `etude train NAME -h`; an `Annotated[..., Range(...)]` type declares the values it accepts.
    """

    def __post_init__(self) -> None:
        for name, constraint in self.field_ranges().items():
            check_range(getattr(self, name), constraint, name, 'the defaults')
        self.validate()

    def validate(self) -> None:
        """Check relations between values; types and ranges are checked when values are parsed."""

    @classmethod
    def field_types(cls) -> dict[str, Any]:
        """Each field's resolved type annotation (annotations are strings under `from __future__ import annotations`)."""
        hints = typing.get_type_hints(cls)
        return {field.name: hints[field.name] for field in dataclasses.fields(cls)}  # type: ignore[arg-type]

    @classmethod
    def field_ranges(cls) -> dict[str, Range]:
        """The `Range` of every numeric field (`FINITE` for a float without one: NaN and infinity are refused)."""
        hints = typing.get_type_hints(cls, include_extras=True)
        ranges: dict[str, Range] = {}
        for field in dataclasses.fields(cls):  # type: ignore[arg-type]
            hint = hints[field.name]
            declared = [extra for extra in getattr(hint, '__metadata__', ()) if isinstance(extra, Range)]
            if declared:
                ranges[field.name] = declared[0]
            elif _base_type(hint) is float:
                ranges[field.name] = FINITE
        return ranges

    @classmethod
    def field_descriptions(cls) -> dict[str, str]:
        """Field name → its docstring, read from the source of this class and its bases (empty where none is written)."""
        descriptions: dict[str, str] = {}
        for klass in reversed(cls.__mro__):
            if klass is object or not dataclasses.is_dataclass(klass):
                continue
            try:
                tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
            except (OSError, TypeError, SyntaxError):
                continue
            body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
            for statement, following in zip(body, body[1:], strict=False):
                if (isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name) and isinstance(following, ast.Expr)
                        and isinstance(following.value, ast.Constant) and isinstance(following.value.value, str)):
                    descriptions[statement.target.id] = inspect.cleandoc(following.value.value)
        return descriptions

    def to_dict(self) -> dict[str, Any]:
        """Plain values (tuples kept) for YAML, JSON, W&B and checkpoints."""
        return {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}  # type: ignore[arg-type]

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], *, source: str = 'parameters', ignore_unknown: bool = False) -> Self:
        """Build from a mapping of already-parsed values, checking every key, type and range."""
        return cls().updated(values, source=source, ignore_unknown=ignore_unknown)

    def updated(self, values: Mapping[str, Any], *, source: str, ignore_unknown: bool = False) -> Self:
        """A copy with `values` applied on top; `source` names where they came from for error messages."""
        types_by_name = self.field_types()
        ranges = self.field_ranges()
        checked: dict[str, Any] = {}
        for key, value in values.items():
            if key not in types_by_name:
                if ignore_unknown:
                    continue
                raise ConfigError(unknown_key_message(key, types_by_name, source))
            checked[key] = coerce(value, types_by_name[key], key, source)
            if key in ranges:
                check_range(checked[key], ranges[key], key, source)
        return dataclasses.replace(self, **checked)  # type: ignore[type-var]

    def override_strings(self, overrides: Iterable[str], *, source: str = 'command line') -> Self:
        """Apply `key=value` / `--key=value` strings, parsing each value as the field's type."""
        return self.updated(parse_overrides(overrides, self.field_types(), source), source=source)


@dataclasses.dataclass(kw_only=True)
class Parameters(Settings):
    """Hyperparameters that every routine understands: what a model is and how it is optimised. Models subclass this
    and add their own fields. How a run executes (device, workers, precision, ...) is `RunOptions`, not here."""

    seed: Annotated[int, Range(0, 2**32 - 1)] = 0
    """Seed of every random generator: weights, split, shuffling, augmentation."""
    batch_size: Annotated[int, AT_LEAST_ONE] = 32
    """Examples per batch, over all processes together (each of N torchrun processes takes batch_size / N)."""
    dataset_split: tuple[float, float, float] = (0.8, 0.1, 0.1)
    """Fractions of the groups (drums, speakers, pieces) dealt to train, validation and test."""
    num_of_epochs: Annotated[int, NON_NEGATIVE] = 0
    """Epochs to train; 0 trains until early stopping."""
    with_early_stopping: bool = True
    """Stop when the monitored metric has not improved for `patience` epochs."""
    patience: Annotated[int, AT_LEAST_ONE] = 5
    """Epochs without improvement before early stopping."""
    min_delta: Annotated[float, NON_NEGATIVE] = 0.0
    """Smallest change of the monitored metric that counts as an improvement."""
    monitor: str = 'validation_loss'
    """Metric that picks best.pt and stops early: validation_loss or validation_<metric>, e.g. validation_accuracy."""
    monitor_mode: Literal['min', 'max'] = 'min'
    """Whether the monitored metric improves downwards (a loss, an error) or upwards (accuracy, F1)."""
    optimiser: Literal['adam', 'adamw', 'sgd'] = 'adam'
    """Optimiser of the default configure_optimisers."""
    learning_rate: Annotated[float, POSITIVE] = 1e-3
    """Peak learning rate (a schedule scales it)."""
    weight_decay: Annotated[float, NON_NEGATIVE] = 0.0
    """L2 penalty (decoupled for adamw)."""
    gradient_clip: Annotated[float, NON_NEGATIVE] = 0.0
    """Clip the gradients' global norm to this value before each update; 0 disables clipping."""
    accumulate_batches: Annotated[int, AT_LEAST_ONE] = 1
    """Batches whose gradients are summed before one update (an effective batch of accumulate_batches × batch_size)."""
    lr_schedule: Literal['none', 'cosine', 'step', 'plateau', 'onecycle'] = 'none'
    """Learning-rate schedule: cosine and onecycle per update over the whole run, step and plateau per epoch."""
    warmup_steps: Annotated[int, NON_NEGATIVE] = 0
    """Updates over which the learning rate rises linearly from 0 before the schedule (onecycle: its warm-up phase)."""
    lr_step_epochs: Annotated[int, AT_LEAST_ONE] = 10
    """The step schedule multiplies the learning rate by lr_gamma every this many epochs."""
    lr_gamma: Annotated[float, Range(0, 1, exclusive_minimum=True, exclusive_maximum=True)] = 0.1
    """Factor of the step and plateau schedules."""
    lr_patience: Annotated[int, NON_NEGATIVE] = 2
    """Epochs without improvement before the plateau schedule lowers the learning rate."""
    nonfinite_patience: Annotated[int, AT_LEAST_ONE] = 3
    """Updates in a row whose loss is NaN or infinite (each skipped) before the run stops as diverged."""

    def validate(self) -> None:
        from .data.split import check_fractions

        check_fractions(self.dataset_split, 'dataset_split')
        if self.num_of_epochs == 0 and not self.with_early_stopping:
            raise ConfigError(
                'num_of_epochs: 0 means "until early stopping", so with_early_stopping must be true; '
                'set num_of_epochs to a positive number or enable early stopping',
            )
        if self.num_of_epochs == 0 and self.lr_schedule in ('cosine', 'onecycle'):
            raise ConfigError(f'lr_schedule {self.lr_schedule} needs the run\'s length; set num_of_epochs to a positive number or use step or plateau')
        if not (self.monitor == 'validation_loss' or self.monitor.startswith('validation_')):
            raise ConfigError(f"monitor must be validation_loss or validation_<metric>, got '{self.monitor}'")


def check_range(value: Any, constraint: Range, key: str, source: str) -> None:
    """Raise a ConfigError when a numeric value lies outside its field's `Range`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    if not constraint.admits(value):
        raise ConfigError(f"Parameter '{key}' in {source} must be {constraint.describe()}, got {value!r}")


def _base_type(hint: Any) -> Any:
    return get_args(hint)[0] if get_origin(hint) is Annotated else hint


def unknown_key_message(key: str, valid: Iterable[str], source: str) -> str:
    nearest = difflib.get_close_matches(key, list(valid), n=1, cutoff=0.5)
    hint = f"; did you mean '{nearest[0]}'?" if nearest else f'; valid keys: {", ".join(sorted(valid))}'
    return f"Unknown parameter '{key}' in {source}{hint}"


def parse_overrides(overrides: Iterable[str], types_by_name: Mapping[str, Any], source: str) -> dict[str, Any]:
    """Turn `key=value` or `--key=value` (the form W&B agents pass) into typed values.

    Values are read as YAML scalars so `1e-3`, `true` and `[0.7, 0.15, 0.15]` mean what they look like; a field typed
    `str` keeps the raw text so `name=123` stays a string.
    """
    parsed: dict[str, Any] = {}
    for override in overrides:
        text = override[2:] if override.startswith('--') else override
        key, separator, raw_value = text.partition('=')
        key = key.strip().replace('-', '_')
        if not separator or not key:
            raise ConfigError(f"Cannot read override '{override}' from the {source}; write it as key=value or --key=value")
        if key not in types_by_name:
            raise ConfigError(unknown_key_message(key, types_by_name, source))
        if types_by_name[key] is str:
            parsed[key] = raw_value
            continue
        try:
            parsed[key] = yaml.load(raw_value, Loader=_TupleTolerantSafeLoader) if raw_value.strip() else raw_value
        except yaml.YAMLError:
            parsed[key] = raw_value
    return parsed


def read_yaml_parameters(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping of hyperparameters with the safe loader.

    kac_prediction's configs tag tuples as `!!python/tuple`, which the safe loader refuses; such tags are read as
    plain lists here, and a list is accepted wherever a tuple is expected.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f'Config file {path} does not exist; pass the path of a YAML file with --config')
    try:
        data = yaml.load(path.read_text(encoding='utf-8'), Loader=_TupleTolerantSafeLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, 'problem_mark', None)
        where = f' at line {mark.line + 1}, column {mark.column + 1}' if mark is not None else ''
        problem = getattr(error, 'problem', None) or 'invalid YAML'
        raise ConfigError(f'Config file {path} is not valid YAML{where}: {problem}; fix the file or pass another with --config') from None
    except UnicodeDecodeError:
        raise ConfigError(f'Config file {path} is not UTF-8 text; pass a YAML file with --config') from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f'Config file {path} must hold a mapping of key: value lines, not a {type(data).__name__}')
    return data


class _TupleTolerantSafeLoader(yaml.SafeLoader):
    """The safe loader plus `!!python/tuple`, constructed as a list (no arbitrary objects)."""


# PyYAML follows YAML 1.1, where `1e-3` is a string; researchers write learning rates that way, so resolve YAML 1.2
# floats (optional dot, signed exponent) as floats.
_TupleTolerantSafeLoader.add_implicit_resolver(
    'tag:yaml.org,2002:float',
    re.compile(r'^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$'),
    list('-+0123456789'),
)
_TupleTolerantSafeLoader.add_constructor(
    'tag:yaml.org,2002:python/tuple',
    lambda loader, node: loader.construct_sequence(node, deep=True),  # type: ignore[arg-type]
)


def describe_type(expected: Any) -> str:
    origin = get_origin(expected)
    if origin is Literal:
        return 'one of ' + ', '.join(repr(option) for option in get_args(expected))
    if origin in (types.UnionType, typing.Union):
        return ' or '.join(describe_type(option) for option in get_args(expected))
    if expected is type(None):
        return 'null'
    return getattr(expected, '__name__', None) if origin is None else str(expected).replace('typing.', '')  # type: ignore[return-value]


def coerce(value: Any, expected: Any, key: str, source: str) -> Any:
    """Return `value` as the `expected` type, or raise a ConfigError naming the key, the type and the value.

    Only lossless conversions happen: an int where a float is expected, a list where a tuple is expected.
    """
    try:
        return _coerce(value, expected)
    except (TypeError, ValueError):
        raise ConfigError(
            f"Parameter '{key}' in {source} must be {describe_type(expected)}, got {value!r} ({type(value).__name__})",
        ) from None


def _coerce(value: Any, expected: Any) -> Any:
    origin = get_origin(expected)
    if expected is Any:
        return value
    if origin is Literal:
        if value in get_args(expected) and type(value) in {type(option) for option in get_args(expected)}:
            return value
        raise ValueError
    if origin in (types.UnionType, typing.Union):
        for option in get_args(expected):
            try:
                return _coerce(value, option)
            except (TypeError, ValueError):
                continue
        raise ValueError
    if expected is type(None):
        if value is None:
            return None
        raise ValueError
    if expected is bool:
        if isinstance(value, bool):
            return value
        raise ValueError
    if expected is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ValueError
    if expected is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ValueError
    if expected is str:
        if isinstance(value, str):
            return value
        raise ValueError
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ValueError
        arguments = get_args(expected)
        if origin is tuple and arguments and arguments[-1] is not Ellipsis:
            if len(arguments) != len(value):
                raise ValueError
            items = [_coerce(item, item_type) for item, item_type in zip(value, arguments, strict=True)]
        else:
            item_type = arguments[0] if arguments else Any
            items = [_coerce(item, item_type) for item in value]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if isinstance(value, dict):
            return value
        raise ValueError
    raise TypeError(f'unsupported parameter type {expected}')
