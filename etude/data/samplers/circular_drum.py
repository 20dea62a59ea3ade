"""Struck circular membranes by modal synthesis, labelled with their diameter.

An ideal membrane of radius R fixed at its rim vibrates in modes (n, m) with angular frequencies
ω_nm = j_nm · c / R, where j_nm is the m-th zero of the Bessel function J_n and c = √(tension / density) is the wave
speed. By modal superposition, an impulse at polar position (r, θ) gives mode (n, m) the displacement amplitude
φ_nm(r, θ) / (ω_nm ‖φ_nm‖²), with mode shape φ_nm = J_n(j_nm · r / R) cos(nθ) and ‖φ_nm‖² ∝ ε_n J_{n+1}(j_nm)²
(ε_0 = 2, else 1). Each mode decays exponentially: the material's T60 plus air and edge losses that grow with
frequency, so higher modes die sooner, as on a real drum. Because every frequency scales with c / R, a network that
hears a strike can infer the drum's size once the material is fixed: the task of kac_prediction, whose kac_drumset
BesselModel plays this role.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
from scipy import special

from ...errors import ConfigError
from .base import DrumSampler

__all__ = ['CircularDrumSampler', 'CircularDrumSettings']


@dataclass(frozen=True, kw_only=True)
class CircularDrumSettings:
    """Physical and dataset settings. Material values are fixed per dataset by default (ranges of equal ends)."""

    number_of_drums: int = 400
    strikes_per_drum: int = 5
    sample_rate: int = 16_000
    duration: float = 0.5
    diameter_range: tuple[float, float] = (0.1, 2.0)
    tension_range: tuple[float, float] = (2000.0, 2000.0)
    density_range: tuple[float, float] = (0.2, 0.2)
    decay_time_range: tuple[float, float] = (2.0, 2.0)
    angular_orders: int = 10
    radial_orders: int = 10
    damping_per_hertz: float = 0.005  # extra decay rate (1/s) per Hz of mode frequency

    def __post_init__(self) -> None:
        for name in ('diameter_range', 'tension_range', 'density_range', 'decay_time_range'):
            low, high = getattr(self, name)
            if not 0 < low <= high:
                raise ConfigError(f'CircularDrumSettings.{name} must be (low, high) with 0 < low <= high, got {(low, high)}')
        if self.number_of_drums < 1 or self.strikes_per_drum < 1:
            raise ConfigError('CircularDrumSettings needs at least one drum and one strike per drum')
        if self.sample_rate < 1000 or self.duration <= 0:
            raise ConfigError(f'CircularDrumSettings needs sample_rate >= 1000 and duration > 0, got {self.sample_rate}, {self.duration}')


class CircularDrumSampler(DrumSampler):
    """Drums of random diameter; the first strike of each drum hits the centre, the rest land uniformly on its area.

    Labels (float32): `diameter` (m), `strike_radius` (0 centre … 1 rim), `strike_angle` (rad), `tension` (N/m),
    `material_density` (kg/m²), `decay_time` (T60, s). Inputs: `(samples,)` float32 waveforms peak-normalised to 1.
    """

    name = 'circular-drums'
    version = 1
    label_names = ('diameter', 'strike_radius', 'strike_angle', 'tension', 'material_density', 'decay_time')

    def __init__(self, settings: CircularDrumSettings | None = None) -> None:
        self.settings = settings or CircularDrumSettings()

    @property
    def label_shapes(self) -> dict[str, tuple[int, ...]]:
        return {name: () for name in self.label_names}

    @cached_property
    def bessel_zeros(self) -> np.ndarray:
        """`(angular_orders, radial_orders)` zeros j_nm; row n holds the first zeros of J_n."""
        return np.stack([special.jn_zeros(n, self.settings.radial_orders) for n in range(self.settings.angular_orders)])

    @cached_property
    def time(self) -> np.ndarray:
        return np.arange(self.input_shape[0]) / self.settings.sample_rate

    def generate_group(self, rng: np.random.Generator) -> Iterator[tuple[np.ndarray, dict[str, Any]]]:
        settings = self.settings
        diameter = rng.uniform(*settings.diameter_range)
        tension = rng.uniform(*settings.tension_range)
        density = rng.uniform(*settings.density_range)
        decay_time = rng.uniform(*settings.decay_time_range)
        for strike in range(settings.strikes_per_drum):
            radius, angle = (0.0, 0.0) if strike == 0 else (float(np.sqrt(rng.uniform(0.0, 1.0))), rng.uniform(0.0, 2 * np.pi))
            waveform = self.synthesise(diameter, tension, density, decay_time, radius, angle)
            yield waveform, {
                'diameter': diameter, 'strike_radius': radius, 'strike_angle': angle,
                'tension': tension, 'material_density': density, 'decay_time': decay_time,
            }

    def synthesise(self, diameter: float, tension: float, density: float, decay_time: float, radius: float, angle: float) -> np.ndarray:
        """One strike: `(samples,)` float32, peak 1. Modes above Nyquist are left out (they would alias)."""
        wave_speed = np.sqrt(tension / density)
        frequencies = self.bessel_zeros * wave_speed / (np.pi * diameter)  # f = j c / (2π R), R = diameter / 2
        orders = np.arange(self.settings.angular_orders)[:, None]
        mode_shapes = special.jv(orders, self.bessel_zeros * radius) * np.cos(orders * angle)
        norms = np.where(orders == 0, 2.0, 1.0) * special.jv(orders + 1, self.bessel_zeros) ** 2
        amplitudes = mode_shapes / (self.bessel_zeros * norms)  # ω ∝ j_nm for a given drum; the common factor cancels on normalising
        audible = (frequencies < self.settings.sample_rate / 2) & (np.abs(mode_shapes) > 1e-9)
        frequencies, amplitudes = frequencies[audible], amplitudes[audible]
        decay_rates = 3 * np.log(10) / decay_time + self.settings.damping_per_hertz * frequencies  # 3 ln 10 / T60: -60 dB in T60
        modes = np.sin(2 * np.pi * frequencies[:, None] * self.time[None, :]) * np.exp(-decay_rates[:, None] * self.time[None, :])
        waveform = (amplitudes[:, None] * modes).sum(axis=0)
        peak = np.abs(waveform).max()
        return (waveform / peak if peak > 0 else waveform).astype(np.float32)
