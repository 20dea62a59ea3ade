"""A W&B sweep file, read and checked: the same file `wandb sweep` takes, with W&B's meaning for every key.

    program: scripts/train.py            # what ${program} is
    command: [${env}, ${interpreter}, ${program}, --routine=circular_drum_size, ${args}]   # W&B's default without it
    method: grid | random | bayes
    metric: {name: validation_loss, goal: minimize, target: 0.1}    # ranked by the run's summary; target ends the sweep
    early_terminate: {type: hyperband, min_iter: 3, eta: 3}         # or max_iter with s
    run_cap: 20
    parameters: {...}                     # see etude.sweeps.parameters

Every mistake is one line (ConfigError) before any trial starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError
from ..parameters import unknown_key_message
from .parameters import SweepParameter, read_parameters
from .trial_command import check_macros

__all__ = ['DEFAULT_COMMAND', 'Hyperband', 'SweepSpec', 'read_sweep']

DEFAULT_COMMAND = ('${env}', '${interpreter}', '${program}', '${args}')
METHODS = ('grid', 'random', 'bayes')
_TOP_LEVEL = {'program', 'command', 'method', 'metric', 'early_terminate', 'parameters', 'run_cap', 'name', 'project', 'entity',
              'description', 'controller', 'apiVersion', 'kind', 'job', 'image_uri'}


@dataclass(frozen=True)
class Hyperband:
    """W&B's hyperband early termination: the bands (epoch counts) at which a trial is compared with the others."""

    bands: tuple[int, ...]
    eta: float

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], source: str) -> Hyperband:
        """The bands as W&B's engine makes them (sweeps.hyperband_stopping): from min_iter, min_iter·eta^k; from
        max_iter and s, max_iter/eta^k for k = 1..s (integer parts, at least 1)."""
        where = f'early_terminate in {source}'
        if settings.get('type') != 'hyperband':
            raise ConfigError(f"{where} has type {settings.get('type')!r}; the only early termination W&B has is type: hyperband")
        unknown = sorted(set(settings) - {'type', 'min_iter', 'max_iter', 'eta', 's', 'strict'})
        if unknown:
            raise ConfigError(f"{where} has unknown key '{unknown[0]}'; hyperband takes min_iter or max_iter (with s), and eta")
        eta = settings.get('eta', 3)
        if not isinstance(eta, (int, float)) or isinstance(eta, bool) or eta <= 1:
            raise ConfigError(f'{where} has eta {eta!r}; it must be a number above 1 (default 3)')
        if 'max_iter' in settings:
            max_iter, brackets = settings['max_iter'], settings.get('s')
            if not isinstance(max_iter, int) or max_iter < 1 or not isinstance(brackets, int) or brackets < 1:
                raise ConfigError(f'{where} has max_iter {max_iter!r} and s {brackets!r}; give a whole max_iter of at least 1 and s, the number of brackets')
            bands, band = [], float(max_iter)
            for _ in range(brackets):
                band /= eta
                if band < 1:
                    break
                bands.append(int(band))
            if not bands:
                raise ConfigError(f'{where} gives no band of at least 1 epoch; raise max_iter, or lower eta or s')
            return cls(tuple(sorted(bands)), float(eta))
        min_iter = settings.get('min_iter')
        if not isinstance(min_iter, int) or isinstance(min_iter, bool) or min_iter < 1:
            raise ConfigError(f'{where} needs min_iter (a whole number of epochs, at least 1) or max_iter with s')
        return cls(tuple(int(min_iter * eta**index) for index in range(100) if min_iter * eta**index < 1e9), float(eta))


@dataclass(frozen=True)
class SweepSpec:
    path: Path
    raw: Mapping[str, Any]
    method: str
    parameters: tuple[SweepParameter, ...]
    program: str | None
    command: tuple[str, ...]
    metric_name: str | None
    goal: str
    target: float | None
    hyperband: Hyperband | None
    run_cap: int | None
    name: str

    @property
    def searched(self) -> tuple[SweepParameter, ...]:
        return tuple(parameter for parameter in self.parameters if parameter.searched)

    def better(self, value: float, than: float) -> bool:
        return value < than if self.goal == 'minimize' else value > than


