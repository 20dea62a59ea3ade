"""Benchmark the feature cache against kac_prediction's floats-in-JSON loading and against librosa.

    pipenv run python benchmarks/feature_cache.py               # 5000 one-second 48 kHz clips
    pipenv run python benchmarks/feature_cache.py --clips 1000  # fewer, when time or disk is short

On the same clips (generated once into benchmarks/data/, gitignored: about 192 KB of float WAV per clip, plus about
1 MB per clip of JSON for the kac-style file), it times:

    (a) cold build: read the WAVs and featurise them to log-mel through `FeatureCache` (workers over all cores)
    (b) warm load: the next `FeatureCache.load()` (a cache hit) and reading every feature into memory
    (c) kac_prediction's loader: a kac-style metadata.json read line by line, `json.loads` of each "x" line into a tensor
    (d) librosa: soundfile.read + librosa.feature.melspectrogram + power_to_db, one clip at a time (librosa's way)
    (e) the design alternative the cache does not use: workers only read, the main process featurises in batches

All files are read from the page cache (they were just written), so (a)-(e) measure decoding and computing, not the
disk. (a), (b), (d) and (e) run `--repeats` times, interleaved, and the best run is reported (the machine may be
shared); (c) takes minutes and runs once. A benchmark, not a test: it prints a markdown table for benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import time
from concurrent.futures import ProcessPoolExecutor
from importlib.metadata import version
from pathlib import Path

import numpy as np
import soundfile
import torch

from etude.data.cache import FeatureCache
from etude.data.dataset_layouts import audio_folder
from etude.data.definitions import DatasetDefinition
from etude.data.representations import Featuriser, RepresentationSettings

RATE = 48000
SETTINGS = RepresentationSettings(kind='log_mel', sample_rate=RATE, n_fft=2048, hop_length=512, n_mels=128)
STEPS = {
    'cold': '(a) cold build: read + log-mel via FeatureCache',
    'warm': '(b) warm load: cache hit + all features into memory',
    'json': '(c) kac_prediction JSON load (line by line, json.loads)',
    'librosa': '(d) librosa: soundfile + melspectrogram + power_to_db',
    'alternative': '(e) alternative: workers read, main process featurises',
}


def generate_clips(folder: Path, count: int) -> None:
    """Clip i is `{i:05d}_{kind}.wav`: a decaying sine ('tone') or a decaying noise burst ('drum'), seeded by i."""
    folder.mkdir(parents=True, exist_ok=True)
    t = np.arange(RATE) / RATE
    for index in range(count):
        kind = 'tone' if index % 2 else 'drum'
        path = folder / f'{index:05d}_{kind}.wav'
        if path.exists():
            continue
        rng = np.random.default_rng(index)
        if kind == 'tone':
            audio = np.exp(-rng.uniform(2, 20) * t) * np.sin(2 * np.pi * rng.uniform(60, 2000) * t)
        else:
            audio = np.exp(-rng.uniform(10, 60) * t) * rng.standard_normal(RATE) * 0.3
        soundfile.write(path, (0.8 * audio).astype(np.float32), RATE, subtype='FLOAT')


def clip_definition(folder: Path, count: int) -> DatasetDefinition:
    definition = audio_folder(folder, '{index}_{kind}.wav', group_by=None, label_types={'kind': 'class'})
    items = [item for item in definition.items if int(item.path.split('_')[0]) < count]
    return DatasetDefinition(folder, items, definition.label_types, 'file', f'bench{count}')


def write_kac_json(path: Path, wavs: list[Path]) -> None:
    """kac_drumset's layout: header lines, then per sample `{`, `"x": [floats],`, `"y": {...}`, `},`."""
    if path.exists():
        return
    temporary = path.with_suffix('.tmp')
    with open(temporary, 'w') as file:
        file.write('{\n' f'"dataset_size": {len(wavs)},\n' '"representation_settings": {"output_type": "end2end"},\n'
                   '"sampler": "Benchmark",\n' f'"sampler_settings": {{"duration": 1.0, "sample_rate": {RATE}}},\n' '"data": [\n')
        for index, wav in enumerate(wavs):
            samples = soundfile.read(wav, dtype='float32')[0]
            label = {'kind': [float(index % 2)]}
            file.write('{\n' f'"x": {samples.tolist()},\n' f'"y": {json.dumps(label)}\n')
            file.write('}]}' if index == len(wavs) - 1 else '},\n')
    os.replace(temporary, path)


