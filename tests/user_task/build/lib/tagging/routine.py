"""Tagging: tell which of a low, a mid and a high tone sound in a clip of a quarter of a second (a user's own kind)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from etude import Routine

from .data import TAGS, ClipSampler, ClipSettings
from .model import TagNet
from .task import Tagging


@dataclass(kw_only=True)
class TaggingParameters(TagNet.Parameters):
    clips: int = 400
    """Clips to synthesise (each its own group)."""
    data_directory: str = 'data'
    """Where the clips are generated."""


DEFAULTS = TaggingParameters(batch_size=16, num_of_epochs=12, learning_rate=3e-3, monitor='validation_tag_f1', monitor_mode='max')
TESTING = {'clips': 48, 'num_of_epochs': 2}
PROJECT = 'etude-tagging'


def build(routine: Routine, parameters: TaggingParameters) -> None:
    """Clips made here → the tagging task (micro F1 beside always the commonest tags) → TagNet."""
    sampler = ClipSampler(ClipSettings(clips=parameters.clips))
    stored = routine.import_dataset(Path(parameters.data_directory) / f'tagged-clips-{sampler.fingerprint(parameters.seed)[:8]}', sampler=sampler)
    routine.set_dataset(stored, targets='tags')
    routine.set_task(Tagging(tags=list(TAGS), representation={'kind': 'waveform', 'sample_rate': sampler.settings.sample_rate, 'normalise': 'none'},
                             num_samples=sampler.settings.samples))
    routine.set_model(TagNet(parameters))


def report(summary: dict[str, Any]) -> str:
    guess = summary['baselines']['commonest tags']['tag_f1']
    return f'test tag F1 {summary["test"]["tag_f1"]:.3f} (always the commonest tags: {guess:.3f})'
