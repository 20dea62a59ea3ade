"""How fast `NoteLSTM` writes music: notes per second, incremental sampler beside the naive one, at seed 002's 3 x 512.

    python benchmarks/generation.py                      # batch 1 and 32, 100 / 1,000 / 5,000 notes, one thread
    python benchmarks/generation.py --threads 2 --repeats 5

The incremental sampler (`etude.music.generation.sampling.sample_notes`) carries the LSTM's state, one step per note; the
naive one (`sample_notes_naive`) re-runs the whole prefix for every note, as a sampler without state must. The model
has random weights (seeded): the cost of a step does not depend on them. Each configuration is timed `--repeats`
times and the median reported; a naive run whose time, projected from its 100-note time by its quadratic growth, would
exceed `--naive-budget` seconds is left out (and its projection shown). The incremental times are fitted by
time = c * length^k over the lengths, and k stated: 1 means linear.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def timed(function, repeats: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--threads', type=int, default=1, help='torch threads (default 1)')
    parser.add_argument('--repeats', type=int, default=3, help='timings per configuration; the median is reported (default 3)')
    parser.add_argument('--lengths', type=int, nargs='+', default=[100, 1000, 5000])
    parser.add_argument('--batches', type=int, nargs='+', default=[1, 32])
    parser.add_argument('--naive-budget', type=float, default=60.0, help='longest naive run to time, in projected seconds (default 60)')
    parser.add_argument('--device', default='cpu')
    arguments = parser.parse_args()

    import numpy as np
    import torch

    from etude.music.generation.model import NoteLSTM
    from etude.music.generation.sampling import SamplingSettings, sample_notes, sample_notes_naive

    torch.set_num_threads(arguments.threads)
    torch.manual_seed(0)
    model = NoteLSTM(NoteLSTM.Parameters(num_rnn_layers=3, hidden_size=512)).to(arguments.device).eval()
    count = sum(parameter.numel() for parameter in model.parameters())
    print(f'NoteLSTM 3 x 512 ({count:,} parameters) on {arguments.device}, {arguments.threads} thread(s), median of {arguments.repeats}')
    sample_notes(model, SamplingSettings(count=1, length_notes=20))  # warm-up

    rows = []
    for batch in arguments.batches:
        incremental = {}
        naive_first = None
        for length in arguments.lengths:
            settings = SamplingSettings(count=batch, length_notes=length, seed=0)
            incremental[length] = timed(lambda settings=settings: sample_notes(model, settings), arguments.repeats)
            projected = naive_first * (length / arguments.lengths[0]) ** 2 if naive_first is not None else 0.0
            if projected <= arguments.naive_budget:
                naive = timed(lambda settings=settings: sample_notes_naive(model, settings), 1 if length > arguments.lengths[0] else arguments.repeats)
                naive_first = naive if naive_first is None else naive_first
                naive_text = f'{naive:9.2f} s {batch * length / naive:9.0f} notes/s {naive / incremental[length]:7.1f}x'
            else:
                naive_text = f'   (projected {projected:,.0f} s: not run)'
            rows.append(f'{batch:>5} {length:>7} {incremental[length]:9.3f} s {batch * length / incremental[length]:9.0f} notes/s   {naive_text}')
        lengths = np.array(sorted(incremental), dtype=np.float64)
        exponent = np.polyfit(np.log(lengths), np.log([incremental[int(length)] for length in lengths]), 1)[0]
        rows.append(f'      batch {batch}: incremental time ~ length^{exponent:.2f}')
    print(f'{"batch":>5} {"notes":>7} {"incremental":>11} {"":>15}   {"naive (re-runs the prefix)":>38}')
    for row in rows:
        print(row)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
