"""The `etude` command (also `python -m etude`): train, infer, export, evaluate, compare, listen, data, sweep.

Each subcommand lives in the package it belongs to, in a small module with two functions, `configure(parser)` to
declare its arguments and `run(arguments) -> int` to carry it out. Those modules import nothing heavy at import time,
so `etude -h` answers at once; torch, matplotlib or the web server load only when a command needs them. A module
that sets `OWN_HELP = True` handles -h itself; one whose parser sets `takes_overrides` receives the arguments argparse
does not know (`etude train`'s key=value) as `arguments.overrides`.

Mistakes in the input print one line, `error: <what was wrong>; <what to do>`, and exit with status 2, argparse's
own errors included (it would print the usage first).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
import warnings
from collections.abc import Sequence
from typing import NoReturn, TextIO

__all__ = ['COMMANDS', 'OneLineArgumentParser', 'main']

# name → (module with configure/run, one-line summary)
COMMANDS: dict[str, tuple[str, str]] = {
    'train': ('etude.training.command', 'train, validate, test and export a model with a routine: a shipped one or your own'),
    'infer': ('etude.inference.command', 'run an exported model on audio or MIDI files and write its results'),
    'export': ('etude.inference.export_command', 'write an exported model as ONNX, for onnxruntime (etude infer runs it)'),
    'evaluate': ('etude.evaluation.command', "recompute a run's metrics on a split and write a report with figures"),
    'compare': ('etude.evaluation.compare_command', 'tabulate runs side by side'),
    'listen': ('etude.listening.command', 'listening tests in the browser: create, serve, results, demo'),
    'data': ('etude.data.command', 'list and install the official datasets'),
    'sweep': ('etude.sweeps.command', 'run a W&B sweep file here, with no W&B server: trials, resume, best settings'),
}


class OneLineArgumentParser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line (`error: ...; see PROG -h`) and exit status 2."""

    def error(self, message: str) -> NoReturn:
        print(f'error: {message}; see {self.prog} -h', file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> OneLineArgumentParser:
    from .version import __version__

    parser = OneLineArgumentParser(prog='etude', description='etude: train, run, evaluate and listen to audio and music models.')
    parser.add_argument('--version', action='version', version=f'etude {__version__}')
    subcommands = parser.add_subparsers(dest='command', metavar='COMMAND', parser_class=OneLineArgumentParser)
    for name, (module_name, summary) in COMMANDS.items():
        if importlib.util.find_spec(module_name.rpartition('.')[0]) is None or importlib.util.find_spec(module_name) is None:
            continue
        module = importlib.import_module(module_name)
        subparser = subcommands.add_parser(name, help=summary, description=summary, add_help=not getattr(module, 'OWN_HELP', False))
        module.configure(subparser)
        subparser.set_defaults(run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from .errors import EtudeError

    parser = build_parser()
    arguments, extras = parser.parse_known_args(list(sys.argv[1:] if argv is None else argv))
    if extras:
        if not getattr(arguments, 'takes_overrides', False):
            parser.error(f'unrecognized arguments: {" ".join(extras)}')
        arguments.overrides = extras
    if getattr(arguments, 'run', None) is None:
        parser.print_help()
        return 2
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _one_line_warning  # restored on leaving: main() called in-process leaves the caller's hook
            return int(arguments.run(arguments) or 0)
    except EtudeError as error:
        print(f'error: {error}', file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print('error: interrupted; run the same command again', file=sys.stderr)
        return 130


def _one_line_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int, file: TextIO | None = None,
                      line: str | None = None) -> None:
    """A warning as the commands print one: `warning: <message>` on one line of standard error (no source line)."""
    text = ' '.join(str(message).split())
    print(f'warning: {text}', file=file or sys.stderr)
