"""What piano transcription costs: a 5-minute file through `etude infer`, and the input pipeline beside the model.

    python benchmarks/transcription.py --checkpoint runs/<id>/checkpoints/best.pt --data data/transcription
    python benchmarks/transcription.py --checkpoint runs/<id>/checkpoints/best.pt --inference-only   # part 1 only

1. Real-time factor: chorale renders from `--data` are joined into one 5-minute 16 kHz WAV, and
   `python -m etude infer MODEL long.wav --output DIR --threads N` runs as its own process, timed from spawn to exit
   (imports and start-up included: a user waits for all of it); peak memory is the child's maximum resident set, CPU
   the child's user + system seconds (above wall × threads: threads spinning). RTF here is seconds of audio per second
   of wall time (above 1: faster than real time). In one run, on the same file: the torch export at one thread (the
   baseline), at two threads, and its ONNX export (`etude export --onnx`, or `--onnx FILE`) run by onnxruntime at
   one thread, and the peer basic-pitch (its shipped ONNX model by onnxruntime at one thread, in a child process
   that writes a MIDI file likewise), each as a ratio to the baseline. `--inference-only` stops after this part.
2. Input pipeline: training segments per second that `SegmentDataset` produces in one process (reading the audio
   segment and computing its targets from the notes), beside the segments per second the model consumes in
   training steps (forward, backward, Adam) at the routine's batch size, and the memory the note lists take.

3. Training memory: a child process trains for `--steps` batches (shuffled, as the routine draws them) on a dataset
   listing the rendered pieces once, then one listing them `--repeat` times over (as many hours as a large rendered
   set, or MAESTRO's 200), and reports each child's peak resident memory: the note lists are all that grows.

Threads: `--threads` (default 1, as on a shared machine) for the training steps of parts 2 and 3.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import cast

ROOT = Path(__file__).resolve().parent.parent


def long_file(data: Path, path: Path, seconds: float = 300.0) -> float:
    """Join renders found under `data` into `seconds` of 16 kHz audio at `path`; returns its duration."""
    import numpy as np
    import soundfile

    parts, total = [], 0
    for render in sorted([*data.glob('renders/*.wav'), *data.glob('FluidR3_GM-*/*.wav')]):  # the routine's cached renders, or earlier ones
        audio, rate = soundfile.read(render, dtype='float32')
        if rate != 16000:
            continue
        parts.append(audio)
        total += len(audio)
        if total >= seconds * 16000:
            break
    if not parts:
        raise SystemExit(f'no 16 kHz renders under {data}; run the piano_transcription routine first (it renders them)')
    joined = np.concatenate(parts)[:round(seconds * 16000)]
    soundfile.write(path, joined, 16000)
    return len(joined) / 16000


def child_figures(command: list[str], environment: dict[str, str], name: str) -> dict[str, float]:
    """Run `command` as its own process: wall seconds from spawn to exit, and that child's CPU seconds and peak
    resident MiB (`os.wait4`'s usage of the child alone)."""
    with tempfile.TemporaryFile('w+') as log:
        began = time.perf_counter()
        child = subprocess.Popen(command, stdout=log, stderr=log, env=environment)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - began
        if os.waitstatus_to_exitcode(status) != 0:
            log.seek(0)
            raise SystemExit(f'{name} failed: {log.read().strip().splitlines()[-1]}')
    return {'wall_seconds': wall, 'cpu_seconds': usage.ru_utime + usage.ru_stime, 'peak_mib': usage.ru_maxrss / 1024}  # kB on Linux


def real_time_factor(model: Path, audio: Path, threads: int, wait_policy: str | None = None) -> dict[str, float]:
    """`etude infer MODEL audio --threads N` as a child process. `wait_policy` sets OMP_WAIT_POLICY (etude's own is
    PASSIVE: waiting threads sleep)."""
    environment = {key: value for key, value in os.environ.items() if key not in ('OMP_NUM_THREADS', 'OMP_WAIT_POLICY')}
    environment |= {'PYTHONPATH': str(ROOT), **({'OMP_WAIT_POLICY': wait_policy} if wait_policy else {})}
    with tempfile.TemporaryDirectory() as output:
        return child_figures([sys.executable, '-m', 'etude', 'infer', str(model), str(audio), '--output', output, '--threads', str(threads)],
                             environment, f'etude infer {model}')


BASIC_PITCH_CHILD = ('import sys\n'
                     'from etude.music.transcription.peer import basic_pitch_notes\n'
                     'from etude.data.midi import notes_to_midi\n'
                     'notes_to_midi(basic_pitch_notes(sys.argv[1], threads=1), sys.argv[2])\n')


def basic_pitch_figures(audio: Path) -> dict[str, float]:
    """basic-pitch (its shipped ONNX model by onnxruntime at one thread, `etude.music.transcription.peer`) transcribing
    `audio` to a MIDI file, as its own process from spawn to exit, like the `etude infer` rows."""
    with tempfile.TemporaryDirectory() as output:
        return child_figures([sys.executable, '-c', BASIC_PITCH_CHILD, str(audio), str(Path(output) / 'notes.mid')],
                             {**os.environ, 'PYTHONPATH': str(ROOT)}, 'basic-pitch')


def onnx_export(checkpoint: Path, folder: Path) -> Path:
    """`etude export --onnx CHECKPOINT` into `folder`."""
    target = folder / 'model.onnx'
    subprocess.run([sys.executable, '-m', 'etude', 'export', '--onnx', str(checkpoint), '--output', str(target)], check=True,
                   env={**os.environ, 'PYTHONPATH': str(ROOT)}, capture_output=True)
    return target


def inference_table(checkpoint: Path, onnx: Path, audio: Path, seconds: float) -> list[str]:
    """One line per configuration: wall, RTF, CPU, peak memory, and RTF and memory as ratios to torch at one thread."""
    rows: list[tuple[str, Path | None, int, str | None]] = [
        ('etude torch, 1 thread (baseline)', checkpoint, 1, None), ('etude torch, 2 threads', checkpoint, 2, None),
        ('etude torch, 2 threads, OMP_WAIT_POLICY=ACTIVE (spinning, as before)', checkpoint, 2, 'ACTIVE'),
        ('etude ONNX (onnxruntime), 1 thread', onnx, 1, None), ('basic-pitch 0.4.0 (its ONNX model, onnxruntime), 1 thread', None, 1, None)]
    lines: list[str] = []
    baseline: tuple[float, float] | None = None
    for name, model, threads, wait_policy in rows:
        figures = real_time_factor(model, audio, threads, wait_policy) if model is not None else basic_pitch_figures(audio)
        rtf = seconds / figures['wall_seconds']
        baseline = baseline or (rtf, figures['peak_mib'])
        lines.append(f'| {name} | {figures["wall_seconds"]:.1f} | {rtf:.1f}× | {rtf / baseline[0]:.2f} | {figures["cpu_seconds"]:.1f} | '
                     f'{figures["peak_mib"]:.0f} | {figures["peak_mib"] / baseline[1]:.2f} |')
        print(lines[-1], flush=True)
    return lines


def pipeline(data: Path, checkpoint: Path, threads: int, segments: int = 200) -> dict[str, float]:
    import torch

    from etude.export import load_model
    from etude.music.transcription import PianoTranscriber
    from etude.music.transcription.data import SegmentDataset, rendered_chorales, segment_starts

    torch.set_num_threads(threads)
    recordings = rendered_chorales(data, count=100)
    model = load_model(checkpoint)
    front_end = cast(PianoTranscriber, model).front_end(4.0)
    items = [(index, start) for index, recording in enumerate(recordings) for start in segment_starts(recording.duration, 4.0, 4.0)]
    dataset = SegmentDataset(recordings, items, front_end)
    began = time.perf_counter()
    batch = [dataset[index] for index in range(min(segments, len(dataset)))]
    produced = len(batch) / (time.perf_counter() - began)
    model.train()
    optimiser = torch.optim.Adam(model.parameters())
    inputs = torch.stack([item[0] for item in batch[:8]])
    targets = {key: torch.stack([item[1][key] for item in batch[:8]]) for key in batch[0][1]}
    steps = 5
    began = time.perf_counter()
    for _ in range(steps):
        loss = model.loss(model(inputs), targets)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    consumed = steps * 8 / (time.perf_counter() - began)
    notes = sum(recording.notes.nbytes for recording in recordings)
    hours = sum(recording.duration for recording in recordings) / 3600
    return {'segments_per_second_produced': produced, 'segments_per_second_consumed': consumed, 'note_list_kib_per_hour': notes / 1024 / hours}


def train_briefly(data: Path, checkpoint: Path, threads: int, repeat: int, steps: int) -> None:
    """(In a child process.) `steps` shuffled training batches on the renders listed `repeat` times; prints the hours
    of audio listed and this process's peak resident memory in MiB."""
    import torch

    from etude.export import load_model
    from etude.music.transcription import PianoTranscriber
    from etude.music.transcription.data import SegmentDataset, rendered_chorales, segment_starts

    torch.set_num_threads(threads)
    # distinct copies of the note lists, as distinct pieces would have: only they grow with the hours listed
    recordings = [replace(recording, notes=recording.notes.copy()) for _ in range(repeat) for recording in rendered_chorales(data, count=100)]
    model = load_model(checkpoint)
    model.train()
    front_end = cast(PianoTranscriber, model).front_end(4.0)
    items = [(index, start) for index, recording in enumerate(recordings) for start in segment_starts(recording.duration, 4.0, 4.0)]
    loader = torch.utils.data.DataLoader(SegmentDataset(recordings, items, front_end), batch_size=8, shuffle=True,
                                         generator=torch.Generator().manual_seed(0))
    optimiser = torch.optim.Adam(model.parameters())
    for step, (inputs, targets) in enumerate(loader):
        if step == steps:
            break
        loss = model.loss(model(inputs), targets)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    hours = sum(recording.duration for recording in recordings) / 3600
    print(hours, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def training_memory(data: Path, checkpoint: Path, threads: int, repeat: int, steps: int) -> list[tuple[float, float]]:
    """(hours of audio listed, peak MiB) of a training child on the renders listed once and `repeat` times."""
    environment = {**os.environ, 'PYTHONPATH': str(ROOT), 'PYTHONWARNINGS': 'ignore'}
    rows = []
    for times in (1, repeat):
        child = subprocess.run([sys.executable, __file__, '--checkpoint', str(checkpoint), '--data', str(data), '--threads', str(threads),
                                '--steps', str(steps), '--training-child', str(times)], capture_output=True, text=True, env=environment, check=True)
        hours, peak = child.stdout.split()
        rows.append((float(hours), float(peak)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--checkpoint', type=Path, required=True, help='a piano_transcription checkpoint (runs/<id>/checkpoints/best.pt)')
    parser.add_argument('--data', type=Path, default=ROOT / 'data' / 'transcription', help='the routine data_directory with renders')
    parser.add_argument('--onnx', type=Path, help="the checkpoint's ONNX export (default: exported by etude export --onnx into a temporary folder)")
    parser.add_argument('--inference-only', action='store_true', help='stop after the real-time factors (part 1)')
    parser.add_argument('--threads', type=int, default=1, help='threads of the training steps (parts 2 and 3)')
    parser.add_argument('--repeat', type=int, default=20, help='the training-memory child lists the renders this many times over')
    parser.add_argument('--steps', type=int, default=20, help='training steps of each training-memory child')
    parser.add_argument('--training-child', type=int, metavar='REPEAT', help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.training_child:
        train_briefly(arguments.data, arguments.checkpoint, arguments.threads, arguments.training_child, arguments.steps)
        return
    with tempfile.TemporaryDirectory() as folder:
        audio = Path(folder) / 'five_minutes.wav'
        seconds = long_file(arguments.data, audio)
        onnx = arguments.onnx or onnx_export(arguments.checkpoint, Path(folder))
        print(f'etude infer on one {seconds:.0f} s file, each a process from spawn to exit; ratios to torch at 1 thread, measured in this run\n'
              '| model, threads | wall s | RTF | RTF ratio | CPU s | peak MiB | peak ratio |\n|---|---|---|---|---|---|---|', flush=True)
        inference_table(arguments.checkpoint, onnx, audio, seconds)
    if arguments.inference_only:
        return
    figures = pipeline(arguments.data, arguments.checkpoint, arguments.threads)
    print(f'input pipeline: {figures["segments_per_second_produced"]:.0f} segments/s produced (one process) vs '
          f'{figures["segments_per_second_consumed"]:.1f} segments/s consumed by training steps; '
          f'note lists {figures["note_list_kib_per_hour"]:.0f} KiB per hour of audio', flush=True)
    for hours, peak in training_memory(arguments.data, arguments.checkpoint, arguments.threads, arguments.repeat, arguments.steps):
        print(f'training {arguments.steps} steps on a dataset listing {hours:.1f} h of audio: peak memory {peak:.0f} MiB', flush=True)


if __name__ == '__main__':
    main()
