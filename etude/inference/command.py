"""`etude infer CHECKPOINT [INPUT ...] [--output DIR]`: run an exported model on files and write what it says.

    etude infer runs/<id>/checkpoints/best.pt some.wav                 # a table: the digit and its probability
    etude infer best.pt recordings/ --output out/                      # every audio file in the folder → out/predictions.jsonl
    find . -name '*.wav' | etude infer best.pt - --jsonl               # paths from standard input, JSON lines out
    etude infer generator.pt --num 4 --length 200 --seed 1 --output out/  # a task that writes files: out/<name>.mid
    etude infer best.onnx piece.wav --output out/ --threads 1         # an ONNX file from etude export --onnx, run by onnxruntime

The export's task says what the inputs are (audio, MIDI primers, scores, or none), how the model runs on them and
what it writes; the task kinds' own flags (`--top`, `--temperature`, ...) are listed below, and one given to a model
of another kind is refused. A bad input among many (unreadable, of the wrong kind, too short, missing) gets one line
on standard error and is skipped; the rest are still run and written, and the command then exits with status 2, so
a script notices. `DIR/predictions.jsonl` is written once, atomically, at the end. Before the model runs, the files
the run will write (`predictions.jsonl` and the task's `<stem>.<ext>` files) are checked: one that is an input is
refused even with `--overwrite` (a score `DIR/score.mid` played into `DIR`), as are two inputs whose results share
a file name, and an existing one is replaced only with `--overwrite`. Imports nothing heavy until it runs, so
`etude -h` answers at once.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

__all__ = ['configure', 'expand_inputs', 'run']

PREDICTIONS_FILE = 'predictions.jsonl'


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('checkpoint', metavar='CHECKPOINT', help='an etude export (runs/<id>/checkpoints/best.pt) or an ONNX file from etude export --onnx')
    parser.add_argument('inputs', nargs='*', metavar='INPUT',
                        help="input files (what the model reads: audio, MIDI, scores), folders of them, or - (paths from standard input)")
    parser.add_argument('-o', '--output', metavar='DIR', help=f'also write the results to DIR/{PREDICTIONS_FILE}')
    parser.add_argument('--overwrite', action='store_true', help=f'replace existing results in DIR ({PREDICTIONS_FILE} and the files written); never an input')
    parser.add_argument('--jsonl', action='store_true', help='print JSON lines instead of a table')
    parser.add_argument('--batch-size', type=int, default=64, metavar='N', help='inputs run through the model at once (default 64)')
    parser.add_argument('--device', default='cpu', metavar='D', help='cpu (default), auto, cuda, cuda:N or mps')
    parser.add_argument('--threads', type=int, metavar='N', help='CPU threads (default: OMP_NUM_THREADS, else the cores this process may use)')
    parser.add_argument('--allow-module', action='append', default=[], metavar='MODULE',
                        help='import the model class or task kind from this package (repeatable; found in the current folder too); '
                             'only for code you trust')
    from ..errors import EtudeError
    from ..tasks import inference_options, registered_kinds

    try:  # a broken registration (an installed package's entry point) must not take `etude -h` down: `run` says what it is
        kinds, options = registered_kinds(), inference_options()
    except EtudeError as error:
        parser.set_defaults(registry_error=str(error))
        return
    group = parser.add_argument_group('options of some task kinds (' + ', '.join(kinds) + '; a kind found by --allow-module runs '
                                      "with its options' defaults)")
    for option in options:
        if option.is_switch:
            group.add_argument(option.flag, action='store_true', default=None, help=option.help)
        else:
            group.add_argument(option.flag, type=option.type, default=None, metavar=option.metavar, help=option.help)


def run(arguments: argparse.Namespace) -> int:
    from ..errors import ConfigError
    from ..tasks import inference_options

    if getattr(arguments, 'registry_error', None):
        raise ConfigError(arguments.registry_error)
    output = _output_file(arguments.output, arguments.overwrite)
    if arguments.batch_size < 1:
        raise ConfigError(f'--batch-size must be at least 1, got {arguments.batch_size}')
    given = {option.name: getattr(arguments, option.name) for option in inference_options() if getattr(arguments, option.name) is not None}
    from ..threads import check_threads, passive_waiting

    check_threads(arguments.threads)
    passive_waiting()  # before torch loads: a waiting OpenMP thread sleeps instead of spinning on a busy machine
    predictor = _predictor(arguments, given)
    task = predictor.task
    if task.writes_files and output is None:
        raise ConfigError(f'a {task.kind} model writes files; pass --output DIR for them and {PREDICTIONS_FILE}')
    sources, problems = expand_inputs(arguments.inputs, sys.stdin, task.inputs.extensions, task.inputs.description)
    if not sources and (task.inputs.required or arguments.inputs):
        for problem in problems:
            _report(problem)
        if problems:
            return 2
        raise ConfigError(f'no inputs; pass {task.inputs.description}, folders of them, or - to read paths from standard input')
    if output is not None:
        _check_outputs(predictor, sources, output, arguments.overwrite)
    for problem in problems:
        _report(problem)
    table = None if arguments.jsonl else _Table(task.columns(), [len(source) for source in sources])
    lines: list[str] = []
    skipped = len(problems)
    for outcome in predictor.predict_files(sources):
        if outcome.result is None:
            _report(f'{outcome.error}; skipped')
            skipped += 1
            continue
        row: dict[str, Any] = {'input': outcome.source, **outcome.result}
        if output is not None and task.writes_files:
            written = predictor.write(outcome, output.parent)
            row['files'] = [str(path) for path in written]
        line = json.dumps(row)
        lines.append(line)
        if table is None:
            print(line, flush=True)
        else:
            table.row(outcome.source, row)
    if output is not None:
        _write(output, lines)
        _report(f'wrote {len(lines)} result{"s" if len(lines) != 1 else ""} to {output}', prefix='')
    if skipped:
        _report(f'{skipped} of {skipped + len(lines)} inputs skipped', prefix='')
        return 2
    return 0


def _predictor(arguments: argparse.Namespace, given: dict[str, Any]) -> Any:
    """The Predictor of the checkpoint: an etude export run by torch, or an ONNX file (`.onnx`) run by onnxruntime
    (without loading torch, which alone takes about 500 MiB)."""
    from ..errors import ConfigError
    from .predictor import Predictor

    if Path(arguments.checkpoint).suffix.lower() == '.onnx':
        if arguments.device != 'cpu':
            raise ConfigError(f'ONNX files run on the CPU with onnxruntime; drop --device {arguments.device}, or pass the .pt export for it')
        return Predictor.from_onnx(arguments.checkpoint, batch_size=arguments.batch_size, threads=arguments.threads, **given)
    from ..device import select_device
    from ..threads import use_threads

    use_threads(arguments.threads)
    return Predictor.from_checkpoint(arguments.checkpoint, device=select_device(arguments.device), batch_size=arguments.batch_size,
                                     allow_modules=arguments.allow_module, **given)


def expand_inputs(inputs: Sequence[str], stdin: TextIO, extensions: Sequence[str], description: str = 'input files') -> tuple[list[str], list[str]]:
    """The files to run, in order: each path as given, a folder's files with one of `extensions` (recursively,
    sorted), `-` standard input's lines; and a message for each folder with nothing to run and each broken link."""
    sources: list[str] = []
    problems: list[str] = []
    for given in inputs:
        entries = [line.strip() for line in stdin if line.strip()] if given == '-' else [given]
        for entry in entries:
            path = Path(entry)
            if path.is_dir():
                found, broken = _files_in(path, extensions)
                problems += [f'{link}: a link to {os.readlink(link)}, which does not exist; skipped' for link in broken]
                if not found and not broken:
                    problems.append(f'{path}: a folder with no {description} ({", ".join(extensions)}); skipped')
                sources += [str(file) for file in found]
            else:
                sources.append(entry)
    return sources, problems


