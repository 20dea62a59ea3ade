"""Splits are seeded and grouped: every strike of a drum lands in one split."""

import numpy as np
import pytest

from etude.data.split import split_by_column, split_by_groups
from etude.errors import ConfigError


def test_groups_never_cross_splits_and_every_item_is_used() -> None:
    groups = np.repeat(np.arange(50), 5)
    split = split_by_groups(groups, (0.7, 0.15, 0.15), seed=3)
    seen = [set(groups[indices]) for indices in split.values()]
    assert not (seen[0] & seen[1]) and not (seen[0] & seen[2]) and not (seen[1] & seen[2])
    assert sorted(np.concatenate(list(split.values())).tolist()) == list(range(250))
    assert [len(indices) // 5 for indices in split.values()] == [35, 8, 7]


def test_same_seed_same_split_other_seed_other_split() -> None:
    groups = np.repeat(np.arange(40), 3)
    first, again, other = (split_by_groups(groups, (0.8, 0.1, 0.1), seed=s) for s in (1, 1, 2))
    assert all(np.array_equal(first[name], again[name]) for name in first)
    assert not np.array_equal(first['test'], other['test'])


def test_small_datasets_still_fill_every_requested_split() -> None:
    split = split_by_groups(np.arange(4), (0.9, 0.05, 0.05), seed=0)
    assert [len(indices) for indices in split.values()] == [2, 1, 1]


def test_split_column() -> None:
    split = split_by_column(['train', 'valid', 'test', 'train'], names={'valid': 'validation'})
    assert split['train'].tolist() == [0, 3] and split['validation'].tolist() == [1] and split['test'].tolist() == [2]
    with pytest.raises(ConfigError, match='not train/validation/test'):
        split_by_column(['train', 'holdout'])


@pytest.mark.parametrize('fractions', [(-0.2, 0.6, 0.6), (0.9, 0.3, 0.0), (0.8, 0.2)])
def test_bad_fractions_are_refused_before_any_group_is_dealt(fractions: tuple[float, ...]) -> None:
    with pytest.raises(ConfigError, match='split fractions must'):
        split_by_groups(np.repeat(np.arange(10), 3), fractions, seed=0)
