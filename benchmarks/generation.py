"""How fast the generation models write music, against the arithmetic they do: issue 23 §4, in one run.

    python benchmarks/generation.py --checkpoint runs/<id>/checkpoints/best.pt      # the default model's trained weights
    python benchmarks/generation.py --repeats 5 --lengths 250 500 1000 2000

For the default model (`TokenLSTM` over REMI tokens, the checkpoint's weights, or a random 2 × 256 one) and for seed
002's `NoteLSTM` at 3 × 512 (random seeded weights: a step costs the same whatever they are), on one torch thread:

- the sampler (`sample_tokens`, `sample_notes`): 1,000 notes at batch 1, the median of `--repeats`;
- a hand-written sampler over the same weights: the same number of steps as the sampler took, each the LSTM's
  arithmetic into preallocated buffers, the output layer, a softmax and an inverse-CDF draw, and nothing else (no
  grammar, no bookkeeping);
- the FLOP floor: a step's multiply-adds × 2 over this thread's measured matmul rate (a 512 × 512 GEMM);
- the memory floor: a step's weight bytes over this thread's measured read bandwidth (a sum over 512 MiB); the weights
  of both models fit in this machine's cache, so a step can beat it;
- the whole `etude infer` process for 1,000 notes (a checkpoint of each model; wall, user and system time);
- the sampler with reduced-precision LSTM weights (`--weights`, default int8 and bf16: `SamplingSettings.weights`),
  timed in the same run, interleaved with fp32 repeat by repeat, in wall and in this thread's CPU time (on a shared
  machine the CPU time is the steadier), and the memory floor of its byte count (the heads stay fp32);
- time against length (the exponent of a power fit: 1 is linear) and batch sampling (`--num 64`) in notes per second.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def timed(function: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def interleaved(functions: dict[str, Callable[[], Any]], repeats: int) -> dict[str, tuple[float, float]]:
    """Median (wall, thread CPU) seconds of each function, the functions taking turns every repeat so that a change
    in the machine's load falls on all of them alike."""
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            wall, cpu = time.perf_counter(), time.thread_time()
            function()
            times[name].append((time.perf_counter() - wall, time.thread_time() - cpu))
    return {name: (statistics.median(t[0] for t in pairs), statistics.median(t[1] for t in pairs)) for name, pairs in times.items()}


def machine_rates() -> tuple[float, float]:
    """(FLOP/s of a 512 × 512 fp32 GEMM, bytes/s of reading 512 MiB) on this thread."""
    import torch

    a, b = torch.randn(512, 512), torch.randn(512, 512)
    seconds = timed(lambda: [torch.mm(a, b) for _ in range(20)], 5) / 20
    big = torch.ones(128 * 1024 * 1024)
    read = timed(lambda: big.sum(), 5)
    return 2 * 512 ** 3 / seconds, big.numel() * 4 / read


def lstm_cost(lstm: Any) -> tuple[int, int]:
    """(multiply-adds, weight bytes) of one step of an nn.LSTM."""
    macs = sum(getattr(lstm, f'weight_ih_l{layer}').numel() + getattr(lstm, f'weight_hh_l{layer}').numel() for layer in range(lstm.num_layers))
    return macs, macs * 4


def hand_written(lstm: Any, embed: Callable[[Any], Any], head: Callable[[Any], Any], steps: int, batch: int = 1) -> float:
    """Seconds for `steps` steps of the bare loop (see the module) over `lstm`'s weights."""
    import torch

    from etude.music.generation.fused import FusedLSTM

    step = FusedLSTM(lstm, batch)
    generator = torch.Generator().manual_seed(0)
    token = torch.zeros(batch, dtype=torch.int64)
    with torch.no_grad():
        started = time.perf_counter()
        for _ in range(steps):
            logits = head(step(embed(token)))
            cumulative = torch.softmax(logits, dim=-1).cumsum_(-1)
            token = torch.searchsorted(cumulative, torch.rand(batch, 1, generator=generator), right=True)[:, 0].clamp_(max=logits.shape[-1] - 1)
        return time.perf_counter() - started


