"""The statistics of a listening test, done with scipy's tests, checked in the test suite against known answers.

Listening-test ratings are bounded, often skewed and never normal at the ends of the scale (a hidden reference sits
at 100), so conditions are compared with rank tests, as BS.1534-3 allows and most of the field now prefers to
ANOVA: the Wilcoxon signed-rank test for each pair of conditions, paired by listener and item (one listener's
ratings of one item are the natural block: the same ears, the same music), with Holm's step-down correction for
the number of pairs, and the Friedman test across all conditions on the blocks that rated every one. Means carry
Student-t 95% confidence intervals, as BS.1534 reports them. A/B preferences get a two-sided exact binomial test
against 50% on the decisive answers, with a Clopper-Pearson interval.
"""

from __future__ import annotations

import math
import re
import warnings
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np

__all__ = [
    'Description',
    'FriedmanTest',
    'PairwiseTest',
    'Preference',
    'describe',
    'friedman',
    'holm',
    'pairwise_wilcoxon',
    'post_screen',
    'preferences',
]

Blocks = Mapping[Any, Mapping[str, float]]  # (listener, item) → condition → rating


@dataclass(frozen=True)
class Description:
    """Summary of one condition's ratings; the interval is None for fewer than two ratings."""

    count: int
    mean: float
    ci_low: float | None
    ci_high: float | None
    standard_deviation: float | None
    median: float
    first_quartile: float
    third_quartile: float
    minimum: float
    maximum: float


def describe(values: Sequence[float], confidence: float = 0.95) -> Description:
    """Mean with its Student-t confidence interval, median and quartiles (numpy's linear interpolation).

    Args:
        values: `(n,)` ratings, n >= 1.
        confidence: of the interval around the mean.
    """
    from scipy import stats

    data = np.asarray(values, dtype=np.float64)
    if data.size == 0:
        raise ValueError('describe needs at least one value')
    mean = float(data.mean())
    low = high = deviation = None
    if data.size > 1:
        deviation = float(data.std(ddof=1))
        half_width = float(stats.t.ppf(0.5 + confidence / 2, data.size - 1)) * deviation / math.sqrt(data.size)
        low, high = mean - half_width, mean + half_width
    first, median, third = (float(value) for value in np.percentile(data, [25, 50, 75]))
    return Description(int(data.size), mean, low, high, deviation, median, first, third, float(data.min()), float(data.max()))


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (family-wise error control, uniformly more powerful than Bonferroni).

    The i-th smallest p-value is multiplied by (m - i + 1), and the results are made non-decreasing in that order
    and capped at 1; comparing the adjusted values with alpha is Holm's procedure.
    """
    p = np.asarray(p_values, dtype=np.float64)
    adjusted = np.empty_like(p)
    running = 0.0
    for rank, index in enumerate(np.argsort(p, kind='stable')):
        running = max(running, min(1.0, (len(p) - rank) * float(p[index])))
        adjusted[index] = running
    return adjusted.tolist()


@dataclass(frozen=True)
class PairwiseTest:
    """Wilcoxon signed-rank test of `first` against `second` on `pairs` blocks; `median_difference` is first - second."""

    first: str
    second: str
    pairs: int
    statistic: float
    p_value: float
    p_holm: float
    median_difference: float


def _paired(blocks: Blocks, first: str, second: str) -> tuple[np.ndarray, np.ndarray]:
    keys = [key for key, ratings in blocks.items() if first in ratings and second in ratings]
    return (np.array([blocks[key][first] for key in keys], dtype=np.float64), np.array([blocks[key][second] for key in keys], dtype=np.float64))


def pairwise_wilcoxon(blocks: Blocks, conditions: Sequence[str]) -> list[PairwiseTest]:
    """Every pair of conditions by the two-sided Wilcoxon signed-rank test, Holm-corrected over all pairs.

    scipy's defaults: zero differences dropped (Wilcoxon's own treatment), the exact distribution for small samples
    without ties, the normal approximation otherwise. A pair whose differences are all zero has p = 1.
    Pairs that share no block are left out.
    """
    from scipy import stats

    tests: list[tuple[str, str, int, float, float, float]] = []
    for first, second in combinations(conditions, 2):
        x, y = _paired(blocks, first, second)
        if x.size == 0:
            continue
        difference = x - y
        if not np.any(difference != 0):
            statistic, p_value = 0.0, 1.0
        else:
            with warnings.catch_warnings():
                warnings.simplefilter('ignore', RuntimeWarning)
                result = stats.wilcoxon(x, y)
            statistic, p_value = float(result.statistic), float(result.pvalue)
        tests.append((first, second, int(x.size), statistic, p_value, float(np.median(difference))))
    adjusted = holm([test[4] for test in tests]) if tests else []
    return [PairwiseTest(first, second, pairs, statistic, p, corrected, median)
            for (first, second, pairs, statistic, p, median), corrected in zip(tests, adjusted, strict=True)]


@dataclass(frozen=True)
class FriedmanTest:
    """Friedman's chi-square across `conditions` on the `blocks` that rated all of them."""

    conditions: tuple[str, ...]
    blocks: int
    statistic: float
    p_value: float


