"""`etude evaluate RUN_DIR|CHECKPOINT [--split test|validation] [--data DIR]`: recompute a run's metrics and report them.

    etude evaluate runs/<id>                         # → runs/<id>/evaluation/{metrics.json, predictions.jsonl, *.png, report.html}
    etude evaluate runs/<id> --split validation      # → runs/<id>/evaluation-validation/
    etude evaluate runs/<id>/checkpoints/last.pt --data data/cache/recordings-0123456789ab

`report.html` is one self-contained page: the run, the evaluated split's metrics beside the baselines recomputed on
it, the learning curves from `metrics.jsonl`, the task's figures (a confusion matrix; predicted-vs-true and error
histograms per target; piano rolls ...), the dataset's fingerprint and split sizes, and the run's configuration.
The evaluation is written into a folder beside the output and renamed into place only once all of it is written, so
a refused or failed evaluation leaves nothing behind, and nothing already in the output folder is replaced without
`--overwrite`. Imports nothing heavy until it runs.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .evaluate import Evaluation

__all__ = ['configure', 'report_title', 'run', 'write_evaluation']

WRITTEN = ('metrics.json', 'predictions.jsonl', 'report.html')


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('run_path', metavar='RUN_DIR|CHECKPOINT', help='a run folder (its checkpoints/best.pt) or a checkpoint inside one')
    parser.add_argument('--split', choices=('test', 'validation'), default='test', help='the split to evaluate (default test)')
    parser.add_argument('--data', metavar='DIR', help='the stored dataset the run trained on, if it has moved')
    parser.add_argument('-o', '--output', metavar='DIR', help='where to write (default RUN/evaluation, or RUN/evaluation-validation)')
    parser.add_argument('--overwrite', action='store_true', help='replace an earlier evaluation in the output folder')
    parser.add_argument('--device', default='cpu', metavar='D', help='cpu (default), auto, cuda, cuda:N or mps')
    parser.add_argument('--batch-size', type=int, default=None, metavar='N', help="items per batch (default the run's batch_size)")
    parser.add_argument('--allow-module', action='append', default=[], metavar='MODULE',
                        help='import the model class or task kind from this package (repeatable; found in the current folder too); '
                             'only for code you trust')


def run(arguments: argparse.Namespace) -> int:
    from ..errors import ConfigError
    from .evaluate import locate_run

    run_files = locate_run(arguments.run_path)
    if arguments.batch_size is not None and arguments.batch_size < 1:
        raise ConfigError(f'--batch-size must be at least 1, got {arguments.batch_size}')
    output = Path(arguments.output) if arguments.output else default_output(run_files.directory, run_files.checkpoint, arguments.split)
    _check_output(output, arguments.overwrite)

    from ..device import select_device
    from .evaluate import evaluate_run

    evaluation = evaluate_run(run_files.checkpoint, split=arguments.split, data=arguments.data, device=select_device(arguments.device),
                              batch_size=arguments.batch_size, allow_modules=arguments.allow_module)
    written = write_evaluation(evaluation, output)
    names = list(dict.fromkeys([*evaluation.metrics, *(key for figures in evaluation.baselines.values() for key in figures)]))
    width = max(len(name) for name in names)
    print(f'{arguments.split} split, {len(evaluation.predictions)} items ({run_files.checkpoint})')
    print('  '.join([f'{"metric":<{width}}', f'{"model":>10}', *(f'{baseline:>16}' for baseline in evaluation.baselines)]))
    for name in names:
        cells = [f'{_number(evaluation.metrics.get(name)):>10}', *(f'{_number(figures.get(name)):>16}' for figures in evaluation.baselines.values())]
        print('  '.join([f'{name:<{width}}', *cells]))
    print(f'report: {written["report"]}')
    return 0


def default_output(run_directory: Path | None, checkpoint: Path, split: str) -> Path:
    """RUN/evaluation for the test split of best.pt; `-validation` and `-<checkpoint>` mark the others, so they never collide."""
    base = run_directory if run_directory is not None else checkpoint.parent
    name = 'evaluation' + ('' if split == 'test' else f'-{split}') + ('' if checkpoint.name == 'best.pt' else f'-{checkpoint.stem}')
    return base / name


def _check_output(output: Path, overwrite: bool) -> None:
    from ..errors import ConfigError

    if output.exists() and not output.is_dir():
        raise ConfigError(f'the output {output} is a file, not a folder; pass another --output')
    existing = [name for name in WRITTEN if (output / name).exists()]
    if existing and not overwrite:
        raise ConfigError(f'{output} already holds an evaluation ({existing[0]}); pass --overwrite to replace it, or another --output')


def write_evaluation(evaluation: Evaluation, output: str | Path) -> dict[str, Path]:
    """Write metrics.json, predictions.jsonl, the figures (PNG) and report.html into `output`; returns the paths by name.

    Everything is read first (a damaged config.yaml or summary.json is refused before anything is written), then
    written into a hidden folder beside `output`, which replaces `output`'s earlier evaluation files only at the end.
    """
    from ..errors import ConfigError

    output = Path(output)
    summary = evaluation.run.read_json('summary.json') or {}
    config = _run_config(evaluation)
    records, damaged = evaluation.run.records_and_damage()
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f'.{output.name}.', dir=output.parent))
    except OSError as error:
        raise ConfigError(f'cannot create {output} ({error.strerror}); pass another --output') from None
    try:
        written = _write_into(staging, evaluation, summary, config, records, damaged)
        return {name: output / path.name for name, path in written.items()} if _publish(staging, output) else written
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _run_config(evaluation: Evaluation) -> dict[str, Any]:
    from ..errors import ConfigError

    try:
        return evaluation.run.config() or dict(evaluation.export.get('hyperparameters') or {})
    except ConfigError as error:
        file = evaluation.run.directory / 'config.yaml' if evaluation.run.directory is not None else 'config.yaml'
        reason = str(error).split(': ', 1)[-1].split(';')[0]
        raise ConfigError(f'cannot evaluate {evaluation.run.checkpoint}: {file} is damaged ({reason}); restore it from a backup of the run, '
                          'nothing was written') from None


def _write_into(folder: Path, evaluation: Evaluation, summary: dict[str, Any], config: dict[str, Any], records: list[dict[str, Any]],
                damaged: list[str]) -> dict[str, Path]:
    from .. import figures as drawing
    from ..atomic_files import write_text_atomic
    from .report import write_report

    export, task, result = evaluation.export, evaluation.task, evaluation.result
    paths: dict[str, Path] = {}
    if records:
        paths['learning_curves'] = drawing.learning_curves_figure(records, folder / 'learning_curves.png')
    captions = task.figures(result, folder)
    paths.update({Path(path).stem: Path(path) for path in captions.values()})
    recorded = summary.get('test') if evaluation.split == 'test' else {'loss': export.get('validation_loss'), **(export.get('validation_metrics') or {})}
    record = {
        'split': evaluation.split,
        'items': len(evaluation.predictions),
        'checkpoint': str(evaluation.run.checkpoint),
        'epoch': export['run_info'].get('epoch'),
        'metrics': evaluation.metrics,
        'recorded': recorded,
        'baselines': evaluation.baselines,
        'dataset': {'name': export.get('dataset', {}).get('name'), 'fingerprint': export.get('dataset', {}).get('fingerprint'),
                    'directory': str(evaluation.dataset_directory)},
        'task': {key: value for key, value in task.to_dict().items() if key != 'representation'},
        **({'notes': result.notes} if result.notes else {}),
        **result.record,
    }
    paths['metrics'] = write_text_atomic(folder / 'metrics.json', json.dumps(record, indent=2, default=str) + '\n')
    paths['predictions'] = write_text_atomic(folder / 'predictions.jsonl', ''.join(json.dumps(row, default=str) + '\n' for row in evaluation.predictions))
    run_info = export['run_info']
    facts = {
        'run': run_info.get('id'), 'checkpoint': str(evaluation.run.checkpoint), 'epoch': run_info.get('epoch'), 'best epoch': run_info.get('best_epoch'),
        'evaluated split': evaluation.split, 'items': len(evaluation.predictions), 'monitor': summary.get('monitor'),
        'training wall time (s)': summary.get('wall_seconds'), 'trained on': run_info.get('device'), 'git commit': run_info.get('git_commit'),
    }  # what the run recorded of the metrics is a column of the metrics table, beside the recomputed figures
    dataset = {**{key: value for key, value in (export.get('dataset') or {}).items()}, 'directory': str(evaluation.dataset_directory)}
    paths['report'] = write_report(
        folder / 'report.html', title=report_title(task.kind, run_info.get('id')),
        subtitle=f'{evaluation.split} split of {dataset.get("name")}, {len(evaluation.predictions)} items, checkpoint of epoch {run_info.get("epoch")}',
        run=facts, config=config, dataset=dataset, split_sizes=evaluation.split_sizes, learning_curves=paths.get('learning_curves'),
        test_metrics=evaluation.metrics, recorded=recorded if isinstance(recorded, dict) else None, baselines=evaluation.baselines, figures=captions,
        notes=result.notes, warnings=damaged,
    )
    return paths


def report_title(kind: str, run_id: Any) -> str:
    """The report's heading as a person writes it: `expressive_performance` → `Expressive performance run <id>`."""
    return f'{kind.replace("_", " ").capitalize()} run {run_id}'


def _publish(staging: Path, output: Path) -> bool:
    """Move the finished evaluation into `output`: renamed whole when `output` is new, else file by file (each an
    atomic rename) with the earlier evaluation's files removed first, so the folder never mixes two evaluations."""
    import os

    if not output.exists():
        os.replace(staging, output)
        return True
    for name in WRITTEN:
        (output / name).unlink(missing_ok=True)
    for stale in output.glob('*.png'):
        stale.unlink()
    for path in sorted(staging.iterdir(), key=lambda path: path.name == 'report.html'):  # the report last: it names the rest
        os.replace(path, output / path.name)
    return True


def _number(value: Any) -> str:
    return '–' if value is None else f'{value:.4g}' if isinstance(value, float) else str(value)