def load_kac_json(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """Read it back as kac_prediction does: one line at a time, each "x" line parsed with json.loads into a tensor."""
    with open(path) as file:
        file.readline()
        size = int(file.readline().split(':', 1)[1].strip().rstrip(','))
        for _ in range(4):
            file.readline()
        inputs, labels = torch.zeros(size, RATE), torch.zeros(size, 1)
        for index in range(size):
            file.readline()
            inputs[index] = torch.as_tensor(json.loads(file.readline().split(':', 1)[1].strip().rstrip(',')))
            labels[index] = torch.as_tensor(json.loads(file.readline().split(':', 1)[1].strip())['kind'])
            file.readline()
    return inputs, labels


def librosa_log_mel(wavs: list[Path]) -> np.ndarray:
    import librosa

    features = []
    for wav in wavs:
        samples = soundfile.read(wav, dtype='float32')[0]
        mel = librosa.feature.melspectrogram(y=samples, sr=RATE, n_fft=2048, hop_length=512, n_mels=128, htk=True, norm=None)
        features.append(librosa.power_to_db(mel))
    return np.stack(features)


def agreement_db(ours: np.ndarray, theirs: np.ndarray) -> float:
    """Median |dB difference| between our natural-log mel and librosa's dB mel, over inner frames of loud bins.

    (Edges differ by design: librosa pads with zeros, torchaudio reflects; quiet bins differ by the log floors.)"""
    ours_db = ours[:, :, 1:-1] * 10 / np.log(10)
    theirs = theirs[:, :, 1:-1]
    loud = theirs > theirs.max(axis=(1, 2), keepdims=True) - 60
    return float(np.median(np.abs(ours_db - theirs)[loud]))


def _read_chunk(paths: list[Path]) -> np.ndarray:
    return np.stack([soundfile.read(path, dtype='float32')[0] for path in paths])


def read_in_workers_featurise_in_main(wavs: list[Path], workers: int) -> np.ndarray:
    featuriser = Featuriser(SETTINGS).eval()
    chunks = [wavs[start:start + 256] for start in range(0, len(wavs), 256)]
    outputs = []
    with ProcessPoolExecutor(workers) as pool, torch.inference_mode():
        for waveforms in pool.map(_read_chunk, chunks):
            for start in range(0, len(waveforms), 32):
                outputs.append(featuriser(torch.from_numpy(waveforms[start:start + 32])).numpy())
    return np.concatenate(outputs)


def machine() -> str:
    lscpu = subprocess.run(['lscpu'], capture_output=True, text=True).stdout
    model = next((line.split(':', 1)[1].strip() for line in lscpu.splitlines() if line.startswith('Model name')), platform.processor())
    memory = next(int(line.split()[1]) for line in Path('/proc/meminfo').read_text().splitlines() if line.startswith('MemTotal'))
    return (f'{model}, {os.cpu_count()} cores, {memory / 2**20:.0f} GiB RAM; Python {platform.python_version()}, '
            f'torch {version("torch")}, torchaudio {version("torchaudio")}, librosa {version("librosa")}, '
            f'numpy {np.__version__}; load average {os.getloadavg()[0]:.2f}')


def timed(function, *args):
    started = time.perf_counter()
    result = function(*args)
    return time.perf_counter() - started, result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--clips', type=int, default=5000, help='number of one-second 48 kHz clips (default 5000)')
    parser.add_argument('--data', type=Path, default=Path(__file__).parent / 'data', help='where clips and caches go')
    parser.add_argument('--workers', type=int, default=os.cpu_count(), help='cache build processes (default: all cores)')
    parser.add_argument('--repeats', type=int, default=3, help='runs of (a), (b), (d), (e), interleaved; the best is reported')
    args = parser.parse_args(argv)
    clips = args.clips
    print(f'machine: {machine()}', flush=True)
    print(f'generating / checking {clips} clips in {args.data} ...', flush=True)
    generate_clips(args.data / 'clips-48k', clips)
    definition = clip_definition(args.data / 'clips-48k', clips)
    wavs = [definition.root / item.path for item in definition.items]
    json_path = args.data / f'kac-json-{clips}' / 'metadata.json'
    json_path.parent.mkdir(parents=True, exist_ok=True)
    print(f'writing / checking {json_path} ...', flush=True)
    write_kac_json(json_path, wavs)
    cache_root = args.data / 'cache'

    def cache() -> FeatureCache:
        return FeatureCache(definition, SETTINGS, num_samples=RATE, cache_root=cache_root, workers=args.workers, progress=False)

    for stale in cache().stale_directories():
        shutil.rmtree(stale, ignore_errors=True)
    librosa_log_mel(wavs[:1])  # librosa's first call imports and sets up lazily; not counted
    runs: dict[str, list[float]] = {key: [] for key in STEPS}
    runs['json'].append(timed(load_kac_json, json_path)[0])
    for _ in range(args.repeats):  # interleaved, so a burst of load elsewhere on the machine hits every step alike
        shutil.rmtree(cache().directory(), ignore_errors=True)
        seconds, built = timed(lambda: cache().load())
        runs['cold'].append(seconds)
        seconds, warm = timed(lambda: np.array(cache().load().inputs))
        runs['warm'].append(seconds)
        seconds, reference = timed(librosa_log_mel, wavs)
        runs['librosa'].append(seconds)
        seconds, alternative = timed(read_in_workers_featurise_in_main, wavs, args.workers)
        runs['alternative'].append(seconds)
    assert warm.shape == (clips, *built.metadata['input_shape']) and np.allclose(warm, alternative, atol=1e-3)
    print(f'\n{clips} clips, features {tuple(warm.shape[1:])} float32 ({warm.nbytes / 2**20:.0f} MiB); {machine()}\n')
    best = {key: min(values) for key, values in runs.items()}
    print(f'| step | best of {args.repeats} (s) | clips/s | all runs (s) |\n|---|---:|---:|---|')
    for key, name in STEPS.items():
        print(f'| {name} | {best[key]:.2f} | {clips / best[key]:,.0f} | {", ".join(f"{value:.2f}" for value in runs[key])} |')
    print(f'\nwarm load vs JSON load: {best["json"] / best["warm"]:,.0f}x faster (target >= 100x)')
    print(f'cold build vs librosa: {best["librosa"] / best["cold"]:.1f}x faster (target >= 2x)')
    ratio = best['alternative'] / best['cold']
    print(f'cold build vs (e) featurising in the main process: {ratio:.2f}x ({"faster" if ratio >= 1 else "slower"})')
    print(f'same features as librosa: median |difference| {agreement_db(warm, reference):.3f} dB over bins within 60 dB of each clip\'s peak')


if __name__ == '__main__':
    main()
