"""Clips that hold any of three tones (low, mid, high), each present or not at random: a tagging dataset made here."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from etude.data import Sampler

TAGS = ('low', 'mid', 'high')
FREQUENCIES = {'low': (110.0, 220.0), 'mid': (440.0, 880.0), 'high': (1760.0, 3520.0)}


@dataclass(frozen=True)
class ClipSettings:
    clips: int = 120
    samples: int = 2048
    sample_rate: int = 8000


def clip(present: np.ndarray, settings: ClipSettings, generator: np.random.Generator) -> np.ndarray:
    """`(samples,)` float32: the present tones at random pitches within their bands, over quiet noise."""
    time = np.arange(settings.samples) / settings.sample_rate
    audio = generator.normal(0.0, 0.01, settings.samples)
    for tag, on in zip(TAGS, present, strict=True):
        if on:
            audio += 0.3 * np.sin(2 * np.pi * generator.uniform(*FREQUENCIES[tag]) * time + generator.uniform(0, 2 * np.pi))
    return audio.astype(np.float32)


class ClipSampler(Sampler):
    """`clips` clips, each its own group, labelled `tags` (a 0/1 vector over TAGS)."""

    name = 'tagged-clips'

    def __init__(self, settings: ClipSettings) -> None:
        self.settings = settings

    @property
    def number_of_groups(self) -> int:
        return self.settings.clips

    @property
    def items_per_group(self) -> int:
        return 1

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (self.settings.samples,)

    @property
    def label_shapes(self) -> dict[str, tuple[int, ...]]:
        return {'tags': (len(TAGS),)}

    def generate_group(self, rng: np.random.Generator) -> Iterator[tuple[np.ndarray, dict[str, Any]]]:
        present = (rng.uniform(size=len(TAGS)) < 0.5).astype(np.float32)
        yield clip(present, self.settings, rng), {'tags': present}
