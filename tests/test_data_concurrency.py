"""Several processes making one dataset at once (two sweep agents on a fresh machine): one builds, the others wait on
the OS lock and open what it built. Real processes, started together, on real files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile

from etude.data import generate_dataset, read_dataset
from etude.data.samplers import CircularDrumSampler, CircularDrumSettings

ROOT = Path(__file__).resolve().parent.parent

# Each child waits for the parent's go, then makes the dataset. The first step of a real build (creating the dataset
# writer; planning the cache's rows) is wrapped to log the child's pid and to take half a second longer, so the others
# are sure to arrive while it is still building.
CHILD = textwrap.dedent('''
    import json, os, sys, time
    from pathlib import Path
    mode, target, log, go = sys.argv[1:5]

    def logged(module, name):
        original = getattr(module, name)
        def build(*args, **kwargs):
            with open(log, 'a') as file:
                file.write(f'{os.getpid()}\\n')
            time.sleep(0.5)
            return original(*args, **kwargs)
        setattr(module, name, build)

    if mode == 'generate':
        from etude.data import DatasetWriter, obtain_dataset
        from etude.data.samplers import CircularDrumSampler, CircularDrumSettings
        logged(DatasetWriter, '__init__')
        make = lambda: obtain_dataset(target, sampler=CircularDrumSampler(CircularDrumSettings(
            number_of_drums=4, strikes_per_drum=2, duration=0.02)), seed=3, progress=False)
    elif mode == 'kac':
        from etude.data import DatasetWriter, obtain_dataset
        logged(DatasetWriter, '__init__')
        make = lambda: obtain_dataset(target, progress=False)
    else:
        from etude.data.cache import FeatureCache
        from etude.data.generators import spoken_digit_folder
        from etude.data.representations import RepresentationSettings
        logged(FeatureCache, '_plan')
        settings = RepresentationSettings(kind='log_mel', sample_rate=8000, n_fft=256, hop_length=128, n_mels=16)
        make = lambda: FeatureCache(spoken_digit_folder(target), settings, num_samples=2000, cache_root=Path(target).parent / 'cache',
                                    workers=1, progress=False).load()
    Path(f'{go}.{os.getpid()}').touch()
    while not os.path.exists(go):
        time.sleep(0.01)
    dataset = make()
    print(json.dumps({'fingerprint': dataset.fingerprint, 'directory': str(dataset.directory), 'size': len(dataset)}))
''')


def kac_folder(folder: Path) -> Path:
    """kac_drumset's layout: header lines, then per sample an "x" line (never parsed) and a "y" line of labels."""
    (folder / 'data').mkdir(parents=True)
    lines = ['{', '"dataset_size": 4,', '"sampler": {"name": "BesselModel"},', '"data": [']
    for index in range(4):
        soundfile.write(folder / 'data' / f'sample_{index:05d}.wav', np.full(100, index / 10, dtype=np.float32), 48000, subtype='FLOAT')
        lines += ['{', '"x": [0.0],', f'"y": {json.dumps({"drum_size": [index / 10]})}', '}]}' if index == 3 else '},']
    (folder / 'data' / 'metadata.json').write_text('\n'.join(lines))
    return folder


def recordings(folder: Path) -> Path:
    folder.mkdir(parents=True)
    for digit in range(3):
        soundfile.write(folder / f'{digit}_ann_0.wav', np.sin(np.arange(2000) * (0.1 + digit)).astype(np.float32), 8000)
    return folder


