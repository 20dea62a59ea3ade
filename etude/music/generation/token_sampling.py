"""Sampling token pieces from a token model (`TokenLSTM`) or a counting model, under REMI's grammar.

    pieces = sample_tokens(model, representation, SamplingSettings(count=4, length_notes=200, temperature=0.9, seed=1))
    representation.write_midi(pieces[0], 'piece.mid')

Each next token is drawn from the model's logits divided by `temperature`, after top-k and nucleus filtering, among
the tokens REMI's grammar allows after the previous one (`Grammar`: a bar opens with `Bar`, a `TimeSig` only right
after it, positions rise within a bar and fit in its time signature, each note is `Program` (its voice) `Pitch` `Duration`). A piece is done after
`length_notes` notes (each `Pitch` is one, complete with its `Duration`), or at the first bar that would start at or
after `length_seconds` (120 quarter notes a minute). One `torch.Generator` seeded by `seed` draws for the whole batch.

`sample_tokens` is incremental: the LSTM's state lives in `fused.FusedLSTM`'s buffers, one fused step per token.
`sample_tokens_naive` re-runs the model over the whole prefix for every token (quadratic); the two give the same
pieces (tests), and `benchmarks/generation.py` times both.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from ...errors import ConfigError
from .token_data import BOS

if TYPE_CHECKING:
    import torch

    from .sampling import SamplingSettings
    from .token_model import TokenLSTM
    from .tokens import Representation

__all__ = ['Grammar', 'TokenPieces', 'sample_tokens', 'sample_tokens_naive']


class Grammar:
    """Which token may follow which under the representation (see the module), as boolean rows over the vocabulary,
    and the bookkeeping of one piece being written (`TokenPieces`)."""

    def __init__(self, representation: Representation) -> None:
        types = representation.token_types()
        self.size = len(types)
        self.types = np.array(types)
        pitch_next = 'Program' if representation.voices else 'Pitch'
        follows = {'BOS': {'Bar'}, 'Bar': {'Bar', 'TimeSig', 'Position'}, 'TimeSig': {'Position', 'Bar'}, 'Position': {pitch_next},
                   'Program': {'Pitch'}, 'Pitch': {'Duration'}, 'Duration': {pitch_next, 'Position', 'Bar'}}
        self.after = np.zeros((self.size, self.size), dtype=bool)
        for index, kind in enumerate(types):
            self.after[index] = np.isin(self.types, list(follows.get(kind, ())))
        self.position = np.full(self.size, -1, dtype=np.int64)
        for index, value in representation.token_values('Position').items():
            self.position[index] = int(value)
        positions = int(self.position.max()) + 1
        # row p + 1: the Position tokens allowed when the bar's last position is p (row 0: none yet)
        self.rising = np.ones((positions + 1, self.size), dtype=bool)
        for current in range(positions):
            self.rising[current + 1] = ~((self.position >= 0) & (self.position <= current))
        # row n: the Position tokens that fit in a bar of n grid steps (the piece's time signature)
        self.grid = representation.grid
        self.fits = np.ones((positions + 1, self.size), dtype=bool)
        for steps in range(positions + 1):
            self.fits[steps] = ~(self.position >= steps)
        self.is_pitch = self.types == 'Pitch'
        self.is_bar = self.types == 'Bar'
        self.bar_quarters = np.full(self.size, -1.0)
        self.bar_steps = np.full(self.size, -1, dtype=np.int64)  # miditok counts positions per beat of the time signature
        for index, value in representation.token_values('TimeSig').items():
            numerator, denominator = (int(part) for part in value.split('/'))
            self.bar_quarters[index] = 4 * numerator / denominator
            self.bar_steps[index] = numerator * representation.grid


@dataclass
class _Piece:
    previous: int = BOS
    position: int = -1
    notes: int = 0
    bars: int = 0
    bar_quarters: float = 4.0
    bar_steps: int = 16
    elapsed: float = 0.0
    done: bool = False


class TokenPieces:
    """The pieces of a batch being written: what each may draw next (`allowed`) and when each is done (`add`)."""

    def __init__(self, grammar: Grammar, settings: SamplingSettings, count: int, primers: Sequence[np.ndarray] = ()) -> None:
        self.grammar, self.settings = grammar, settings
        self.pieces = [_Piece(bar_steps=4 * grammar.grid) for _ in range(count)]
        self.tokens: list[list[int]] = [[] for _ in range(count)]
        self._rows: dict[tuple[int, int, int], torch.Tensor] = {}
        # the grammar's columns as Python lists: indexing a list by a token is several times cheaper than numpy's
        self._lookups = (grammar.is_bar.tolist(), grammar.bar_quarters.tolist(), grammar.bar_steps.tolist(), grammar.position.tolist(),
                         grammar.is_pitch.astype(int).tolist())
        for piece, primer in zip(self.pieces, primers, strict=False):
            for token in np.asarray(primer).tolist():
                self._follow(piece, int(token))
            piece.notes = 0  # the length counts the new notes
            piece.elapsed = 0.0

    def allowed(self) -> np.ndarray:
        """`(count, vocabulary)` bool: the tokens each piece may draw now."""
        grammar = self.grammar
        top = len(grammar.fits) - 1
        return np.stack([grammar.after[piece.previous] & grammar.rising[piece.position + 1]
                         & grammar.fits[min(piece.bar_steps, top)] for piece in self.pieces])

    def forbidden(self, device: torch.device) -> torch.Tensor:
        """`(count, vocabulary)` bool tensor on `device`: the tokens each piece may not draw now (`allowed`'s
        complement), each row made once per grammar state and kept, so a step at batch 1 costs a dictionary look-up."""
        import torch

        rows = []
        for piece in self.pieces:
            key = (piece.previous, piece.position, piece.bar_steps)
            row = self._rows.get(key)
            if row is None:
                grammar = self.grammar
                allowed = grammar.after[piece.previous] & grammar.rising[piece.position + 1] & grammar.fits[min(piece.bar_steps, len(grammar.fits) - 1)]
                row = self._rows[key] = torch.from_numpy(~allowed).to(device)[None]
            rows.append(row)
        return rows[0] if len(rows) == 1 else torch.cat(rows)

    def _follow(self, piece: _Piece, token: int) -> None:
        is_bar, bar_quarters, bar_steps, position, is_pitch = self._lookups
        if is_bar[token]:
            if piece.bars:
                piece.elapsed += piece.bar_quarters
            piece.bars += 1
            piece.position = -1
        elif bar_quarters[token] > 0:
            piece.bar_quarters, piece.bar_steps = bar_quarters[token], bar_steps[token]
        elif position[token] >= 0:
            piece.position = position[token]
        piece.notes += is_pitch[token]
        piece.previous = token

    def add(self, drawn: Sequence[int]) -> bool:
        """Add one drawn token to each piece still being written; True when every piece is done."""
        settings = self.settings
        for piece, tokens, token in zip(self.pieces, self.tokens, drawn, strict=True):
            if piece.done:
                continue
            before = piece.previous
            self._follow(piece, token)
            if settings.length_seconds is not None and self._lookups[0][token] and piece.bars > 1 \
                    and (piece.elapsed * 0.5 >= settings.length_seconds or len(tokens) >= settings.max_notes * 8):
                piece.done = True  # that bar would start at or past the length: not kept
                continue
            tokens.append(int(token))
            if settings.length_notes is not None and piece.notes >= settings.length_notes and self._lookups[4][before]:
                piece.done = True
        return all(piece.done for piece in self.pieces)


def _drawer(settings: SamplingSettings, generator: torch.Generator) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """`draw(logits, forbidden)`: `(batch,)` tokens drawn from `(batch, vocabulary)` logits (overwritten), never a
    `forbidden` one; the settings read once, since at batch 1 the draw's Python is a good part of a step."""
    import torch

    from .sampling import filter_logits

    plain = settings.temperature == 1.0 and not settings.top_k and settings.top_p >= 1.0
    temperature, top_k, top_p, infinity = settings.temperature, settings.top_k, settings.top_p, -torch.inf
    softmax, rand, searchsorted = torch.softmax, torch.rand, torch.searchsorted

    def draw(logits: torch.Tensor, forbidden: torch.Tensor) -> torch.Tensor:
        masked = logits.float().masked_fill_(forbidden, infinity)
        # without filtering, what filter_logits gives, without its steps
        probabilities = softmax(masked, dim=-1) if plain else filter_logits(masked, temperature, top_k, top_p)
        cumulative = probabilities.cumsum_(-1)
        # inverse-CDF draw: the first token whose cumulative probability exceeds a uniform draw (a token of probability
        # 0 adds nothing to the sum, so it is never the first to exceed it); cheaper than torch.multinomial at batch 1
        uniform = rand(len(cumulative), 1, generator=generator, device=cumulative.device).mul_(cumulative[:, -1:])
        return searchsorted(cumulative, uniform, right=True)[:, 0].clamp_(max=cumulative.shape[-1] - 1)

    return draw


