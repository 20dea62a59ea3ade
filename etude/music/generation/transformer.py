"""A small decoder-only Transformer over metrical tokens, with rotary position embeddings: `model=transformer`.

Tokens `(batch, time)` → an embedding of `transformer_width` → `transformer_layers` pre-norm blocks (causal
self-attention of `transformer_heads` heads, then a GELU MLP four times as wide) → a final norm and a linear layer to
the next token's logits. Positions enter only through rotary embeddings (RoPE, Su et al. 2021) of the queries and
keys, so attention depends on how far apart two tokens are, not where they are: a piece longer than the training
tiles meets no unseen position embedding. `run(tokens, state)` takes and returns a KV cache (per layer the keys and
values so far), so a sampler feeds one token at a time and pays attention over the prefix, not a re-run of it.

Measured against the token LSTM (benchmarks/README.md, "which default model"): it learns the chorales far faster per
step and per CPU second, and samples a token about 8× slower at batch 1 on one thread (2.8 against 0.35 ms), which is
why it is not the default.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import torch

from ...parameters import AT_LEAST_ONE, Range
from ...parameters import Parameters as BaseParameters
from .token_model import TokenModel

__all__ = ['KVCache', 'TokenTransformer']

KVCache = list[tuple[torch.Tensor, torch.Tensor]]
"""Per layer (keys, values), each `(batch, heads, tokens so far, head width)`."""
MAX_POSITIONS = 16384


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """`(batch, heads, time, width)` rotated pairwise by the angles of its positions (`cos`, `sin`: `(time, width / 2)`)."""
    even, odd = x[..., 0::2], x[..., 1::2]
    return torch.stack([even * cos - odd * sin, even * sin + odd * cos], dim=-1).flatten(-2)


class Block(torch.nn.Module):
    """Pre-norm causal self-attention with RoPE, then a GELU MLP; residual around each."""

    def __init__(self, width: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.attention_norm, self.mlp_norm = torch.nn.LayerNorm(width), torch.nn.LayerNorm(width)
        self.qkv, self.out = torch.nn.Linear(width, 3 * width), torch.nn.Linear(width, width)
        self.mlp = torch.nn.Sequential(torch.nn.Linear(width, 4 * width), torch.nn.GELU(), torch.nn.Linear(4 * width, width))
        self.dropout = torch.nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                cache: tuple[torch.Tensor, torch.Tensor] | None) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        batch, length, width = x.shape
        q, k, v = self.qkv(self.attention_norm(x)).view(batch, length, 3, self.heads, width // self.heads).permute(2, 0, 3, 1, 4)
        q, k = rotate(q, cos, sin), rotate(k, cos, sin)
        if cache is not None:
            k, v = torch.cat([cache[0], k], dim=2), torch.cat([cache[1], v], dim=2)
        # causal within the new tokens; every cached token lies before them
        mask = None if length == 1 else torch.ones(length, k.shape[2], dtype=torch.bool, device=x.device).tril(k.shape[2] - length)
        attended = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=self.dropout.p if self.training else 0.0)
        x = x + self.dropout(self.out(attended.transpose(1, 2).reshape(batch, length, width)))
        return x + self.dropout(self.mlp(self.mlp_norm(x))), (k, v)


class TokenTransformer(TokenModel):
    """Token ids `(batch, time)` → next-token logits `(batch, time, vocabulary_size)`, as `{'logits': ...}`."""

    @dataclass(kw_only=True)
    class Parameters(BaseParameters):
        vocabulary_size: Annotated[int, Range(4)] = 192
        """Tokens of the representation (set by the routine from it)."""
        transformer_width: Annotated[int, AT_LEAST_ONE] = 192
        """Width of the embedding and of every block (a multiple of twice the heads)."""
        transformer_layers: Annotated[int, AT_LEAST_ONE] = 4
        """Blocks."""
        transformer_heads: Annotated[int, AT_LEAST_ONE] = 4
        """Attention heads per block."""
        transformer_dropout: Annotated[float, Range(0, 1, exclusive_maximum=True)] = 0.1
        """Dropout on attention, after each block's branches and on the embedding."""

    hyperparameters: TokenTransformer.Parameters

    def __init__(self, hyperparameters: TokenTransformer.Parameters) -> None:
        super().__init__(hyperparameters)
        h = hyperparameters
        if h.transformer_width % (2 * h.transformer_heads):
            from ...errors import ConfigError

            raise ConfigError(f'transformer_width must be a multiple of twice transformer_heads, got {h.transformer_width} and {h.transformer_heads}')
        self.embedding = torch.nn.Embedding(h.vocabulary_size, h.transformer_width)
        self.blocks = torch.nn.ModuleList(Block(h.transformer_width, h.transformer_heads, h.transformer_dropout) for _ in range(h.transformer_layers))
        self.norm, self.head = torch.nn.LayerNorm(h.transformer_width), torch.nn.Linear(h.transformer_width, h.vocabulary_size)
        self.dropout = torch.nn.Dropout(h.transformer_dropout)
        half = h.transformer_width // h.transformer_heads // 2
        angles = torch.outer(torch.arange(MAX_POSITIONS).float(), 1.0 / (10000 ** (torch.arange(half).float() / half)))
        self.cos: torch.Tensor
        self.sin: torch.Tensor
        self.register_buffer('cos', angles.cos(), persistent=False)
        self.register_buffer('sin', angles.sin(), persistent=False)

    def run(self, tokens: torch.Tensor, state: KVCache | None = None) -> tuple[dict[str, torch.Tensor], KVCache]:
        """The logits after each of `tokens` `(batch, time)`, after the tokens whose keys and values `state` caches
        (None: none), and the cache with `tokens` added, so a sampler can go on from it."""
        self.check_tokens(tokens, self.hyperparameters.vocabulary_size)
        start = 0 if not state else state[0][0].shape[2]
        cos, sin = self.cos[start:start + tokens.shape[1]], self.sin[start:start + tokens.shape[1]]
        x, cache = self.dropout(self.embedding(tokens)), []
        for index, block in enumerate(self.blocks):
            x, layer = block(x, cos, sin, state[index] if state else None)
            cache.append(layer)
        return {'logits': self.head(self.norm(x))}, cache
