"""`etude compare RUN_DIR ...`: runs side by side in one table, best first by the monitored metric.

    etude compare runs/*                              # a table in the terminal
    etude compare runs/a runs/b --markdown table.md   # and the same table as Markdown, for a paper's notes or a PR
    etude compare runs/* --format markdown            # Markdown on standard output

Columns: the run, the hyperparameters whose values differ between the runs (the ones that explain the rest), the
best epoch, the monitored validation value and the validation metrics of that epoch, the test metrics and the wall
time. An unfinished run (no summary.json yet) is listed from its metrics.jsonl, with no test figures. Only plain
files are read (config.yaml, metrics.jsonl, summary.json), so comparing never loads torch.

Runs of different routines share few columns (one table of them all would be the union of every routine's
hyperparameters and metrics), so they get a table each, titled, in the order their first run was given. A run's
routine is the `routine` its summary.json records when it records one; else runs of one routine are those with the
same hyperparameter names (the model's Parameters) and the same validation metrics; a table's title is then the
dataset (its name without the fingerprint) and those metrics.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ['RunRecord', 'compare_table', 'configure', 'read_run', 'routine_groups', 'run']


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('runs', nargs='+', metavar='RUN_DIR', help='run folders, runs/<id>')
    parser.add_argument('--format', choices=('table', 'markdown'), default='table', help='what to print (default an aligned table)')
    parser.add_argument('--markdown', metavar='FILE', help='also write the table as Markdown to FILE')
    parser.add_argument('--overwrite', action='store_true', help='replace an existing --markdown FILE')


def run(arguments: argparse.Namespace) -> int:
    from ..errors import ConfigError
    from ..training.run_directory import RunDirectory

    target = Path(arguments.markdown) if arguments.markdown else None
    if target is not None and target.exists() and not arguments.overwrite:
        raise ConfigError(f'{target} exists; pass --overwrite to replace it, or another --markdown file')
    records = [read_run(path) for path in arguments.runs]
    for record in records:  # a damaged metrics.jsonl: one line per damaged line, and the table from the rest
        for problem in RunDirectory(record.path).metrics_problems():
            print(f'warning: {problem}', file=sys.stderr)
    tables = [(title, *compare_table(group)) for title, group in routine_groups(records)]
    print(_joined(tables, markdown if arguments.format == 'markdown' else aligned), end='')
    if target is not None:
        from ..atomic_files import write_text_atomic

        write_text_atomic(target, _joined(tables, markdown))
    return 0


def routine_groups(records: Sequence[RunRecord]) -> list[tuple[str, list[RunRecord]]]:
    """`(title, runs)` per routine, in the order of each routine's first run (see the module docstring).

    Runs are grouped by what they measure (`routine_key`), which an unfinished run (no summary.json yet) has too; a
    group whose finished runs record different routines is split by them, its unrecorded runs apart."""
    kinds: dict[Any, list[RunRecord]] = {}
    for record in records:
        kinds.setdefault(record.routine_key, []).append(record)
    groups: list[list[RunRecord]] = []
    for kind in kinds.values():
        names = list(dict.fromkeys(record.routine for record in kind if record.routine is not None))
        if len(names) <= 1:
            groups.append(kind)
            continue
        by_name: dict[str | None, list[RunRecord]] = {}
        for record in kind:
            by_name.setdefault(record.routine, []).append(record)
        groups.extend(by_name.values())
    return [(_title(group), group) for group in groups]


def _title(group: Sequence[RunRecord]) -> str:
    """What a table is about: the routine (or the dataset and the test metrics, where no routine is recorded)."""
    count = f'{len(group)} run{"s" if len(group) != 1 else ""}'
    routine = next((record.routine for record in group if record.routine is not None), None)
    if routine is not None:
        return f'{routine} ({count})'
    dataset = next((record.dataset for record in group if record.dataset), None)
    metrics = list(dict.fromkeys(name for record in group for epoch in record.epochs for name in (epoch.get('validation_metrics') or {})))
    described = [f'dataset {dataset}' if dataset else 'no dataset recorded yet', *([f'metrics {", ".join(metrics)}'] if metrics else [])]
    return f'{"; ".join(described)} ({count})'


def _joined(tables: Sequence[tuple[str, list[str], list[list[str]]]], render: Any) -> str:
    """One table as it always was; several, each under its title (a Markdown heading in Markdown), a blank line apart."""
    if len(tables) == 1:
        _, header, rows = tables[0]
        return str(render(header, rows))
    heading = '### ' if render is markdown else ''
    return '\n'.join(f'{heading}{title}\n' + ('\n' if heading else '') + str(render(header, rows)) for title, header, rows in tables)


@dataclass
class RunRecord:
    """What one run folder says about itself."""

    path: Path
    config: dict[str, Any]
    summary: dict[str, Any] | None
    epochs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def routine(self) -> str | None:
        """The routine the run's summary.json records, if it records one."""
        recorded = (self.summary or {}).get('routine')
        return str(recorded) if recorded else None

    @property
    def dataset(self) -> str | None:
        """The dataset's name without its fingerprint (`circular-drums-29ae3c63` → `circular-drums`), if recorded."""
        name = ((self.summary or {}).get('dataset') or {}).get('name')
        if not name:
            return None
        stem, _, suffix = str(name).rpartition('-')
        return stem if stem and len(suffix) >= 8 and all(character in '0123456789abcdef' for character in suffix) else str(name)

    @property
    def routine_key(self) -> Any:
        """Equal for runs of one routine: its hyperparameter names and validation metric names (two routines of one model
        class, such as the two drum routines, measure different things; and an unfinished run, which has no
        summary.json and so no recorded routine yet, has both)."""
        metrics = sorted({name for record in self.epochs for name in (record.get('validation_metrics') or {})})
        return ('kind', tuple(sorted(self.config)), tuple(metrics))

    @property
    def monitor(self) -> str:
        return str((self.summary or {}).get('monitor') or self.config.get('monitor') or 'validation_loss')

    @property
    def mode(self) -> str:
        return str(self.config.get('monitor_mode') or 'min')

    def value(self, record: Mapping[str, Any], name: str) -> float | None:
        """`validation_loss` or `validation_<metric>` of one epoch's record."""
        value = record.get(name) if name in record else (record.get('validation_metrics') or {}).get(name.removeprefix('validation_'))
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    def best_record(self) -> dict[str, Any] | None:
        """The record of the best epoch: the summary's, else the best monitored value in metrics.jsonl."""
        if not self.epochs:
            return None
        best_epoch = (self.summary or {}).get('best_epoch')
        chosen = [record for record in self.epochs if record.get('epoch') == best_epoch]
        if chosen:
            return chosen[0]
        scored = [(value, record) for record in self.epochs if (value := self.value(record, self.monitor)) is not None and math.isfinite(value)]
        if not scored:
            return None
        pick = min if self.mode == 'min' else max
        return pick(scored, key=lambda pair: pair[0])[1]


