"""Which default model for music_generation: the token LSTM, or a small decoder-only Transformer with relative positions?

    python benchmarks/generation_model_choice.py --data data/cache/bach-chorales-barred-tokens-<fingerprint> --steps 600

Both models see the same REMI token tiles of the chorales (the routine's cached dataset, split by piece with the
routine's seed and fractions) and take the same number of optimiser steps (Adam, batch 8, a linear warm-up over 100
steps, then constant; clipping at 1), the same batches in the same order; each is scored every `--check` steps on
the validation tiles (NLL per scored token, as the task's metric) and its best score kept, and the CPU seconds of its
training are measured (process time, so that other processes on a shared machine do not count). Then the cost of one
sampling step at batch 1 on one thread: the LSTM's fused step (`fused.FusedLSTM`) with its output layer, and the
Transformer's step with a KV cache at a prefix of 500 tokens (about 140 notes).

The Transformer: pre-norm blocks of causal self-attention with rotary position embeddings (RoPE, so attention depends
on relative positions only) and a GELU MLP, `--width` wide, `--layers` deep, 4 heads, dropout 0.1.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402


class Rotary(torch.nn.Module):
    def __init__(self, dimension: int, length: int = 4096) -> None:
        super().__init__()
        frequencies = 1.0 / (10000 ** (torch.arange(0, dimension, 2).float() / dimension))
        angles = torch.outer(torch.arange(length).float(), frequencies)
        self.cos_table: torch.Tensor
        self.sin_table: torch.Tensor
        self.register_buffer('cos_table', angles.cos(), persistent=False)
        self.register_buffer('sin_table', angles.sin(), persistent=False)

    def forward(self, x: torch.Tensor, start: int = 0) -> torch.Tensor:
        """`(batch, heads, time, dimension)` rotated by the positions start..start + time."""
        cos, sin = self.cos_table[start:start + x.shape[2]], self.sin_table[start:start + x.shape[2]]
        even, odd = x[..., 0::2], x[..., 1::2]
        return torch.stack([even * cos - odd * sin, even * sin + odd * cos], dim=-1).flatten(-2)


class Block(torch.nn.Module):
    def __init__(self, width: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = torch.nn.LayerNorm(width), torch.nn.LayerNorm(width)
        self.qkv, self.out = torch.nn.Linear(width, 3 * width), torch.nn.Linear(width, width)
        self.mlp = torch.nn.Sequential(torch.nn.Linear(width, 4 * width), torch.nn.GELU(), torch.nn.Linear(4 * width, width))
        self.dropout = torch.nn.Dropout(dropout)
        self.rotary = Rotary(width // heads)

    def forward(self, x: torch.Tensor, cache: list[torch.Tensor] | None = None) -> torch.Tensor:
        batch, length, width = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(batch, length, 3, self.heads, width // self.heads).permute(2, 0, 3, 1, 4)
        start = 0 if cache is None or not cache else cache[0].shape[2]
        q, k = self.rotary(q, start), self.rotary(k, start)
        if cache is not None:
            if cache:
                k, v = torch.cat([cache[0], k], dim=2), torch.cat([cache[1], v], dim=2)
            cache[:] = [k, v]
        attended = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=length > 1,
                                                                    dropout_p=self.dropout.p if self.training else 0.0)
        x = x + self.dropout(self.out(attended.transpose(1, 2).reshape(batch, length, width)))
        return x + self.dropout(self.mlp(self.norm2(x)))


class TokenTransformer(torch.nn.Module):
    def __init__(self, vocabulary: int, width: int, layers: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.embedding = torch.nn.Embedding(vocabulary, width)
        self.blocks = torch.nn.ModuleList(Block(width, 4, dropout) for _ in range(layers))
        self.norm, self.head = torch.nn.LayerNorm(width), torch.nn.Linear(width, vocabulary)

    def forward(self, tokens: torch.Tensor, caches: list[list[torch.Tensor]] | None = None) -> torch.Tensor:
        x = self.embedding(tokens)
        for index, block in enumerate(self.blocks):
            x = block(x, None if caches is None else caches[index])
        return self.head(self.norm(x))


def validation_nll(model: Any, loader: Any, forward: Any) -> float:
    from etude.music.generation.token_model import token_teacher_forcing

    model.eval()
    total = count = 0.0
    with torch.no_grad():
        for batch in loader:
            inputs, targets = token_teacher_forcing(*batch)
            nll = torch.nn.functional.cross_entropy(forward(inputs).transpose(1, 2), targets['tokens'], reduction='none')
            total += float((nll * targets['weight']).sum())
            count += float(targets['weight'].sum())
    model.train()
    return total / count


def train(model: Any, forward: Any, train_loader: Any, validation_loader: Any, steps: int, check: int, learning_rate: float) -> dict[str, float]:
    from etude.music.generation.token_model import token_teacher_forcing

    torch.manual_seed(0)
    optimiser = torch.optim.Adam(model.parameters(), lr=learning_rate)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda step: min(1.0, (step + 1) / 100))
    started, done, best = time.process_time(), 0, math.inf
    model.train()
    while done < steps:
        for batch in train_loader:
            inputs, targets = token_teacher_forcing(*batch)
            nll = torch.nn.functional.cross_entropy(forward(inputs).transpose(1, 2), targets['tokens'], reduction='none')
            loss = (nll * targets['weight']).sum() / targets['weight'].sum()
            optimiser.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimiser.step()
            schedule.step()
            done += 1
            if done % check == 0 or done == steps:
                best = min(best, validation_nll(model, validation_loader, forward))
                print(f'  {done} steps, {time.process_time() - started:6.0f} CPU s: best validation NLL {best:.3f} nats/token', flush=True)
            if done == steps:
                break
    return {'validation_nll_per_token': best, 'steps': done, 'cpu_seconds': time.process_time() - started,
            'parameters': sum(p.numel() for p in model.parameters())}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--data', type=Path, required=True, help="the routine's cached token tiles (data/cache/bach-chorales-tokens-...)")
    parser.add_argument('--steps', type=int, default=600, help='optimiser steps per model (default 600: four epochs of the chorales)')
    parser.add_argument('--check', type=int, default=150, help='steps between validation passes (default 150)')
    parser.add_argument('--width', type=int, default=192)
    parser.add_argument('--layers', type=int, default=4)
    parser.add_argument('--threads', type=int, default=2)
    arguments = parser.parse_args()

    from etude.data.split import split_by_groups
    from etude.data.store import read_dataset
    from etude.music.generation.fused import FusedLSTM
    from etude.music.generation.token_data import token_tiles
    from etude.music.generation.token_model import TokenLSTM

    torch.set_num_threads(arguments.threads)
    tiles = token_tiles(read_dataset(arguments.data))
    split = split_by_groups(tiles.pieces, (0.8, 0.1, 0.1), seed=0)
    dataset = tiles.torch_dataset()
    train_loader = torch.utils.data.DataLoader(torch.utils.data.Subset(dataset, split['train'].tolist()), batch_size=8, shuffle=True,
                                               generator=torch.Generator().manual_seed(0))
    validation_loader = torch.utils.data.DataLoader(torch.utils.data.Subset(dataset, split['validation'].tolist()), batch_size=32)
    vocabulary = int(tiles.tokens.max()) + 1
    vocabulary = max(vocabulary, 192)
    torch.manual_seed(0)
    lstm = TokenLSTM(TokenLSTM.Parameters(vocabulary_size=vocabulary))
    transformer = TokenTransformer(vocabulary, arguments.width, arguments.layers)
    results = {}
    for name, model, forward, rate in (('LSTM 2 x 256', lstm, lambda x: lstm(x)['logits'], 3e-3),
                                       (f'Transformer {arguments.layers} x {arguments.width}, RoPE', transformer, transformer, 1e-3)):
        print(name, flush=True)
        train_loader.generator.manual_seed(0)  # the same batches in the same order for both
        results[name] = train(model, forward, train_loader, validation_loader, arguments.steps, arguments.check, rate)
    torch.set_num_threads(1)
    with torch.no_grad():
        lstm.eval()
        transformer.eval()
        fused = FusedLSTM(lstm.lstm, 1)
        token = torch.zeros(1, dtype=torch.int64)
        started = time.perf_counter()
        for _ in range(500):
            lstm.head(fused(lstm.embedding(token)))
        results['LSTM 2 x 256']['step_ms'] = (time.perf_counter() - started) / 500 * 1e3
        caches: list[list[torch.Tensor]] = [[] for _ in transformer.blocks]
        transformer(torch.zeros(1, 500, dtype=torch.int64), caches)
        started = time.perf_counter()
        for _ in range(100):
            transformer(token[None], [list(cache) for cache in caches])
        results[f'Transformer {arguments.layers} x {arguments.width}, RoPE']['step_ms'] = (time.perf_counter() - started) / 100 * 1e3
    print(f'\n| model | parameters | CPU time of {arguments.steps} steps | best validation NLL (nats/token) | sampling step, batch 1, 1 thread |')
    print('|---|---|---|---|---|')
    for name, result in results.items():
        print(f'| {name} | {result["parameters"]:,} | {result["cpu_seconds"]:.0f} s | {result["validation_nll_per_token"]:.3f} | {result["step_ms"]:.2f} ms |')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
