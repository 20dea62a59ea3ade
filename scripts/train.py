"""Train a routine from scripts/routines.

    python scripts/train.py [--routine NAME] [--config FILE] [--wandb] [--testing] [--resume DIR] [--device D] [key=value ...]

Hyperparameters resolve as: the routine's defaults < --config YAML < W&B sweep values < key=value / --key=value.
Mistakes in the input (a config, a key, a value, a dataset, a checkpoint) print one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

ROUTINES = Path(__file__).resolve().parent / 'routines'
DEFAULT_ROUTINE = 'circular_drum_size'


def available_routines() -> dict[str, str]:
    """Routine name → first line of its docstring, read without importing (importing would load torch)."""
    routines = {}
    for path in sorted(ROUTINES.glob('*.py')):
        if not path.name.startswith('_'):
            docstring = ast.get_docstring(ast.parse(path.read_text())) or ''
            routines[path.stem] = docstring.split('\n')[0]
    return routines


def load_routine(name: str) -> ModuleType:
    path = ROUTINES / f'{name}.py'
    spec = importlib.util.spec_from_file_location(f'etude_routines.{name}', path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses and typing resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def parse_arguments(argv: Sequence[str]) -> tuple[argparse.Namespace, list[str]]:
    routines = available_routines()
    listing = '\n'.join(f'  {name:<24}{summary}' for name, summary in routines.items())
    parser = argparse.ArgumentParser(
        prog='train.py',
        description='Train, validate, test and export a model with an etude routine.',
        epilog=f'routines:\n{listing}\n\nextra arguments key=value or --key=value override hyperparameters, e.g. learning_rate=3e-4',
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument('--routine', default=DEFAULT_ROUTINE, choices=sorted(routines), metavar='NAME', help=f'routine to run (default {DEFAULT_ROUTINE})')
    parser.add_argument('--config', metavar='FILE', help='YAML file of hyperparameters')
    parser.add_argument('--wandb', action='store_true', help='log to Weights & Biases (honours WANDB_MODE, e.g. offline)')
    parser.add_argument('--testing', action='store_true', help='smoke run: small generated dataset, two epochs')
    parser.add_argument('--resume', metavar='DIR', help='continue runs/<run-id> from its checkpoints/last.pt')
    parser.add_argument('--device', metavar='D', help='auto (default), cpu, cuda, cuda:N or mps')
    parser.add_argument('--runs-dir', default='runs', metavar='DIR', help='where run directories go (default runs)')
    arguments, extras = parser.parse_known_args(argv)
    for extra in extras:
        if '=' not in extra:
            parser.error(f"unrecognised argument '{extra}'; hyperparameters are written key=value or --key=value")
    if arguments.testing:
        extras.append('testing=true')
    if arguments.device:
        extras.append(f'device={arguments.device}')
    return arguments, extras


def run_cli(argv: Sequence[str] | None = None) -> int:
    arguments, overrides = parse_arguments(list(sys.argv[1:] if argv is None else argv))
    from etude.errors import EtudeError
    from etude.routine import TrainingInterrupted

    routine = load_routine(arguments.routine)
    try:
        routine.main(config_path=arguments.config, overrides=overrides, use_wandb=arguments.wandb, resume=arguments.resume,
                     runs_directory=arguments.runs_dir)
    except TrainingInterrupted as interrupted:
        command = f'python scripts/train.py --routine {arguments.routine} --resume {interrupted.run_directory}'
        print(f'error: {TrainingInterrupted(interrupted.run_directory, interrupted.epoch, command)}', file=sys.stderr)
        return 2
    except EtudeError as error:
        print(f'error: {error}', file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print('error: interrupted before training started; run the same command again (a feature cache build resumes where it stopped)',
              file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    raise SystemExit(run_cli())
