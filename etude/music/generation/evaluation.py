"""Everything `etude evaluate` reports of a note generator, as one function over plain note arrays.

    results = judge_generated({'LSTM': pieces, 'Markov': markov_pieces, ...}, train=..., validation=..., test=...)

Each candidate set is compared with the training, validation and test pieces by the Jensen–Shannon divergence of
five histograms, with the training pieces by Yang & Lerch's relative measures, and with the training pieces for
copied passages (`etude.music.generation.measures`). Reference pieces are cut to the candidates' length in notes (their
first notes), so that length-dependent features (pitch range) compare like with like; 'test excerpts' (the test
pieces so cut) is the ceiling a generator can reach.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .measures import BIN_DESCRIPTIONS, histogram_divergences, memorisation, relative_measures

__all__ = ['excerpts', 'judge_generated']

CEILING = 'test excerpts'


def excerpts(pieces: Sequence[np.ndarray], notes: int) -> list[np.ndarray]:
    """The first `notes` notes of each piece."""
    return [np.asarray(piece)[:notes] for piece in pieces if len(piece)]


def judge_generated(candidates: Mapping[str, Sequence[np.ndarray]], *, train: Sequence[np.ndarray], validation: Sequence[np.ndarray],
                    test: Sequence[np.ndarray], copy_threshold: int = 16) -> dict[str, Any]:
    """Divergences, relative measures and memorisation of each candidate set (and of the test excerpts, the ceiling).

    Args:
        candidates: name → pieces `(notes, 3)` (pitch, step, duration in seconds), e.g. the LSTM's and the baselines'.
        train: the reference pieces of the training split (whole pieces).
        validation: the same of the validation split.
        test: the same of the test split.
    Returns:
        {'bins': ..., 'jensen_shannon_bits': {candidate: {split: {histogram: bits}}}, 'relative': {candidate: {feature:
        {...}}}, 'memorisation': {candidate: {...}}, 'pieces': {candidate: count}, 'notes_per_piece': n}.
    """
    length = int(np.median([len(piece) for pieces in candidates.values() for piece in pieces]))
    references = {'train': excerpts(train, length), 'validation': excerpts(validation, length), 'test': excerpts(test, length)}
    sets = {**candidates, CEILING: references['test']}
    divergences = {name: {split: histogram_divergences(pieces, reference) for split, reference in references.items() if not
                          (name == CEILING and split == 'test')} for name, pieces in sets.items()}
    copied = {name: memorisation(pieces, train, copy_threshold) for name, pieces in sets.items()}
    return {
        'bins': dict(BIN_DESCRIPTIONS),
        'notes_per_piece': length,
        'pieces': {name: len(pieces) for name, pieces in sets.items()},
        'jensen_shannon_bits': divergences,
        'relative': {name: relative_measures(pieces, references['train']) for name, pieces in sets.items()},
        'memorisation': {name: summary for name, (summary, _) in copied.items()},
        'memorisation_runs': {name: runs.tolist() for name, (_, runs) in copied.items()},
    }
