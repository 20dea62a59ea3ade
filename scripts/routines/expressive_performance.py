"""Expressive performance: play a score (MusicXML) as a pianist would, note by note (seed 000).

A shim for scripts/train.py until `etude train` runs the package's routines: the routine itself is
`etude.routines.expressive_performance` (DEFAULTS, TESTING, PROJECT, build, report).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from etude import Routine
from etude.routines import expressive_performance
from etude.routines.expressive_performance import DEFAULTS, TESTING

__all__ = ['DEFAULTS', 'TESTING', 'main']


def main(config_path: str | None = None, overrides: Sequence[str] = (), use_wandb: bool = False, resume: str | None = None,
         runs_directory: str = 'runs') -> dict[str, Any]:
    routine = Routine(runs_directory=runs_directory, use_wandb=use_wandb, wandb_settings={'project': expressive_performance.PROJECT}, resume=resume)
    parameters = routine.set_parameters(DEFAULTS, config_path=config_path, overrides=overrides, testing_defaults=TESTING)
    expressive_performance.build(routine, parameters)
    summary = routine.train()
    print(expressive_performance.report(summary))
    print(f'run: {summary["paths"]["run"]}  model: {summary["paths"]["best"]}')
    return summary


if __name__ == '__main__':
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from train import run_cli

    raise SystemExit(run_cli(['--routine', 'expressive_performance', *sys.argv[1:]]))
