"""Train a routine: the repository's entry point, a shim over `etude train` (etude/training/command.py).

    python scripts/train.py [--routine ROUTINE] [--config FILE] [--tracker NAME] [--wandb] [--testing] [--resume DIR] [--device D] [key=value ...]
    torchrun --standalone --nproc_per_node=2 scripts/train.py ...          # one run on two processes

The same as `etude train ROUTINE ...`, with the routine given as `--routine` (default circular_drum_size): a shipped
routine's name (etude/routines/), a path to a .py file, or module:attribute. The W&B sweep files in
scripts/config/wandb/ start this script. `--routine NAME -h` lists every key; mistakes print one line and exit 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from etude.cli import OneLineArgumentParser
from etude.training.command import add_training_options, routines_epilog, train_command
from etude.training.routines import DEFAULT_ROUTINE


def parse_arguments(argv: Sequence[str]) -> argparse.Namespace:
    parser = OneLineArgumentParser(prog='train.py', description='Train, validate, test and export a model with an etude routine.',
                                   epilog=routines_epilog('--routine NAME -h'), formatter_class=argparse.RawDescriptionHelpFormatter, add_help=False)
    parser.add_argument('--routine', default=None, metavar='ROUTINE', help=f'a routine name, a .py file or module:attribute (default {DEFAULT_ROUTINE})')
    add_training_options(parser)
    arguments, overrides = parser.parse_known_args(argv)
    arguments.overrides, arguments.script = overrides, __file__
    if not arguments.help:
        arguments.routine = arguments.routine or DEFAULT_ROUTINE
    return arguments


def run_cli(argv: Sequence[str] | None = None) -> int:
    return train_command(parse_arguments(list(sys.argv[1:] if argv is None else argv)))


if __name__ == '__main__':
    raise SystemExit(run_cli())
