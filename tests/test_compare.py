"""`etude compare`: real runs side by side, the differing hyperparameters only, best first by the monitored metric."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import test_inference_runs
from test_inference_runs import TrainedRun, run_etude, train_in_process

from etude.cli import main

digits_run = test_inference_runs.digits_run  # the shared session fixture


@pytest.fixture(scope='module')
def three_runs(digits_run: TrainedRun, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The shared run, a second one on the same cached data with another learning rate, and an unfinished copy."""
    root = tmp_path_factory.mktemp('compare')
    data_directory = digits_run.dataset.parent.parent
    summary = train_in_process('spoken_digits', [f'data_directory={data_directory}', f'voices={test_inference_runs.DIGIT_VOICES}', 'repetitions=2',
                                                 'channels=[8, 16]', 'kernel_sizes=[3, 3]', 'pool_sizes=[2, 2]', 'hidden_units=32', 'learning_rate=0.01'],
                               root / 'runs')
    unfinished = Path(shutil.copytree(digits_run.directory, root / 'unfinished'))
    (unfinished / 'summary.json').unlink()
    return [digits_run.directory, Path(summary['paths']['run']), unfinished]


def best_validation_accuracy(run: Path) -> float:
    records = [json.loads(line) for line in (run / 'metrics.jsonl').read_text().splitlines()]
    if (run / 'summary.json').is_file():
        best_epoch = json.loads((run / 'summary.json').read_text())['best_epoch']
        return float(next(record for record in records if record['epoch'] == best_epoch)['validation_metrics']['accuracy'])
    return max(float(record['validation_metrics']['accuracy']) for record in records)


def test_the_table_shows_what_differs_sorted_by_the_monitored_metric(three_runs: list[Path], tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    markdown = tmp_path / 'runs.md'
    assert main(['compare', *map(str, three_runs), '--markdown', str(markdown)]) == 0
    lines = capsys.readouterr().out.splitlines()
    header, rule, *rows = lines
    columns = header.split()
    assert columns[:3] == ['run', 'learning_rate', 'best'], 'only the hyperparameter that differs is shown'
    assert 'validation_accuracy' in columns and 'test_accuracy' in columns and set(rule) <= {'-', ' '}
    expected = sorted(three_runs, key=best_validation_accuracy, reverse=True)  # monitor validation_accuracy, mode max
    assert [row.split()[0] for row in rows] == [run.name for run in expected]
    unfinished = next(row for row in rows if row.startswith('unfinished'))
    assert '(unfinished)' in unfinished and unfinished.split()[-2] == '–', 'no test figures before the run is tested'
    table = markdown.read_text().splitlines()
    assert table[0].startswith('| run | learning_rate | best epoch | validation_accuracy |') and table[1].startswith('|:---|---:|')
    assert [line.split('|')[1].strip() for line in table[2:]] == [row.split()[0] + (' (unfinished)' if row.startswith('unfinished') else '')
                                                                  for row in rows]
    finished = json.loads((three_runs[1] / 'summary.json').read_text())
    row = next(line for line in table if line.startswith(f'| {three_runs[1].name} |'))
    assert f'| {finished["test"]["accuracy"]:.4g} |' in row and '| 0.01 |' in row

    before = markdown.read_bytes()
    assert main(['compare', str(three_runs[0]), '--markdown', str(markdown)]) == 2
    assert 'exists; pass --overwrite' in capsys.readouterr().err and markdown.read_bytes() == before


@pytest.mark.slow
def test_markdown_on_standard_output_and_bad_folders(three_runs: list[Path], tmp_path: Path) -> None:
    result = run_etude('compare', *map(str, three_runs[:2]), '--format', 'markdown', cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith('| run | learning_rate |') and len(result.stdout.splitlines()) == 4
    (tmp_path / 'empty').mkdir()
    failed = run_etude('compare', str(three_runs[0]), str(tmp_path / 'empty'), cwd=tmp_path)
    assert failed.returncode == 2 and failed.stderr.strip().count('\n') == 0
    assert failed.stderr.startswith('error: ') and 'is not an etude run folder' in failed.stderr
