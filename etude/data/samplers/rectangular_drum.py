"""Struck rectangular membranes by modal synthesis, labelled with their size and aspect ratio.

An ideal membrane of width Lx and height Ly fixed at its edges vibrates in modes (m, n), m, n ≥ 1, with frequencies
f_mn = (c / 2) · √((m / Lx)² + (n / Ly)²), where c = √(tension / density) is the wave speed, and mode shapes
φ_mn(x, y) = sin(mπx / Lx) · sin(nπy / Ly), all of the same norm ‖φ_mn‖² = Lx·Ly / 4. By modal superposition an
impulse at (x, y) gives mode (m, n) the displacement amplitude φ_mn(x, y) / ω_mn (the common norm cancels on
normalising). Each mode decays exponentially as on the circular drum: the material's T60 plus losses that grow with
frequency.

The labels follow kac_drumset's PoissonModel, which generated the official `5000-rectangular-drums-of-varying-dimension`:
`drum_size` L is the side of the square of the same area (L² = Lx·Ly) and `aspect_ratio` ε = Lx / Ly ≥ 1, so
Lx = L·√ε and Ly = L / √ε (`rectangle_sides`). A rectangle and its rotation (ε and 1/ε) sound the same, which is why
ε starts at 1: below it the label could not be learnt from the sound. `strike_location` is (x / Lx, y / Ly) ∈ [0, 1]²,
the first strike of every drum at the centre (0.5, 0.5). kac_drumset's PoissonModel rings each mode at c/L·√(m²/ε + εn²),
twice the physical frequency used here; the labels mean the same either way.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from ...errors import ConfigError
from .base import DrumSampler

__all__ = ['DrumModes', 'RectangularDrumSampler', 'RectangularDrumSettings', 'rectangle_sides']


def rectangle_sides(drum_size: Any, aspect_ratio: Any) -> tuple[Any, Any]:
    """(width Lx, height Ly) in metres from kac_drumset's (drum_size, aspect_ratio); works on floats, arrays and tensors."""
    root = aspect_ratio ** 0.5
    return drum_size * root, drum_size / root


@dataclass(frozen=True, kw_only=True)
class RectangularDrumSettings:
    """Physical and dataset settings; the ranges of size and aspect ratio are kac_drumset's PoissonModel's.

    `modes_x` × `modes_y` modes are summed (m = 1 … modes_x along the width, n = 1 … modes_y along the height).
    Material values are fixed per dataset by default (ranges of equal ends), as for the circular drums.
    """

    number_of_drums: int = 400
    strikes_per_drum: int = 5
    sample_rate: int = 16_000
    duration: float = 0.5
    drum_size_range: tuple[float, float] = (0.1, 2.0)
    aspect_ratio_range: tuple[float, float] = (1.0, 4.0)
    tension_range: tuple[float, float] = (2000.0, 2000.0)
    density_range: tuple[float, float] = (0.2, 0.2)
    decay_time_range: tuple[float, float] = (2.0, 2.0)
    modes_x: int = 10
    modes_y: int = 10
    damping_per_hertz: float = 0.005  # extra decay rate (1/s) per Hz of mode frequency

    def __post_init__(self) -> None:
        for name in ('drum_size_range', 'aspect_ratio_range', 'tension_range', 'density_range', 'decay_time_range'):
            low, high = getattr(self, name)
            if not 0 < low <= high:
                raise ConfigError(f'RectangularDrumSettings.{name} must be (low, high) with 0 < low <= high, got {(low, high)}')
        if self.aspect_ratio_range[0] < 1:
            raise ConfigError(f'RectangularDrumSettings.aspect_ratio_range must start at 1 or above (ε and 1/ε sound the same), got {self.aspect_ratio_range}')
        if self.number_of_drums < 1 or self.strikes_per_drum < 1:
            raise ConfigError('RectangularDrumSettings needs at least one drum and one strike per drum')
        if self.modes_x < 1 or self.modes_y < 1:
            raise ConfigError(f'RectangularDrumSettings needs modes_x and modes_y of at least 1, got {self.modes_x}, {self.modes_y}')
        if self.sample_rate < 1000 or self.duration <= 0:
            raise ConfigError(f'RectangularDrumSettings needs sample_rate >= 1000 and duration > 0, got {self.sample_rate}, {self.duration}')
        if self.damping_per_hertz < 0:
            raise ConfigError(f'RectangularDrumSettings.damping_per_hertz must be 0 or more, got {self.damping_per_hertz}')


