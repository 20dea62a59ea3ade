"""Renders cached by content: a render's file name is the hash of everything that makes it, so it is made once.

Training on many pianos with per-piece reverb and chorus renders hundreds of files; a second run, or a run that adds
pieces, must not render them again. A render is named `<midi stem>-<key>.wav`, the key a hash of the MIDI file's
bytes, the soundfont's identity (its file name and size), the program, the reverb and chorus settings, the sample rate
and `RENDER_VERSION` (raised when the rendering itself changes). A file of that name is that render, so it is read,
not made again; a new one is written atomically (`render_midi` writes through `atomic_path`), so an interrupted run
leaves no half file behind. Only the note lists are held in memory: `SegmentDataset` reads segments from the files.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path

from .pianos import Piano, RenderSettings

__all__ = ['RENDER_VERSION', 'RenderJob', 'render_key', 'render_path', 'render_all']

RENDER_VERSION = 1
"""Raised when render_midi's output changes for the same inputs, so old renders are not read as new ones."""

RenderJob = tuple[Path, Piano, RenderSettings]
"""One render: the MIDI file, the piano, the reverb and chorus."""


def render_key(midi: str | os.PathLike[str], piano: Piano, settings: RenderSettings, sample_rate: int) -> str:
    """The hash naming a render (16 hex digits of SHA-256 over what makes it)."""
    soundfont = piano.path()
    identity = {'midi': hashlib.sha256(Path(midi).read_bytes()).hexdigest(), 'soundfont': [soundfont.name, soundfont.stat().st_size],
                'program': piano.program, 'settings': asdict(settings), 'sample_rate': sample_rate, 'version': RENDER_VERSION}
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]


def render_path(directory: str | os.PathLike[str], midi: str | os.PathLike[str], piano: Piano, settings: RenderSettings, sample_rate: int) -> Path:
    """Where the render of `midi` on `piano` with `settings` lives under `directory`."""
    return Path(directory) / f'{Path(midi).stem}-{render_key(midi, piano, settings, sample_rate)}.wav'


def _render(midi: Path, target: Path, piano: Piano, settings: RenderSettings, sample_rate: int) -> Path:
    from ...data.generators import render_midi

    return render_midi(midi, target, soundfont=piano.path(), program=piano.program, sample_rate=sample_rate, reverb=settings.reverb,
                       chorus=settings.chorus, synth_settings=settings.synth_settings())


def render_all(jobs: Sequence[RenderJob], directory: str | os.PathLike[str], *, sample_rate: int = 16_000, workers: int | None = None,
               progress: bool = False) -> tuple[list[Path], int]:
    """The audio file of every job (rendering only those not yet under `directory`) and how many were rendered now.

    FluidSynth runs as a subprocess per render, so threads drive them (`workers`: default the CPUs, at most 4).
    """
    from tqdm import tqdm

    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    paths = [render_path(root, midi, piano, settings, sample_rate) for midi, piano, settings in jobs]
    pending = [(job, path) for job, path in zip(jobs, paths, strict=True) if not path.is_file()]
    pending = list({path: (job, path) for job, path in pending}.values())  # one render per distinct file
    with ThreadPoolExecutor(max_workers=max(1, workers or min(4, os.cpu_count() or 1))) as pool, \
            tqdm(total=len(pending), disable=not progress or not pending, desc='rendering') as bar:
        for future in [pool.submit(_render, midi, path, piano, settings, sample_rate) for (midi, piano, settings), path in pending]:
            future.result()
            bar.update()
    return paths, len(pending)
