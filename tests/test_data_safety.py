"""What the data layer promises about the user's files and folders: it deletes only what it made, a path in the way
is one line, and arguments are checked where they enter."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile

from etude.data import DatasetWriter, generate_dataset, obtain_dataset, read_dataset
from etude.data.audio import read_audio
from etude.data.cache import FeatureCache
from etude.data.dataset_layouts import midi_collection
from etude.data.generators import spoken_digit_folder
from etude.data.representations import RepresentationSettings
from etude.data.samplers import CircularDrumSampler, CircularDrumSettings
from etude.data.sequences import NoteSequences, SequenceCache
from etude.errors import ConfigError, DatasetError

SAMPLER = CircularDrumSampler(CircularDrumSettings(number_of_drums=3, strikes_per_drum=2, duration=0.02))
SETTINGS = RepresentationSettings(kind='log_mel', sample_rate=8000, n_fft=256, hop_length=128, n_mels=16)


def recordings(folder: Path) -> Path:
    folder.mkdir()
    for digit in range(2):
        for take in range(2):
            soundfile.write(folder / f'{digit}_ann_{take}.wav', np.sin(np.arange(2000) * (0.1 + digit)).astype(np.float32), 8000)
    return folder


def melodies(folder: Path) -> Path:
    import pretty_midi

    folder.mkdir()
    midi = pretty_midi.PrettyMIDI()
    piano = pretty_midi.Instrument(0)
    piano.notes = [pretty_midi.Note(80, 60 + index % 12, index * 0.25, index * 0.25 + 0.2) for index in range(40)]
    midi.instruments.append(piano)
    midi.write(str(folder / 'tune.mid'))
    return folder


def sibling_folders(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.parent.iterdir() if path.name != '.' + directory.name + '.lock')


def test_a_user_folder_named_like_a_partial_build_survives(tmp_path: Path) -> None:
    directory = tmp_path / 'data' / f'circular-drums-{SAMPLER.fingerprint(0)[:8]}'
    users = directory.with_name(directory.name + '.partial')
    users.mkdir(parents=True)
    (users / 'precious.txt').write_text('x\n')
    dataset = obtain_dataset(directory, sampler=SAMPLER, progress=False)
    assert len(dataset) == 6 and (users / 'precious.txt').read_text() == 'x\n'
    assert sibling_folders(directory) == [directory.name, users.name], 'the writer left nothing of its own behind'
    assert sorted(path.name for path in directory.iterdir()) == ['groups.npy', 'inputs.npy', 'labels', 'metadata.json']


def test_a_failed_write_removes_only_its_own_folder(tmp_path: Path) -> None:
    directory = tmp_path / 'data' / 'mine'
    directory.parent.mkdir()
    (tmp_path / 'data' / 'mine.partial').mkdir()
    with pytest.raises(RuntimeError, match='half way'):
        with DatasetWriter(directory, size=4, input_shape=(3,), label_shapes={'y': ()}) as writer:
            writer.write(0, np.ones(3), {'y': 1.0}, 0)
            raise RuntimeError('half way')
    assert sorted(path.name for path in directory.parent.iterdir()) == ['mine.partial']


def test_metadata_without_a_fingerprint_is_one_line(tmp_path: Path) -> None:
    writer = DatasetWriter(tmp_path / 'mine', size=2, input_shape=(3,), label_shapes={})
    with pytest.raises(DatasetError, match=r"needs a 'fingerprint'.*change the fingerprint whenever the data changes"):
        writer.finish({'name': 'mine'})
    writer.discard()
    assert list(tmp_path.iterdir()) == []


def test_a_feature_cache_never_empties_a_folder_it_did_not_make(tmp_path: Path) -> None:
    cache = FeatureCache(spoken_digit_folder(recordings(tmp_path / 'recordings')), SETTINGS, num_samples=2000, cache_root=tmp_path / 'cache',
                         workers=1, progress=False)
    users = cache.directory().with_name(cache.directory().name + '.partial')
    users.mkdir(parents=True)
    (users / 'precious.txt').write_text('x\n')
    with pytest.raises(DatasetError, match=r'\.partial exists and was not made by etude; move it'):
        cache.load()
    assert sorted(path.name for path in users.iterdir()) == ['precious.txt']


@pytest.mark.parametrize('make', ['obtain', 'obtain-below', 'generate', 'feature-cache', 'sequence-cache'])
def test_a_file_where_a_folder_should_be_is_one_line(tmp_path: Path, make: str) -> None:
    file = tmp_path / 'data'
    file.write_text('not a folder\n')
    with pytest.raises(DatasetError, match=r'(is a file, not a folder; name a folder|cannot be created: .*data is a file, not a folder)'):
        if make == 'obtain':
            obtain_dataset(file, sampler=SAMPLER, progress=False)
        elif make == 'obtain-below':  # data_directory=data with the routine's dataset folder inside it
            obtain_dataset(file / 'circular-drums-0123', sampler=SAMPLER, progress=False)
        elif make == 'generate':
            generate_dataset(SAMPLER, file, progress=False)
        elif make == 'feature-cache':
            FeatureCache(spoken_digit_folder(recordings(tmp_path / 'recordings')), SETTINGS, num_samples=2000, cache_root=file, workers=1).load()
        else:
            SequenceCache(midi_collection(melodies(tmp_path / 'midi')), NoteSequences(), cache_root=file / 'cache').load()
    assert file.read_text() == 'not a folder\n'


@pytest.mark.parametrize('arguments, wrong', [
    ({'duration_seconds': -1}, 'duration_seconds is -1'),
    ({'duration_seconds': float('nan')}, 'duration_seconds is nan'),
    ({'offset_seconds': -0.5}, 'offset_seconds is -0.5'),
    ({'sample_rate': 0}, 'sample_rate is 0'),
    ({'sample_rate': 8000.5}, 'sample_rate is 8000.5'),
])
def test_read_audio_checks_its_arguments(tmp_path: Path, arguments: dict[str, float], wrong: str) -> None:
    path = tmp_path / 'a.wav'
    soundfile.write(path, np.zeros(800, dtype=np.float32), 8000)
    with pytest.raises(ConfigError, match=wrong) as caught:
        read_audio(path, **arguments)  # type: ignore[arg-type]
    assert '\n' not in str(caught.value)
    assert read_audio(path, sample_rate=16000, duration_seconds=0.05)[0].shape == (800,)


def test_seed_is_checked_before_anything_is_written(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match='seed is -1'):
        obtain_dataset(tmp_path / 'drums', sampler=SAMPLER, seed=-1, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_unknown_dataset_suggests_only_what_is_close() -> None:
    from etude.data.registry import OFFICIAL_DATASETS, get_official_dataset

    with pytest.raises(DatasetError) as far:
        get_official_dataset('nope')
    assert 'did you mean' not in str(far.value) and all(name in str(far.value) for name in OFFICIAL_DATASETS)
    with pytest.raises(DatasetError, match="did you mean 'maestro-v3'"):
        get_official_dataset('maestro-v')


def test_representation_keys_suggest_only_what_is_close() -> None:
    with pytest.raises(ConfigError) as far:
        RepresentationSettings.from_dict({'zzz': 1})
    assert 'did you mean' not in str(far.value) and 'Valid keys' in str(far.value)
    with pytest.raises(ConfigError, match="did you mean 'n_mels'"):
        RepresentationSettings.from_dict({'n_mel': 1})


def test_generating_again_reuses_the_same_dataset(tmp_path: Path) -> None:
    generate_dataset(SAMPLER, tmp_path / 'drums', progress=False)
    written = (tmp_path / 'drums' / 'inputs.npy').stat()
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        generate_dataset(SAMPLER, tmp_path / 'drums', progress=False)
    again = (tmp_path / 'drums' / 'inputs.npy').stat()
    assert (again.st_ino, again.st_mtime_ns) == (written.st_ino, written.st_mtime_ns), 'generated once, then opened'
    assert read_dataset(tmp_path / 'drums').fingerprint == SAMPLER.fingerprint(0)
