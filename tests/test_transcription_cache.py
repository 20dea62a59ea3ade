"""Transcription data through the feature cache: FluidSynth renders of Bach chorales cut into clips, each with the
piano-roll targets of its MIDI on the features' own frames (seed 001's training data)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import needs_fluidsynth

from etude.data.audio import audio_info, read_audio
from etude.data.cache import FeatureCache
from etude.data.dataset_layouts import audio_folder, audio_midi_pairs
from etude.data.generators import export_chorales, render_pairs
from etude.data.midi import midi_to_notes, piano_roll_targets
from etude.data.representations import Featuriser, RepresentationSettings
from etude.errors import ConfigError

SETTINGS = RepresentationSettings(kind='log_mel', sample_rate=16000, n_fft=1024, hop_length=160, n_mels=64)  # 100 frames/s
TARGETS = ('frame', 'onset', 'offset', 'velocity')


@pytest.fixture(scope='module')
def pairs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp('pairs')
    midi = export_chorales(tmp_path_factory.mktemp('midi'), names=['bach/bwv66.6', 'bach/bwv347'])
    render_pairs(midi, folder, workers=2, progress=False)
    return folder


@needs_fluidsynth
def test_clips_and_their_targets(pairs: Path, tmp_path: Path) -> None:
    definition = audio_midi_pairs(pairs)
    cache = FeatureCache(definition, SETTINGS, num_samples=32000, segment_hop_seconds=1.5, targets=TARGETS, cache_root=tmp_path,
                         workers=2, chunk_size=16, progress=False)
    dataset = cache.load()
    durations = {item.path: audio_info(pairs / item.path).duration for item in definition.items}
    assert len(dataset) == sum(int(np.ceil(round((d - 2.0) / 1.5, 9))) + 1 for d in durations.values())
    frames = dataset.inputs.shape[-1]
    for target in TARGETS:
        assert dataset.labels[target].shape == (len(dataset), frames, 88) and dataset.labels[target].dtype == np.uint8
    assert dataset.metadata['targets']['frames_per_second'] == 100 and dataset.metadata['offsets'][:3] == [0.0, 1.5, 3.0]
    featuriser = Featuriser(SETTINGS)
    for row in (1, len(dataset) // 2, len(dataset) - 1):  # the last clip runs past its file's end and is padded
        path, offset = dataset.metadata['files'][row], dataset.metadata['offsets'][row]
        audio = np.zeros(32000, dtype=np.float32)
        clip = read_audio(pairs / path, sample_rate=16000, offset_seconds=offset, duration_seconds=2.0)[0]
        audio[:len(clip)] = clip
        np.testing.assert_allclose(dataset.inputs[row], featuriser(torch.from_numpy(audio)).numpy(), atol=1e-4)
        notes = midi_to_notes(pairs / dataset.metadata['companions'][row]['midi'])
        notes['start'] -= offset
        notes['end'] -= offset
        expected = piano_roll_targets(notes, frames_per_second=100, num_frames=frames)
        for target in ('frame', 'onset', 'offset'):
            np.testing.assert_array_equal(dataset.labels[target][row], expected[target], err_msg=f'{target} of row {row}')
        np.testing.assert_array_equal(dataset.labels['velocity'][row], np.rint(expected['velocity'] * 127))
    sounding = np.asarray(dataset.labels['frame']).any(axis=2)
    loudness = np.asarray(dataset.inputs).mean(axis=1)
    assert loudness[sounding].mean() > loudness[~sounding].mean() + 2, 'targets sit where the rendered notes sound'
    again = FeatureCache(definition, SETTINGS, num_samples=32000, segment_hop_seconds=1.5, targets=TARGETS, cache_root=tmp_path, progress=False)
    again.load()
    assert again.report is not None and again.report.cache_hit


@needs_fluidsynth
def test_targets_need_midi_and_frames(pairs: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match='has none'):
        FeatureCache(audio_folder(pairs, '{name}.wav', group_by=None, label_types={}), SETTINGS, num_samples=16000, targets=('frame',))
    with pytest.raises(ConfigError, match="not 'waveform'"):
        FeatureCache(audio_midi_pairs(pairs), RepresentationSettings(kind='waveform', sample_rate=16000), num_samples=16000, targets=('frame',))
    with pytest.raises(ConfigError, match='not piano-roll targets'):
        FeatureCache(audio_midi_pairs(pairs), SETTINGS, num_samples=16000, targets=('pedal',))
    with pytest.raises(ConfigError, match='segment_hop_seconds'):
        FeatureCache(audio_midi_pairs(pairs), SETTINGS, num_samples=16000, segment_hop_seconds=0.0)
