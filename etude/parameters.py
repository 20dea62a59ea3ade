"""Typed hyperparameters and their resolution.

A model declares its hyperparameters as a dataclass with types and defaults (a subclass of `Parameters`). The values
of one run resolve in this order, each layer overriding the one before:

    the dataclass defaults < a YAML file < W&B sweep values (`wandb.config`) < command-line `key=value` overrides

Every layer is checked at the boundary, so a typo or a wrong type fails before any data is loaded or any weight is
trained, with one line that names the key, the expected type and the value (and the nearest valid key for a typo).
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal, Self, get_args, get_origin

import yaml

from .errors import ConfigError

__all__ = ['Parameters', 'parse_overrides', 'read_yaml_parameters']


@dataclasses.dataclass(kw_only=True)
class Parameters:
    """Hyperparameters that every routine understands. Models subclass this and add their own fields.

    `num_of_epochs = 0` trains until early stopping (which then must be on). `device = 'auto'` picks CUDA, then
    Apple MPS, then the CPU. `gradient_clip = 0` disables clipping.
    """

    seed: int = 0
    batch_size: int = 32
    dataset_split: tuple[float, float, float] = (0.8, 0.1, 0.1)
    num_of_epochs: int = 0
    with_early_stopping: bool = True
    patience: int = 5
    min_delta: float = 0.0
    optimiser: Literal['adam', 'adamw', 'sgd'] = 'adam'
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    gradient_clip: float = 0.0
    num_workers: int = 0
    device: str = 'auto'
    testing: bool = False

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check relations between values; types are checked when values are parsed."""
        from .data.split import check_fractions

        check_fractions(self.dataset_split, 'dataset_split')
        if self.batch_size < 1:
            raise ConfigError(f'batch_size must be at least 1, got {self.batch_size}')
        if self.num_of_epochs < 0:
            raise ConfigError(f'num_of_epochs must be 0 (until early stopping) or positive, got {self.num_of_epochs}')
        if self.num_of_epochs == 0 and not self.with_early_stopping:
            raise ConfigError(
                'num_of_epochs: 0 means "until early stopping", so with_early_stopping must be true; '
                'set num_of_epochs to a positive number or enable early stopping',
            )
        if self.patience < 1:
            raise ConfigError(f'patience must be at least 1, got {self.patience}')

    @classmethod
    def field_types(cls) -> dict[str, Any]:
        """Each field's resolved type annotation (annotations are strings under `from __future__ import annotations`)."""
        hints = typing.get_type_hints(cls)
        return {field.name: hints[field.name] for field in dataclasses.fields(cls)}

    def to_dict(self) -> dict[str, Any]:
        """Plain values (tuples kept) for YAML, JSON, W&B and checkpoints."""
        return {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], *, source: str = 'parameters', ignore_unknown: bool = False) -> Self:
        """Build from a mapping of already-parsed values, checking every key and type."""
        return cls().updated(values, source=source, ignore_unknown=ignore_unknown)

    def updated(self, values: Mapping[str, Any], *, source: str, ignore_unknown: bool = False) -> Self:
        """A copy with `values` applied on top; `source` names where they came from for error messages."""
        types_by_name = self.field_types()
        checked: dict[str, Any] = {}
        for key, value in values.items():
            if key not in types_by_name:
                if ignore_unknown:
                    continue
                raise ConfigError(unknown_key_message(key, types_by_name, source))
            checked[key] = coerce(value, types_by_name[key], key, source)
        return dataclasses.replace(self, **checked)

    def override_strings(self, overrides: Iterable[str], *, source: str = 'command line') -> Self:
        """Apply `key=value` / `--key=value` strings, parsing each value as the field's type."""
        return self.updated(parse_overrides(overrides, self.field_types(), source), source=source)


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
