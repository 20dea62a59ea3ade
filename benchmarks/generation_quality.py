"""Do reduced-precision weights and sampling settings keep the generated pieces' figures? Issue 23 §3, from a trained run.

    python benchmarks/generation_quality.py runs/<id> --weights fp32 int8 bf16          # the same seeds, side by side
    python benchmarks/generation_quality.py runs/<id> --settings 1,1,0 0.9,1,0 1,0.9,0  # temperature,top_p,top_k
    python benchmarks/generation_quality.py runs/<id> --weights fp32 int8 --nll          # and the test NLL per weights

For each sampling setting (weights, temperature, top-p, top-k): the run's 32 pieces of 200 notes (seed 0, as the task
draws them, or `--seeds`) judged against the run's test chorales' openings by `metrical_measures.metrical_figures` (the five JSDs,
in-key share, copied run ...), beside the run's Markov chain's figures (`baselines.json`). `--nll`: the NLL per token
of the test tiles through the same fused step as the sampler (`fused.FusedLSTM` at batch 1, a tile at a time, from
the begin token), per weights. The run's directory is only read; its dataset cache is found under `--data` (default:
the `data/cache` beside the run's `runs/`).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SHOWN = ('jsd_pitch_class', 'jsd_voice_interval', 'jsd_onset_interval', 'jsd_duration', 'jsd_bar_position', 'in_key_share',
         'longest_copied_run', 'longest_copied_run_median', 'notes_per_onset', 'pitch_range', 'on_grid_share')


def test_nll(model: Any, tiles: Any, weights: str) -> float:
    """NLL per scored token (nats) of `tiles` through `FusedLSTM(weights)` at batch 1, each tile from the begin token."""
    import numpy as np
    import torch

    from etude.music.generation.fused import FusedLSTM
    from etude.music.generation.token_data import BOS

    step = FusedLSTM(model.lstm, 1, weights)  # type: ignore[arg-type]
    embedding, head_weight, head_bias = model.embedding.weight.detach(), model.head.weight.detach().t(), model.head.bias.detach()
    scored_weights, total, count = tiles.weights(), 0.0, 0.0
    with torch.inference_mode():
        for row in range(len(tiles)):
            length = int(tiles.lengths[row])
            tokens = torch.as_tensor(tiles.tokens[row, :length])
            inputs = torch.cat([torch.tensor([BOS]), tokens[:-1]])
            step.reset()
            logits = torch.stack([torch.addmm(head_bias, step(embedding[token][None]), head_weight)[0] for token in inputs])
            nll = torch.nn.functional.cross_entropy(logits, tokens, reduction='none').numpy()
            total += float((nll * scored_weights[row, :length]).sum())
            count += float(scored_weights[row, :length].sum())
    return total / float(np.maximum(count, 1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('run', type=Path, help='a music_generation run directory (model=lstm)')
    parser.add_argument('--data', type=Path, help="the run's data directory (default: RUN/../../data)")
    parser.add_argument('--weights', nargs='+', default=['fp32'], help='weights to sample with, each at every --settings (default fp32)')
    parser.add_argument('--settings', nargs='+', default=['1,1,0'], help='temperature,top_p,top_k per setting (default 1,1,0)')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0], help="seeds of the draws, each a set of the task's pieces (default 0, the task's)")
    parser.add_argument('--pieces', type=int, help="pieces per set (default: the task's, 32)")
    parser.add_argument('--nll', action='store_true', help='also the test NLL per token per weights')
    parser.add_argument('--threads', type=int, default=1)
    arguments = parser.parse_args()

    import torch

    from etude import load_model
    from etude.data.store import read_dataset
    from etude.music.generation.metrical_task import MetricalGeneration
    from etude.music.generation.sampling import SamplingSettings
    from etude.music.generation.token_data import token_tiles
    from etude.music.generation.token_sampling import sample_tokens

    torch.set_num_threads(arguments.threads)
    run = arguments.run.resolve()
    model = load_model(str(run / 'checkpoints' / 'best.pt')).eval()
    export = torch.load(run / 'checkpoints' / 'best.pt', map_location='cpu', weights_only=False)
    task = MetricalGeneration.from_dict(export['task'])
    data = arguments.data or run.parent.parent / 'data'
    caches = sorted((data / 'cache').glob('*-tokens-*'))
    tiles = token_tiles(read_dataset(caches[-1]))
    split = json.loads((run / 'split.json').read_text())
    parts = {name: tiles.subset(split[name]['indices']) for name in ('train', 'validation', 'test')}
    references = task._references(parts, 'test')
    representation = task.tokens
    markov = json.loads((run / 'baselines.json').read_text())['test']['markov']
    print(f'{run.name}: {type(model).__name__}, {sum(p.numel() for p in model.parameters()):,} parameters; '
          f'{len(parts["test"])} test tiles, {len(references["evaluated"])} test pieces')
    rows: dict[str, dict[str, float]] = {'Markov chain (baselines.json)': {key: float(markov[key]) for key in SHOWN if key in markov}}
    for weights, setting, seed in itertools.product(arguments.weights, arguments.settings, arguments.seeds):
        temperature, top_p, top_k = (float(part) for part in setting.split(','))
        settings = SamplingSettings(count=arguments.pieces or task.evaluation_pieces, length_notes=task.evaluation_notes, seed=seed, temperature=temperature,
                                    top_p=top_p, top_k=int(top_k), weights=weights)
        started = time.perf_counter()
        pieces = [representation.voiced_notes(piece) for piece in sample_tokens(model, representation, settings)]
        figures = task._judged(pieces, references)
        name = f'{weights}, T {temperature:g}, top-p {top_p:g}, top-k {int(top_k)}' + (f', seed {seed}' if arguments.seeds != [0] else '')
        rows[name] = figures
        if arguments.nll and seed == arguments.seeds[0]:
            figures['nll_per_token'] = test_nll(model, parts['test'], weights)
        print(name, json.dumps({key: round(value, 4) for key, value in figures.items()}), f'({time.perf_counter() - started:.0f} s)', flush=True)
    shown = [*SHOWN, *(['nll_per_token'] if arguments.nll else [])]
    print('\n| measure (test split) | ' + ' | '.join(rows) + ' |\n|---|' + '---|' * len(rows))
    for key in shown:
        print(f'| {key} | ' + ' | '.join(f'{row[key]:.4g}' if key in row else '–' for row in rows.values()) + ' |')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
