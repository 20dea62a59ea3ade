"""Counting baselines over the same tokens as the token model: a unigram and a Markov chain of order k, fitted on the
training tiles, scored on the same tokens in the same nats, and sampled under the same grammar.

- `TokenNgram(order=0)`: P(token), add-one smoothed: the unigram.
- `TokenNgram(order=k)`: P(token | the k tokens before it), smoothed towards order k - 1 with a Dirichlet prior of
  strength β at every order (interpolated back-off: P_k(t | h) = (c(h, t) + β P_(k-1)(t | h')) / (c(h) + β), h' the last
  k - 1 tokens of h), down to the unigram. The context never reaches across a tile's start (BOS stands before a tile's
  first token, as it does for the LSTM), so both see the same tokens. `fit_token_markov` picks the order (1..4) and β
  by the validation NLL: the strongest chain of this family, not a strawman of order 1.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from .token_data import BOS

if TYPE_CHECKING:
    from .sampling import SamplingSettings
    from .token_data import TokenTiles
    from .tokens import Representation

__all__ = ['TokenNgram', 'fit_token_baselines']

ORDERS = (1, 2, 3, 4)
CONCENTRATIONS = (0.1, 0.3, 1.0, 3.0, 10.0)


def _contexts(tiles: TokenTiles, order: int) -> tuple[np.ndarray, list[tuple[int, ...]]]:
    """The scored tokens of `tiles` and each one's context of `order` tokens (BOS before a tile's start)."""
    weights = tiles.weights()
    targets, contexts = [], []
    for row, tile in enumerate(tiles.tokens):
        padded = [BOS] * order + tile[:tiles.lengths[row]].tolist()
        for position in np.flatnonzero(weights[row] > 0).tolist():
            targets.append(padded[position + order])
            contexts.append(tuple(padded[position:position + order]))
    return np.array(targets, dtype=np.int64), contexts


@dataclass
class TokenNgram:
    """Counts of every context up to `order` tokens (see the module); `concentration` is β."""

    size: int
    order: int = 1
    concentration: float = 1.0
    unigram: np.ndarray = field(default_factory=lambda: np.zeros(0))
    counts: list[dict[tuple[int, ...], dict[int, float]]] = field(default_factory=list)

    @classmethod
    def fit(cls, tiles: TokenTiles, size: int, order: int, concentration: float = 1.0) -> TokenNgram:
        targets, contexts = _contexts(tiles, order)
        unigram = np.bincount(targets, minlength=size).astype(np.float64) + 1.0
        counts: list[dict[tuple[int, ...], dict[int, float]]] = [defaultdict(lambda: defaultdict(float)) for _ in range(order)]
        for target, context in zip(targets.tolist(), contexts, strict=True):
            for length in range(1, order + 1):
                counts[length - 1][context[order - length:]][target] += 1.0
        frozen = [{context: dict(following) for context, following in table.items()} for table in counts]
        return cls(size, order, concentration, unigram / unigram.sum(), frozen)

    def distribution(self, context: Sequence[int]) -> np.ndarray:
        """`(size,)` P(next token | `context`, its last `order` tokens used)."""
        probability = self.unigram.copy()
        for length in range(1, self.order + 1):
            if len(context) < length:
                break
            following = self.counts[length - 1].get(tuple(context[len(context) - length:]))
            if following is None:
                break  # a longer context containing an unseen one is unseen too
            total = sum(following.values())
            probability *= self.concentration / (total + self.concentration)
            tokens = np.fromiter(following.keys(), dtype=np.int64, count=len(following))
            probability[tokens] += np.fromiter(following.values(), dtype=np.float64, count=len(following)) / (total + self.concentration)
        return probability

    def log_probabilities(self, tiles: TokenTiles) -> np.ndarray:
        """`(scored tokens,)` log P of every scored token of `tiles`, in order."""
        targets, contexts = _contexts(tiles, self.order)
        probability = self.unigram[targets]
        for length in range(1, self.order + 1):
            table = self.counts[length - 1]
            seen = np.zeros(len(targets))
            total = np.zeros(len(targets))
            for index, (target, context) in enumerate(zip(targets.tolist(), contexts, strict=True)):
                following = table.get(context[self.order - length:])
                if following is not None:
                    seen[index] = following.get(target, 0.0)
                    total[index] = sum(following.values())
            probability = (seen + self.concentration * probability) / (total + self.concentration)
        return np.log(probability)

    def nll_terms(self, tiles: TokenTiles, pitch_tokens: np.ndarray) -> dict[str, float]:
        """NLL per scored token and per scored note (the tokens' sum over the scored `Pitch` tokens), in nats."""
        log_probability = self.log_probabilities(tiles)
        targets, _ = _contexts(tiles, 0)
        notes = max(int(np.isin(targets, pitch_tokens).sum()), 1)
        return {'nll_per_token': float(-log_probability.mean()), 'nll_per_note': float(-log_probability.sum() / notes)}

    def sample(self, representation: Representation, settings: SamplingSettings) -> list[np.ndarray]:
        """`settings.count` pieces of token ids from scratch, drawn under the sampler's grammar and stopping rule."""
        from .token_sampling import Grammar, TokenPieces

        generator = np.random.default_rng(settings.seed)
        pieces = TokenPieces(Grammar(representation), settings, settings.count)
        history = [[BOS] * max(self.order, 1) for _ in range(settings.count)]  # as a tile's start is padded
        while True:
            drawn = []
            for context, allowed in zip(history, pieces.allowed(), strict=True):
                probability = np.where(allowed, self.distribution(context), 0.0)
                drawn.append(int(generator.choice(self.size, p=probability / probability.sum())))
            for context, token in zip(history, drawn, strict=True):
                context.append(token)
            if pieces.add(drawn):
                return [np.asarray(tokens, dtype=np.int64) for tokens in pieces.tokens]


def fit_token_baselines(train: TokenTiles, validation: TokenTiles, size: int) -> tuple[TokenNgram, TokenNgram]:
    """The unigram and the Markov chain of a run over tokens, fitted on its training tiles; the chain's order and β
    chosen by the validation NLL (`ORDERS` × `CONCENTRATIONS`): the one place they are fitted."""
    unigram = TokenNgram.fit(train, size, order=0)
    best: tuple[float, TokenNgram] | None = None
    for order in ORDERS:
        chain = TokenNgram.fit(train, size, order)
        for concentration in CONCENTRATIONS:
            chain.concentration = concentration
            score = float(-chain.log_probabilities(validation).mean())
            if best is None or score < best[0]:
                best = (score, TokenNgram(size, order, concentration, chain.unigram, chain.counts))
    assert best is not None
    return unigram, best[1]
