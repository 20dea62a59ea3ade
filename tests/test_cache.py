"""The feature cache on real WAV files: reuse, invalidation, resuming an interrupted build, bad files."""

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from etude.data.audio import read_audio
from etude.data.cache import BuildInterrupted, FeatureCache
from etude.data.dataset_layouts import audio_folder
from etude.data.definitions import SkippedFileWarning, split_items
from etude.data.generators import spoken_digit_folder
from etude.data.representations import RepresentationSettings, featurise, output_shape
from etude.data.store import is_stored_dataset, read_dataset
from etude.errors import DataFileError

RATE = 8000
NUM_SAMPLES = 2000
SETTINGS = RepresentationSettings(kind='log_mel', sample_rate=RATE, n_fft=256, hop_length=128, n_mels=32)
SPEAKERS = ('anna', 'ben', 'carl', 'dora')


def clip(digit: int, index: int, samples: int = NUM_SAMPLES, rate: int = RATE) -> np.ndarray:
    t = np.arange(samples) / rate
    return (0.5 * np.exp(-4 * t) * np.sin(2 * np.pi * (200 + 100 * digit + 7 * index) * t)).astype(np.float32)


@pytest.fixture
def recordings(tmp_path):
    """FSDD-named clips: 3 digits x 4 speakers x 2 takes = 24 files; one longer and one shorter than NUM_SAMPLES,
    one stereo at 16 kHz (so it is mixed down and resampled)."""
    root = tmp_path / 'recordings'
    root.mkdir()
    for digit in range(3):
        for number, speaker in enumerate(SPEAKERS):
            for take in range(2):
                samples = {(0, 0): 3000, (1, 1): 1200}.get((digit, number * 2 + take), NUM_SAMPLES)
                soundfile.write(root / f'{digit}_{speaker}_{take}.wav', clip(digit, number * 2 + take, samples), RATE, subtype='FLOAT')
    stereo = np.stack([clip(2, 1, 2 * NUM_SAMPLES, 2 * RATE), clip(2, 3, 2 * NUM_SAMPLES, 2 * RATE)], axis=1)
    soundfile.write(root / '2_ben_1.wav', stereo, 2 * RATE, subtype='FLOAT')
    return root


def make_cache(root, cache_root, **options):
    options = {'num_samples': NUM_SAMPLES, 'cache_root': cache_root, 'workers': 1, 'chunk_size': 8, 'progress': False, **options}
    return FeatureCache(spoken_digit_folder(root, on_error=options.pop('definition_on_error', 'raise')), options.pop('settings', SETTINGS), **options)


def test_cache_is_built_once_then_loaded(recordings, tmp_path):
    cache = make_cache(recordings, tmp_path / 'cache')
    dataset = cache.load()
    assert not cache.report.cache_hit and cache.report.chunks == cache.report.chunks_computed == 3
    assert dataset.directory == tmp_path / 'cache' / f'recordings-{cache.fingerprint()[:12]}'
    shape = output_shape(SETTINGS, NUM_SAMPLES)
    assert dataset.inputs.shape == (24, *shape) and dataset.inputs.dtype == np.float32
    metadata = dataset.metadata
    assert metadata['input_shape'] == list(shape) and metadata['size'] == 24 and metadata['sample_rate'] == RATE
    assert metadata['classes'] == {'digit': ['0', '1', '2']} and metadata['label_types'] == {'digit': 'class'}
    assert metadata['representation'] == SETTINGS.to_dict() and metadata['num_samples'] == NUM_SAMPLES
    assert metadata['files'][0] == '0_anna_0.wav' and metadata['raw_root'] == str(recordings.resolve())
    assert metadata['group_key'] == 'speaker' and metadata['group_names'] == list(SPEAKERS)
    assert metadata['labels'] == {'digit': {'shape': [], 'dtype': 'int64'}} and metadata['splits'] is None
    np.testing.assert_array_equal(dataset.labels['digit'], [int(name[0]) for name in metadata['files']])
    # features equal the featuriser's on the clips mixed to mono, resampled, and padded / trimmed to NUM_SAMPLES
    waveforms = np.zeros((24, NUM_SAMPLES), dtype=np.float32)
    for row, name in enumerate(metadata['files']):
        audio = read_audio(recordings / name, sample_rate=RATE)[0][:NUM_SAMPLES]
        waveforms[row, :len(audio)] = audio
    assert abs(waveforms[metadata['files'].index('2_ben_1.wav')]).max() > 0.1
    np.testing.assert_allclose(dataset.inputs, featurise(torch.from_numpy(waveforms), SETTINGS).numpy(), atol=1e-4)

    modified = (dataset.directory / 'inputs.npy').stat().st_mtime_ns
    again = make_cache(recordings, tmp_path / 'cache').load()
    assert (again.directory / 'inputs.npy').stat().st_mtime_ns == modified
    np.testing.assert_array_equal(again.inputs, dataset.inputs)
    second = make_cache(recordings, tmp_path / 'cache')
    second.load()
    assert second.report.cache_hit and second.report.chunks_computed == 0