def read_sweep(path: str | Path) -> SweepSpec:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f'No sweep file {path}; give the path of a W&B sweep YAML') from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f'Cannot read the sweep file {path} ({error}); give a W&B sweep YAML') from None
    except yaml.YAMLError as error:
        mark = getattr(error, 'problem_mark', None)
        where = f' at line {mark.line + 1}' if mark is not None else ''
        raise ConfigError(f'{path} is not valid YAML{where} ({getattr(error, "problem", None) or error}); fix the file') from None
    if not isinstance(raw, Mapping):
        raise ConfigError(f'{path} must be a mapping with method:, parameters: and program: or command:, as `wandb sweep` takes')
    source = str(path)
    for key in raw:
        if key not in _TOP_LEVEL:
            raise ConfigError(unknown_key_message(str(key), _TOP_LEVEL, source).replace("parameter '", "sweep key '", 1))
    method = raw.get('method')
    if method not in METHODS:
        hint = unknown_key_message(str(method), METHODS, source).split(';', 1)[1] if method is not None else ' give one of grid, random, bayes'
        raise ConfigError(f"{source} has method {method!r}, which W&B does not have;{hint}")
    parameters = read_parameters(raw.get('parameters'), source)
    metric = raw.get('metric')
    metric_name, goal, target = None, 'minimize', None
    if metric is not None:
        if not isinstance(metric, Mapping) or not isinstance(metric.get('name'), str):
            raise ConfigError(f'metric in {source} must be a mapping with a name: (and goal: minimize or maximize)')
        metric_name, goal, target = metric['name'], metric.get('goal', 'minimize'), metric.get('target')
        if goal not in ('minimize', 'maximize'):
            raise ConfigError(f"metric goal in {source} is {goal!r}; write minimize or maximize")
        if target is not None and (not isinstance(target, (int, float)) or isinstance(target, bool)):
            raise ConfigError(f'metric target in {source} is {target!r}; it must be a number')
    hyperband = None
    if raw.get('early_terminate') is not None:
        if not isinstance(raw['early_terminate'], Mapping):
            raise ConfigError(f'early_terminate in {source} must be a mapping such as {{type: hyperband, min_iter: 3}}')
        hyperband = Hyperband.from_settings(raw['early_terminate'], source)
    if metric_name is None and (method == 'bayes' or hyperband is not None):
        raise ConfigError(f'{source} uses {"bayes" if method == "bayes" else "hyperband"}, which needs a metric: {{name: ..., goal: ...}}')
    run_cap = raw.get('run_cap')
    if run_cap is not None and (not isinstance(run_cap, int) or isinstance(run_cap, bool) or run_cap < 1):
        raise ConfigError(f'run_cap in {source} is {run_cap!r}; it must be a whole number of runs, at least 1')
    command = raw.get('command', list(DEFAULT_COMMAND))
    if not isinstance(command, list) or not all(isinstance(part, (str, int, float)) for part in command) or not command:
        raise ConfigError(f'command in {source} must be a list of strings, e.g. [${{env}}, ${{interpreter}}, ${{program}}, ${{args}}]')
    check_macros([str(part) for part in command], source)
    program = raw.get('program')
    if '${program}' in [str(part) for part in command] and not isinstance(program, str):
        raise ConfigError(f'{source} has ${{program}} in its command but no program: (the script a trial runs)')
    spec = SweepSpec(path=path, raw=raw, method=method, parameters=tuple(parameters), program=program, command=tuple(str(part) for part in command),
                     metric_name=metric_name, goal=goal, target=float(target) if target is not None else None, hyperband=hyperband,
                     run_cap=run_cap, name=str(raw.get('name') or path.stem))
    if method == 'grid':
        for parameter in spec.searched:
            parameter.grid_values()  # raises for what a grid cannot enumerate
    return spec
