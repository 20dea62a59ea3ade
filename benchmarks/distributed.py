"""Data parallelism under torchrun: two gloo processes against one, on the same global batch.

    python benchmarks/distributed.py [--repeats 3] [--processes 2] [--epochs 4]

Both train CRePE-tiny on the same generated drums (60 drums x 5 strikes, batch 32 over all processes) with the
Routine; the parent starts `torchrun --standalone --nproc_per_node=N` and a plain single process alternately. Each
worker times its training loop and the time its process spends averaging gradients (`Distributed.average_gradients`,
the only communication per update), and reports items per second. On a 2-core machine two processes share the
cores a single process already uses, so this is not a speed target: it is a baseline to compare bigger machines with,
and the communication share shows what gloo's all-reduce costs per update.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def worker(args: argparse.Namespace) -> None:
    import torch

    from etude import Routine
    from etude.data.torch_dataset import Crop
    from etude.models import CRePE
    from etude.training.distributed import Distributed

    torch.set_num_threads(1)
    communication = [0.0]
    original = Distributed.average_gradients

    def timed(self: Distributed, parameters: Any) -> None:
        started = time.perf_counter()
        original(self, parameters)
        communication[0] += time.perf_counter() - started

    Distributed.average_gradients = timed  # type: ignore[method-assign]
    routine = Routine(runs_directory=Path(args.work) / 'runs', verbose=False)
    parameters = routine.set_parameters(CRePE.Parameters(batch_size=32, dataset_split=(0.7, 0.15, 0.15), num_of_epochs=args.epochs,
                                                         with_early_stopping=False, dropout=0.1), overrides=['device=cpu'])
    routine.set_dataset(routine.import_dataset(args.data), targets=['diameter'], transform=Crop(1024))
    routine.set_model(CRePE(parameters))
    started = time.perf_counter()
    summary = routine.train()
    loop = time.perf_counter() - started
    if routine.is_main:
        items = len(routine.split['train']) * args.epochs
        print('RESULT ' + json.dumps({'loop': loop, 'communication': communication[0], 'items_per_second': items / loop,
                                      'test_loss': summary['test']['loss']}), flush=True)


def run(command: list[str]) -> dict[str, Any]:
    environment = {**os.environ, 'PYTHONPATH': str(ROOT), 'OMP_NUM_THREADS': '1'}
    process = subprocess.run(command, capture_output=True, text=True, env=environment)
    if process.returncode != 0:
        raise SystemExit(f'failed ({process.returncode}):\n{process.stderr[-3000:]}')
    return json.loads(next(line for line in process.stdout.splitlines() if line.startswith('RESULT '))[7:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    parser.add_argument('--worker', action='store_true', help='(used by the parent) train once and print a RESULT line')
    parser.add_argument('--data', type=Path)
    parser.add_argument('--work', type=Path)
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--processes', type=int, default=2)
    parser.add_argument('--epochs', type=int, default=4)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    from etude.data import obtain_dataset
    from etude.data.samplers import CircularDrumSampler, CircularDrumSettings

    with tempfile.TemporaryDirectory(prefix='etude-distributed-') as temporary:
        data = Path(temporary) / 'drums'
        obtain_dataset(data, sampler=CircularDrumSampler(CircularDrumSettings(number_of_drums=60, strikes_per_drum=5)), progress=False)
        results: dict[str, list[dict[str, Any]]] = {'1 process': [], f'{args.processes} processes': []}
        for repeat in range(args.repeats):
            for label in (list(results) if repeat % 2 == 0 else list(results)[::-1]):
                work = Path(temporary) / f'{label}-{repeat}'
                arguments = [__file__, '--worker', '--data', str(data), '--work', str(work), '--epochs', str(args.epochs)]
                launcher = [sys.executable] if label == '1 process' else [sys.executable, '-m', 'torch.distributed.run', '--standalone',
                                                                          f'--nproc_per_node={args.processes}']
                results[label].append(run([*launcher, *arguments]))
                print(f'{label}: {results[label][-1]["items_per_second"]:.0f} items/s', flush=True)
    print(f'\n{args.repeats} runs each, {args.epochs} epochs, global batch 32; medians\n')
    print('| variant | training items / s | train + test loop (s) | communication (s) | communication share |\n|---|---:|---:|---:|---:|')
    medians = {}
    for label, runs in results.items():
        medians[label] = {key: statistics.median(run[key] for run in runs) for key in ('items_per_second', 'loop', 'communication')}
        share = medians[label]['communication'] / medians[label]['loop']
        print(f'| {label} | {medians[label]["items_per_second"]:.0f} | {medians[label]["loop"]:.2f} | {medians[label]["communication"]:.2f} | {share:.1%} |')
    labels = list(results)
    print(f'\nthroughput ratio {labels[1]} / {labels[0]}: {medians[labels[1]]["items_per_second"] / medians[labels[0]]["items_per_second"]:.2f}')


if __name__ == '__main__':
    main()
