"""`etude train ROUTINE`: train, validate, test and export a model with a shipped routine or a file of your own.

    etude train -h                                    # the shipped routines, one line each
    etude train spoken_digits -h                      # every key it takes: type, default, description
    etude train spoken_digits --testing               # a small smoke run
    etude train circular_drum_size learning_rate=3e-4 --device cpu --threads 1
    etude train my_routine.py --config my.yaml        # your own routine: DEFAULTS, TESTING, build(routine, parameters)
    torchrun --standalone --nproc_per_node=2 -m etude train spoken_digits

Settings resolve as: the routine's DEFAULTS < its TESTING (with --testing) < --config YAML < W&B sweep values <
key=value / --key=value. Mistakes in the input (a routine, a config, a key, a value, a dataset, a checkpoint) print
one line and exit with status 2; an interruption keeps the last epoch and prints the command that resumes it.
scripts/train.py (`--routine NAME`) is a shim over the same functions.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .routines import RoutineDefinition, load_routine, shipped_routines

if TYPE_CHECKING:
    from .routine import Routine

__all__ = ['OWN_HELP', 'add_training_options', 'configure', 'make_routine', 'routines_epilog', 'run', 'train_command', 'train_routine']

OWN_HELP = True  # -h is ours: `etude train NAME -h` lists the routine's keys, which argparse's -h cannot


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('routine', nargs='?', metavar='ROUTINE', help="a shipped routine's name, a path to a .py file, or module:attribute")
    add_training_options(parser)
    parser.set_defaults(takes_overrides=True)
    parser.epilog = routines_epilog('ROUTINE -h')
    parser.formatter_class = argparse.RawDescriptionHelpFormatter


def add_training_options(parser: argparse.ArgumentParser) -> None:
    """The options `etude train` and scripts/train.py share (the routine itself is named differently by each)."""
    parser.add_argument('-h', '--help', action='store_true', help="show this help (with a routine: every key it takes) and exit")
    parser.add_argument('--config', metavar='FILE', help='YAML file of hyperparameters and run options')
    parser.add_argument('--tracker', action='append', default=[], choices=('wandb', 'mlflow', 'tensorboard'), metavar='NAME',
                        help='log to wandb, mlflow or tensorboard (repeatable; also the run option trackers in YAML)')
    parser.add_argument('--wandb', action='store_true', help='short for --tracker wandb (honours WANDB_MODE, e.g. offline)')
    parser.add_argument('--testing', action='store_true', help="smoke run: the routine's small testing defaults (a --config or key=value still wins)")
    parser.add_argument('--resume', metavar='DIR', help='continue runs/<run-id> from its checkpoints/last.pt')
    parser.add_argument('--device', metavar='D', help='auto (default), cpu, cuda, cuda:N or mps')
    parser.add_argument('--threads', type=int, metavar='N',
                        help="torch's CPU threads (default: OMP_NUM_THREADS, else the cores this process may use; also the run option threads)")
    parser.add_argument('--runs-dir', default='runs', metavar='DIR', help='where run directories go (default runs)')
    parser.set_defaults(overrides=[], script=None, print_help=parser.print_help)


def routines_epilog(routine_help: str) -> str:
    listing = '\n'.join(f'  {name:<30}{summary}' for name, summary in shipped_routines().items())
    return (f'routines:\n{listing}\n  path/to/my_routine.py         your own: DEFAULTS, TESTING, build(routine, parameters)\n'
            '  my_module:attribute           a routine held by an importable module\n\n'
            'extra arguments key=value or --key=value override hyperparameters and run options, e.g. learning_rate=3e-4; '
            f'{routine_help} lists them all')


def run(arguments: argparse.Namespace) -> int:
    from ..errors import ConfigError

    if not arguments.help:
        if arguments.routine is None:
            raise ConfigError(f'say which routine to train: etude train ROUTINE (the registered ones: {", ".join(shipped_routines())}; see etude train -h)')
        if '=' in arguments.routine and not Path(arguments.routine).is_file():
            raise ConfigError(f"the routine comes first: etude train ROUTINE {arguments.routine} (see etude train -h)")
    return train_command(arguments)


def train_command(arguments: argparse.Namespace) -> int:
    """Carry out a parsed `etude train` (or scripts/train.py): -h, or one run; 0, or 2 after printing one error line."""
    from ..errors import EtudeError

    try:
        if arguments.help:
            show_help(arguments)
            return 0
        return train_from_command_line(arguments)
    except EtudeError as error:
        print(f'error: {error}', file=sys.stderr)
        return 2


def show_help(arguments: argparse.Namespace) -> None:
    """The command's options and the shipped routines (no torch), or with a routine every key it takes."""
    if arguments.routine is None:
        arguments.print_help()
        return
    from .listing import settings_listing

    definition = load_routine(arguments.routine)
    print(f'{definition.name}: {definition.summary}\n\n{settings_listing(definition)}')


