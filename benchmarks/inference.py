"""What `etude infer` costs: 1,000 one-second spoken-digit clips through `python -m etude infer` and through a hand-written script.

    python benchmarks/inference.py                     # 5 runs of each, alternating, then a table (and `etude evaluate`'s time)
    python benchmarks/inference.py --repeats 9 --threads 0

A user waits for the whole process, imports and start-up included, so each run is a separate interpreter timed from
spawn to exit by the parent. The hand-written script is what a careful researcher writes instead: it loads the same
weights into the same module (`MelCNN` from the export's hyperparameters; it runs from this file, which imports
nothing else for it), reads the same files with soundfile,
featurises with the same torchaudio calls the export's representation names (MelSpectrogram, log, per-clip
standardisation), runs batches of 64 under inference mode and writes the same JSON lines. The parent checks that
both wrote the same digits and probabilities, which is what makes the comparison fair. The variants alternate,
swapping which goes first every repeat, so drift in a shared machine's load falls on both alike; medians and
minimums are reported with their ratio (target: etude at most 1.10x the hand-written wall time).

Before any timing, the parent generates the clips once (espeak-ng, 10 voices x 10 digits x 10 recordings, each
padded to exactly one second) and trains a checkpoint of the spoken-digit routine on them for one epoch (the
weights do not change the cost). It then times `python -m etude evaluate` on that finished run, report included.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VOICES = ('en-us+m3', 'en+f2', 'en-gb-scotland+m1', 'en-us+f4', 'en-gb-x-rp+m7', 'en-029+f3', 'en-gb-x-gbclan+m2', 'en-us-nyc+f1',
          'en-gb-x-gbcwmd+m4', 'en+f5')
SAMPLE_RATE = 8000
BATCH = 64


def run_plain(checkpoint: Path, clips: Path, output: Path) -> None:
    """The hand-written inference script: the same weights, module, files and torchaudio calls, nothing of etude's but the class."""
    import numpy as np
    import soundfile
    import torch
    import torchaudio

    from etude.models.mel_cnn import MelCNN

    export = torch.load(checkpoint, weights_only=True)
    model = MelCNN(MelCNN.Parameters.from_dict(export['hyperparameters'], ignore_unknown=True))
    model.load_state_dict(export['model_state_dict'])
    model.eval()
    settings, classes, length = export['dataset']['representation'], export['task']['classes'], export['dataset']['num_samples']
    mel = torchaudio.transforms.MelSpectrogram(sample_rate=settings['sample_rate'], n_fft=settings['n_fft'], hop_length=settings['hop_length'],
                                               n_mels=settings['n_mels'], power=settings['power'], center=True, pad_mode='reflect', mel_scale='htk')
    files = sorted(clips.glob('*.wav'))
    lines = []
    with torch.inference_mode():
        for start in range(0, len(files), BATCH):
            batch = files[start:start + BATCH]
            waveforms = np.zeros((len(batch), length), dtype=np.float32)
            for row, path in enumerate(batch):
                audio, _ = soundfile.read(path, dtype='float32')
                waveforms[row, :min(len(audio), length)] = audio[:length]
            features = torch.log(mel(torch.from_numpy(waveforms)) + settings['log_offset'])
            mean = features.mean(dim=(1, 2), keepdim=True)
            deviation = features.std(dim=(1, 2), keepdim=True, unbiased=False)
            features = (features - mean) / torch.where(deviation > 0, deviation, torch.ones_like(deviation))
            probabilities = torch.softmax(model(features), dim=1)
            values, indices = probabilities.max(dim=1)
            for path, value, index in zip(batch, values.tolist(), indices.tolist(), strict=True):
                lines.append(json.dumps({'input': str(path), 'digit': classes[index], 'probability': round(value, 6)}))
    output.mkdir(parents=True, exist_ok=True)
    (output / 'predictions.jsonl').write_text(''.join(line + '\n' for line in lines))