def _primers(primers: Sequence[np.ndarray], count: int) -> list[np.ndarray]:
    """Each primer repeated `count` times, BOS first; from scratch, `count` times BOS alone."""
    for primer in primers:
        if len(primer) == 0:
            raise ConfigError('a primer needs at least one token')
    return [np.concatenate([[BOS], np.asarray(primer, dtype=np.int64)]) for primer in primers for _ in range(count)] or \
        [np.array([BOS], dtype=np.int64)] * count


def _sample(settings: SamplingSettings, representation: Representation, primers: Sequence[np.ndarray], device: torch.device,
            start: Callable[[list[np.ndarray]], torch.Tensor], step: Callable[[torch.Tensor, list[torch.Tensor]], torch.Tensor]) -> list[np.ndarray]:
    """The loop both samplers share: `start(heads)` gives the first logits, `step(drawn, history)` the next ones
    (`history`: every `(batch,)` draw so far, the last included, also those of pieces already done)."""
    import torch

    heads = _primers(primers, settings.count)
    pieces = TokenPieces(Grammar(representation), settings, len(heads), [head[1:] for head in heads])
    generator = torch.Generator(device=device).manual_seed(settings.seed)
    logits, history, draw = start(heads), [], _drawer(settings, generator)
    while True:
        drawn = draw(logits, pieces.forbidden(device))
        history.append(drawn)
        if pieces.add(drawn.tolist()):
            break
        logits = step(drawn, history)
    return [np.concatenate([head[1:], np.asarray(tokens, dtype=np.int64)]) for head, tokens in zip(heads, pieces.tokens, strict=True)]