def run_together(mode: str, target: Path, tmp_path: Path, processes: int = 3) -> tuple[list[dict[str, object]], list[str]]:
    """Start `processes` children, release them at once, and return what each opened and who built."""
    script, log, go = tmp_path / 'child.py', tmp_path / 'builds.log', tmp_path / 'go'
    script.write_text(CHILD)
    environment = {**os.environ, 'PYTHONPATH': str(ROOT)}
    children = [subprocess.Popen([sys.executable, str(script), mode, str(target), str(log), str(go)], env=environment,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(processes)]
    deadline = time.monotonic() + 60
    while len(list(tmp_path.glob('go.*'))) < processes and time.monotonic() < deadline and all(child.poll() is None for child in children):
        time.sleep(0.02)
    go.touch()
    results = []
    for child in children:
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results, log.read_text().split()


@pytest.mark.slow
@pytest.mark.parametrize('mode', ['generate', 'kac', 'feature-cache'])
def test_processes_making_one_dataset_at_once_build_it_once(tmp_path: Path, mode: str) -> None:
    work = tmp_path / 'work'
    work.mkdir()
    target = {'generate': lambda: tmp_path / 'data' / 'drums', 'kac': lambda: kac_folder(tmp_path / 'data' / 'kac'),
              'feature-cache': lambda: recordings(tmp_path / 'data' / 'recordings')}[mode]()
    results, builders = run_together(mode, target, work)
    assert len(builders) == 1, f'{len(builders)} processes built the dataset'
    assert len({(result['fingerprint'], result['directory']) for result in results}) == 1
    directory = Path(str(results[0]['directory']))
    assert len(read_dataset(directory)) == results[0]['size'] == {'generate': 8, 'kac': 4, 'feature-cache': 3}[mode]
    leftovers = [path.name for path in directory.parent.iterdir() if '.partial' in path.name]
    assert not leftovers, f'unfinished builds left behind: {leftovers}'


KILLED_WRITER = textwrap.dedent('''
    import sys, time
    from etude.data import DatasetWriter
    writer = DatasetWriter(sys.argv[1], size=100, input_shape=(10,), label_shapes={'y': ()})
    print(writer.partial_directory, flush=True)
    time.sleep(60)
''')


@pytest.mark.slow
def test_the_next_build_removes_what_a_killed_one_left(tmp_path: Path) -> None:
    directory = tmp_path / 'drums'
    process = subprocess.Popen([sys.executable, '-c', KILLED_WRITER, str(directory)], env={**os.environ, 'PYTHONPATH': str(ROOT)},
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    partial = Path(process.stdout.readline().strip())
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert partial.is_dir() and partial.name.startswith('drums.partial-')
    (tmp_path / 'drums.partial').mkdir()  # a user's folder of a similar name, which is never touched
    sampler = CircularDrumSampler(CircularDrumSettings(number_of_drums=2, strikes_per_drum=2, duration=0.01))
    generate_dataset(sampler, directory, progress=False)
    assert sorted(path.name for path in tmp_path.iterdir()) == ['.drums.lock', 'drums', 'drums.partial']


MAKER = textwrap.dedent('''
    import sys, time
    from pathlib import Path
    folder, seconds = Path(sys.argv[1]), float(sys.argv[2])
    print('ready', flush=True)
    stop = time.monotonic() + seconds
    while time.monotonic() < stop:  # another process making the folder (and, to make the moment often, taking it away)
        folder.mkdir(exist_ok=True)
        folder.rmdir()
''')


def test_a_folder_another_process_is_making_is_never_taken_for_a_file(tmp_path: Path) -> None:
    """The race behind `the cache folder .../data/cache is a file, not a folder` (issue 26 §5): one process checked
    the cache folder with `is_dir()` (not there yet), another made it, and the check's next look, `exists()`, saw
    something that was not a folder. One look at a time: a folder coming or going is a folder or nothing, never a file."""
    from etude.data.files import check_folder
    from etude.errors import DatasetError

    folder = tmp_path / 'data' / 'cache'
    folder.parent.mkdir()
    maker = subprocess.Popen([sys.executable, '-c', MAKER, str(folder), '3'], stdout=subprocess.PIPE, text=True)
    assert maker.stdout is not None and maker.stdout.readline().strip() == 'ready'
    checks, taken_for_a_file = 0, []
    while maker.poll() is None:
        checks += 1
        try:
            check_folder(folder, 'the cache folder')
        except DatasetError as error:
            taken_for_a_file.append(str(error))
    assert maker.returncode == 0 and checks > 1000
    assert not taken_for_a_file, f'{len(taken_for_a_file)} of {checks} checks: {taken_for_a_file[0]}'
    (folder.parent / 'a-file').write_text('')
    with pytest.raises(DatasetError, match='a-file is a file, not a folder'):
        check_folder(folder.parent / 'a-file')
    (folder.parent / 'a-link').symlink_to(folder.parent / 'nowhere')
    with pytest.raises(DatasetError, match='a-link is a file, not a folder'):
        check_folder(folder.parent / 'a-link')