def make_clips(work: Path, threads: int) -> tuple[Path, Path]:
    """1,000 recordings in FSDD's layout, their one-second copies, and a run of the spoken-digit routine trained on them."""
    import subprocess

    import numpy as np

    from etude.data.audio import read_audio, write_audio

    data = work / 'data'
    environment = {**os.environ, 'PYTHONPATH': str(ROOT), 'OMP_NUM_THREADS': str(threads or os.cpu_count())}
    command = [sys.executable, '-m', 'etude', 'train', 'spoken_digits', '--device', 'cpu', '--runs-dir', str(work / 'runs'),
               f'data_directory={data}', f'voices=[{", ".join(VOICES)}]', 'repetitions=10', 'num_of_epochs=1']
    subprocess.run(command, check=True, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    (run,) = (work / 'runs').iterdir()
    clips = work / 'clips'
    for path in sorted(next(data.glob('spoken-digits-*')).glob('recordings/*.wav')):
        audio, _ = read_audio(path)
        clip = np.zeros(SAMPLE_RATE, dtype=np.float32)
        clip[:min(len(audio), SAMPLE_RATE)] = audio[:SAMPLE_RATE]
        write_audio(clips / path.name, clip, SAMPLE_RATE, subtype='PCM_16')
    return run, clips


def time_child(command: list[str], threads: int) -> float:
    """Seconds from spawn to exit of one child process (its results go to files, its table to /dev/null)."""
    import subprocess
    import time

    environment = {**os.environ, 'PYTHONPATH': str(ROOT)}
    if threads:
        environment['OMP_NUM_THREADS'] = str(threads)
    started = time.perf_counter()
    subprocess.run(command, check=True, env=environment, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def same_predictions(first: Path, second: Path) -> None:
    one, two = ([json.loads(line) for line in path.read_text().splitlines()] for path in (first, second))
    assert len(one) == len(two) == 1000, (len(one), len(two))
    for a, b in zip(one, two, strict=True):
        assert a['input'] == b['input'] and a['digit'] == b['digit'] and abs(a['probability'] - b['probability']) < 1e-4, (a, b)


def machine() -> str:
    """CPU model, cores, memory, Python and torch versions: the figures only mean something beside these."""
    import platform
    from importlib.metadata import version

    cpuinfo, meminfo = (Path(f'/proc/{name}').read_text().splitlines() for name in ('cpuinfo', 'meminfo'))
    cpu = next((line.split(':', 1)[1].strip() for line in cpuinfo if line.startswith('model name')), platform.processor())
    memory = next((int(line.split()[1]) / 2**20 for line in meminfo if line.startswith('MemTotal')), 0.0)
    return f'{cpu}, {os.cpu_count()} cores, {memory:.0f} GiB RAM, Python {platform.python_version()}, torch {version("torch")}, {platform.system()}'


def report(times: dict[str, list[float]], evaluate: list[float], args: argparse.Namespace) -> None:
    import statistics

    medians = {variant: statistics.median(values) for variant, values in times.items()}
    minimums = {variant: min(values) for variant, values in times.items()}
    print(f'\n{machine()}')
    print(f'1000 one-second clips at {SAMPLE_RATE} Hz, batch {BATCH}, {args.threads or "default"} thread(s), {args.repeats} runs each; seconds\n')
    print('| variant | whole process (median) | min | clips per second (median) |')
    print('|---|---|---|---|')
    for variant in ('hand-written', 'etude infer'):
        print(f'| {variant} | {medians[variant]:.2f} | {minimums[variant]:.2f} | {1000 / medians[variant]:.0f} |')
    ratio, ratio_min = medians['etude infer'] / medians['hand-written'], minimums['etude infer'] / minimums['hand-written']
    print(f'\netude infer / hand-written: {ratio:.3f}x (medians), {ratio_min:.3f}x (minimums); target <= 1.10x: {"met" if ratio <= 1.10 else "NOT met"}')
    print(f'etude evaluate (test split, report with figures): median {statistics.median(evaluate):.2f} s, min {min(evaluate):.2f} s '
          f'over {len(evaluate)} runs')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--variant', choices=('plain',), help='run the hand-written script in this process (used by the parent)')
    parser.add_argument('--checkpoint', type=Path)
    parser.add_argument('--clips', type=Path)
    parser.add_argument('--output', type=Path)
    parser.add_argument('--repeats', type=int, default=5, help='timed runs of each variant')
    parser.add_argument('--threads', type=int, default=1, help="OMP threads in each child; 0 keeps torch's default")
    args = parser.parse_args()
    if args.variant == 'plain':
        run_plain(args.checkpoint, args.clips, args.output)
        return
    import tempfile

    with tempfile.TemporaryDirectory(prefix='etude-inference-') as temporary:
        work = Path(temporary)
        run, clips = make_clips(work, args.threads)
        checkpoint = run / 'checkpoints' / 'best.pt'
        plain = ['--variant', 'plain', '--checkpoint', str(checkpoint), '--clips', str(clips), '--output', str(work / 'plain')]
        commands = {
            'hand-written': [sys.executable, __file__, *plain],
            'etude infer': [sys.executable, '-m', 'etude', 'infer', str(checkpoint), str(clips), '--output', str(work / 'etude'), '--overwrite'],
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        for repeat in range(args.repeats):
            for name in (list(commands) if repeat % 2 == 0 else list(commands)[::-1]):
                times[name].append(time_child(commands[name], args.threads))
                print(f'{name:>12}: {times[name][-1]:.2f} s', flush=True)
        same_predictions(work / 'plain' / 'predictions.jsonl', work / 'etude' / 'predictions.jsonl')
        evaluate = [time_child([sys.executable, '-m', 'etude', 'evaluate', str(run), '--overwrite'], args.threads) for _ in range(args.repeats)]
        report(times, evaluate, args)


if __name__ == '__main__':
    main()
