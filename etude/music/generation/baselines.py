"""Counting baselines for a note model, fitted on the training split: a unigram sampler and a first-order Markov chain.

Both work on the outcome a note is scored as (`etude.music.generation.likelihood`): the token (pitch, step bin, duration
bin), 128 × 13 × 13 values. Their NLL per note is in the same nats as the network's, on the same notes.

- `UnigramNotes`: P(pitch) P(step bin) P(duration bin), each a training histogram with add-one smoothing (a sampler
  of the training histograms: it matches a one-histogram measure by construction).
- `MarkovNotes`: P(token | previous token), the previous token of a piece's first note being the begin state:
  (count(previous, token) + β P_unigram(token)) / (count(previous) + β), i.e. the transition counts smoothed towards
  the unigram (a Dirichlet prior of strength β), so an unseen transition or state still has a probability.
  `fit_concentration` picks β from a grid by the validation NLL.

Sampled notes get, for each bin, the median training step (duration) that fell in it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ...errors import ConfigError
from .likelihood import TIME_BINS, quantise_time

if TYPE_CHECKING:
    from .tiles import NoteTiles

__all__ = ['MarkovNotes', 'UnigramNotes', 'decode_tokens', 'encode_notes', 'fit_baselines']

PITCHES = 128
TOKENS = PITCHES * TIME_BINS * TIME_BINS
BEGIN_STATE = TOKENS


def encode_notes(notes: np.ndarray) -> np.ndarray:
    """`(..., 3)` pitch, step, duration → `(...)` int64 tokens pitch × 169 + step bin × 13 + duration bin."""
    pitch = np.clip(np.rint(notes[..., 0]), 0, PITCHES - 1).astype(np.int64)
    return (pitch * TIME_BINS + quantise_time(notes[..., 1])) * TIME_BINS + quantise_time(notes[..., 2])


def decode_tokens(tokens: np.ndarray, step_values: np.ndarray, duration_values: np.ndarray) -> np.ndarray:
    """`(...)` tokens → `(..., 3)` float32 notes, each bin given the value `step_values[bin]` / `duration_values[bin]`."""
    tokens = np.asarray(tokens, dtype=np.int64)
    duration_bin = tokens % TIME_BINS
    step_bin = (tokens // TIME_BINS) % TIME_BINS
    pitch = tokens // (TIME_BINS * TIME_BINS)
    return np.stack([pitch, step_values[step_bin], duration_values[duration_bin]], axis=-1).astype(np.float32)


def _bin_values(values: np.ndarray) -> np.ndarray:
    """The median of the training values in each time bin (the bin's lower edge where no value fell)."""
    from .likelihood import TIME_EDGES

    bins = quantise_time(values)
    lower = np.array((0.0, *TIME_EDGES))
    return np.array([float(np.median(values[bins == index])) if np.any(bins == index) else lower[index] for index in range(TIME_BINS)])


def _scored(tiles: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The scored notes' tokens and their previous tokens (the begin state at a tile's first position)."""
    tokens = encode_notes(tiles)
    previous = np.concatenate([np.full((len(tokens), 1), BEGIN_STATE, dtype=np.int64), tokens[:, :-1]], axis=1)
    chosen = weights > 0
    return tokens[chosen], previous[chosen]


@dataclass
class UnigramNotes:
    """Independent training histograms of pitch, step bin and duration bin (add-one smoothed)."""

    pitch: np.ndarray = field(default_factory=lambda: np.full(PITCHES, 1 / PITCHES))
    step: np.ndarray = field(default_factory=lambda: np.full(TIME_BINS, 1 / TIME_BINS))
    duration: np.ndarray = field(default_factory=lambda: np.full(TIME_BINS, 1 / TIME_BINS))
    step_values: np.ndarray = field(default_factory=lambda: np.zeros(TIME_BINS))
    duration_values: np.ndarray = field(default_factory=lambda: np.zeros(TIME_BINS))

    @classmethod
    def fit(cls, tiles: np.ndarray, weights: np.ndarray) -> UnigramNotes:
        """From training tiles `(n, length, 3)` and their `(n, length)` weights (the notes a model is trained on)."""
        notes = tiles[weights > 0]
        if not len(notes):
            raise ConfigError('the unigram baseline needs at least one training note')
        pitch = np.bincount(np.clip(np.rint(notes[:, 0]), 0, PITCHES - 1).astype(np.int64), minlength=PITCHES) + 1.0
        step = np.bincount(quantise_time(notes[:, 1]), minlength=TIME_BINS) + 1.0
        duration = np.bincount(quantise_time(notes[:, 2]), minlength=TIME_BINS) + 1.0
        return cls(pitch / pitch.sum(), step / step.sum(), duration / duration.sum(), _bin_values(notes[:, 1]), _bin_values(notes[:, 2]))

    def token_probabilities(self) -> np.ndarray:
        """`(TOKENS,)` P(token) = P(pitch) P(step bin) P(duration bin)."""
        return (self.pitch[:, None, None] * self.step[None, :, None] * self.duration[None, None, :]).reshape(-1)

    def nll_terms(self, tiles: np.ndarray, weights: np.ndarray) -> dict[str, float]:
        """NLL per scored note (nats), total and per term, as `NoteLikelihood` reports the network's."""
        notes = tiles[weights > 0]
        pitch = -np.log(self.pitch[np.clip(np.rint(notes[:, 0]), 0, PITCHES - 1).astype(np.int64)]).mean()
        step = -np.log(self.step[quantise_time(notes[:, 1])]).mean()
        duration = -np.log(self.duration[quantise_time(notes[:, 2])]).mean()
        return {'nll_per_note': float(pitch + step + duration), 'pitch_nll_per_note': float(pitch), 'step_nll_per_note': float(step),
                'duration_nll_per_note': float(duration)}

    def sample(self, count: int, length: int, generator: np.random.Generator) -> list[np.ndarray]:
        """`count` pieces of `length` notes `(length, 3)`, every note drawn independently."""
        tokens = generator.choice(TOKENS, size=(count, length), p=self.token_probabilities())
        return list(decode_tokens(tokens, self.step_values, self.duration_values))


@dataclass
class MarkovNotes:
    """P(token | previous token), transition counts smoothed towards `unigram` with strength `concentration`."""

    unigram: UnigramNotes
    transitions: dict[int, tuple[np.ndarray, np.ndarray]]  # previous → (next tokens, counts)
    concentration: float = 1.0

    @classmethod
    def fit(cls, tiles: np.ndarray, weights: np.ndarray, concentration: float = 1.0) -> MarkovNotes:
        if concentration <= 0:
            raise ConfigError(f'the Markov chain\'s concentration must be positive, got {concentration}')
        tokens, previous = _scored(tiles, weights)
        pairs, counts = np.unique(np.stack([previous, tokens], axis=1), axis=0, return_counts=True)
        transitions: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for state in np.unique(pairs[:, 0]):
            rows = pairs[:, 0] == state
            transitions[int(state)] = (pairs[rows, 1], counts[rows].astype(np.float64))
        return cls(UnigramNotes.fit(tiles, weights), transitions, concentration)

    def fit_concentration(self, tiles: np.ndarray, weights: np.ndarray, grid: Sequence[float] = (0.1, 0.3, 1, 3, 10, 30, 100)) -> float:
        """Set (and return) the concentration of `grid` with the lowest NLL on `tiles` (the validation split)."""
        scores = {}
        for value in grid:
            self.concentration = float(value)
            scores[float(value)] = self.nll_terms(tiles, weights)['nll_per_note']
        self.concentration = min(scores, key=lambda value: scores[value])
        return self.concentration

    def log_probabilities(self, tokens: np.ndarray, previous: np.ndarray) -> np.ndarray:
        """`(n,)` log P(tokens[i] | previous[i])."""
        prior = self.unigram.token_probabilities()
        result = np.empty(len(tokens))
        for index, (token, state) in enumerate(zip(tokens.tolist(), previous.tolist(), strict=True)):
            seen, counts = self.transitions.get(state, (np.empty(0, dtype=np.int64), np.empty(0)))
            count = float(counts[seen == token].sum())
            result[index] = np.log((count + self.concentration * prior[token]) / (counts.sum() + self.concentration))
        return result

    def nll_terms(self, tiles: np.ndarray, weights: np.ndarray) -> dict[str, float]:
        """NLL per scored note (nats). The chain scores the token as one outcome, so there are no separate terms."""
        tokens, previous = _scored(tiles, weights)
        return {'nll_per_note': float(-self.log_probabilities(tokens, previous).mean())}

    def sample(self, count: int, length: int, generator: np.random.Generator) -> list[np.ndarray]:
        """`count` pieces of `length` notes, each from the begin state: a training successor of the previous token with
        probability count / (count + β), else a unigram draw."""
        prior = self.unigram.token_probabilities()
        pieces = []
        for _ in range(count):
            state, tokens = BEGIN_STATE, []
            for _ in range(length):
                seen, counts = self.transitions.get(state, (np.empty(0, dtype=np.int64), np.empty(0)))
                total = counts.sum()
                if total > 0 and generator.random() < total / (total + self.concentration):
                    state = int(seen[generator.choice(len(seen), p=counts / total)])
                else:
                    state = int(generator.choice(TOKENS, p=prior))
                tokens.append(state)
            pieces.append(decode_tokens(np.array(tokens), self.unigram.step_values, self.unigram.duration_values))
        return pieces


def fit_baselines(train: NoteTiles, validation: NoteTiles) -> tuple[UnigramNotes, MarkovNotes]:
    """The unigram sampler and the Markov chain of a run, fitted on its training tiles (the chain's concentration
    chosen on the validation tiles): the one place they are fitted, for the run's baselines and for sampling from
    them (a listening test, a report's piano rolls)."""
    unigram = UnigramNotes.fit(train.notes, train.weights())
    markov = MarkovNotes.fit(train.notes, train.weights())
    markov.fit_concentration(validation.notes, validation.weights())
    return unigram, markov
