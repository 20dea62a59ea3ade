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

__all__ = ['CEILING', 'HISTOGRAMS', 'excerpts', 'flat_figures', 'judge_generated', 'report_notes']

CEILING = 'test excerpts'
HISTOGRAMS = ('pitch', 'step', 'duration', 'interval', 'pitch_class_transition')


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


def flat_figures(judged: Mapping[str, Any], name: str) -> dict[str, float]:
    """One candidate's judged figures as flat names: `jsd_<histogram>` against the training pieces and
    `jsd_<histogram>_vs_evaluated` against the evaluated split's, `<feature>_overlap` / `_kl` (relative measures) and the
    memorisation summary."""
    row: dict[str, float] = {}
    divergences = judged['jensen_shannon_bits'][name]
    for histogram in HISTOGRAMS:
        row[f'jsd_{histogram}'] = float(divergences['train'][histogram])
        row[f'jsd_{histogram}_vs_evaluated'] = float(divergences['test'][histogram]) if 'test' in divergences else float('nan')
    for feature, values in judged['relative'][name].items():
        row[f'{feature}_overlap'] = float(values['overlap_area'])
        row[f'{feature}_kl'] = float(values['kl_divergence'])
    row.update({key: float(value) for key, value in judged['memorisation'][name].items()})
    return row


def report_notes(judged: Mapping[str, Any], model: Mapping[str, float], baselines: Mapping[str, Mapping[str, float]], split: str, count: int,
                 length: int) -> list[str]:
    """The sentences a report prints under a generation run's figures: units, bins, what each measure is, and where a
    baseline does better than the model."""
    import math

    notes = [
        'NLL per note is in nats: -log P(pitch) - log P(step bin) - log P(duration bin) on the same notes for every model; the LSTM\'s '
        'step and duration are read as Gaussians in log(seconds + 0.01) with the spread it measured in training, and their bins\' '
        f'masses scored (the Markov chain\'s concentration, chosen on validation: {baselines.get("markov", {}).get("concentration", float("nan")):g}).',
        'JSD: Jensen-Shannon divergence in bits (0 identical, 1 disjoint), jsd_<histogram> against the training pieces, '
        f'jsd_<histogram>_vs_evaluated against the {split} pieces; bins: ' + '; '.join(f'{name}: {text}' for name, text in judged['bins'].items()) + '.',
        'Relative measures (Yang & Lerch 2020), against the training pieces: overlap area (1 best) and KL divergence (nats, 0 best) of '
        'the set\'s intra-set distance density with its inter-set density, for pitch-class histogram, pitch range, mean inter-onset '
        'interval and notes per 10 s.',
        f'Memorisation: the longest run of consecutive notes (pitch, step bin, duration bin; pitch_only_: pitches alone) a piece shares with '
        f'a training piece; {count} pieces of {length} notes per generator; {CEILING}: the first {judged["notes_per_piece"]} notes of each '
        f'{split} piece.',
    ]
    for name in ('unigram', 'markov'):
        row = baselines.get(name, {})
        better = [key for key in model if key in row and not math.isnan(row[key]) and not math.isnan(model[key])
                  and not key.startswith(('longest_run', 'pitch_only', 'share_copying', 'loss'))
                  and (row[key] > model[key] if key.endswith('_overlap') else row[key] < model[key])]
        if better:
            notes.append(f'The {name} baseline does better than the model on: {", ".join(better)}.')
    return notes
