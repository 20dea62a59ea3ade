"""What an export keeps of its dataset (`StoredDataset.summary()`) is enough to rebuild the model's input, and read its
targets, from a raw file alone: checked by doing exactly that, through JSON, for each way a dataset is made."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pretty_midi
import soundfile

from etude.data import obtain_dataset
from etude.data.audio import read_audio
from etude.data.cache import FeatureCache
from etude.data.dataset_layouts import audio_midi_pairs, midi_collection
from etude.data.generators import spoken_digit_folder
from etude.data.midi import midi_to_notes, piano_roll_targets
from etude.data.representations import RepresentationSettings, featurise
from etude.data.samplers import CircularDrumSampler, CircularDrumSettings
from etude.data.sequences import NoteSequences, SequenceCache
from etude.data.store import SUMMARY_KEYS

RATE = 8000
SETTINGS = RepresentationSettings(kind='log_mel', sample_rate=RATE, n_fft=256, hop_length=80, n_mels=32, center=False)  # 100 frames/s


def exported(summary: dict[str, Any]) -> dict[str, Any]:
    """The summary as an export stores it: through JSON, with nothing per row."""
    assert set(summary) <= set(SUMMARY_KEYS) and not {'files', 'offsets', 'splits', 'group_names'} & set(summary)
    return dict(json.loads(json.dumps(summary)))


def pairs(folder: Path) -> Path:
    """Two 3 s recordings, each with the MIDI of the notes it plays (a sine per note, so onsets are audible)."""
    folder.mkdir()
    for index, pitches in enumerate(((60, 64, 67), (62, 65))):
        midi, piano = pretty_midi.PrettyMIDI(), pretty_midi.Instrument(0)
        audio = np.zeros(3 * RATE, dtype=np.float32)
        for number, pitch in enumerate(pitches):
            start, end = 0.3 + 0.8 * number, 0.9 + 0.8 * number
            piano.notes.append(pretty_midi.Note(40 + 30 * number, pitch, start, end))
            t = np.arange(round(start * RATE), round(end * RATE)) / RATE
            audio[round(start * RATE):round(end * RATE)] += 0.3 * np.sin(2 * np.pi * pretty_midi.note_number_to_hz(pitch) * t)
        midi.instruments.append(piano)
        midi.write(str(folder / f'piece{index}.mid'))
        soundfile.write(folder / f'piece{index}.wav', audio, RATE, subtype='FLOAT')
    return folder


def test_a_transcription_cache_can_be_rebuilt_from_its_summary(tmp_path: Path) -> None:
    root = pairs(tmp_path / 'pairs')
    dataset = FeatureCache(audio_midi_pairs(root), SETTINGS, num_samples=RATE, segment_hop_seconds=0.75, targets=('frame', 'onset', 'velocity'),
                           cache_root=tmp_path / 'cache', workers=1, progress=False).load()
    summary = exported(dataset.summary())
    settings = RepresentationSettings.from_dict(summary['representation'])
    rate, length, hop, targets = summary['sample_rate'], summary['num_samples'], summary['segment_hop_seconds'], summary['targets']
    frames = summary['input_shape'][-1]
    assert (rate, length, hop, settings) == (RATE, RATE, 0.75, SETTINGS) and targets['names'] == ['frame', 'onset', 'velocity']
    assert summary['labels']['onset'] == {'shape': [frames, targets['num_pitches']], 'dtype': 'uint8'} and summary['group_key'] == 'file'
    for row in (0, 3, len(dataset) - 1):  # preprocessing a raw file clip by clip, as inference will, from the summary alone
        file, offset = dataset.metadata['files'][row], dataset.metadata['offsets'][row]
        assert round(offset / hop, 9).is_integer()
        clip = np.zeros(length, dtype=np.float32)
        audio = read_audio(root / file, sample_rate=rate, offset_seconds=offset, duration_seconds=length / rate)[0]
        clip[:len(audio)] = audio
        np.testing.assert_allclose(featurise(clip[None], settings)[0].numpy(), dataset.inputs[row], atol=1e-4)
        notes = midi_to_notes(root / file.replace('.wav', '.mid'))
        notes['start'] -= offset + targets['frame_time']
        notes['end'] -= offset + targets['frame_time']
        expected = piano_roll_targets(notes, frames_per_second=targets['frames_per_second'], num_frames=frames, begin_note=targets['begin_note'],
                                      num_pitches=targets['num_pitches'])
        np.testing.assert_array_equal(dataset.labels['onset'][row], expected['onset'])
        np.testing.assert_array_equal(dataset.labels['velocity'][row], np.rint(expected['velocity'] * targets['velocity_scale']))
    assert np.asarray(dataset.labels['onset']).sum() > 0


def test_a_classification_cache_keeps_its_classes_in_order(tmp_path: Path) -> None:
    root = tmp_path / 'recordings'
    root.mkdir()
    for digit in (2, 0, 1):
        soundfile.write(root / f'{digit}_ann_0.wav', np.sin(np.arange(RATE) * (0.1 + digit)).astype(np.float32), RATE)
    dataset = FeatureCache(spoken_digit_folder(root), SETTINGS, num_samples=RATE, cache_root=tmp_path / 'cache', workers=1, progress=False).load()
    summary = exported(dataset.summary())
    assert summary['classes'] == {'digit': ['0', '1', '2']} and summary['label_types'] == {'digit': 'class'}
    assert summary['num_samples'] == RATE and summary['segment_hop_seconds'] is None and summary['targets'] is None
    names = [summary['classes']['digit'][index] for index in dataset.labels['digit']]
    assert names == [file[0] for file in dataset.metadata['files']], 'label i means classes[i]'


def test_a_generated_dataset_keeps_its_clip_length_and_sampler(tmp_path: Path) -> None:
    settings = CircularDrumSettings(number_of_drums=2, strikes_per_drum=2, duration=0.05, sample_rate=16000)
    summary = exported(obtain_dataset(tmp_path / 'drums', sampler=CircularDrumSampler(settings), seed=4, progress=False).summary())
    assert (summary['num_samples'], summary['sample_rate'], summary['input_shape']) == (800, 16000, [800])
    assert summary['source']['seed'] == 4 and CircularDrumSettings(**{**summary['source']['settings'],
                                                                      **{key: tuple(value) for key, value in summary['source']['settings'].items()
                                                                         if isinstance(value, list)}}) == settings
    assert set(summary['labels']) == set(CircularDrumSampler.label_names) and summary['group_key'] == 'group'


def test_a_note_sequence_dataset_keeps_its_window_settings(tmp_path: Path) -> None:
    folder = tmp_path / 'midi'
    folder.mkdir()
    midi, piano = pretty_midi.PrettyMIDI(), pretty_midi.Instrument(0)
    piano.notes = [pretty_midi.Note(80, 60 + index % 7, index * 0.25, index * 0.25 + 0.2) for index in range(30)]
    midi.instruments.append(piano)
    midi.write(str(folder / 'tune.mid'))
    settings = NoteSequences(sequence_length=8, hop=2)
    summary = exported(SequenceCache(midi_collection(folder), settings, cache_root=tmp_path / 'cache', workers=1, progress=False).load().summary())
    assert summary['input_features'] == ['pitch', 'step', 'duration'] and summary['input_shape'] == [8, 3]
    assert summary['classes']['next_pitch'] == [str(pitch) for pitch in range(128)] and summary['label_types']['next_pitch'] == 'class'
    rebuilt = NoteSequences(**{key: tuple(value) if isinstance(value, list) else value
                               for key, value in summary['source']['settings'].items() if key != 'kind'})
    assert rebuilt == settings
