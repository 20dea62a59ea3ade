"""A W&B sweep's parameters, with W&B's meaning: each distribution is its inverse CDF applied to a uniform draw.

W&B's engine samples every parameter as `ppf(u)` with u ~ U(0, 1) (`sweeps.params.HyperParameter.sample`), and its
Bayesian search models the same parameters through their CDFs. So a parameter here is searched by the engine as its
quantile u in [0, 1] (or, for plain `values`, the index of a value) and turned into its value by the same `ppf`:
random search then draws exactly W&B's distributions, and a Bayesian sampler works in the space W&B's does.

    value                                   the constant
    values [+ probabilities]                one of the values (uniformly, or with the probabilities)
    int_uniform   min, max                  an integer in [min, max], max included
    uniform       min, max                  U(min, max)
    q_uniform     min, max, q               round(U(min, max) / q) * q
    log_uniform   min, max                  exp(U(min, max)): min and max are natural-log exponents
    log_uniform_values  min, max            exp(U(log min, log max)): min and max are the values
    inv_log_uniform(_values)                1 / the above's
    q_log_uniform(_values)  + q             round(X / q) * q of the above
    normal / q_normal  mu, sigma (+ q)      N(mu, sigma²), rounded to q
    log_normal / q_log_normal               exp(N(mu, sigma²)), rounded to q
    beta / q_beta  a, b (+ q)               Beta(a, b), rounded to q

Without `distribution`: `value` is a constant, `values` categorical, integer min and max int_uniform, else uniform.
A rounded value is an int when q is an int (as W&B's). Nested parameters (`parameters:` inside a parameter) are
flattened as `outer.inner` and handed to the program as one dict, the way W&B's agent passes them.
"""

from __future__ import annotations

import bisect
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError

__all__ = ['DISTRIBUTIONS', 'SweepParameter', 'nest', 'read_parameters']

# distribution → the settings it takes, with W&B's defaults (None: required)
DISTRIBUTIONS: dict[str, dict[str, float | None]] = {
    'constant': {},
    'categorical': {},
    'int_uniform': {'min': None, 'max': None},
    'uniform': {'min': None, 'max': None},
    'q_uniform': {'min': None, 'max': None, 'q': 1.0},
    'log_uniform': {'min': None, 'max': None},
    'log_uniform_values': {'min': None, 'max': None},
    'inv_log_uniform': {'min': None, 'max': None},
    'inv_log_uniform_values': {'min': None, 'max': None},
    'q_log_uniform': {'min': None, 'max': None, 'q': 1.0},
    'q_log_uniform_values': {'min': None, 'max': None, 'q': 1.0},
    'normal': {'mu': 0.0, 'sigma': 1.0},
    'q_normal': {'mu': 0.0, 'sigma': 1.0, 'q': 1.0},
    'log_normal': {'mu': 0.0, 'sigma': 1.0},
    'q_log_normal': {'mu': 0.0, 'sigma': 1.0, 'q': 1.0},
    'beta': {'a': 1.0, 'b': 1.0},
    'q_beta': {'a': 1.0, 'b': 1.0, 'q': 1.0},
}
_KEYS = {'distribution', 'value', 'values', 'probabilities', 'min', 'max', 'q', 'mu', 'sigma', 'a', 'b', 'parameters'}
_EDGE = 1e-12  # a quantile of exactly 0 or 1 is an infinite normal value: W&B's draw never hits it either