def sample_tokens(model: Any, representation: Representation, settings: SamplingSettings, primers: Sequence[np.ndarray] = ()) -> list[np.ndarray]:
    """Pieces as token ids `(tokens,)` int64, `settings.count` per primer (or from scratch), in the primers' order:
    each primer's tokens, then the new ones. A `TokenLSTM` takes one fused step per token, all pieces in one batch;
    any other token model (`TokenTransformer`) is run one token at a time on the state its `run` returns (a KV cache),
    one batch per primer."""
    if hasattr(model, 'lstm'):
        return _sample_lstm(model, representation, settings, primers)
    if settings.weights != 'fp32':
        raise ConfigError(f'{type(model).__name__} samples with its own weights only; {settings.weights} weights are for the LSTM (use fp32)')
    import torch

    device = next(model.parameters()).device
    model.eval()
    cache: list[Any] = []

    def start(heads: list[np.ndarray]) -> torch.Tensor:
        outputs, state = model.run(torch.as_tensor(np.stack(heads), device=device))
        cache[:] = [state]
        return outputs['logits'][:, -1]

    def step(drawn: torch.Tensor, history: list[torch.Tensor]) -> torch.Tensor:
        outputs, cache[0] = model.run(drawn.to(device)[:, None], cache[0])
        return outputs['logits'][:, -1]

    with torch.no_grad():
        if not primers:
            return _sample(settings, representation, (), device, start, step)
        return [piece for primer in primers for piece in _sample(settings, representation, [primer], device, start, step)]


def _sample_lstm(model: TokenLSTM, representation: Representation, settings: SamplingSettings, primers: Sequence[np.ndarray]) -> list[np.ndarray]:
    """`sample_tokens` for a TokenLSTM: its step fused (`fused.FusedLSTM`), every piece in one batch."""
    import torch

    from .fused import FusedLSTM

    device = next(model.parameters()).device
    model.eval()
    batch = settings.count * max(len(primers), 1)
    if settings.weights == 'int8' and device.type != 'cpu':
        raise ConfigError(f'int8 weights run on the CPU only (fbgemm); use --weights fp32 or bf16 on {device}')
    fused = FusedLSTM(model.lstm, batch, cast('Any', settings.weights))
    embedding, head = model.embedding.weight.detach(), model.head
    weight, bias = head.weight.detach().t().contiguous(), head.bias.detach()
    logits = torch.empty(batch, weight.shape[1], device=device, dtype=weight.dtype)

    def start(heads: list[np.ndarray]) -> torch.Tensor:
        states, last = [], []
        for sequence in heads[::settings.count]:
            outputs, state = model.run(torch.as_tensor(sequence, device=device)[None])
            states.append(state)
            last.append(outputs['logits'][:, -1])
        fused.reset((torch.cat([state[0] for state in states], 1).repeat_interleave(settings.count, 1),
                     torch.cat([state[1] for state in states], 1).repeat_interleave(settings.count, 1)))
        return torch.cat(last).repeat_interleave(settings.count, 0)

    def step(drawn: torch.Tensor, history: list[torch.Tensor]) -> torch.Tensor:
        return torch.addmm(bias, fused(embedding[drawn.to(device)]), weight, out=logits)

    with torch.inference_mode():  # no autograd bookkeeping at all: a few microseconds a step at batch 1
        return _sample(settings, representation, primers, device, start, step)


def sample_tokens_naive(model: Any, representation: Representation, settings: SamplingSettings) -> list[np.ndarray]:
    """What `sample_tokens` from scratch returns, computed by re-running the model over the whole prefix per token."""
    import torch

    device = next(model.parameters()).device
    model.eval()

    def start(heads: list[np.ndarray]) -> torch.Tensor:
        return model.run(torch.as_tensor(np.stack(heads), device=device))[0]['logits'][:, -1]

    def step(drawn: torch.Tensor, history: list[torch.Tensor]) -> torch.Tensor:
        begin = torch.full((len(drawn), 1), BOS, dtype=torch.int64, device=device)
        return model.run(torch.cat([begin, torch.stack(history, dim=1).to(device)], dim=1))[0]['logits'][:, -1]

    with torch.no_grad():
        return _sample(settings, representation, (), device, start, step)