def test_settings_or_raw_file_changes_rebuild(recordings, tmp_path):
    first = make_cache(recordings, tmp_path / 'cache')
    original = first.load()
    other = make_cache(recordings, tmp_path / 'cache', settings=RepresentationSettings(**{**SETTINGS.to_dict(), 'n_mels': 16}))
    assert other.load().inputs.shape[1] == 16 and not other.report.cache_hit
    assert original.directory in other.stale_directories()
    namesake = tmp_path / 'elsewhere' / recordings.name  # another folder of the same name: its caches are not ours
    shutil.copytree(recordings, namesake)
    assert original.directory not in make_cache(namesake, tmp_path / 'cache').stale_directories()
    longer = make_cache(recordings, tmp_path / 'cache', num_samples=4000)
    assert longer.fingerprint() != first.fingerprint()

    target = recordings / '2_dora_1.wav'
    soundfile.write(target, clip(0, 0), RATE, subtype='FLOAT')  # same name and size, new content
    rewritten = make_cache(recordings, tmp_path / 'cache')
    dataset = rewritten.load()
    fingerprint = rewritten.fingerprint()
    assert not rewritten.report.cache_hit and dataset.directory != original.directory
    row = dataset.metadata['files'].index('2_dora_1.wav')
    np.testing.assert_allclose(dataset.inputs[row], original.inputs[0], atol=1e-5)
    stat = target.stat()
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # touched only
    assert make_cache(recordings, tmp_path / 'cache').fingerprint() != fingerprint
    # content hashes ignore touches but not edits
    hashed = make_cache(recordings, tmp_path / 'cache', content_hash=True).fingerprint()
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))
    assert make_cache(recordings, tmp_path / 'cache', content_hash=True).fingerprint() == hashed
    soundfile.write(target, clip(2, 7), RATE, subtype='FLOAT')
    assert make_cache(recordings, tmp_path / 'cache', content_hash=True).fingerprint() != hashed


BUILD_SCRIPT = textwrap.dedent('''
    import sys, time
    from etude.data.cache import FeatureCache
    from etude.data.generators import spoken_digit_folder
    from etude.data.representations import RepresentationSettings
    settings = RepresentationSettings.from_dict({settings})
    cache = FeatureCache(spoken_digit_folder(sys.argv[1]), settings, num_samples={num_samples}, cache_root=sys.argv[2],
                         workers=2, chunk_size=2, progress=False, on_chunk=lambda done, total: time.sleep(0.3))
    cache.load()
''')