def _files_in(folder: Path, extensions: Sequence[str]) -> tuple[list[Path], list[Path]]:
    """The folder's files with one of `extensions` (not in hidden folders), sorted; and its links that lead nowhere."""
    found, broken = [], []
    for path in folder.rglob('*'):
        relative = path.relative_to(folder)
        if path.suffix.lower() not in extensions or any(part.startswith('.') for part in relative.parts):
            continue
        if path.is_file():
            found.append(path)
        elif path.is_symlink() and not path.exists():
            broken.append(path)
    return sorted(found), sorted(broken)


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


def _check_outputs(predictor: Any, sources: Sequence[str], output: Path, overwrite: bool) -> None:
    """Refuse, before the model runs, a run that would write over one of its inputs (`score.mid`'s performance is
    `score.mid`), write two inputs' results to one file, or replace files already there without --overwrite."""
    from .outputs import check_planned_files

    planned = [*predictor.planned_files(sources, output.parent), ('', [output])] if predictor.task.writes_files else [('', [output])]
    check_planned_files(planned, sources, overwrite=overwrite)


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

    def __init__(self, columns: Sequence[tuple[str, str]], name_lengths: Sequence[int]) -> None:
        self.input_width = min(max([5, *name_lengths]), 80)
        self.columns = list(columns)
        self.header_printed = False

    def row(self, source: str, result: dict[str, Any]) -> None:
        columns = self.columns or [(key, key) for key in result if key != 'input']
        if not self.header_printed:
            print('  '.join([f'{"input":<{self.input_width}}', *(f'{title:>{max(len(title), 10)}}' for _, title in columns)]))
            self.header_printed = True
        shown = source if len(source) <= self.input_width else '…' + source[-self.input_width + 1:]
        cells = [f'{_cell(result.get(key)):>{max(len(title), 10)}}' for key, title in columns]
        print('  '.join([f'{shown:<{self.input_width}}', *cells]), flush=True)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f'{value:.4g}'
    if isinstance(value, list):
        return ' '.join(str(item) for item in value)
    return str(value)
