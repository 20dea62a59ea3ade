"""What the etude Routine costs: the same CRePE-tiny training by the Routine and by a plain hand-written PyTorch loop.

    python benchmarks/routine_overhead.py                    # 10 runs of each, alternating, then a table
    python benchmarks/routine_overhead.py --variant routine --data DIR --work DIR   # one timed process (the parent's job)
    python benchmarks/routine_overhead.py --in-process       # both loops alternating in one warm process
    python benchmarks/routine_overhead.py --precision bf16   # both in bfloat16 autocast
    python benchmarks/routine_overhead.py --accumulate 2     # both accumulating two batches per update

A user waits for the whole process, imports and exit included, so each run is a separate interpreter timed from
spawn to exit by the parent. The two variants alternate, swapping which goes first every repeat (AB BA AB ...), so
drift in the load of a shared machine falls on both alike; the parent reports medians, minimums and their ratios.
The dataset is generated once, before any timing. Each child also reports its own phases (imports, set-up, the
training loop from before the first epoch to after the test), so a difference can be traced to where it arises.

The plain loop seeds and shuffles exactly as the Routine does (per-epoch generators, the same grouped split), and
with `--precision bf16` or `--accumulate N` it autocasts and accumulates as `etude.training.step.Step` does, so both do the
same arithmetic and must report the same test loss: the parent checks that, which is what makes the timing
comparison fair. The routine variant is written as a routine script is (cf. etude/routines/circular_drum_size.py):
the stored dataset read lazily through its memory maps, the error as a `MeanAbsoluteError` metric; the plain loop
holds the arrays in memory, as a hand-written loop would. Both run single-threaded by default (`--threads`), because on a loaded 2-core machine
torch's own threads fight the other processes and swamp any difference with noise.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()

import argparse  # noqa: E402 (the clock starts before anything else is imported)
import contextlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from importlib.metadata import version  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

SPLIT = (0.7, 0.15, 0.15)
INPUT_LENGTH = 1024
LEARNING_RATE = 1e-3
DROPOUT = 0.1
VARIANTS = ('plain', 'routine')


def run_plain(args: argparse.Namespace) -> dict[str, Any]:
    """What a careful researcher writes by hand: seed, split by drum, Adam, train / validate / checkpoint, test best."""
    import numpy as np
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    imported = time.perf_counter()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    data = Path(args.data)
    inputs = torch.from_numpy(np.ascontiguousarray(np.load(data / 'inputs.npy', mmap_mode='r')[:, :INPUT_LENGTH]))
    targets = torch.from_numpy(np.load(data / 'labels' / 'diameter.npy').astype(np.float32).reshape(-1, 1))
    groups = np.load(data / 'groups.npy')
    drums = np.random.default_rng(args.seed).permutation(np.unique(groups))
    train_count, validation_count = round(SPLIT[0] * len(drums)), round(SPLIT[1] * len(drums))
    parts = np.split(drums, [train_count, train_count + validation_count])
    train, validation, test = (TensorDataset(*(t[np.flatnonzero(np.isin(groups, part))] for t in (inputs, targets))) for part in parts)
    torch.manual_seed(args.seed)

    class ConvolutionBlock(torch.nn.Module):
        def __init__(self, in_channels: int, filters: int, width: int, stride: int) -> None:
            super().__init__()
            self.pad = torch.nn.ConstantPad1d(((width - 1) // 2, width - 1 - (width - 1) // 2), 0.0)
            self.convolution = torch.nn.Conv1d(in_channels, filters, width, stride)
            self.normalisation = torch.nn.BatchNorm1d(filters)
            self.pool = torch.nn.MaxPool1d(2)
            self.dropout = torch.nn.Dropout(DROPOUT)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.dropout(self.pool(self.normalisation(torch.relu(self.convolution(self.pad(x))))))

    class TinyCRePE(torch.nn.Module):
        """CRePE at 'tiny' capacity, layer for layer as etude.models.CRePE builds it (so the weights match too)."""

        def __init__(self) -> None:
            super().__init__()
            channels = [1, 128, 16, 16, 16, 32, 64]
            widths, strides = (512, 64, 64, 64, 64, 64), (4, 1, 1, 1, 1, 1)
            self.blocks = torch.nn.Sequential(*(ConvolutionBlock(channels[i], channels[i + 1], widths[i], strides[i]) for i in range(6)))
            self.linear = torch.nn.Linear(64 * 4, 1)  # 64 channels × 4 steps: 1024 samples /4 by the first stride, /2 by six pools

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.linear(self.blocks(x.unsqueeze(1)).flatten(1))

    with torch.random.fork_rng(devices=[]):  # as etude's models build: initial weights from the seed, the global generator left alone
        torch.manual_seed(args.seed)
        model = TinyCRePE().to(device)
    optimiser = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    loss_function = torch.nn.functional.mse_loss
    loader_options = {'batch_size': args.batch_size, 'pin_memory': device.type == 'cuda'}
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)

    def evaluate(dataset: TensorDataset) -> tuple[float, float]:
        """Mean loss and mean absolute error (cm) over a split."""
        model.eval()
        loss_sum = error_sum = 0.0
        with torch.no_grad():
            # a generator of its own, as the Routine's loaders have, so evaluating draws nothing from dropout's global RNG
            for x, y in DataLoader(dataset, generator=torch.Generator(), **loader_options):
                x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
                with autocast():
                    predictions = model(x)
                    loss_sum += loss_function(predictions, y).float().item() * len(x)
                error_sum += (predictions - y).abs().mean().item() * 100 * len(x)
        return loss_sum / len(dataset), error_sum / len(dataset)

    def autocast() -> Any:
        return torch.autocast(device.type, dtype=torch.bfloat16) if args.precision == 'bf16' else contextlib.nullcontext()

    loop_started, loop_cpu_started = time.perf_counter(), time.process_time()
    best_loss = float('inf')
    for epoch in range(1, args.epochs + 1):
        model.train()
        generator = torch.Generator().manual_seed(args.seed * 100_003 + epoch)  # the Routine's batch order, for equal losses
        loader = DataLoader(train, shuffle=True, generator=generator, **loader_options)
        for index, (x, y) in enumerate(loader):
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            with autocast():
                loss = loss_function(model(x), y)
            (loss / args.accumulate if args.accumulate > 1 else loss).backward()
            if (index + 1) % args.accumulate == 0 or index == len(loader) - 1:
                optimiser.step()
                optimiser.zero_grad(set_to_none=True)
        validation_loss, _ = evaluate(validation)
        torch.save({'epoch': epoch, 'model': model.state_dict(), 'optimiser': optimiser.state_dict()}, work / 'last.pt')
        if validation_loss < best_loss:
            best_loss = validation_loss
            torch.save(model.state_dict(), work / 'best.pt')
    model.load_state_dict(torch.load(work / 'best.pt', map_location=device, weights_only=True))
    test_loss, test_mae_cm = evaluate(test)
    finished = time.perf_counter()
    return {'imports': imported - STARTED, 'setup': loop_started - imported, 'loop': finished - loop_started,
            'loop_cpu': time.process_time() - loop_cpu_started,
            'test_loss': test_loss, 'test_mae_cm': test_mae_cm, 'parameters': sum(p.numel() for p in model.parameters())}


def run_routine(args: argparse.Namespace) -> dict[str, Any]:
    """The same training as an etude routine script writes it (cf. etude/routines/circular_drum_size.py)."""
    import torch

    from etude import Routine
    from etude.data.torch_dataset import Crop
    from etude.metrics import MeanAbsoluteError
    from etude.models import CRePE

    imported = time.perf_counter()
    if args.threads:
        torch.set_num_threads(args.threads)
    routine = Routine(runs_directory=Path(args.work) / 'runs', verbose=False)
    parameters = routine.set_parameters(CRePE.Parameters(
        seed=args.seed, batch_size=args.batch_size, dataset_split=SPLIT, learning_rate=LEARNING_RATE, num_of_epochs=args.epochs,
        with_early_stopping=False, dropout=DROPOUT, input_length=INPUT_LENGTH, accumulate_batches=args.accumulate,
    ), overrides=[f'device={args.device}', f'precision={args.precision}'])
    stored = routine.import_dataset(args.data)
    routine.set_dataset(stored, targets=['diameter'], transform=Crop(INPUT_LENGTH))
    model = routine.set_model(CRePE(parameters))
    loop_started, loop_cpu_started = time.perf_counter(), time.process_time()
    summary = routine.train(metrics=[MeanAbsoluteError(name='mae_cm', scale=100)])
    finished = time.perf_counter()
    return {'imports': imported - STARTED, 'setup': loop_started - imported, 'loop': finished - loop_started,
            'loop_cpu': time.process_time() - loop_cpu_started,
            'test_loss': summary['test']['loss'], 'test_mae_cm': summary['test']['mae_cm'], 'parameters': sum(p.numel() for p in model.parameters())}


def make_dataset(directory: Path, drums: int, strikes: int, seed: int) -> None:
    """Generate the drums once, outside every timed process (reused when `directory` already holds them)."""
    from etude.data import obtain_dataset
    from etude.data.samplers import CircularDrumSampler, CircularDrumSettings

    sampler = CircularDrumSampler(CircularDrumSettings(number_of_drums=drums, strikes_per_drum=strikes))
    obtain_dataset(directory, seed=seed, sampler=sampler, progress=False)


def time_child(args: argparse.Namespace, variant: str, data: Path, work: Path) -> dict[str, Any]:
    """Spawn one variant and time it from spawn to exit, in wall time and in CPU time (which other processes on a
    shared machine disturb far less); its own phase timings come back on a `RESULT` line."""
    command = [sys.executable, __file__, '--variant', variant, '--data', str(data), '--work', str(work), '--epochs', str(args.epochs),
               '--batch-size', str(args.batch_size), '--threads', str(args.threads), '--device', args.device, '--seed', str(args.seed),
               '--precision', args.precision, '--accumulate', str(args.accumulate)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    process = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if process.returncode != 0:
        raise SystemExit(f'{variant} run failed ({process.returncode}):\n{process.stderr[-3000:]}')
    result = json.loads(next(line for line in process.stdout.splitlines() if line.startswith('RESULT '))[7:])
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return {**result, 'wall': wall, 'cpu': cpu}


def machine() -> str:
    """CPU model, cores, memory, Python and torch versions: the figures only mean something beside these."""
    cpuinfo, meminfo = (Path(f'/proc/{name}').read_text().splitlines() for name in ('cpuinfo', 'meminfo'))
    cpu = next((line.split(':', 1)[1].strip() for line in cpuinfo if line.startswith('model name')), platform.processor())
    memory = next((int(line.split()[1]) / 2**20 for line in meminfo if line.startswith('MemTotal')), 0.0)
    return f'{cpu}, {os.cpu_count()} cores, {memory:.0f} GiB RAM, Python {platform.python_version()}, torch {version("torch")}, {platform.system()}'


def report(runs: dict[str, list[dict[str, Any]]], args: argparse.Namespace) -> None:
    """Print the table (medians per phase), the ratios and whether the 1.02 target holds."""
    def median(variant: str, key: str) -> float:
        return statistics.median(run[key] for run in runs[variant])

    def ratio(key: str, summary: Any = statistics.median) -> float:
        return summary(run[key] for run in runs['routine']) / summary(run[key] for run in runs['plain'])

    for run in runs['plain'] + runs['routine']:
        run['rest'] = run['wall'] - run['imports'] - run['setup'] - run['loop']
    print(f'\n{machine()}')
    print(f'{args.drums} drums x {args.strikes} strikes, {args.epochs} epochs, batch {args.batch_size}, {args.threads or "default"} thread(s), '
          f'device {args.device}, precision {args.precision}, accumulate {args.accumulate}, {args.repeats} runs each; medians in seconds\n')
    print('| variant | whole process | min | whole process, CPU | imports | set-up | train + test loop | loop, CPU | start-up + exit |')
    print('|---|---|---|---|---|---|---|---|---|')
    for variant in VARIANTS:
        cells = [median(variant, key) for key in ('wall',)] + [min(run['wall'] for run in runs[variant])]
        cells += [median(variant, key) for key in ('cpu', 'imports', 'setup', 'loop', 'loop_cpu', 'rest')]
        print(f'| {variant} | ' + ' | '.join(f'{cell:.2f}' for cell in cells) + ' |')
    pairs = sorted(r['wall'] / p['wall'] for r, p in zip(runs['routine'], runs['plain'], strict=True))
    print(f'\nroutine / plain, whole process: {ratio("wall"):.3f} (medians), {ratio("wall", min):.3f} (minimums), '
          f'{ratio("cpu"):.3f} (CPU time, medians); per repeat {pairs[0]:.3f} .. {pairs[-1]:.3f}')
    print(f'routine / plain, train + test loop: {ratio("loop"):.3f} (medians), {ratio("loop_cpu"):.3f} (CPU time, medians)')
    print(f'target routine <= 1.02 x plain (whole process, medians): {"met" if ratio("wall") <= 1.02 else "NOT met"}')
    losses = {variant: runs[variant][0]['test_loss'] for variant in VARIANTS}
    same = abs(losses['routine'] - losses['plain']) <= 1e-5 * abs(losses['plain'])
    print(f'same training: test loss plain {losses["plain"]:.6g}, routine {losses["routine"]:.6g} '
          f'({"equal" if same else "DIFFERENT: the two saw other batches or did other arithmetic"}); '
          f'parameters {runs["plain"][0]["parameters"]} vs {runs["routine"][0]["parameters"]}')


def compare_in_process(args: argparse.Namespace, data: Path, work: Path) -> None:
    """Both variants' train + test loops, alternating in one process after a warm-up of each: what the Routine's own
    bookkeeping costs, without the start-up, import and memory-layout differences of separate processes."""
    args.data = data
    loops: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
    for repeat in range(args.repeats + 1):
        for variant in VARIANTS if repeat % 2 == 0 else VARIANTS[::-1]:
            args.work = work / f'{variant}-{repeat}'
            result = (run_plain if variant == 'plain' else run_routine)(args)
            if repeat:  # the first round pays for lazy initialisation
                loops[variant].append(result['loop'])
    medians = {variant: statistics.median(values) for variant, values in loops.items()}
    print(f'\n{machine()}\nin one process, {args.repeats} loops each after a warm-up: train + test loop median plain {medians["plain"]:.3f} s, '
          f'routine {medians["routine"]:.3f} s, ratio {medians["routine"] / medians["plain"]:.3f}')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--variant', choices=VARIANTS, help='run one variant in this process and print its RESULT line (used by the parent)')
    parser.add_argument('--data', type=Path, help='dataset directory (default: generated into a temporary folder)')
    parser.add_argument('--work', type=Path, help='where a child writes its checkpoints / run directory')
    parser.add_argument('--repeats', type=int, default=10, help='timed runs of each variant (even: each goes first equally often)')
    parser.add_argument('--drums', type=int, default=60)
    parser.add_argument('--strikes', type=int, default=5)
    parser.add_argument('--epochs', type=int, default=4)
    parser.add_argument('--batch-size', type=int, default=32)
    parser.add_argument('--threads', type=int, default=1, help='torch threads in each child; 0 keeps torch\'s default')
    parser.add_argument('--device', default='cpu', help='cpu, or cuda on a GPU machine (both variants use it)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--precision', choices=('fp32', 'bf16'), default='fp32', help='autocast precision of both variants')
    parser.add_argument('--accumulate', type=int, default=1, help='batches per optimiser update in both variants')
    parser.add_argument('--in-process', action='store_true', help='compare the two loops inside one process instead')
    args = parser.parse_args()
    if args.variant is not None:
        result = (run_plain if args.variant == 'plain' else run_routine)(args)
        print('RESULT ' + json.dumps(result), flush=True)
        return
    with tempfile.TemporaryDirectory(prefix='etude-routine-overhead-') as temporary:
        data = args.data or Path(temporary) / 'drums'
        make_dataset(data, args.drums, args.strikes, args.seed)
        if args.in_process:
            compare_in_process(args, data, Path(temporary))
            return
        subprocess.run([sys.executable, '-c', 'import torch, etude.models'], check=True)  # warm the page cache for both alike
        runs: dict[str, list[dict[str, Any]]] = {variant: [] for variant in VARIANTS}
        for repeat in range(args.repeats):
            for variant in VARIANTS if repeat % 2 == 0 else VARIANTS[::-1]:
                result = time_child(args, variant, data, Path(temporary) / f'{variant}-{repeat}')
                runs[variant].append(result)
                print(f'run {repeat + 1}/{args.repeats} {variant:7s} {result["wall"]:6.2f} s (loop {result["loop"]:.2f} s)', flush=True)
    report(runs, args)


if __name__ == '__main__':
    main()