def whole_process(checkpoint: Path, notes: int, folder: Path) -> dict[str, float]:
    """Wall, user and system seconds of `etude infer CHECKPOINT --num 1 --length notes` as its own process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    environment = {**os.environ, 'PYTHONPATH': str(ROOT), 'OMP_NUM_THREADS': '1', 'MKL_NUM_THREADS': '1'}
    subprocess.run([sys.executable, '-m', 'etude', 'infer', str(checkpoint), '--num', '1', '--length', str(notes), '--output', str(folder)],
                   check=True, capture_output=True, env=environment, cwd=folder.parent)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {'wall': wall, 'user': after.ru_utime - before.ru_utime, 'system': after.ru_stime - before.ru_stime}


def export(model: Any, task: dict[str, Any], path: Path) -> Path:
    from etude.export import save_export
    from etude.version import __version__

    return save_export({'dataset': {'name': 'random weights'}, 'task': task, 'hyperparameters': model.hyperparameters.to_dict(),
                        'model': {'class_path': type(model).class_path(), 'etude_version': __version__}, 'model_state_dict': model.state_dict(),
                        'optimiser_state_dicts': [], 'run_info': {'id': 'benchmark', 'epoch': 0, 'best_epoch': 0}, 'testing_metrics': None,
                        'resume_state': None}, path)


WEIGHT_BYTES = {'fp32': 4, 'bf16': 2, 'int8': 1}  # per LSTM weight; int8's per-row scales add 4 bytes a row, left out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--checkpoint', type=Path, help="the default model's export (default: random weights, 2 x 256)")
    parser.add_argument('--repeats', type=int, default=3, help='timings per configuration; the median is reported (default 3)')
    parser.add_argument('--lengths', type=int, nargs='+', default=[250, 500, 1000, 2000], help='notes, for time against length')
    parser.add_argument('--batch', type=int, default=64, help='pieces of the batch figure (default 64)')
    parser.add_argument('--weights', nargs='*', default=['int8', 'bf16'], help='reduced-precision weights to time beside fp32 (default int8 bf16)')
    arguments = parser.parse_args()

    import numpy as np
    import torch

    from etude import load_model
    from etude.music.generation.metrical_task import MetricalGeneration
    from etude.music.generation.model import NoteLSTM
    from etude.music.generation.sampling import SamplingSettings, sample_notes
    from etude.music.generation.task import Generation
    from etude.music.generation.token_model import TokenLSTM
    from etude.music.generation.token_sampling import sample_tokens
    from etude.music.generation.tokens import Representation

    torch.set_num_threads(1)
    torch.manual_seed(0)
    representation = Representation()
    folder = Path(tempfile.mkdtemp(prefix='etude-generation-benchmark-'))
    token_model: Any
    if arguments.checkpoint:
        token_model, token_checkpoint = load_model(str(arguments.checkpoint)), arguments.checkpoint.resolve()
    else:
        token_model = TokenLSTM(TokenLSTM.Parameters(vocabulary_size=representation.vocabulary_size))
        token_checkpoint = export(token_model, MetricalGeneration().to_dict(), folder / 'token.pt')
    seed_model: Any = NoteLSTM(NoteLSTM.Parameters(num_rnn_layers=3, hidden_size=512)).eval()
    seed_checkpoint = export(seed_model, Generation().to_dict(), folder / 'seed.pt')
    token_model.eval()
    flops, bandwidth = machine_rates()
    print(f'{os.uname().machine}, torch {torch.__version__}, one thread: matmul {flops / 1e9:.1f} GFLOP/s, read {bandwidth / 1e9:.1f} GB/s; '
          f'median of {arguments.repeats}')

    def token_sampler(count: int, notes: int, weights: str = 'fp32') -> list[np.ndarray]:
        return sample_tokens(token_model, representation, SamplingSettings(count=count, length_notes=notes, seed=0, weights=weights))

    def seed_sampler(count: int, notes: int, weights: str = 'fp32') -> list[np.ndarray]:
        return sample_notes(seed_model, SamplingSettings(count=count, length_notes=notes, seed=0, weights=weights))

    token_steps = len(token_sampler(1, 1000)[0])
    embedding, head = token_model.embedding.weight.detach(), token_model.head
    head_weight, head_bias = head.weight.detach().t().contiguous(), head.bias.detach()
    seed_columns = seed_model.embedding.weight.detach().t().contiguous()
    seed_input = torch.zeros(1, seed_columns.shape[1] + 2)

    def seed_embed(token: torch.Tensor) -> torch.Tensor:
        seed_input[:, :seed_columns.shape[1]] = seed_columns[token]
        return seed_input

    def seed_head(hidden: torch.Tensor) -> torch.Tensor:
        seed_model.step_head(hidden), seed_model.duration_head(hidden)
        return seed_model.pitch_head(hidden)

    pitch_head = sum(int(layer.weight.numel()) for layer in seed_model.pitch_head if hasattr(layer, 'weight')) + 2 * 512
    models: dict[str, tuple[Any, ...]] = {
        'default (TokenLSTM 2 x 256, REMI)': (token_model, token_sampler, token_steps, lambda token: embedding[token],
                                               lambda hidden: torch.addmm(head_bias, hidden, head_weight), head.weight.numel(), token_checkpoint),
        'seed 002 (NoteLSTM 3 x 512)': (seed_model, seed_sampler, 1000, seed_embed, seed_head, pitch_head, seed_checkpoint),
    }
    results: dict[str, dict[str, Any]] = {}
    with torch.no_grad():
        for name, (model, sampler, steps, embed, output, head_macs, checkpoint) in models.items():
            for weights in ('fp32', *arguments.weights):
                sampler(1, 50, weights)  # warm-up
            precisions = interleaved({weights: functools.partial(sampler, 1, 1000, weights) for weights in ('fp32', *arguments.weights)}, arguments.repeats)
            sampled = precisions['fp32'][0]
            bare = statistics.median([hand_written(model.lstm, embed, output, steps) for _ in range(arguments.repeats)])
            macs, weight_bytes = lstm_cost(model.lstm)
            macs += head_macs
            weight_bytes += head_macs * 4
            lengths = {length: timed(functools.partial(sampler, 1, length), 1) for length in arguments.lengths}
            exponent = float(np.polyfit(np.log(list(lengths)), np.log(list(lengths.values())), 1)[0])
            batch = timed(functools.partial(sampler, arguments.batch, 1000), 1)
            process = whole_process(Path(checkpoint), 1000, folder / f'out-{len(results)}')
            results[name] = {'steps': steps, 'sampler': sampled, 'hand_written': bare, 'flop_floor': steps * 2 * macs / flops,
                             'memory_floor': steps * weight_bytes / bandwidth, 'parameters': sum(p.numel() for p in model.parameters()),
                             'exponent': exponent, 'lengths': lengths, 'batch_notes_per_second': arguments.batch * 1000 / batch, 'process': process,
                             'precisions': precisions, 'precision_floors': {weights: steps * (macs - head_macs) * WEIGHT_BYTES[weights] / bandwidth
                                                                            + steps * head_macs * 4 / bandwidth for weights in precisions}}
    print('\n| figure | ' + ' | '.join(results) + ' |\n|---|' + '---|' * len(results))
    rows = [
        ('parameters', lambda r: f'{r["parameters"]:,}'),
        ('steps for 1,000 notes', lambda r: f'{r["steps"]:,}'),
        ('sampler, 1,000 notes at batch 1', lambda r: f'**{r["sampler"]:.3f} s**'),
        ('hand-written sampler, same steps', lambda r: f'{r["hand_written"]:.3f} s ({r["sampler"] / r["hand_written"]:.2f}×)'),
        ('FLOP floor', lambda r: f'{r["flop_floor"]:.3f} s ({r["sampler"] / r["flop_floor"]:.1f}×)'),
        ('memory floor (weights read once a step)', lambda r: f'{r["memory_floor"]:.3f} s ({r["sampler"] / r["memory_floor"]:.1f}×)'),
        ('whole `etude infer` process: wall / user / system', lambda r: '{wall:.2f} / {user:.2f} / {system:.2f} s'.format(**r['process'])),
        ('time ~ length^k over ' + '/'.join(str(length) for length in arguments.lengths) + ' notes', lambda r: f'k = {r["exponent"]:.2f}'),
        (f'batch {arguments.batch}, notes per second', lambda r: f'{r["batch_notes_per_second"]:,.0f}'),
    ]
    for weights in ('fp32', *arguments.weights):
        rows.append((f'sampler, {weights} weights: wall / thread CPU (over fp32 in the same run)',
                     functools.partial(lambda r, w: f'**{r["precisions"][w][0]:.3f}** / {r["precisions"][w][1]:.3f} s '
                                       f'({r["precisions"][w][0] / r["precisions"]["fp32"][0]:.2f}× / '
                                       f'{r["precisions"][w][1] / r["precisions"]["fp32"][1]:.2f}×)', w=weights)))
        rows.append((f'memory floor, {weights} LSTM weights', functools.partial(lambda r, w: f'{r["precision_floors"][w]:.3f} s', w=weights)))
    for label, cell in rows:
        print(f'| {label} | ' + ' | '.join(cell(result) for result in results.values()) + ' |')
    print('\n' + json.dumps({name: {key: value for key, value in result.items() if key != 'lengths'} for name, result in results.items()}))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
