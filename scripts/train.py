"""Train a routine from scripts/routines.

    python scripts/train.py [--routine NAME] [--config FILE] [--tracker wandb|mlflow|tensorboard] [--wandb] [--testing] [--resume DIR] [--device D]
                             [key=value ...]
    torchrun --standalone --nproc_per_node=2 scripts/train.py ...          # one run on two processes

Settings resolve as: the routine's defaults < its testing defaults (--testing) < --config YAML < W&B sweep values
< key=value / --key=value. `--routine NAME -h` lists every key. Mistakes in the input (a config, a key, a value, a
dataset, a checkpoint) print one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import os
import shlex
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


def settings_listing(routine: ModuleType) -> str:
    """Every key a routine takes: hyperparameters, then run options, with type, default and description."""
    from etude.parameters import describe_type
    from etude.run_options import RunOptions

    sections = []
    for title, settings in (('hyperparameters (recorded with the model)', routine.DEFAULTS), ('run options (how this run executes)', RunOptions())):
        descriptions = settings.field_descriptions()
        lines = [f'{title}:']
        for key, expected in settings.field_types().items():
            value = getattr(settings, key)
            shown = list(value) if isinstance(value, tuple) else value
            description = descriptions.get(key, '').split('\n')[0]
            lines.append(f'  {key}={shown!s:<22} {describe_type(expected):<28} {description}'.rstrip())
        sections.append('\n'.join(lines))
    testing = getattr(routine, 'TESTING', None)
    if testing:
        sections.append('--testing sets: ' + ' '.join(f'{key}={value}' for key, value in testing.items()) + ' (a --config file or key=value still wins)')
    return '\n\n'.join(sections)


def parse_arguments(argv: Sequence[str]) -> tuple[argparse.Namespace, list[str]]:
    from etude.cli import OneLineArgumentParser

    routines = available_routines()
    listing = '\n'.join(f'  {name:<24}{summary}' for name, summary in routines.items())
    parser = OneLineArgumentParser(
        prog='train.py',
        description='Train, validate, test and export a model with an etude routine.',
        epilog=f'routines:\n{listing}\n\nextra arguments key=value or --key=value override hyperparameters and run options, e.g. learning_rate=3e-4; '
               '--routine NAME -h lists them all',
        formatter_class=argparse.RawDescriptionHelpFormatter,
        add_help=False,
    )
    parser.add_argument('-h', '--help', action='store_true', help='show this help (with --routine NAME: every key it takes) and exit')
    parser.add_argument('--routine', default=None, choices=sorted(routines), metavar='NAME', help=f'routine to run (default {DEFAULT_ROUTINE})')
    parser.add_argument('--config', metavar='FILE', help='YAML file of hyperparameters and run options')
    parser.add_argument('--tracker', action='append', default=[], choices=('wandb', 'mlflow', 'tensorboard'), metavar='NAME',
                        help='also record the run in wandb, mlflow or tensorboard (repeatable; or trackers: [...] in a --config YAML)')
    parser.add_argument('--wandb', action='store_true', help='short for --tracker wandb (honours WANDB_MODE, e.g. offline)')
    parser.add_argument('--testing', action='store_true', help="smoke run: the routine's small testing defaults (a --config or key=value still wins)")
    parser.add_argument('--resume', metavar='DIR', help='continue runs/<run-id> from its checkpoints/last.pt')
    parser.add_argument('--device', metavar='D', help='auto (default), cpu, cuda, cuda:N or mps')
    parser.add_argument('--runs-dir', default='runs', metavar='DIR', help='where run directories go (default runs)')
    arguments, extras = parser.parse_known_args(argv)
    if arguments.help:
        if arguments.routine:
            print(f'{arguments.routine}: {routines[arguments.routine]}\n\n{settings_listing(load_routine(arguments.routine))}')
        else:
            parser.print_help()
        raise SystemExit(0)
    arguments.routine = arguments.routine or DEFAULT_ROUTINE
    for extra in extras:
        if '=' not in extra:
            parser.error(f"unrecognised argument '{extra}'; hyperparameters are written key=value or --key=value")
    if arguments.testing:
        extras.append('testing=true')
    if arguments.device:
        extras.append(f'device={arguments.device}')
    return arguments, extras


def trackers_of(arguments: argparse.Namespace) -> list[str]:
    """--tracker NAME ... and --wandb, in order, without repeats."""
    return list(dict.fromkeys([*arguments.tracker, *(['wandb'] if arguments.wandb else [])]))


def resume_command(routine: str, run_directory: Path, runs_directory: str) -> str:
    """The command that continues this run, written for where the user is: under pipenv, torchrun or a plain python."""
    try:
        shown = run_directory.resolve().relative_to(Path.cwd())
    except ValueError:
        shown = run_directory
    script = Path(__file__).resolve()
    try:
        script_shown = str(script.relative_to(Path.cwd()))
    except ValueError:
        script_shown = str(script)
    arguments = ['--routine', routine, '--resume', str(shown)] + (['--runs-dir', runs_directory] if runs_directory != 'runs' else [])
    if 'TORCHELASTIC_RUN_ID' in os.environ or 'LOCAL_WORLD_SIZE' in os.environ:
        launcher = f'torchrun --standalone --nproc_per_node={os.environ.get("LOCAL_WORLD_SIZE", "N")} {script_shown}'
    elif os.environ.get('PIPENV_ACTIVE') == '1':
        launcher = f'pipenv run python {script_shown}'
    else:
        launcher = f'{"python" if _python_on_path_is(sys.executable) else shlex.quote(sys.executable)} {script_shown}'
    return f'{launcher} {shlex.join(arguments)}'


def _python_on_path_is(executable: str) -> bool:
    import shutil

    found = shutil.which('python')
    return found is not None and Path(found).resolve() == Path(executable).resolve()


def run_cli(argv: Sequence[str] | None = None) -> int:
    arguments, overrides = parse_arguments(list(sys.argv[1:] if argv is None else argv))
    from etude.errors import EtudeError
    from etude.routine import TrainingInterrupted

    routine = load_routine(arguments.routine)
    try:
        routine.main(config_path=arguments.config, overrides=overrides, trackers=trackers_of(arguments), resume=arguments.resume,
                     runs_directory=arguments.runs_dir)
    except TrainingInterrupted as interrupted:
        command = resume_command(arguments.routine, interrupted.run_directory, arguments.runs_dir)
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
