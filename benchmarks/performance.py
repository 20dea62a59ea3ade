"""Benchmark the expressive-performance pipeline: alignment, featurisation and inference.

    pipenv run python benchmarks/performance.py                 # 300 / 3,000 / 30,000 notes; 12 pieces featurised
    pipenv run python benchmarks/performance.py --sizes 300 3000 --pieces 6

(a) alignment: `align_score_to_performance` of a score of n notes (a real chorale written out again and again, each
    copy transposed so copies differ) against the rule performer's performance of it; notes per second, the peak
    memory Python allocates during it (tracemalloc, which sees numpy's buffers), and the growth exponent of time and
    memory between the sizes (the slope of log time over log notes).
(b) featurisation: `SequenceCache` building `PerformanceSequences` of `--pieces` rule-performed chorales from scratch
    (cold: read, align, encode, in one process), then loading the cached dataset (cached); pieces per second.
(c) inference: the LSTM and the HAN (default sizes, untrained weights: the time does not depend on them) playing a
    3,000-note score, from score features to rendered notes.

Runs single-threaded (`torch.set_num_threads(1)`); times are this process's CPU seconds, the best of `--repeats`, so
that other work on a shared machine does not count. Prints a markdown table for docs/performance.md.
"""

from __future__ import annotations

import argparse
import functools
import platform
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch


def _tiled_score(score: np.ndarray, notes: int) -> np.ndarray:
    """A score of `notes` notes: copies of `score` one after another, each transposed by a different step."""
    span = float(np.ceil(score['onset_beats'].max() + score['duration_beats'].max()))
    copies = []
    for index in range(int(np.ceil(notes / len(score)))):
        copy = score.copy()
        copy['onset_beats'] += index * span
        copy['pitch'] = np.clip(copy['pitch'] + (index * 5) % 12 - 6, 21, 108)
        copies.append(copy)
    return np.concatenate(copies)[:notes]


def _best(function: Callable[[], Any], repeats: int) -> tuple[float, int, Any]:
    """Best CPU time of `repeats` untraced calls (this process's, so other work on a shared machine does not count),
    and the peak memory and result of one more call under tracemalloc (which sees numpy's buffers, and slows Python
    code too much to be timed)."""
    tracemalloc.start()
    result = function()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return min(_timed(function) for _ in range(repeats)), peak, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--sizes', type=int, nargs='+', default=[300, 3000, 30000])
    parser.add_argument('--pieces', type=int, default=12)
    parser.add_argument('--repeats', type=int, default=2)
    arguments = parser.parse_args()
    torch.set_num_threads(1)

    from etude.data.dataset_layouts import score_performance_pairs
    from etude.data.score import read_score
    from etude.data.sequences import SequenceCache
    from etude.music.performance import ExpressivePerformance, PerformanceHAN, PerformanceLSTM, predict_piece
    from etude.music.performance.alignment import align_score_to_performance
    from etude.music.performance.codec import render_performance
    from etude.music.performance.rule_performer import RulePerformer, export_rule_performances
    from etude.music.performance.sequences import PerformanceSequences

    rows = [f'CPU: {platform.processor() or platform.machine()}, torch {torch.__version__}, 1 thread', '',
            '| step | size | time | rate | peak memory |', '|---|---|---|---|---|']
    with tempfile.TemporaryDirectory(prefix='etude-performance-benchmark-') as scratch:
        pairs = export_rule_performances(Path(scratch) / 'pairs', limit=arguments.pieces, seed=0)
        chorale = read_score(pairs[0].with_suffix('.musicxml'), expand_repeats=True)
        timings = []
        for size in arguments.sizes:
            score = _tiled_score(chorale, size)
            notes, _ = render_performance(score, RulePerformer().play(score, seed=1), start_seconds=0.5)
            performance = np.sort(notes, order=['start', 'pitch'])
            seconds, peak, alignment = _best(functools.partial(align_score_to_performance, score, performance), arguments.repeats)
            timings.append((size, seconds, peak))
            rows.append(f'| (a) alignment | {size:,} notes | {seconds:.3f} s | {size / seconds:,.0f} notes/s | {peak / 2**20:.1f} MiB |'
                        f' <!-- match rate {alignment.match_rate:.3f} -->')
        if len(timings) > 1:
            sizes = np.log([size for size, _, _ in timings])
            time_slope = np.polyfit(sizes, np.log([seconds for _, seconds, _ in timings]), 1)[0]
            memory_slope = np.polyfit(sizes, np.log([peak for _, _, peak in timings]), 1)[0]
            rows.append(f'| (a) growth | {timings[0][0]:,} → {timings[-1][0]:,} | time ∝ n^{time_slope:.2f} | | memory ∝ n^{memory_slope:.2f} |')

        definition = score_performance_pairs(Path(scratch) / 'pairs')
        cache = Path(scratch) / 'cache'
        cold = _timed(lambda: SequenceCache(definition, PerformanceSequences(), cache_root=cache, workers=1, progress=False).load())
        warm = min(_timed(lambda: SequenceCache(definition, PerformanceSequences(), cache_root=cache, workers=1, progress=False).load())
                   for _ in range(arguments.repeats))
        count = len(definition)
        rows.append(f'| (b) featurise, cold | {count} pieces | {cold:.2f} s | {count / cold:.2f} pieces/s | |')
        rows.append(f'| (b) featurise, cached (cache hit: fingerprint, open) | {count} pieces | {warm:.3f} s | {count / warm:,.0f} pieces/s | |')

        from etude.music.performance.codec import score_features

        score = _tiled_score(chorale, 3000)
        features = score_features(score)
        task = ExpressivePerformance()
        for name, model in (('LSTM', PerformanceLSTM(PerformanceLSTM.Parameters())), ('HAN', PerformanceHAN(PerformanceHAN.Parameters()))):
            def play(model=model) -> None:
                predicted = predict_piece(model, features, task.sequence_length, torch.device('cpu'))
                names = ('velocity', 'onset_deviation', 'log_duration_ratio', 'beat_seconds')
                render_performance(score, {key: predicted[:, index].astype(np.float32) for index, key in enumerate(names)})
            seconds = min(_timed(play) for _ in range(arguments.repeats))
            rows.append(f'| (c) inference, {name} | 3,000 notes | {seconds:.2f} s | {3000 / seconds:,.0f} notes/s | |')
    print('\n'.join(rows))


def _timed(function: Callable[[], Any]) -> float:
    """CPU seconds of one call in this process (single-threaded, so close to wall time on an idle machine)."""
    started = time.process_time()
    function()
    return time.process_time() - started


if __name__ == '__main__':
    main()