@dataclass(frozen=True)
class SweepParameter:
    """One swept (or constant) parameter; `name` is flattened with '.' for nested parameters."""

    name: str
    distribution: str
    settings: Mapping[str, float] = field(default_factory=dict)
    values: tuple[Any, ...] = ()
    probabilities: tuple[float, ...] = ()
    value: Any = None

    @property
    def searched(self) -> bool:
        return self.distribution != 'constant'

    @property
    def by_index(self) -> bool:
        """Plain `values` are searched as the index of a value (an unordered choice); everything else as a quantile."""
        return self.distribution == 'categorical' and not self.probabilities

    def ppf(self, quantile: float) -> Any:
        """The value at `quantile` in [0, 1] (W&B's HyperParameter.ppf)."""
        s, u = self.settings, min(max(quantile, 0.0), 1.0)
        kind = self.distribution
        if kind == 'constant':
            return self.value
        if kind == 'categorical':
            if self.probabilities:
                cumulative = [sum(self.probabilities[: index + 1]) for index in range(len(self.probabilities))]
                return self.values[min(bisect.bisect_right(cumulative, u), len(self.values) - 1)]
            return self.values[min(int(u * len(self.values)), len(self.values) - 1)]
        if kind == 'int_uniform':
            first, last = int(s['min']), int(s['max'])
            return min(first + int(math.floor(u * (last - first + 1))), last)
        if kind in ('uniform', 'q_uniform'):
            return self._rounded(s['min'] + u * (s['max'] - s['min']))
        if kind in ('log_uniform', 'q_log_uniform'):
            return self._rounded(math.exp(s['min'] + u * (s['max'] - s['min'])))
        if kind in ('log_uniform_values', 'q_log_uniform_values'):
            low, high = math.log(s['min']), math.log(s['max'])
            return self._rounded(math.exp(low + u * (high - low)))
        if kind == 'inv_log_uniform':
            return math.exp(-(s['min'] + (1 - u) * (s['max'] - s['min'])))
        if kind == 'inv_log_uniform_values':
            low, high = -math.log(s['max']), -math.log(s['min'])
            return math.exp(-(low + (1 - u) * (high - low)))
        inner = min(max(u, _EDGE), 1 - _EDGE)
        if kind in ('normal', 'q_normal'):
            return self._rounded(statistics.NormalDist(s['mu'], s['sigma']).inv_cdf(inner))
        if kind in ('log_normal', 'q_log_normal'):
            return self._rounded(math.exp(statistics.NormalDist(s['mu'], s['sigma']).inv_cdf(inner)))
        if kind in ('beta', 'q_beta'):
            from scipy import stats

            return self._rounded(float(stats.beta.ppf(u, a=s['a'], b=s['b'])))
        raise AssertionError(kind)

    def grid_values(self) -> tuple[Any, ...]:
        """The values a grid search takes (W&B: values, a constant, int_uniform's integers, q_uniform's multiples)."""
        if self.distribution == 'constant':
            return (self.value,)
        if self.distribution == 'categorical' and not self.probabilities:
            return self.values
        if self.distribution == 'int_uniform':
            return tuple(range(int(self.settings['min']), int(self.settings['max']) + 1))
        if self.distribution == 'q_uniform':
            # W&B's np.arange(min, max, q): the max itself is left out
            low, high, q = self.settings['min'], self.settings['max'], self._q
            count = max(0, math.ceil((high - low) / q))
            return tuple(self._as_q_type(low + index * q) for index in range(count))
        what = 'values with probabilities' if self.distribution == 'categorical' else f'distribution {self.distribution}'
        raise ConfigError(f"Parameter '{self.name}' has {what}, which a grid cannot enumerate; give it values, int_uniform or q_uniform, "
                          'or use method random or bayes')

    @property
    def _q(self) -> float:
        return self.settings['q']

    def _rounded(self, value: float) -> Any:
        if not self.distribution.startswith('q_'):
            return value
        return self._as_q_type(round(value / self._q) * self._q)

    def _as_q_type(self, value: float) -> Any:
        return int(round(value)) if isinstance(self._q, int) and not isinstance(self._q, bool) else float(value)


def read_parameters(parameters: Any, source: str) -> list[SweepParameter]:
    """The `parameters:` section as flat SweepParameters, sorted by name as W&B's engine orders them."""
    if not isinstance(parameters, Mapping) or not parameters:
        raise ConfigError(f'{source} has no parameters: section (a mapping of name → value / values / distribution)')
    found: list[SweepParameter] = []
    _read(parameters, '', source, found)
    return sorted(found, key=lambda parameter: parameter.name)


def _read(section: Mapping[str, Any], prefix: str, source: str, found: list[SweepParameter]) -> None:
    for key, entry in section.items():
        name = f'{prefix}{key}'
        if not isinstance(entry, Mapping):
            raise ConfigError(f"Parameter '{name}' in {source} must be a mapping such as {{values: [...]}} or {{min: 0, max: 1}}, got {entry!r}")
        unknown = sorted(set(entry) - _KEYS)
        if unknown:
            raise ConfigError(f"Parameter '{name}' in {source} has unknown setting '{unknown[0]}'; W&B's settings are {', '.join(sorted(_KEYS))}")
        if 'parameters' in entry:
            if set(entry) != {'parameters'} or not isinstance(entry['parameters'], Mapping):
                raise ConfigError(f"Parameter '{name}' in {source} has parameters: (nested) beside other settings; nest only parameters: inside it")
            _read(entry['parameters'], f'{name}.', source, found)
            continue
        found.append(_parameter(name, dict(entry), source))


