"""The routine's default data: chorales and (n)ASAP performances, each piece rendered on a piano drawn for it.

Every piece (a chorale with seeded velocities, or an excerpt of a performance) draws one of the training pianos
(`pianos.TRAINING_PIANOS`: soundfont and program) and its reverb and chorus (`draw_render_settings`), with the run's
seed and the piece's name, so a piece sounds the same in every run of that seed, whichever other pieces there are.
The test pieces are rendered again on the held-out piano (`pianos.HELD_OUT_PIANO`, dry), which no training piece is
played on. Renders are cached by content (`renders.py`): a second run renders nothing.

Groups (`pieces.py`): `train` and `validation` hold both kinds of piece; the test chorales are `test`, the test
performances `test_performances`, and both again on the held-out piano `held_out_piano` and
`held_out_piano_performances`. Chorales are split by piece with `dataset_split`; performances by (n)ASAP piece as the
expressive-performance routine splits them (`performances.py`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...data import SPLIT_NAMES, split_by_groups
from ...errors import ConfigError
from .data import Recording, velocity_chorales
from .pianos import HELD_OUT_PIANO, RenderSettings, draw_piano, draw_render_settings
from .pieces import HELD_OUT_PIANO as HELD_OUT_PIANO_GROUP
from .pieces import HELD_OUT_PIANO_PERFORMANCES, TEST_PERFORMANCES
from .renders import RenderJob, render_all

__all__ = ['PieceSources', 'rendered_pieces']


@dataclass(frozen=True)
class PieceSources:
    """What the pieces are made of: how many chorales, and which (n)ASAP performances and how much of each."""

    chorales: int
    dataset_split: Sequence[float]
    seed: int
    nasap_directory: str | os.PathLike[str] | None = None
    """(n)ASAP's installed folder; None: chorales only."""
    performances_per_piece: int = 1
    excerpt_seconds: float = 7.5
    sample_rate: int = 16_000


def rendered_pieces(directory: str | os.PathLike[str], sources: PieceSources, progress: bool = False) -> dict[str, list[Recording]]:
    """group → its recordings, rendered (once) under `directory/renders`."""
    root = Path(directory)
    chorales = velocity_chorales(root, count=sources.chorales, seed=sources.seed)
    split = split_by_groups(np.arange(len(chorales)), sources.dataset_split, sources.seed)
    midi: dict[str, list[Path]] = {part: [chorales[index] for index in split[part]] for part in SPLIT_NAMES}
    if not midi['test'] or not midi['validation']:
        raise ConfigError(f'{len(chorales)} chorales leave no validation or test piece with dataset_split {list(sources.dataset_split)}; '
                          'render more (chorales=...)')
    midi[TEST_PERFORMANCES] = []
    if sources.nasap_directory is not None:
        from .performances import nasap_performances, performance_excerpt

        for performance in nasap_performances(sources.nasap_directory, seed=sources.seed, per_piece=sources.performances_per_piece):
            excerpt = performance_excerpt(performance, root / 'performance-excerpts', seconds=sources.excerpt_seconds, seed=sources.seed)
            midi[TEST_PERFORMANCES if performance.split == 'test' else performance.split].append(excerpt)
    midi[HELD_OUT_PIANO_GROUP] = list(midi['test'])
    midi[HELD_OUT_PIANO_PERFORMANCES] = list(midi[TEST_PERFORMANCES])
    held_out = {HELD_OUT_PIANO_GROUP, HELD_OUT_PIANO_PERFORMANCES}
    jobs: list[RenderJob] = [(path, HELD_OUT_PIANO, RenderSettings()) if group in held_out else
                             (path, draw_piano(path.stem, sources.seed), draw_render_settings(path.stem, sources.seed))
                             for group, paths in midi.items() for path in paths]
    audio, _ = render_all(jobs, root / 'renders', sample_rate=sources.sample_rate, progress=progress)
    recordings = iter(Recording.read(audio_path, midi_path) for audio_path, (midi_path, _, _) in zip(audio, jobs, strict=True))
    return {group: [next(recordings) for _ in paths] for group, paths in midi.items()}
