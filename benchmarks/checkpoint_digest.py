"""What the weights digest costs: saving and loading a 100 MB export with and without computing / checking it.

    python benchmarks/checkpoint_digest.py [--megabytes 100] [--repeats 5]

Every export records a sha256 of its weights and `load_export` checks it, so flipped bytes are caught. The
baseline is the same save (torch.save to a temporary file, fsync, rename) and the same load without the digest,
measured in the same run; the table shows medians and the ratio.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from etude.export import load_export, save_export, weights_digest


def export_of(megabytes: int) -> dict:  # type: ignore[type-arg]
    """An export whose weights are `megabytes` of float32 in 64 tensors, as a mid-sized model's would be."""
    per_tensor = megabytes * 2**20 // 4 // 64
    weights = {f'layer{index}.weight': torch.randn(per_tensor) for index in range(64)}
    return {'format': 'etude-model', 'format_version': 2, 'model': {'class_path': 'etude.models.crepe.CRePE', 'etude_version': '0'},
            'hyperparameters': {}, 'model_state_dict': weights, 'run_info': {'epoch': 1}, 'dataset': {}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    parser.add_argument('--megabytes', type=int, default=100)
    parser.add_argument('--repeats', type=int, default=5)
    args = parser.parse_args()
    export = export_of(args.megabytes)
    timings: dict[str, list[float]] = {'digest alone': [], 'load without check': [], 'load with check': [], 'save (with digest)': []}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / 'model.pt'
        for _ in range(args.repeats):
            started = time.perf_counter()
            save_export(export, path)  # type: ignore[arg-type]
            timings['save (with digest)'].append(time.perf_counter() - started)
            started = time.perf_counter()
            weights_digest(export['model_state_dict'])
            timings['digest alone'].append(time.perf_counter() - started)
            for label, verify in (('load without check', False), ('load with check', True)):
                started = time.perf_counter()
                load_export(path, verify=verify)
                timings[label].append(time.perf_counter() - started)
    medians = {label: statistics.median(values) for label, values in timings.items()}
    print(f'{args.megabytes} MB of float32 weights, {args.repeats} repeats, medians\n')
    print('| step | seconds |\n|---|---:|')
    for label, value in medians.items():
        print(f'| {label} | {value:.3f} |')
    print(f'\nload with check / without: {medians["load with check"] / medians["load without check"]:.2f}x; '
          f'digest {args.megabytes / medians["digest alone"]:.0f} MB/s; save without the digest would be about '
          f'{medians["save (with digest)"] - medians["digest alone"]:.3f} s')


if __name__ == '__main__':
    main()