def _parameter(name: str, entry: dict[str, Any], source: str) -> SweepParameter:
    where = f"Parameter '{name}' in {source}"
    distribution = entry.pop('distribution', None)
    if distribution is None:
        if 'value' in entry:
            distribution = 'constant'
        elif 'values' in entry:
            distribution = 'categorical'
        elif 'min' in entry and 'max' in entry:
            integers = all(isinstance(entry[key], int) and not isinstance(entry[key], bool) for key in ('min', 'max'))
            distribution = 'int_uniform' if integers else 'uniform'
        else:
            raise ConfigError(f'{where} needs value, values, min and max, or a distribution')
    if distribution == 'categorical_w_probabilities':
        distribution = 'categorical'
    if distribution not in DISTRIBUTIONS:
        from ..parameters import unknown_key_message

        hint = unknown_key_message(str(distribution), DISTRIBUTIONS, source).split(';', 1)[1]
        raise ConfigError(f"{where} has unknown distribution '{distribution}';{hint}")
    if distribution == 'constant':
        if 'value' not in entry:
            raise ConfigError(f'{where} is a constant but has no value:')
        return SweepParameter(name, 'constant', value=entry['value'])
    if distribution == 'categorical':
        values = entry.get('values')
        if not isinstance(values, list) or not values:
            raise ConfigError(f'{where} needs a non-empty list of values')
        probabilities = entry.get('probabilities') or []
        if probabilities:
            if len(probabilities) != len(values) or not all(isinstance(p, (int, float)) and p >= 0 for p in probabilities):
                raise ConfigError(f'{where} has {len(probabilities)} probabilities for {len(values)} values; give one non-negative number per value')
            if not math.isclose(sum(probabilities), 1.0, abs_tol=1e-6):
                raise ConfigError(f'{where} has probabilities summing to {sum(probabilities):g}; they must sum to 1')
        return SweepParameter(name, 'categorical', values=tuple(values), probabilities=tuple(float(p) for p in probabilities))
    settings: dict[str, float] = {}
    for key, default in DISTRIBUTIONS[distribution].items():
        value = entry.get(key, default)
        if value is None:
            raise ConfigError(f'{where} ({distribution}) needs {key}:')
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise ConfigError(f'{where} has {key}: {value!r}; it must be a number')
        settings[key] = value
    extra = sorted(set(entry) - set(DISTRIBUTIONS[distribution]))
    if extra:
        raise ConfigError(f"{where} ({distribution}) does not take '{extra[0]}'; it takes {', '.join(DISTRIBUTIONS[distribution]) or 'nothing more'}")
    if 'min' in settings and settings['min'] >= settings['max']:
        raise ConfigError(f"{where} has min {settings['min']} not below max {settings['max']}; swap them or widen the range")
    if distribution == 'int_uniform' and not all(isinstance(settings[key], int) for key in ('min', 'max')):
        raise ConfigError(f'{where} is int_uniform, so min and max must be integers')
    if distribution.endswith('_values') and settings['min'] <= 0:
        raise ConfigError(f'{where} ({distribution}) takes the values themselves, so min must be above 0')
    for key in ('q', 'sigma', 'a', 'b'):
        if key in settings and settings[key] <= 0:
            raise ConfigError(f'{where} has {key}: {settings[key]}; it must be above 0')
    return SweepParameter(name, distribution, settings=settings)


def nest(values: Mapping[str, Any]) -> dict[str, Any]:
    """Flat 'outer.inner' names back into nested dicts, the shape W&B hands a program."""
    nested: dict[str, Any] = {}
    for name, value in values.items():
        *outer, last = name.split('.')
        level = nested
        for part in outer:
            level = level.setdefault(part, {})
        level[last] = value
    return nested


def flat_names(parameters: Sequence[SweepParameter]) -> list[str]:
    return [parameter.name for parameter in parameters]
