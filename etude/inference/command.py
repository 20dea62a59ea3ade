"""`etude infer CHECKPOINT [INPUT ...] [--output DIR]`: run an exported model on files and write what it says.

    etude infer runs/<id>/checkpoints/best.pt some.wav                 # a table: the digit and its probability
    etude infer best.pt recordings/ --output out/                      # every audio file in the folder → out/predictions.jsonl
    find . -name '*.wav' | etude infer best.pt - --jsonl               # paths from standard input, JSON lines out

A bad input among many (unreadable, of the wrong kind, too short, missing) gets one line on standard error and is
skipped; the rest are still run and written, and the command then exits with status 2, so a script notices.
`DIR/predictions.jsonl` is written once, atomically, at the end, and never over an existing one without
`--overwrite`. Imports nothing heavy until it runs, so `etude -h` answers at once.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

__all__ = ['configure', 'expand_inputs', 'run']

PREDICTIONS_FILE = 'predictions.jsonl'


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('checkpoint', metavar='CHECKPOINT', help='an etude export, e.g. runs/<id>/checkpoints/best.pt')
    parser.add_argument('inputs', nargs='*', metavar='INPUT', help='audio files, folders (every audio file in them) or - (paths from standard input)')
    parser.add_argument('-o', '--output', metavar='DIR', help=f'also write the results to DIR/{PREDICTIONS_FILE}')
    parser.add_argument('--overwrite', action='store_true', help=f'replace an existing DIR/{PREDICTIONS_FILE}')
    parser.add_argument('--jsonl', action='store_true', help='print JSON lines instead of a table')
    parser.add_argument('--top', type=int, default=1, metavar='K', help='classifiers: also list the K most probable classes (default 1)')
    parser.add_argument('--batch-size', type=int, default=64, metavar='N', help='inputs run through the model at once (default 64)')
    parser.add_argument('--device', default='cpu', metavar='D', help='cpu (default), auto, cuda, cuda:N or mps')
    parser.add_argument('--allow-module', action='append', default=[], metavar='MODULE',
                        help='import the model class from this package too (only for exports of models you trust)')


def run(arguments: argparse.Namespace) -> int:
    from ..errors import ConfigError

    output = _output_file(arguments.output, arguments.overwrite)
    if arguments.batch_size < 1 or arguments.top < 1:
        raise ConfigError(f'--batch-size and --top must be at least 1, got {arguments.batch_size} and {arguments.top}')
    sources, problems = expand_inputs(arguments.inputs, sys.stdin)
    for problem in problems:
        _report(problem)
    if not sources:
        if problems:
            return 2
        raise ConfigError('no inputs; pass audio files, folders of them, or - to read paths from standard input')

    from ..device import select_device
    from .predictor import Predictor

    predictor = Predictor.from_checkpoint(arguments.checkpoint, device=select_device(arguments.device), batch_size=arguments.batch_size,
                                          top=arguments.top, allow_modules=arguments.allow_module)
    table = None if arguments.jsonl else _Table(predictor, [len(source) for source in sources])
    lines: list[str] = []
    skipped = len(problems)
    for outcome in predictor.predict_files(sources):
        if outcome.result is None:
            _report(f'{outcome.error}; skipped')
            skipped += 1
            continue
        line = json.dumps({'input': outcome.source, **outcome.result})
        lines.append(line)
        if table is None:
            print(line, flush=True)
        else:
            table.row(outcome.source, outcome.result)
    if output is not None:
        _write(output, lines)
        _report(f'wrote {len(lines)} result{"s" if len(lines) != 1 else ""} to {output}', prefix='')
    if skipped:
        _report(f'{skipped} of {skipped + len(lines)} inputs skipped', prefix='')
        return 2
    return 0


def expand_inputs(inputs: Sequence[str], stdin: TextIO) -> tuple[list[str], list[str]]:
    """The files to run, in order: each path as given, a folder's audio files (recursively, sorted), `-` standard
    input's lines; and a message for each folder with nothing to run."""
    from ..data.definitions import AUDIO_EXTENSIONS

    sources: list[str] = []
    problems: list[str] = []
    for given in inputs:
        entries = [line.strip() for line in stdin if line.strip()] if given == '-' else [given]
        for entry in entries:
            path = Path(entry)
            if path.is_dir():
                found = sorted(str(file) for file in _audio_files(path, AUDIO_EXTENSIONS))
                if not found:
                    problems.append(f'{path}: a folder with no audio files ({", ".join(AUDIO_EXTENSIONS)}); skipped')
                sources += found
            else:
                sources.append(entry)
    return sources, problems


def _audio_files(folder: Path, extensions: Sequence[str]) -> Iterator[Path]:
    for path in folder.rglob('*'):
        relative = path.relative_to(folder)
        if path.suffix.lower() in extensions and not any(part.startswith('.') for part in relative.parts) and path.is_file():
            yield path


def _output_file(directory: str | None, overwrite: bool) -> Path | None:
    """`DIR/predictions.jsonl`, checked before any work: DIR a folder (made when the results are written), the file new or `--overwrite`."""
    from ..errors import ConfigError

    if directory is None:
        return None
    folder = Path(directory)
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f'--output {folder} is a file, not a folder; pass a folder for {PREDICTIONS_FILE}')
    target = folder / PREDICTIONS_FILE
    if target.exists() and not overwrite:
        raise ConfigError(f'{target} exists; pass --overwrite to replace it, or another --output folder')
    return target


def _write(target: Path, lines: Sequence[str]) -> None:
    from ..atomic_files import write_text_atomic
    from ..errors import ConfigError

    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(target, ''.join(f'{line}\n' for line in lines))
    except OSError as error:
        raise ConfigError(f'cannot write {target} ({error.strerror or error}); pass another --output folder') from None


def _report(message: str, prefix: str = 'error: ') -> None:
    print(f'{prefix}{message}', file=sys.stderr, flush=True)


class _Table:
    """Rows printed as results arrive, in columns sized from the input names and the task's fields."""

    def __init__(self, predictor: Any, name_lengths: Sequence[int]) -> None:
        from .decoders import target_names, target_units

        task = predictor.settings
        self.input_width = min(max([5, *name_lengths]), 80)
        if task.get('kind') == 'regression':
            units = target_units(task)
            self.columns = [(name, f'{name} ({units[name]})' if units[name] else name) for name in target_names(task)]
        elif task.get('kind') == 'classification':
            self.columns = [(str(task.get('target') or 'class'), str(task.get('target') or 'class')), ('probability', 'probability')]
        else:
            self.columns = []
        self.header_printed = False

    def row(self, source: str, result: dict[str, Any]) -> None:
        columns = self.columns or [(key, key) for key in result]
        if not self.header_printed:
            print('  '.join([f'{"input":<{self.input_width}}', *(f'{title:>{max(len(title), 10)}}' for _, title in columns)]))
            self.header_printed = True
        shown = source if len(source) <= self.input_width else '…' + source[-self.input_width + 1:]
        cells = [f'{_cell(result.get(key)):>{max(len(title), 10)}}' for key, title in columns]
        print('  '.join([f'{shown:<{self.input_width}}', *cells]), flush=True)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f'{value:.4g}'
    return str(value)