def read_run(path: str | Path) -> RunRecord:
    """Read a run folder's config.yaml, metrics.jsonl and summary.json; a folder with none of them is a ConfigError."""
    import yaml

    from ..errors import ConfigError
    from ..training.run_directory import RunDirectory

    folder = Path(path)
    if not folder.is_dir() or not any((folder / name).is_file() for name in ('config.yaml', 'metrics.jsonl', 'summary.json')):
        raise ConfigError(f'{folder} is not an etude run folder (no config.yaml, metrics.jsonl or summary.json); pass runs/<id> folders')
    try:
        config = yaml.safe_load((folder / 'config.yaml').read_text(encoding='utf-8')) if (folder / 'config.yaml').is_file() else {}
    except (yaml.YAMLError, UnicodeDecodeError):
        raise ConfigError(f'{folder / "config.yaml"} is not valid YAML; restore it from a backup of the run') from None
    try:
        summary = json.loads((folder / 'summary.json').read_text(encoding='utf-8')) if (folder / 'summary.json').is_file() else None
    except ValueError:
        raise ConfigError(f'{folder / "summary.json"} is damaged (not JSON); restore it or train the run again') from None
    return RunRecord(folder, config if isinstance(config, dict) else {}, summary if isinstance(summary, dict) else None, RunDirectory(folder).read_metrics())


def compare_table(records: Sequence[RunRecord]) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of the comparison, rows sorted best first by the first run's monitored metric."""
    keys = sorted({key for record in records for key in record.config})
    differing = [key for key in keys if len({json.dumps(record.config.get(key), sort_keys=True, default=str) for record in records}) > 1]
    monitor, mode = records[0].monitor, records[0].mode
    best = [record.best_record() for record in records]
    validation_names = list(dict.fromkeys(f'validation_{name}' for record in best if record for name in (record.get('validation_metrics') or {})))
    test_names = list(dict.fromkeys(name for record in records for name in ((record.summary or {}).get('test') or {})))
    header = ['run', *differing, 'best epoch', monitor, *(name for name in ['validation_loss', *validation_names] if name != monitor),
              *(f'test_{name}' for name in test_names), 'wall time (s)']
    rows = []
    for record, chosen in zip(records, best, strict=True):
        summary = record.summary or {}
        score = record.value(chosen, monitor) if chosen else None
        validation = [record.value(chosen, name) if chosen else None for name in ['validation_loss', *validation_names] if name != monitor]
        wall = summary.get('wall_seconds', sum(float(epoch.get('seconds', 0.0)) for epoch in record.epochs) if record.epochs else None)
        name = record.name + ('' if record.summary is not None else ' (unfinished)')
        cells = [name, *(_cell(record.config.get(key)) for key in differing), _cell(chosen.get('epoch') if chosen else None), _cell(score),
                 *(_cell(value) for value in validation), *(_cell((summary.get('test') or {}).get(test)) for test in test_names), _cell(wall)]
        rows.append((score, cells))
    missing = math.inf if mode == 'min' else -math.inf
    rows.sort(key=lambda pair: (pair[0] if pair[0] is not None and math.isfinite(pair[0]) else missing) * (1 if mode == 'min' else -1))
    return header, [cells for _, cells in rows]


def aligned(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]
    lines = ['  '.join(cell.ljust(width) if index == 0 else cell.rjust(width) for index, (cell, width) in enumerate(zip(line, widths, strict=True)))
             for line in [list(header), *rows]]
    lines.insert(1, '  '.join('-' * width for width in widths))
    return '\n'.join(line.rstrip() for line in lines) + '\n'


def markdown(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    def line(cells: Sequence[str]) -> str:
        return '| ' + ' | '.join(cell.replace('|', '\\|') for cell in cells) + ' |'

    separator = '|' + '|'.join(':---' if index == 0 else '---:' for index in range(len(header))) + '|'
    return '\n'.join([line(header), separator, *(line(row) for row in rows)]) + '\n'


def _cell(value: Any) -> str:
    if value is None:
        return '–'
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, float):
        return f'{value:.4g}'
    if isinstance(value, (list, tuple)):
        return '[' + ', '.join(_cell(item) for item in value) + ']'
    return str(value)
