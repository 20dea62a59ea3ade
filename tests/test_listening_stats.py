"""The statistics against scipy and against answers worked out by hand; post-screening on a made-up panel."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from etude.listening.stats import describe, friedman, holm, pairwise_wilcoxon, post_screen, preferences


def test_description_mean_interval_and_quartiles() -> None:
    result = describe([5, 1, 4, 2, 3])
    # t(0.975, 4) = 2.776445; s = sqrt(2.5); half width = 2.776445 * sqrt(2.5 / 5) = 1.963243
    assert result.mean == 3 and result.count == 5
    assert result.ci_low == pytest.approx(1.036757, abs=1e-6) and result.ci_high == pytest.approx(4.963243, abs=1e-6)
    low, high = stats.t.interval(0.95, 4, loc=3, scale=stats.sem([1, 2, 3, 4, 5]))
    assert (result.ci_low, result.ci_high) == pytest.approx((low, high))
    assert (result.first_quartile, result.median, result.third_quartile) == (2, 3, 4)
    assert (result.minimum, result.maximum, result.standard_deviation) == (1, 5, pytest.approx(math.sqrt(2.5)))
    single = describe([42])
    assert single.mean == 42 and single.ci_low is None and single.standard_deviation is None


def test_interval_covers_the_true_mean_about_95_percent_of_the_time() -> None:
    generator = np.random.default_rng(5)
    covered = sum(
        (result := describe(generator.normal(60, 15, size=20))).ci_low <= 60 <= result.ci_high  # type: ignore[operator]
        for _ in range(2000)
    )
    assert 0.935 < covered / 2000 < 0.965


def test_holm_by_hand() -> None:
    # sorted: 0.005 × 4 = 0.02, 0.01 × 3 = 0.03, 0.03 × 2 = 0.06, 0.04 × 1 = 0.04 → kept non-decreasing: 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]) == [1.0, 1.0]
    assert holm([]) == []


def test_wilcoxon_pairs_by_listener_and_item() -> None:
    # Six blocks where A beats B by 1..6: every signed rank positive, exact two-sided p = 2 / 2^6.
    blocks = {(f'l{index}', 'item'): {'A': 50 + index + 1, 'B': 50.0} for index in range(6)}
    blocks[('l9', 'item')] = {'A': 10.0}  # no partner: not a pair
    (test,) = pairwise_wilcoxon(blocks, ['A', 'B'])
    assert (test.first, test.second, test.pairs) == ('A', 'B', 6)
    assert test.p_value == pytest.approx(2 / 64) and test.statistic == 0 and test.median_difference == 3.5
    # Against scipy on random paired data, with Holm over the three pairs.
    generator = np.random.default_rng(0)
    keys = [(f'l{listener}', f'i{item}') for listener in range(8) for item in range(4)]
    values = {name: generator.normal(mean, 10, size=len(keys)).round() for name, mean in (('X', 60), ('Y', 55), ('Z', 40))}
    blocks = {key: {name: float(values[name][index]) for name in values} for index, key in enumerate(keys)}
    tests = pairwise_wilcoxon(blocks, ['X', 'Y', 'Z'])
    expected = [stats.wilcoxon(values[first], values[second]).pvalue for first, second in (('X', 'Y'), ('X', 'Z'), ('Y', 'Z'))]
    assert [test.p_value for test in tests] == pytest.approx(expected)
    assert [test.p_holm for test in tests] == pytest.approx(holm(expected))
    # Shuffling the listeners of one condition breaks the pairing, and the test must notice.
    shuffled = {key: {'X': blocks[key]['X'], 'Y': blocks[keys[(index + 5) % len(keys)]]['Y']} for index, key in enumerate(keys)}
    assert pairwise_wilcoxon(shuffled, ['X', 'Y'])[0].p_value != pytest.approx(tests[0].p_value)


def test_identical_ratings_give_p_one() -> None:
    blocks = {(f'l{index}', 'item'): {'hidden_reference': 100.0, 'other': 100.0} for index in range(5)}
    (test,) = pairwise_wilcoxon(blocks, ['hidden_reference', 'other'])
    assert test.p_value == 1 and test.p_holm == 1


def test_friedman_by_hand_and_against_scipy() -> None:
    # Four blocks ranking C > B > A: rank sums 4, 8, 12; chi2 = 12 / (4·3·4) · (16 + 64 + 144) − 3·4·4 = 8, p = e^-4.
    blocks = {(f'l{index}', 'item'): {'A': 10.0 + index, 'B': 20.0 + index, 'C': 30.0 + index} for index in range(4)}
    blocks[('l5', 'item')] = {'A': 1.0, 'B': 2.0}  # incomplete: left out
    result = friedman(blocks, ['A', 'B', 'C'])
    assert result is not None and result.blocks == 4
    assert result.statistic == pytest.approx(8.0) and result.p_value == pytest.approx(math.exp(-4))
    generator = np.random.default_rng(1)
    table = generator.integers(0, 100, size=(12, 4)).astype(float)
    blocks = {(f'l{row}', 'i'): {name: table[row, column] for column, name in enumerate('ABCD')} for row in range(12)}
    result = friedman(blocks, list('ABCD'))
    expected = stats.friedmanchisquare(*table.T)
    assert result is not None and (result.statistic, result.p_value) == pytest.approx((expected.statistic, expected.pvalue))
    assert friedman(blocks, ['A', 'B']) is None


def test_preferences_binomial_by_hand() -> None:
    choices = [('model', 'human', 'model')] * 9 + [('human', 'model', 'human')] + [('model', 'human', None)] * 3
    (result,) = preferences(choices)
    assert (result.first, result.second, result.first_preferred, result.second_preferred, result.no_preference) == ('model', 'human', 9, 1, 3)
    assert result.share == 0.9
    assert result.p_value == pytest.approx(22 / 1024)  # 2 · (C(10,9) + C(10,10)) / 2^10
    # Clopper-Pearson from the beta distribution
    assert result.ci_low == pytest.approx(stats.beta.ppf(0.025, 9, 2)) and result.ci_high == pytest.approx(stats.beta.ppf(0.975, 10, 1))
    (undecided,) = preferences([('a', 'b', None)])
    assert undecided.share is None and undecided.p_value is None


def test_post_screening_of_a_made_up_panel() -> None:
    items = [f'item{index}' for index in range(20)]
    panel: dict[str, dict[str, list[float]]] = {
        'careful': {'hidden_reference': [100] * 20, 'anchor_3500hz': [20] * 20},
        'three_low_references': {'hidden_reference': [85] * 3 + [100] * 17, 'anchor_3500hz': [20] * 20},  # 15%: kept
        'four_low_references': {'hidden_reference': [89.5] * 4 + [100] * 16, 'anchor_3500hz': [20] * 20},  # 20%: out
        'hears_no_anchor': {'hidden_reference': [100] * 20, 'anchor_3500hz': [95] * 4 + [20] * 16},  # 20%: out
        'at_ninety': {'hidden_reference': [90] * 20, 'anchor_3500hz': [90] * 20},  # exactly 90 is neither below nor above
        'both': {'hidden_reference': [50] * 20, 'anchor_3500hz': [99] * 20},
    }
    rows = [(listener, items[index], condition, value)
            for listener, conditions in panel.items() for condition, values in conditions.items() for index, value in enumerate(values)]
    verdicts = post_screen(rows)
    assert {listener for listener, reasons in verdicts.items() if reasons} == {'four_low_references', 'hears_no_anchor', 'both'}
    assert verdicts['four_low_references'] == ['rated the hidden reference below 90 on 4 of 20 items (20% > 15%)']
    assert verdicts['hears_no_anchor'] == ['rated the 3.5 kHz anchor above 90 on 4 of 20 items (20% > 15%)']
    assert len(verdicts['both']) == 2
    assert not post_screen(rows, anchor=None)['hears_no_anchor']
