"""The drum sampler obeys the membrane's physics, and kac_drumset folders convert to etude's binary form."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile
from scipy import special

from etude.data import obtain_dataset, read_dataset
from etude.data.samplers import CircularDrumSampler, CircularDrumSettings
from etude.errors import ConfigError, DatasetError


def dominant_frequency(waveform: np.ndarray, sample_rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(waveform * np.hanning(len(waveform))))
    return float(np.fft.rfftfreq(len(waveform), 1 / sample_rate)[np.argmax(spectrum)])


def test_centre_strike_rings_at_the_fundamental() -> None:
    settings = CircularDrumSettings(sample_rate=16_000, duration=1.0)
    sampler = CircularDrumSampler(settings)
    for diameter in (0.3, 1.0):
        waveform = sampler.synthesise(diameter, 2000.0, 0.2, 2.0, 0.0, 0.0)
        expected = special.jn_zeros(0, 1)[0] * np.sqrt(2000.0 / 0.2) / (np.pi * diameter)
        assert dominant_frequency(waveform, 16_000) == pytest.approx(expected, abs=1.5)
        assert np.abs(waveform).max() == pytest.approx(1.0)
    large, small = (sampler.synthesise(diameter, 2000.0, 0.2, 2.0, 0.0, 0.0) for diameter in (1.5, 0.5))
    assert dominant_frequency(large, 16_000) < dominant_frequency(small, 16_000)


def test_off_centre_strikes_excite_asymmetric_modes() -> None:
    sampler = CircularDrumSampler()
    centre = sampler.synthesise(1.0, 2000.0, 0.2, 2.0, 0.0, 0.0)
    edge = sampler.synthesise(1.0, 2000.0, 0.2, 2.0, 0.7, 0.3)
    first_asymmetric = special.jn_zeros(1, 1)[0] * 100 / np.pi
    spectrum = lambda wave: np.abs(np.fft.rfft(wave))  # noqa: E731
    bin_index = int(round(first_asymmetric * len(centre) / 16_000))
    assert spectrum(edge)[bin_index - 2: bin_index + 3].max() > 20 * spectrum(centre)[bin_index - 2: bin_index + 3].max()


def test_groups_labels_and_determinism(tmp_path: Path) -> None:
    sampler = CircularDrumSampler(CircularDrumSettings(number_of_drums=3, strikes_per_drum=4, duration=0.05))
    first = obtain_dataset(tmp_path / 'a', sampler=sampler, seed=5, progress=False)
    second = obtain_dataset(tmp_path / 'b', sampler=sampler, seed=5, progress=False)
    assert np.array_equal(first.inputs, second.inputs)
    assert first.groups.tolist() == [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]
    diameters = first.labels['diameter'].reshape(3, 4)
    assert (diameters == diameters[:, :1]).all() and 0.1 <= diameters.min() and diameters.max() <= 2.0
    assert first.labels['strike_radius'][0] == 0.0 and (first.labels['strike_radius'][1:4] > 0).all()
    assert first.metadata['source']['settings']['strikes_per_drum'] == 4
    changed = CircularDrumSampler(CircularDrumSettings(number_of_drums=3, strikes_per_drum=4, duration=0.06))
    regenerated = obtain_dataset(tmp_path / 'a', sampler=changed, seed=5, progress=False)
    assert regenerated.inputs.shape == (12, 960), 'changed settings regenerate the dataset'


def test_invalid_settings_are_config_errors() -> None:
    with pytest.raises(ConfigError, match='diameter_range'):
        CircularDrumSettings(diameter_range=(2.0, 1.0))


def write_kac_dataset(directory: Path, size: int = 10) -> None:
    """kac_drumset's layout, line for line as its generator writes it: floats as JSON text, one wav per sample."""
    directory.mkdir(parents=True)
    rng = np.random.default_rng(0)
    lines = ['{', f'"dataset_size": {size},', '"representation_settings": {"normalise_input": true, "output_type": "end2end"},',
             '"sampler": {"name": "BesselModel", "version": "1.0.0"},', '"sampler_settings": {"duration": 0.01, "sample_rate": 48000},', '"data": [']
    for index in range(size):
        audio = rng.uniform(-1, 1, 480).astype(np.float32)
        soundfile.write(directory / f'sample_{index:05d}.wav', audio, 48000, subtype='FLOAT')
        labels = {'drum_size': [0.1 + index / 10], 'strike_location': [0.5, 1.0]}
        lines += ['{', f'"x": {audio.tolist()},', f'"y": {json.dumps(labels)}', '}]}' if index == size - 1 else '},']
    (directory / 'metadata.json').write_text('\n'.join(lines))


def test_kac_dataset_is_converted_once(tmp_path: Path) -> None:
    write_kac_dataset(tmp_path / 'kac' / 'data')
    dataset = obtain_dataset(tmp_path / 'kac', progress=False)
    assert len(dataset) == 10 and dataset.inputs.shape == (10, 480)
    assert dataset.summary()['num_samples'] == 480 and dataset.summary()['sample_rate'] == 48000
    assert dataset.labels['drum_size'][:, 0] == pytest.approx(np.arange(10) / 10 + 0.1)
    assert dataset.labels['strike_location'].shape == (10, 2)
    assert dataset.groups.tolist() == [0] * 5 + [1] * 5
    assert sorted(path.name for path in (tmp_path / 'kac' / 'etude-dataset').iterdir()) == ['groups.npy', 'inputs.npy', 'labels', 'metadata.json']
    again = obtain_dataset(tmp_path / 'kac', progress=False)
    assert again.directory == dataset.directory and again.metadata['created'] == dataset.metadata['created']
    first_wav, _ = soundfile.read(tmp_path / 'kac' / 'data' / 'sample_00000.wav', dtype='float32')
    assert np.array_equal(read_dataset(tmp_path / 'kac' / 'etude-dataset').inputs[0], first_wav)


def test_missing_dataset_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match='etude data install NAME --dir'):
        obtain_dataset(tmp_path / 'nothing')


def test_a_sampler_never_generates_over_other_data(tmp_path: Path) -> None:
    """A converted kac_drumset folder, or any folder of the user's, is never replaced by generated drums."""
    write_kac_dataset(tmp_path / 'kac' / 'data')
    obtain_dataset(tmp_path / 'kac', progress=False)
    before = sorted(str(path) for path in (tmp_path / 'kac').rglob('*'))
    sampler = CircularDrumSampler(CircularDrumSettings(number_of_drums=2, strikes_per_drum=2, duration=0.01))
    with pytest.raises(DatasetError, match='which this sampler did not generate'):
        obtain_dataset(tmp_path / 'kac', sampler=sampler, progress=False)
    assert sorted(str(path) for path in (tmp_path / 'kac').rglob('*')) == before
    (tmp_path / 'mine').mkdir()
    (tmp_path / 'mine' / 'notes.txt').write_text('keep me')
    with pytest.raises(DatasetError, match='is not an etude dataset'):
        obtain_dataset(tmp_path / 'mine', sampler=sampler, progress=False)
    assert (tmp_path / 'mine' / 'notes.txt').read_text() == 'keep me'
    generated = obtain_dataset(tmp_path / 'drums', sampler=sampler, seed=0, progress=False)
    regenerated = obtain_dataset(tmp_path / 'drums', sampler=sampler, seed=1, progress=False)  # its own stale output is replaced
    assert generated.fingerprint != regenerated.fingerprint and read_dataset(tmp_path / 'drums').fingerprint == regenerated.fingerprint
