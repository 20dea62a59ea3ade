"""A full disk while generating a dataset or building a feature cache: one line naming the disk and the space needed,
never a SIGBUS or a traceback, and no half-built dataset left behind (a cache build keeps its finished chunks).

The disk is real: a 2 MiB tmpfs mounted for the test (root only; skipped where mounting is not permitted, as in most
CI containers), and a file-size limit (RLIMIT_FSIZE) in a subprocess, which works for anyone.
"""

from __future__ import annotations

import json
import os
import re
import resource
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile

from etude.data.cache import FeatureCache
from etude.data.files import describe_disk_full
from etude.data.generators import spoken_digit_folder
from etude.data.partial import allocate_array
from etude.data.representations import RepresentationSettings
from etude.data.store import read_dataset
from etude.errors import DatasetError

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = RepresentationSettings(kind='log_mel', sample_rate=8000, n_fft=256, hop_length=128, n_mels=64)

# What a script does with an EtudeError (the command-line contract): one `error:` line, exit status 2.
GENERATE = textwrap.dedent('''
    import sys
    from etude.data import obtain_dataset
    from etude.data.samplers import CircularDrumSampler, CircularDrumSettings
    from etude.errors import EtudeError
    sampler = CircularDrumSampler(CircularDrumSettings(number_of_drums=40, strikes_per_drum=5, duration=0.5))  # 6.4 MB of inputs
    try:
        obtain_dataset(sys.argv[1], sampler=sampler, progress=False)
    except EtudeError as error:
        print(f'error: {error}', file=sys.stderr)
        sys.exit(2)
''')


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs: a disk that is really full after 2 MiB."""
    disk = tmp_path / 'small-disk'
    disk.mkdir()
    if os.geteuid() != 0:
        pytest.skip('mounting a small tmpfs needs root')
    mounted = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', str(disk)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f'mounting a tmpfs is not permitted here ({mounted.stderr.strip()})')
    try:
        yield disk
    finally:
        subprocess.run(['umount', '-l', str(disk)], check=False)


def generate_in_child(directory: Path, **options: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, '-c', GENERATE, str(directory)], env={**os.environ, 'PYTHONPATH': str(ROOT)},
                          capture_output=True, text=True, timeout=120, **options)  # type: ignore[call-overload]


def one_error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('error: '), stderr
    return lines[0]


@pytest.mark.slow
def test_generating_onto_a_full_disk_is_one_line_not_sigbus(small_disk: Path) -> None:
    result = generate_in_child(small_disk / 'drums')
    assert result.returncode == 2, f'status {result.returncode} (-7 is SIGBUS): {result.stderr}'
    line = one_error_line(result.stderr)
    assert f'the disk mounted at {small_disk}' in line and 'MiB are needed' in line and 'free space there' in line
    assert not [path.name for path in small_disk.iterdir() if not path.name.endswith('.lock')], 'no half-built dataset is left'


def _limit_file_size() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an over-long write is then an EFBIG error, as on a file system's limit


@pytest.mark.slow
def test_generating_past_a_file_size_limit_is_one_line(tmp_path: Path) -> None:
    result = generate_in_child(tmp_path / 'drums', preexec_fn=_limit_file_size)
    assert result.returncode == 2, result.stderr
    assert 'larger than this process may write' in one_error_line(result.stderr)
    assert not [path.name for path in tmp_path.iterdir() if not path.name.endswith('.lock')]


def test_a_reserved_array_that_does_not_fit_is_refused_and_removed(small_disk: Path) -> None:
    with pytest.raises(DatasetError, match=rf'cannot write big\.npy: the disk mounted at {small_disk} .*4\.0 MiB are needed'):
        allocate_array(small_disk / 'big.npy', np.float32, (1024, 1024))
    assert list(small_disk.iterdir()) == []
    allocate_array(small_disk / 'small.npy', np.float32, (256, 1024))[:] = 1.0  # 1 MiB fits, and is written


def recordings(folder: Path, count: int) -> Path:
    folder.mkdir()
    for index in range(count):
        soundfile.write(folder / f'{index % 3}_ann_{index}.wav', np.sin(np.arange(4000) * (0.05 + index / 100)).astype(np.float32), 8000)
    return folder


# Cache builds on the small disk run in a child process: were the disk space not reserved, a full disk would end the
# process with SIGBUS, which must fail this test, not end the whole test session.
BUILD = textwrap.dedent('''
    import errno, json, sys
    from pathlib import Path
    from etude.data.cache import FeatureCache
    from etude.data.generators import spoken_digit_folder
    from etude.data.representations import RepresentationSettings
    from etude.errors import DatasetError
    mode, raw, disk = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    settings = RepresentationSettings(kind='log_mel', sample_rate=8000, n_fft=256, hop_length=128, n_mels=64)
    filler = disk / 'filler'

    def fill(done, total):  # after the first chunk, something else on the machine takes the rest of the disk
        if done == 1:
            with open(filler, 'wb') as file:
                try:
                    while True:
                        file.write(bytes(1 << 16))
                        file.flush()
                except OSError as error:
                    assert error.errno == errno.ENOSPC

    num_samples = 80000 if mode == 'too-big' else 16000  # 24 clips of (64, 626) float32 are 3.7 MB, of (64, 126) 0.8 MB
    cache = FeatureCache(spoken_digit_folder(raw), settings, num_samples=num_samples, cache_root=disk, workers=1, chunk_size=8, progress=False,
                         on_chunk=fill if mode == 'fills-up' else None)
    result = {}
    try:
        cache.load()
    except DatasetError as error:
        result['error'] = str(error)
    if mode == 'fills-up':
        filler.unlink()
        cache.on_chunk = None
        cache.load()
        result.update(resumed=cache.report.chunks_resumed, computed=cache.report.chunks_computed, directory=str(cache.directory()))
    result['left'] = sorted(path.name for path in disk.iterdir())
    print(json.dumps(result))
''')


def build_in_child(mode: str, raw: Path, disk: Path) -> dict[str, Any]:
    result = subprocess.run([sys.executable, '-c', BUILD, mode, str(raw), str(disk)], env={**os.environ, 'PYTHONPATH': str(ROOT)},
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f'status {result.returncode} (-7 is SIGBUS): {result.stderr}'
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


@pytest.mark.slow
def test_a_cache_larger_than_the_disk_is_refused_at_the_start(small_disk: Path, tmp_path: Path) -> None:
    result = build_in_child('too-big', recordings(tmp_path / 'recordings', 24), small_disk)
    assert re.fullmatch(rf'cannot build the feature cache recordings-[0-9a-f]{{12}}: the disk mounted at {small_disk} \(holding .*\) '
                        r'has .* free but 3\.\d MiB are needed; free space there or use another folder', result['error']), result['error']
    assert len(result['left']) == 1 and result['left'][0].endswith('.lock'), 'the unfinished build is removed'


@pytest.mark.slow
def test_a_disk_filling_up_during_a_cache_build_keeps_the_finished_chunks(small_disk: Path, tmp_path: Path) -> None:
    raw = recordings(tmp_path / 'recordings', 24)
    result = build_in_child('fills-up', raw, small_disk)
    assert re.search(rf'the disk mounted at {small_disk} .*is full .*free space there.*its 1 finished chunks of 3 are kept and the next load resumes',
                     result['error']), result['error']
    assert '\n' not in result['error'] and (result['resumed'], result['computed']) == (1, 2)
    fresh = FeatureCache(spoken_digit_folder(raw), SETTINGS, num_samples=16000, cache_root=tmp_path / 'fresh', workers=1, progress=False).load()
    np.testing.assert_allclose(read_dataset(result['directory']).inputs, fresh.inputs, atol=1e-5)


def test_describe_disk_full_names_the_disk(tmp_path: Path) -> None:
    text = describe_disk_full(tmp_path / 'not' / 'yet' / 'made.pt', 3 * 2**30)
    assert 'the disk mounted at /' in text and '3.0 GiB are needed' in text and str(tmp_path / 'not' / 'yet' / 'made.pt') in text
