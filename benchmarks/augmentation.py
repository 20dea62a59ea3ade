"""What the piano transcriber's batch augmentation costs beside a training step, per augmentor.

    python benchmarks/augmentation.py                  # 8 x 4 s at 16 kHz, one thread, on the CPU
    python benchmarks/augmentation.py --device cuda    # on a GPU (synchronised before each clock read)

For the routine's batch (`--batch` segments of `--seconds` at 16 kHz, random audio: the arithmetic does not depend
on what is played) it times, in one process and interleaved round by round so a busy machine slows all alike:
a training step of `PianoTranscriber` at its defaults (the CPU network: forward, loss, backward, Adam), each
augmentor applied to every segment (p = 1), and the chain at the probabilities given. Medians of `--repeats` rounds,
in milliseconds, with each as a share of the training step. The baseline is the step itself.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time
from collections.abc import Callable

import torch

from etude.data.acoustics import Equalizer, Reverb
from etude.data.augment import AddNoise, BatchAugmentation, BatchAugmentor, PitchShift
from etude.music.transcription.model import PianoTranscriber, head_losses

SAMPLE_RATE = 16_000


def timed(work: Callable[[], object], device: torch.device) -> float:
    """Seconds `work` takes, the device synchronised before and after."""
    if device.type == 'cuda':
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    work()
    if device.type == 'cuda':
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--batch', type=int, default=8, help='segments per batch (the routine: 8)')
    parser.add_argument('--seconds', type=float, default=4.0, help='seconds per segment (the routine: 4)')
    parser.add_argument('--threads', type=int, default=1, help='torch threads on the CPU')
    parser.add_argument('--repeats', type=int, default=15, help='interleaved rounds; medians are reported')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--reverb-probability', type=float, default=0.3)
    parser.add_argument('--equalizer-probability', type=float, default=0.3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    samples = int(args.seconds * SAMPLE_RATE)
    audio = 0.1 * torch.randn(args.batch, samples, generator=torch.Generator().manual_seed(0)).to(device)

    model = PianoTranscriber(PianoTranscriber.Parameters()).to(device).train()
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    frames = samples // model.hyperparameters.hop_length + 1
    rolls = (torch.rand(args.batch, frames, 88, generator=torch.Generator().manual_seed(1)) < 0.03).float().to(device)
    targets = {'frame': rolls, 'onset': rolls, 'onset_regression': rolls, 'offset_regression': rolls, 'velocity': 0.5 * rolls}

    def step() -> None:
        optimiser.zero_grad()
        losses = head_losses(model(audio), targets)
        sum(losses.values(), start=torch.zeros((), device=device)).backward()
        optimiser.step()

    every: dict[str, BatchAugmentor] = {
        'Reverb (RT60 0.2-1.5 s), p = 1': Reverb(SAMPLE_RATE),
        'Equalizer (3 bands, +-6 dB), p = 1': Equalizer(SAMPLE_RATE, 6.0),
        'PitchShift (+-2), p = 1': PitchShift(SAMPLE_RATE, (-2, 2)),
        'AddNoise, p = 1': AddNoise((20.0, 50.0)),
    }
    chains = {name: BatchAugmentation(augmentor, seed=0) for name, augmentor in every.items()}
    chains[f'Reverb p = {args.reverb_probability} + Equalizer p = {args.equalizer_probability}'] = BatchAugmentation(
        Reverb(SAMPLE_RATE, p=args.reverb_probability), Equalizer(SAMPLE_RATE, 6.0, p=args.equalizer_probability), seed=0)
    chains['the routine today: PitchShift p = 0.5 + AddNoise p = 0.3'] = BatchAugmentation(
        PitchShift(SAMPLE_RATE, (-2, 2), p=0.5), AddNoise((20.0, 50.0), p=0.3), seed=0)
    for chain in chains.values():  # warm-up: first calls import and plan
        chain(audio, targets)
    step()
    times: dict[str, list[float]] = {'training step': [], **{name: [] for name in chains}}
    for round_ in range(args.repeats):
        times['training step'].append(timed(step, device))
        for name, chain in chains.items():
            chain.reset(round_)
            times[name].append(timed(functools.partial(chain, audio, targets), device))
    step_ms = 1000 * statistics.median(times['training step'])
    print(f'{args.batch} x {args.seconds:g} s at {SAMPLE_RATE} Hz, {device}, {args.threads} thread(s), '
          f'medians of {args.repeats} rounds\n')
    print('| work | ms per batch | share of a training step |\n|---|---:|---:|')
    for name, seconds in times.items():
        ms = 1000 * statistics.median(seconds)
        print(f'| {name} | {ms:.1f} | {100 * ms / step_ms:.1f} % |')


if __name__ == '__main__':
    main()
