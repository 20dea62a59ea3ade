"""Resolve one run's hyperparameters and run options from their layers.

    the typed defaults  <  the routine's testing defaults (with testing on)  <  a YAML file  <  W&B sweep values
                        <  key=value / --key=value on the command line

The YAML file and the command line hold both kinds of key; each key goes to the hyperparameters or to the run
options by name, and a key that is neither is an error naming the nearest valid one. Testing defaults sit below the
YAML file, so a config that sets `number_of_drums` keeps it in a testing run. A resumed run starts from its own
`config.yaml` instead of the first three layers; only the settings of how long to go on (`RESUMABLE_CHANGES`: a
larger `num_of_epochs`, another `patience`) may change on the command line, and any other change is refused here,
before a dataset or a model is built for it: a changed seed or data setting would build new data only to be refused
by the fingerprint check, and a changed learning rate would be overwritten by the restored optimiser state. `--config`
is refused rather than silently ignored.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from .errors import ConfigError
from .parameters import Parameters, read_yaml_parameters, unknown_key_message
from .run_options import RunOptions

__all__ = ['RESUMABLE_CHANGES', 'resolve', 'split_overrides']

# what a resume may change: how long the run goes on and how it stops (anything else makes it another run)
RESUMABLE_CHANGES = frozenset({'num_of_epochs', 'with_early_stopping', 'patience', 'min_delta', 'nonfinite_patience', 'gradient_clip'})

P = TypeVar('P', bound=Parameters)


def split_overrides(overrides: Sequence[str], parameters: type[Parameters], source: str = 'command line') -> tuple[list[str], list[str]]:
    """(hyperparameter overrides, run-option overrides), each `key=value`; unknown keys are refused here."""
    hyperparameter_keys, option_keys = set(parameters.field_types()), set(RunOptions.field_types())
    mine: list[str] = []
    options: list[str] = []
    for override in overrides:
        key = override.removeprefix('--').partition('=')[0].strip().replace('-', '_')
        if key in option_keys:
            options.append(override)
        elif key in hyperparameter_keys:
            mine.append(override)
        elif '=' not in override or not key:
            raise ConfigError(f"Cannot read override '{override}' from the {source}; write it as key=value or --key=value")
        else:
            raise ConfigError(unknown_key_message(key, hyperparameter_keys | option_keys, source))
    return mine, options


def _split_mapping(values: Mapping[str, Any], parameters: type[Parameters], source: str) -> tuple[dict[str, Any], dict[str, Any]]:
    hyperparameter_keys, option_keys = set(parameters.field_types()), set(RunOptions.field_types())
    mine: dict[str, Any] = {}
    options: dict[str, Any] = {}
    for key, value in values.items():
        if key in option_keys:
            options[key] = value
        elif key in hyperparameter_keys:
            mine[key] = value
        else:
            raise ConfigError(unknown_key_message(str(key), hyperparameter_keys | option_keys, source))
    return mine, options


def resolve(
    defaults: P,
    *,
    config_path: str | Path | None = None,
    overrides: Sequence[str] = (),
    testing_defaults: Mapping[str, Any] | None = None,
    resumed_config: Mapping[str, Any] | None = None,
    resumed_from: str = 'config.yaml',
    sweep_values: Callable[[], Mapping[str, Any]] | None = None,
) -> tuple[P, RunOptions]:
    """The run's hyperparameters and run options (see the module docstring for the order)."""
    parameter_overrides, option_overrides = split_overrides(overrides, type(defaults))
    file_values: dict[str, Any] = {}
    file_options: dict[str, Any] = {}
    if config_path is not None:
        if resumed_config is not None:
            raise ConfigError('--resume continues a run with its own config.yaml, so --config would be ignored; drop --config '
                              '(change single values with key=value)')
        file_values, file_options = _split_mapping(read_yaml_parameters(config_path), type(defaults), str(config_path))
    options = RunOptions().updated(file_options, source=str(config_path)).override_strings(option_overrides)
    if resumed_config is not None:
        # run options written by etude before they were split out of the hyperparameters are not hyperparameters
        saved = {key: value for key, value in resumed_config.items() if key not in RunOptions.field_types()}
        resolved = defaults.updated(saved, source=resumed_from)
        recorded = resolved
    else:
        resolved = defaults
        if testing_defaults and options.testing:
            resolved = resolved.updated(testing_defaults, source='testing defaults')
        resolved = resolved.updated(file_values, source=str(config_path))
    if sweep_values is not None:
        values = {key: value for key, value in sweep_values().items() if key in resolved.field_types()}
        resolved = resolved.updated(values, source='the W&B sweep')
    resolved = resolved.override_strings(parameter_overrides)
    if resumed_config is not None:
        _check_resumable(recorded, resolved, resumed_from)
    return resolved, options


def _check_resumable(recorded: Parameters, resolved: Parameters, resumed_from: str) -> None:
    """Refuse a resume that changes anything but `RESUMABLE_CHANGES`, naming each key, its recorded and its new value."""
    changed = [f'{key}={getattr(resolved, key)!r} (the run has {value!r})' for key, value in recorded.to_dict().items()
               if key not in RESUMABLE_CHANGES and getattr(resolved, key) != value]
    if changed:
        raise ConfigError(f'a resume continues the run of {resumed_from} as it was, so it cannot change {", ".join(changed)}; '
                          f'drop those settings, or start a new run without --resume (a resume may change {", ".join(sorted(RESUMABLE_CHANGES))})')