def friedman(blocks: Blocks, conditions: Sequence[str]) -> FriedmanTest | None:
    """scipy's Friedman test (ties mid-ranked and corrected for), or None with fewer than 3 conditions or 2 blocks.

    A block counts only if it rated every condition: the test ranks within blocks.
    """
    from scipy import stats

    complete = [ratings for ratings in blocks.values() if all(name in ratings for name in conditions)]
    if len(conditions) < 3 or len(complete) < 2:
        return None
    columns = [np.array([ratings[name] for ratings in complete], dtype=np.float64) for name in conditions]
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', RuntimeWarning)
        result = stats.friedmanchisquare(*columns)
    statistic, p_value = float(result.statistic), float(result.pvalue)
    if not math.isfinite(statistic):  # every block tied throughout: no evidence of any difference
        statistic, p_value = 0.0, 1.0
    return FriedmanTest(tuple(conditions), len(complete), statistic, p_value)


@dataclass(frozen=True)
class Preference:
    """A/B answers for one pair: `share` is first's share of the decisive answers, with its exact 95% interval."""

    first: str
    second: str
    first_preferred: int
    second_preferred: int
    no_preference: int
    share: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    p_holm: float | None


def preferences(choices: Iterable[tuple[str, str, str | None]], confidence: float = 0.95) -> list[Preference]:
    """Preference shares with exact two-sided binomial tests against 50%, Holm-corrected over the pairs.

    Args:
        choices: `(condition, condition, preferred condition or None for no preference)` per answer; each pair is
            reported in the order its conditions first appear.
    """
    from scipy import stats

    counts: dict[tuple[str, str], list[int]] = {}
    for first, second, preferred in choices:
        key = (first, second) if (second, first) not in counts else (second, first)
        tally = counts.setdefault(key, [0, 0, 0])
        tally[0 if preferred == key[0] else 1 if preferred == key[1] else 2] += 1
    rows: list[tuple[str, str, int, int, int, float | None, float | None, float | None, float | None]] = []
    for (first, second), (wins, losses, ties) in counts.items():
        decisive = wins + losses
        if decisive == 0:
            rows.append((first, second, wins, losses, ties, None, None, None, None))
            continue
        test = stats.binomtest(wins, decisive, 0.5)
        interval = test.proportion_ci(confidence, method='exact')
        rows.append((first, second, wins, losses, ties, wins / decisive, float(interval.low), float(interval.high), float(test.pvalue)))
    adjusted = iter(holm([row[8] for row in rows if row[8] is not None]))
    return [Preference(*row, next(adjusted) if row[8] is not None else None) for row in rows]


def _spoken(condition: str) -> str:
    """'anchor_3500hz' → '3.5 kHz anchor', 'hidden_reference' → 'hidden reference'."""
    match = re.fullmatch(r'anchor_(\d+)hz', condition)
    return f'{int(match.group(1)) / 1000:g} kHz anchor' if match else condition.replace('_', ' ')


def post_screen(
    ratings: Iterable[tuple[str, str, str, float]],
    *,
    hidden_reference: str = 'hidden_reference',
    anchor: str | None = 'anchor_3500hz',
    threshold: float = 90.0,
    max_fraction: float = 0.15,
) -> dict[str, list[str]]:
    """BS.1534-3 post-screening: which listeners to exclude, and why.

    A listener is excluded who rated the hidden reference below `threshold` on more than `max_fraction` of the items
    they rated (they could not hear the reference as the reference), or who rated the anchor above `threshold` on
    more than `max_fraction` of them (they did not hear an obvious impairment).

    Args:
        ratings: `(listener, item, condition, value)` rows.
        hidden_reference, anchor: the conditions checked; `anchor=None` checks the hidden reference only.

    Returns:
        listener → reasons (an empty list for a listener who is kept).
    """
    values: dict[str, dict[str, dict[str, float]]] = defaultdict(lambda: defaultdict(dict))
    for listener, item, condition, value in ratings:
        values[listener][condition][item] = float(value)
    verdicts: dict[str, list[str]] = {}
    for listener, by_condition in values.items():
        reasons = []
        checks = [(hidden_reference, 'below', lambda value: value < threshold)]
        if anchor is not None:
            checks.append((anchor, 'above', lambda value: value > threshold))
        for condition, word, failed in checks:
            rated = by_condition.get(condition, {})
            failures = sum(1 for value in rated.values() if failed(value))
            if rated and failures / len(rated) > max_fraction:
                reasons.append(f'rated the {_spoken(condition)} {word} {threshold:g} on {failures} of {len(rated)} items '
                               f'({100 * failures / len(rated):.0f}% > {100 * max_fraction:.0f}%)')
        verdicts[listener] = reasons
    return verdicts
