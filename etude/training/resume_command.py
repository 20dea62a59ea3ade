"""The command that continues an interrupted run, written the way this run was started.

    etude train NAME ...                       → etude train NAME --resume runs/<id>
    python -m etude train NAME ...             → python -m etude train NAME --resume runs/<id>
    torchrun --nproc_per_node=2 -m etude ...   → torchrun --standalone --nproc_per_node=2 -m etude train NAME --resume runs/<id>
    pipenv run python scripts/train.py ...     → pipenv run python scripts/train.py --routine NAME --resume runs/<id>

The launcher is read from the process itself (torchrun's variables, pipenv's PIPENV_ACTIVE, how `etude` was
invoked); the Routine gets the finished function and puts its answer into `TrainingInterrupted`.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ['launcher', 'resume_command']


def resume_command(run_directory: Path, arguments: Sequence[str], *, script: str | Path | None = None) -> str:
    """`<launcher> <arguments> --resume <run_directory>`, the run shown relative to the current folder when inside it.

    `arguments` name the routine and the options to repeat; `script` is scripts/train.py when the run came through
    that shim (None: the etude command)."""
    return shlex.join([*launcher(script), *arguments, '--resume', shown_path(run_directory)])


def launcher(script: str | Path | None = None) -> list[str]:
    """The words that start this process's training again: pipenv, torchrun and the interpreter included where used."""
    under_pipenv = ['pipenv', 'run'] if os.environ.get('PIPENV_ACTIVE') == '1' else []
    if 'TORCHELASTIC_RUN_ID' in os.environ or 'LOCAL_WORLD_SIZE' in os.environ:
        processes = os.environ.get('LOCAL_WORLD_SIZE', 'N')
        target = [shown_path(Path(script))] if script is not None else ['-m', 'etude', 'train']
        return [*under_pipenv, 'torchrun', '--standalone', f'--nproc_per_node={processes}', *target]
    python = 'python' if under_pipenv or _python_on_path_is(sys.executable) else sys.executable
    if script is not None:
        return [*under_pipenv, python, shown_path(Path(script))]
    invoked = sys.argv[0] if sys.argv else ''
    if Path(invoked).stem == 'etude' and Path(invoked).parent.name != 'etude':  # the console script, not etude/__main__.py
        found = shutil.which('etude')
        on_path = under_pipenv or (found is not None and Path(found).resolve() == Path(invoked).resolve())
        return [*under_pipenv, 'etude' if on_path else invoked, 'train']
    return [*under_pipenv, python, '-m', 'etude', 'train']


def shown_path(path: Path) -> str:
    """`path` relative to the current folder when it lies inside it (as the user typed it), else as given."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _python_on_path_is(executable: str) -> bool:
    found = shutil.which('python')
    return found is not None and Path(found).resolve() == Path(executable).resolve()