def train_from_command_line(arguments: argparse.Namespace) -> int:
    from ..errors import ConfigError
    from ..threads import check_threads

    check_threads(arguments.threads)  # OpenMP's waiting is left as it is for training: etude.threads says why
    from .routine import TrainingInterrupted

    for extra in arguments.overrides:
        if '=' not in extra:
            raise ConfigError(f"unrecognised argument '{extra}'; hyperparameters are written key=value or --key=value")
    definition = load_routine(arguments.routine)
    overrides = [*arguments.overrides, *(['testing=true'] if arguments.testing else []), *([f'device={arguments.device}'] if arguments.device else []),
                 *([f'threads={arguments.threads}'] if arguments.threads else [])]
    try:
        train_routine(definition, make_routine(arguments, definition), config_path=arguments.config, overrides=overrides)
    except TrainingInterrupted as interrupted:
        print(f'error: {interrupted}', file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print('error: interrupted before training started; run the same command again (a feature cache build resumes where it stopped)',
              file=sys.stderr)
        return 2
    return 0


def make_routine(arguments: argparse.Namespace, definition: RoutineDefinition) -> Routine:
    """The Routine of this command line: where runs go, what it resumes, its tracker, its resume line."""
    from .resume_command import resume_command
    from .routine import Routine

    repeated = resume_arguments(arguments, definition)
    return Routine(runs_directory=arguments.runs_dir, trackers=trackers_of(arguments), project=definition.project, resume=arguments.resume,
                   resume_command=lambda run_directory: resume_command(run_directory, repeated, script=arguments.script))


def trackers_of(arguments: argparse.Namespace) -> list[str]:
    """The trackers named on the command line, each once: `--tracker NAME ...`, and `--wandb` for `--tracker wandb`."""
    return list(dict.fromkeys([*arguments.tracker, *(['wandb'] if arguments.wandb else [])]))


def resume_arguments(arguments: argparse.Namespace, definition: RoutineDefinition) -> list[str]:
    """What the resume line repeats: the routine, where runs go, the device, the tracker and run-option overrides
    (hyperparameters come back from the run's config.yaml)."""
    from ..run_options import RunOptions

    options = set(RunOptions.field_types())
    repeated = ['--routine', definition.name] if arguments.script is not None else [definition.name]
    repeated += ['--runs-dir', arguments.runs_dir] if arguments.runs_dir != 'runs' else []
    repeated += ['--device', arguments.device] if arguments.device else []
    repeated += ['--threads', str(arguments.threads)] if arguments.threads else []
    repeated += [word for name in trackers_of(arguments) for word in ('--tracker', name)]
    return repeated + [extra for extra in arguments.overrides if extra.removeprefix('--').partition('=')[0].replace('-', '_') in options]


def train_routine(definition: RoutineDefinition, routine: Routine, *, config_path: str | Path | None = None,
                  overrides: Sequence[str] = ()) -> dict[str, Any]:
    """Resolve the parameters, let the routine build its data and model, train, test; print its result and the run's paths."""
    parameters = routine.set_parameters(definition.defaults, config_path=config_path, overrides=overrides, testing_defaults=definition.testing)
    routine.add_to_summary({'routine': definition.name})  # etude compare titles a table of runs by it
    summary: dict[str, Any] = routine.train(metrics=_extra_metrics(definition.build(routine, parameters), definition.name))
    if definition.report is not None:
        routine.say(definition.report(summary))
    routine.say(f'run: {summary["paths"]["run"]}  model: {summary["paths"]["best"]}')
    return summary


def _extra_metrics(built: Any, name: str) -> Sequence[Any]:
    """What `build` returned, as the extra metrics `train` takes: None, or a list of `etude.Metric`s; anything else is
    refused in one line that says what build returns."""
    from ..errors import RoutineError
    from ..metrics import Metric

    if built is None:
        return ()
    if isinstance(built, (list, tuple)) and all(isinstance(metric, Metric) for metric in built):
        return built
    shown = type(built).__name__ if not isinstance(built, (list, tuple)) else f'a {type(built).__name__} holding ' + \
        ', '.join(sorted({type(item).__name__ for item in built if not isinstance(item, Metric)}))
    raise RoutineError(f'the build of {name} returned {shown}; build returns nothing (its task brings the metrics), or a list of '
                       'etude.Metric objects to report beside them')
