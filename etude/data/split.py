"""Train / validation / test splits that keep related items together.

Splitting by group (a drum, a speaker, a piece) rather than by item keeps the test set honest: a model that has heard
four strikes of a drum in training has not learned to size an unseen drum from the fifth.
"""

from collections.abc import Sequence

import numpy as np

from ..errors import ConfigError

__all__ = ['SPLIT_NAMES', 'check_fractions', 'split_by_column', 'split_by_groups', 'stratified_group_split']

SPLIT_NAMES = ('train', 'validation', 'test')


def split_by_groups(groups: np.ndarray, fractions: Sequence[float], seed: int) -> dict[str, np.ndarray]:
    """Shuffle the distinct groups with `seed` and deal them out by `fractions` (train, validation, test).

    Args:
        groups: `(size,)` group id per item.
        fractions: three non-negative numbers summing to 1; they apply to groups, so item counts follow closely when
            groups are of similar size.
    Returns:
        {'train', 'validation', 'test'} → sorted `(n,)` int64 item indices; every group lies in exactly one split.
    """
    check_fractions(fractions)
    groups = np.asarray(groups)
    unique_groups = np.unique(groups)
    shuffled = np.random.default_rng(seed).permutation(unique_groups)
    counts = _group_counts(len(unique_groups), fractions)
    boundaries = np.cumsum([0, *counts])
    split: dict[str, np.ndarray] = {}
    for name, start, stop in zip(SPLIT_NAMES, boundaries[:-1], boundaries[1:], strict=True):
        members = np.isin(groups, shuffled[start:stop])
        split[name] = np.flatnonzero(members).astype(np.int64)
    return split


def stratified_group_split(groups: Sequence[str], strata: Sequence[str], fractions: Sequence[float], seed: int) -> dict[str, str]:
    """Each group's split, the groups of every stratum (a composer's pieces) dealt out by `fractions` within it.

    Within a stratum the groups are shuffled with `seed` and laid on [0, 1) at even spacing from a random start
    (systematic sampling): the k-th of n sits at (k + start) / n and goes to the split whose share of [0, 1) holds it.
    So every stratum's split follows `fractions` to within one group, and a stratum of one group lands in each split
    with the probability its fraction gives, where rounding each stratum alone would put them all in train.

    Args:
        groups: the group of each item (a piece); items of one group must share a stratum.
        strata: the stratum of each item (its composer).
    Returns:
        group → 'train', 'validation' or 'test'.
    """
    check_fractions(fractions)
    stratum_of: dict[str, str] = {}
    for group, stratum in zip(groups, strata, strict=True):
        if stratum_of.setdefault(group, stratum) != stratum:
            raise ConfigError(f'group {group!r} is in two strata ({stratum_of[group]!r} and {stratum!r}); a group belongs to one')
    rng = np.random.default_rng(seed)
    bounds = np.cumsum(fractions)[:-1]
    split: dict[str, str] = {}
    for stratum in sorted(set(stratum_of.values())):
        members = sorted(group for group, owner in stratum_of.items() if owner == stratum)
        shuffled = [members[index] for index in rng.permutation(len(members))]
        positions = (np.arange(len(shuffled)) + rng.random()) / len(shuffled)
        for group, position in zip(shuffled, positions, strict=True):
            split[group] = SPLIT_NAMES[int(np.searchsorted(bounds, position, side='right'))]
    return split


def check_fractions(fractions: Sequence[float], name: str = 'split fractions') -> None:
    """Three non-negative fractions (train, validation, test) that sum to 1, else a ConfigError saying so."""
    if len(fractions) != 3 or any(isinstance(part, bool) or not isinstance(part, (int, float)) or part < 0 for part in fractions):
        raise ConfigError(f'{name} must be three non-negative fractions (train, validation, test), got {tuple(fractions)}')
    if abs(sum(fractions) - 1.0) > 1e-6:
        raise ConfigError(f'{name} must sum to 1, got {tuple(fractions)} (sum {sum(fractions):g})')


def split_by_column(values: Sequence[str], names: dict[str, str] | None = None) -> dict[str, np.ndarray]:
    """Use a dataset's own split column (MAESTRO's `split`: train / validation / test).

    `names` maps the column's values onto etude's split names when they differ (e.g. {'valid': 'validation'}).
    """
    names = names or {}
    column = np.array([names.get(value, value) for value in values])
    unknown = sorted(set(column) - set(SPLIT_NAMES))
    if unknown:
        raise ConfigError(f'Split column has values {unknown} that are not train/validation/test; map them with names=')
    return {name: np.flatnonzero(column == name).astype(np.int64) for name in SPLIT_NAMES}


def _group_counts(number_of_groups: int, fractions: Sequence[float]) -> list[int]:
    """Largest-remainder rounding, then make sure every requested split gets at least one group if possible."""
    raw = np.asarray(fractions, dtype=float) * number_of_groups
    counts = np.floor(raw).astype(int)
    for index in np.argsort(-(raw - counts))[: number_of_groups - counts.sum()]:
        counts[index] += 1
    for index in range(len(counts)):
        if fractions[index] > 0 and counts[index] == 0:
            donor = int(np.argmax(counts))
            if counts[donor] > 1:
                counts[donor] -= 1
                counts[index] += 1
    return counts.tolist()