def test_killed_build_resumes_where_it_stopped(recordings, tmp_path):
    cache_root = tmp_path / 'cache'
    script = BUILD_SCRIPT.format(settings=SETTINGS.to_dict(), num_samples=NUM_SAMPLES)
    process = subprocess.Popen([sys.executable, '-c', script, str(recordings), str(cache_root)], start_new_session=True)
    cache = make_cache(recordings, cache_root, chunk_size=2, workers=2)
    directory = cache.directory()
    progress_file = directory.with_name(directory.name + '.partial') / 'progress.json'
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if len(json.loads(progress_file.read_text())['done']) >= 3:
                break
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    workers = _descendants(process.pid)  # the pool's workers are forked by a forkserver: grandchildren of the build
    os.kill(process.pid, signal.SIGKILL)  # the main process only: its workers must notice and exit by themselves
    process.wait()
    deadline = time.monotonic() + 5
    while any(os.path.exists(f'/proc/{pid}') for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = [pid for pid in workers if os.path.exists(f'/proc/{pid}')]
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    assert not left and (len(workers) >= 2 or not sys.platform.startswith('linux')), f'worker processes {left} outlived the killed build'
    done = len(json.loads(progress_file.read_text())['done'])
    assert 3 <= done < 12 and not is_stored_dataset(directory)
    with pytest.raises(Exception, match='not a complete etude dataset'):
        read_dataset(directory.with_name(directory.name + '.partial'))

    resumed = cache.load()
    assert cache.report.chunks == 12 and cache.report.chunks_resumed == done and cache.report.chunks_computed == 12 - done
    assert not progress_file.parent.exists()
    fresh = make_cache(recordings, tmp_path / 'fresh', chunk_size=2).load()
    np.testing.assert_allclose(resumed.inputs, fresh.inputs, atol=1e-4)
    np.testing.assert_array_equal(resumed.labels['digit'], fresh.labels['digit'])
    np.testing.assert_array_equal(resumed.groups, fresh.groups)


def _descendants(pid: int) -> list[int]:
    """Ids of the processes started by `pid` and by those, at any depth (Linux /proc; empty elsewhere, which skips
    the orphan check)."""
    try:
        children = [int(child) for child in Path(f'/proc/{pid}/task/{pid}/children').read_text().split()]
    except OSError:
        return []
    return children + [grandchild for child in children for grandchild in _descendants(child)]


def test_ctrl_c_keeps_finished_chunks(recordings, tmp_path):
    def interrupt(done, total):
        if done == 2:
            raise KeyboardInterrupt
    cache = make_cache(recordings, tmp_path / 'cache', on_chunk=interrupt)
    with pytest.raises(BuildInterrupted, match='after 2 of 3 chunks; load it again to resume'):
        cache.load()
    cache.on_chunk = None
    cache.load()
    assert cache.report.chunks_resumed == 2 and cache.report.chunks_computed == 1


@pytest.fixture
def with_bad_files(recordings):
    (recordings / '1_ben_0.wav').write_text('this is not audio\n' * 10)
    (recordings / '2_carl_1.wav').write_bytes(b'')
    return recordings


def test_bad_files_raise_with_their_name(with_bad_files, tmp_path):
    with pytest.raises(DataFileError, match=r"(1_ben_0\.wav: corrupt or not a wav|2_carl_1\.wav: empty file).*on_error='skip'"):
        make_cache(with_bad_files, tmp_path / 'cache', workers=2).load()  # from whichever worker fails first
    with pytest.raises(DataFileError, match=r"1_ben_0\.wav: corrupt or not a wav audio file .*on_error='skip'"):
        make_cache(with_bad_files, tmp_path / 'cache').load()
    (with_bad_files / '1_ben_0.wav').unlink()
    with pytest.raises(DataFileError, match=r'2_carl_1\.wav: empty file \(0 bytes\)'):
        make_cache(with_bad_files, tmp_path / 'cache', chunk_size=256).load()


def test_bad_files_are_skipped_by_name(with_bad_files, tmp_path):
    cache = make_cache(with_bad_files, tmp_path / 'cache', on_error='skip', workers=2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        dataset = cache.load()
    messages = [str(warning.message) for warning in caught if issubclass(warning.category, SkippedFileWarning)]
    assert any('1_ben_0.wav' in message and 'corrupt' in message for message in messages)
    assert any('2_carl_1.wav' in message and 'empty file' in message for message in messages)
    assert messages[-1] == 'skipped 2 of 24 files: 1_ben_0.wav, 2_carl_1.wav'
    assert len(dataset) == 22 and dataset.inputs.shape[0] == dataset.groups.shape[0] == dataset.labels['digit'].shape[0] == 22
    assert '1_ben_0.wav' not in dataset.metadata['files'] and len(dataset.metadata['files']) == 22
    assert [entry['file'] for entry in dataset.metadata['skipped']] == ['1_ben_0.wav', '2_carl_1.wav']
    np.testing.assert_array_equal(dataset.labels['digit'], [int(name[0]) for name in dataset.metadata['files']])
    names = dataset.metadata['group_names']
    assert [names[group] for group in dataset.groups] == [name.split('_')[1] for name in dataset.metadata['files']]
    assert np.isfinite(dataset.inputs).all() and (np.abs(dataset.inputs).reshape(22, -1).max(axis=1) > 0).all()
    with pytest.warns(SkippedFileWarning) as again:  # every load says what the cache left out
        cache.load()
    assert [str(warning.message).split(':')[0] for warning in again] == ['skipped 1_ben_0.wav', 'skipped 2_carl_1.wav', 'skipped 2 of 24 files']
    assert cache.report.cache_hit and [path for path, _ in cache.report.skipped] == ['1_ben_0.wav', '2_carl_1.wav']
    with pytest.raises(DataFileError, match=r"1_ben_0\.wav: corrupt.*2 file\(s\) left out.*on_error='skip'"):
        make_cache(with_bad_files, tmp_path / 'cache', on_error='raise').load()  # the same cache, held to 'raise'
    split = split_items(dataset, (0.5, 0.25, 0.25), seed=0)
    speakers = [{int(dataset.groups[i]) for i in part} for part in split.values()]
    assert sum(len(part) for part in split.values()) == 22 and not (speakers[0] & speakers[1] or speakers[0] & speakers[2])


def long_recordings(folder: Path, damaged: bool = False) -> Path:
    """Two 10 s FLAC recordings named like FSDD files; with `damaged`, the middle of the first is overwritten."""
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in ('1_ann_0.flac', '2_bob_0.flac'):
        audio = 0.3 * np.sin(np.arange(80000) * 0.05) + 0.01 * rng.standard_normal(80000)
        soundfile.write(folder / name, audio.astype(np.float32), 8000)
    if damaged:
        data = bytearray((folder / '1_ann_0.flac').read_bytes())
        data[len(data) // 2:len(data) // 2 + 4000] = bytes(4000)  # the flac decoder loses sync there
        (folder / '1_ann_0.flac').write_bytes(bytes(data))
    return folder


def test_segments_with_a_hop_longer_than_a_clip(tmp_path):
    root = long_recordings(tmp_path / 'long')
    definition = audio_folder(root, '{digit}_{speaker}_{index}.flac', group_by='speaker', label_types={'digit': 'class'})
    cache = FeatureCache(definition, SETTINGS, num_samples=16000, segment_hop_seconds=5.0, cache_root=tmp_path / 'cache', workers=1, progress=False)
    dataset = cache.load()
    assert dataset.metadata['offsets'] == [0.0, 5.0, 0.0, 5.0] and not dataset.metadata['skipped']
    assert dataset.metadata['files'] == ['1_ann_0.flac'] * 2 + ['2_bob_0.flac'] * 2 and dataset.labels['digit'].tolist() == [0, 0, 1, 1]


def test_a_damaged_stretch_drops_its_clips_not_the_file(tmp_path):
    root = long_recordings(tmp_path / 'long', damaged=True)
    definition = audio_folder(root, '{digit}_{speaker}_{index}.flac', group_by='speaker', label_types={'digit': 'class'})
    with pytest.raises(DataFileError, match=r'1_ann_0\.flac: corrupt audio data'):
        FeatureCache(definition, SETTINGS, num_samples=16000, segment_hop_seconds=2.0, cache_root=tmp_path / 'cache', workers=1, progress=False).load()
    with pytest.warns(SkippedFileWarning, match=r'dropped 1 clip\(s\) of 1_ann_0\.flac, from 4 s'):
        dataset = FeatureCache(definition, SETTINGS, num_samples=16000, segment_hop_seconds=2.0, cache_root=tmp_path / 'cache', on_error='skip',
                               workers=1, progress=False).load()
    assert dataset.metadata['files'].count('1_ann_0.flac') == 4 and dataset.metadata['files'].count('2_bob_0.flac') == 5
    assert not dataset.metadata['skipped'] and [clip['offset'] for clip in dataset.metadata['dropped_clips']] == [4.0]
    with pytest.raises(DataFileError, match=r'the clip at 4 s: .*\(1 clip\(s\) left out'):
        FeatureCache(definition, SETTINGS, num_samples=16000, segment_hop_seconds=2.0, cache_root=tmp_path / 'cache', workers=1, progress=False).load()