class RectangularDrumSampler(DrumSampler):
    """Drums of random size and aspect ratio; the first strike of each drum hits the centre, the rest land uniformly.

    Labels (float32): `drum_size` (m, √area), `aspect_ratio` (width / height, ≥ 1), `strike_location` (2,: x / width,
    y / height), `tension` (N/m), `material_density` (kg/m²), `decay_time` (T60, s). Inputs: `(samples,)` float32
    waveforms peak-normalised to 1, like `CircularDrumSampler`'s.
    """

    name = 'rectangular-drums'
    version = 1
    label_names = ('drum_size', 'aspect_ratio', 'strike_location', 'tension', 'material_density', 'decay_time')

    def __init__(self, settings: RectangularDrumSettings | None = None) -> None:
        self.settings = settings or RectangularDrumSettings()

    @property
    def label_shapes(self) -> dict[str, tuple[int, ...]]:
        return {name: (2,) if name == 'strike_location' else () for name in self.label_names}

    @cached_property
    def time(self) -> np.ndarray:
        return np.arange(self.input_shape[0]) / self.settings.sample_rate

    @cached_property
    def mode_orders(self) -> tuple[np.ndarray, np.ndarray]:
        """`(modes_x, 1)` orders m and `(1, modes_y)` orders n, broadcasting to the `(modes_x, modes_y)` mode grid."""
        return np.arange(1, self.settings.modes_x + 1)[:, None], np.arange(1, self.settings.modes_y + 1)[None, :]

    def mode_frequencies(self, width: float, height: float, wave_speed: float) -> np.ndarray:
        """`(modes_x, modes_y)` frequencies f_mn in Hz of a `width` × `height` membrane (m) with wave speed c (m/s)."""
        m, n = self.mode_orders
        return wave_speed / 2 * np.sqrt((m / width) ** 2 + (n / height) ** 2)

    def generate_group(self, rng: np.random.Generator) -> Iterator[tuple[np.ndarray, dict[str, Any]]]:
        settings = self.settings
        drum_size = rng.uniform(*settings.drum_size_range)
        aspect_ratio = rng.uniform(*settings.aspect_ratio_range)
        tension = rng.uniform(*settings.tension_range)
        density = rng.uniform(*settings.density_range)
        decay_time = rng.uniform(*settings.decay_time_range)
        modes = self.drum_modes(drum_size, aspect_ratio, tension, density, decay_time)  # shared by every strike of the drum
        for strike in range(settings.strikes_per_drum):
            location = (0.5, 0.5) if strike == 0 else (rng.uniform(0.0, 1.0), rng.uniform(0.0, 1.0))
            yield self.strike(modes, location), {
                'drum_size': drum_size, 'aspect_ratio': aspect_ratio, 'strike_location': location,
                'tension': tension, 'material_density': density, 'decay_time': decay_time,
            }

    def synthesise(self, drum_size: float, aspect_ratio: float, tension: float, density: float, decay_time: float,
                   strike_location: tuple[float, float]) -> np.ndarray:
        """One strike at `strike_location` (fractions of width and height): `(samples,)` float32, peak 1."""
        return self.strike(self.drum_modes(drum_size, aspect_ratio, tension, density, decay_time), strike_location)

    def drum_modes(self, drum_size: float, aspect_ratio: float, tension: float, density: float, decay_time: float) -> DrumModes:
        """The decaying sinusoids of one drum, which all its strikes share: only their amplitudes depend on the strike.

        Modes above Nyquist are left out (they would alias).
        """
        width, height = rectangle_sides(drum_size, aspect_ratio)
        frequencies = self.mode_frequencies(width, height, float(np.sqrt(tension / density)))
        audible = frequencies < self.settings.sample_rate / 2
        m, n = (np.broadcast_to(order, frequencies.shape)[audible] for order in self.mode_orders)
        frequencies = frequencies[audible]
        decay_rates = 3 * np.log(10) / decay_time + self.settings.damping_per_hertz * frequencies  # 3 ln 10 / T60: -60 dB in T60
        time = self.time[None, :]
        sinusoids = np.sin(2 * np.pi * frequencies[:, None] * time) * np.exp(-decay_rates[:, None] * time)
        return DrumModes(m, n, frequencies, sinusoids)

    def strike(self, modes: DrumModes, strike_location: tuple[float, float]) -> np.ndarray:
        """`(samples,)` float32, peak 1: each mode weighted by φ_mn(strike) / ω_mn.

        The factor 2π and the common norm cancel on normalising. A mode with a node at the strike is silent (the
        centre strike excites only odd m and n): its weight is set to exactly 0 rather than sin(kπ)'s rounding error.
        """
        shapes = np.sin(modes.m * np.pi * strike_location[0]) * np.sin(modes.n * np.pi * strike_location[1])
        amplitudes = np.where(np.abs(shapes) > 1e-9, shapes, 0.0) / modes.frequencies
        waveform = amplitudes @ modes.sinusoids
        peak = np.abs(waveform).max(initial=0.0)
        return (waveform / peak if peak > 0 else waveform).astype(np.float32)


@dataclass(frozen=True)
class DrumModes:
    """The audible modes of one drum: orders `m`, `n`, `frequencies` (Hz), each `(modes,)`, and `sinusoids` `(modes, samples)`."""

    m: np.ndarray
    n: np.ndarray
    frequencies: np.ndarray
    sinusoids: np.ndarray
