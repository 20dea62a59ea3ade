"""The rectangular drum sampler obeys the membrane's physics, checked against a finite-difference membrane."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import signal, sparse
from scipy.sparse import linalg

from etude.data import obtain_dataset
from etude.data.samplers import CircularDrumSampler, RectangularDrumSampler, RectangularDrumSettings, rectangle_sides
from etude.errors import ConfigError

WAVE_SPEED = 100.0  # √(2000 N/m / 0.2 kg/m²), the samplers' default material
DRUM_SIZE, ASPECT_RATIO = 1.0, 1.7  # an irrational-looking ratio keeps the low modes apart (no degenerate pairs)
POINTS = 8  # lowest modes compared


def finite_difference_modes(width: float, height: float, points_x: int, points_y: int) -> tuple[np.ndarray, np.ndarray]:
    """The lowest modes of a fixed-edge membrane from the 5-point Laplacian on a grid: frequencies (Hz) and shapes.

    Independent of the sampler's closed form: eigenvalues λ of -∇² give f = c √λ / 2π. Shapes are
    `(POINTS, points_x, points_y)` on the interior grid points.
    """
    step_x, step_y = width / (points_x + 1), height / (points_y + 1)

    def second_difference(points: int, step: float) -> sparse.csr_matrix:
        return sparse.diags([-np.ones(points - 1), 2 * np.ones(points), -np.ones(points - 1)], [-1, 0, 1]) / step**2

    laplacian = sparse.kronsum(second_difference(points_y, step_y), second_difference(points_x, step_x)).tocsc()
    eigenvalues, eigenvectors = linalg.eigsh(laplacian, k=POINTS, sigma=0.0)
    order = np.argsort(eigenvalues)
    shapes = eigenvectors[:, order].T.reshape(POINTS, points_x, points_y)
    return WAVE_SPEED * np.sqrt(eigenvalues[order]) / (2 * np.pi), shapes


def spectrum(waveform: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    magnitudes = np.abs(np.fft.rfft(waveform * np.hanning(len(waveform))))
    return np.fft.rfftfreq(len(waveform), 1 / sample_rate), magnitudes


def magnitude_near(frequencies: np.ndarray, magnitudes: np.ndarray, frequency: float, width: float = 2.0) -> float:
    return float(magnitudes[np.abs(frequencies - frequency) <= width].max())


@pytest.fixture(scope='module')
def membrane() -> tuple[np.ndarray, np.ndarray]:
    width, height = rectangle_sides(DRUM_SIZE, ASPECT_RATIO)
    return finite_difference_modes(width, height, 129, 75)  # odd counts: the centre is a grid point


def test_sides_follow_kac_drumset_size_and_aspect_ratio() -> None:
    width, height = rectangle_sides(np.array([0.5, 1.2]), np.array([1.0, 3.0]))
    assert width * height == pytest.approx(np.array([0.5, 1.2]) ** 2)
    assert width / height == pytest.approx([1.0, 3.0])


def test_mode_frequencies_match_a_finite_difference_membrane(membrane: tuple[np.ndarray, np.ndarray]) -> None:
    expected, _ = membrane
    sampler = RectangularDrumSampler()
    frequencies = np.sort(sampler.mode_frequencies(*rectangle_sides(DRUM_SIZE, ASPECT_RATIO), WAVE_SPEED).ravel())[:POINTS]
    assert frequencies == pytest.approx(expected, rel=2e-3)


def test_a_single_mode_rings_at_f11_and_decays_by_its_t60(membrane: tuple[np.ndarray, np.ndarray]) -> None:
    sample_rate = 16_000
    sampler = RectangularDrumSampler(RectangularDrumSettings(modes_x=1, modes_y=1, duration=1.0, damping_per_hertz=0.0))
    waveform = sampler.synthesise(DRUM_SIZE, ASPECT_RATIO, 2000.0, 0.2, 0.8, (0.3, 0.6))
    frequencies, magnitudes = spectrum(waveform, sample_rate)
    assert frequencies[np.argmax(magnitudes)] == pytest.approx(membrane[0][0], abs=1.5)
    assert waveform.dtype == np.float32 and np.abs(waveform).max() == pytest.approx(1.0)
    peaks_per_window = np.abs(waveform).reshape(20, -1).max(axis=1)  # 50 ms windows, each spanning several periods
    slope, _ = np.polyfit(np.arange(20) * 0.05, 20 * np.log10(peaks_per_window), 1)
    assert slope == pytest.approx(-60 / 0.8, rel=0.01), 'T60 = 0.8 s: the envelope falls 60 dB in 0.8 s'
    small = RectangularDrumSampler(RectangularDrumSettings(modes_x=1, modes_y=1, duration=1.0)).synthesise(0.5, ASPECT_RATIO, 2000.0, 0.2, 2.0, (0.5, 0.5))
    small_frequencies, small_magnitudes = spectrum(small, sample_rate)
    assert small_frequencies[np.argmax(small_magnitudes)] == pytest.approx(2 * membrane[0][0], abs=3.0), 'half the size, twice the pitch'


def test_the_strike_position_selects_the_modes(membrane: tuple[np.ndarray, np.ndarray]) -> None:
    """At the centre, modes whose finite-difference shape has a node there are silent; off centre they sound."""
    expected, shapes = membrane
    sample_rate = 16_000
    sampler = RectangularDrumSampler(RectangularDrumSettings(duration=2.0, damping_per_hertz=0.0))  # long, undamped: sharp lines
    centre_x, centre_y = (shapes.shape[1] - 1) // 2, (shapes.shape[2] - 1) // 2
    at_centre = np.abs(shapes[:, centre_x, centre_y]) / np.abs(shapes).max(axis=(1, 2))
    sounding, silent = expected[at_centre > 0.5], expected[at_centre < 1e-6]
    assert len(sounding) >= 2 and len(silent) >= 3
    frequencies, centre = spectrum(sampler.synthesise(DRUM_SIZE, ASPECT_RATIO, 2000.0, 0.2, 20.0, (0.5, 0.5)), sample_rate)
    _, off_centre = spectrum(sampler.synthesise(DRUM_SIZE, ASPECT_RATIO, 2000.0, 0.2, 20.0, (0.31, 0.43)), sample_rate)
    loudest = magnitude_near(frequencies, centre, sounding[0])
    for frequency in silent:
        assert magnitude_near(frequencies, centre, frequency) < 0.01 * loudest, f'{frequency:.1f} Hz has a node at the centre'
        assert magnitude_near(frequencies, off_centre, frequency) > 0.05 * magnitude_near(frequencies, off_centre, sounding[0])
    peaks, _ = signal.find_peaks(centre, height=0.05 * loudest)
    peak_frequencies = frequencies[peaks][frequencies[peaks] < expected[-1] + 1.5]  # the band the finite-difference modes cover
    assert peak_frequencies == pytest.approx(sounding, abs=1.5), 'the spectrum peaks are the membrane modes that sound, and only those'


def test_modes_above_nyquist_are_left_out() -> None:
    sampler = RectangularDrumSampler(RectangularDrumSettings(sample_rate=4000, duration=0.25))
    modes = sampler.drum_modes(0.1, 4.0, 2000.0, 0.2, 2.0)
    assert modes.frequencies.max() < 2000 and len(modes.frequencies) < 100
    assert modes.sinusoids.shape == (len(modes.frequencies), 1000)


def test_conventions_match_the_circular_sampler() -> None:
    rectangular, circular = RectangularDrumSampler(), CircularDrumSampler()
    assert rectangular.settings.sample_rate == circular.settings.sample_rate
    assert rectangular.input_shape == circular.input_shape and rectangular.items_per_group == circular.items_per_group
    kac_poisson_labels = {'drum_size', 'aspect_ratio', 'strike_location'}  # kac_drumset PoissonModel.getLabels
    shared_physics = {'tension', 'material_density', 'decay_time'}
    assert set(rectangular.label_shapes) == kac_poisson_labels | shared_physics and shared_physics <= set(circular.label_shapes)


def test_groups_labels_and_determinism(tmp_path: Path) -> None:
    settings = RectangularDrumSettings(number_of_drums=3, strikes_per_drum=4, duration=0.05)
    sampler = RectangularDrumSampler(settings)
    first = obtain_dataset(tmp_path / 'a', sampler=sampler, seed=5, progress=False)
    second = obtain_dataset(tmp_path / 'b', sampler=RectangularDrumSampler(settings), seed=5, progress=False)
    assert np.array_equal(first.inputs, second.inputs) and first.fingerprint == second.fingerprint
    assert first.inputs.shape == (12, 800) and first.groups.tolist() == [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]
    for name in ('drum_size', 'aspect_ratio', 'tension', 'material_density', 'decay_time'):
        per_drum = first.labels[name].reshape(3, 4)
        assert (per_drum == per_drum[:, :1]).all(), f'{name} is one value per drum'
    assert len(set(first.labels['drum_size'].tolist())) == 3
    assert 0.1 <= first.labels['drum_size'].min() and first.labels['drum_size'].max() <= 2.0
    assert 1.0 <= first.labels['aspect_ratio'].min() and first.labels['aspect_ratio'].max() <= 4.0
    locations = first.labels['strike_location'].reshape(3, 4, 2)
    assert (locations[:, 0] == 0.5).all() and ((0 < locations[:, 1:]) & (locations[:, 1:] < 1)).all()
    assert np.abs(first.inputs).max(axis=1) == pytest.approx(np.ones(12))
    assert first.metadata['source']['settings']['aspect_ratio_range'] == [1.0, 4.0]
    other_seed = obtain_dataset(tmp_path / 'c', sampler=sampler, seed=6, progress=False)
    assert other_seed.fingerprint != first.fingerprint and not np.array_equal(other_seed.inputs, first.inputs)


def test_fingerprint_follows_every_setting() -> None:
    base = RectangularDrumSampler().fingerprint(0)
    for change in ({'aspect_ratio_range': (1.0, 2.0)}, {'modes_x': 5}, {'damping_per_hertz': 0.0}, {'sample_rate': 22_050}):
        assert RectangularDrumSampler(RectangularDrumSettings(**change)).fingerprint(0) != base, change  # type: ignore[arg-type]
    assert RectangularDrumSampler().fingerprint(1) != base and RectangularDrumSampler().fingerprint(0) == base


def test_invalid_settings_are_config_errors() -> None:
    with pytest.raises(ConfigError, match='aspect_ratio_range must start at 1'):
        RectangularDrumSettings(aspect_ratio_range=(0.5, 2.0))
    with pytest.raises(ConfigError, match='drum_size_range'):
        RectangularDrumSettings(drum_size_range=(2.0, 1.0))
    with pytest.raises(ConfigError, match='modes_x'):
        RectangularDrumSettings(modes_x=0)
