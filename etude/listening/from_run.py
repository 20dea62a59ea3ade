"""`etude listen from-run RUN TEST_DIR`: the one front door to a listening test of a run, for every task that writes
audio or MIDI.

The run's task writes the stimuli (`Task.listening_set`: which items, which conditions, what the reference is) into a
scratch folder; `create_test` then pairs them by name, matches their loudness (-23 LUFS), trims each item's stimuli to
the shortest and writes the test. MUSHRA needs a reference (the recording a transcription was made from, a pianist's
performance) and is refused, in one line, for a task that has none (generated music); in a MOS or A/B test the
reference is rated as one more condition, under its own name. Listeners are told nothing of which stimulus is which.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, cast

from .plan import KINDS, Kind, ListeningTestError

if TYPE_CHECKING:
    from .plan import ListeningPlan

__all__ = ['LOUDNESS_LUFS', 'create_from_run']

LOUDNESS_LUFS = -23.0  # EBU R 128: every stimulus equally loud, so loudness does not decide the ratings


def create_from_run(run: str | os.PathLike[str], test_directory: str | os.PathLike[str], *, kind: str | None = None, pieces: int = 4,
                    seconds: float = 15.0, data: str | os.PathLike[str] | None = None, device: str = 'cpu', allow_modules: Sequence[str] = (),
                    seed: int | None = None) -> ListeningPlan:
    """Build a test of `pieces` held-out items of `run` in `test_directory` (see the module docstring); returns its plan."""
    from ..device import select_device
    from ..tasks.context import open_run
    from .design import create_test

    if kind is not None and kind not in KINDS:
        raise ListeningTestError(f'--kind {kind!r} is not one of {", ".join(KINDS)}')
    target = Path(test_directory)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ListeningTestError(f'{target} already exists and is not an empty folder; give a new folder for the test')
    context = open_run(Path(run), split='test', data=Path(data) if data is not None else None, device=select_device(device), allow_modules=allow_modules)
    reference = context.task.listening_reference
    if kind == 'mushra' and reference is None:
        raise ListeningTestError(f'a {context.task.kind} run has no reference to compare against, which MUSHRA needs; use --kind mos or --kind ab')
    with tempfile.TemporaryDirectory(prefix='etude-listening-') as scratch:
        stimuli = context.task.listening_set(context, Path(scratch), pieces=pieces, seconds=seconds, seed=seed or 0)
        chosen = kind or stimuli.default_kind
        conditions = {name: str(folder) for name, folder in stimuli.conditions.items()}
        if chosen != 'mushra' and stimuli.reference is not None:
            conditions = {reference or 'reference': str(stimuli.reference), **conditions}
        return create_test(target, kind=cast(Kind, chosen), conditions=conditions,
                           reference=str(stimuli.reference) if chosen == 'mushra' and stimuli.reference is not None else None,
                           loudness_lufs=LOUDNESS_LUFS, trim_to_shortest=True, multi_stimulus=chosen == 'mos', title=stimuli.title, seed=seed)
