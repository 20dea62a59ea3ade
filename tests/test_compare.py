"""`etude compare`: real runs side by side, the differing hyperparameters only, best first by the monitored metric."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import test_inference_runs
from test_inference_runs import TrainedRun, run_etude, train_in_process

from etude.cli import main
from etude.evaluation.compare_command import aligned, compare_table, read_run

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


drum_run = test_inference_runs.drum_run  # the shared session fixture


def test_runs_of_different_routines_get_a_table_each(three_runs: list[Path], drum_run: TrainedRun, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """One table of spoken digits and drum runs would be the union of both routines' columns (issue 26 §6: about
    1,500 characters wide): a table per routine instead, titled, each no wider than its own columns."""
    runs = [three_runs[0], drum_run.directory, three_runs[1]]
    assert main(['compare', *map(str, runs), '--markdown', str(tmp_path / 'runs.md')]) == 0
    printed = capsys.readouterr().out
    digits, drums = printed.split('\n\n')
    assert digits.splitlines()[0] == 'spoken_digits (2 runs)', 'the routine its runs recorded'
    assert drums.splitlines()[0] == 'rectangular_drum_dimensions (1 run)'
    assert {row.split()[0] for row in digits.splitlines()[3:]} == {three_runs[0].name, three_runs[1].name}
    assert [row.split()[0] for row in drums.splitlines()[3:]] == [drum_run.directory.name]
    assert 'test_accuracy' not in drums and 'learning_rate' in digits.splitlines()[1], 'only their own columns, and what differs in each'
    one_table = aligned(*compare_table([read_run(run) for run in runs]))
    assert max(len(line) for line in printed.splitlines()) < max(len(line) for line in one_table.splitlines()) * 0.6
    markdown = (tmp_path / 'runs.md').read_text()
    assert markdown.startswith('### spoken_digits (2 runs)\n\n| run | learning_rate |')
    assert '\n\n### rectangular_drum_dimensions (1 run)\n' in markdown


def test_a_recorded_routine_names_its_table(three_runs: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    copies = [Path(shutil.copytree(run, tmp_path / run.name)) for run in three_runs[:2]]
    summaries = [json.loads((copy / 'summary.json').read_text()) for copy in copies]
    assert [summary['routine'] for summary in summaries] == ['spoken_digits', 'spoken_digits'], 'etude train records it'
    (copies[1] / 'summary.json').write_text(json.dumps({**summaries[1], 'routine': 'my_digits.py'}))
    assert main(['compare', *map(str, copies)]) == 0
    titles = [block.splitlines()[0] for block in capsys.readouterr().out.split('\n\n')]
    assert titles == ['spoken_digits (1 run)', 'my_digits.py (1 run)'], 'two routines that measure the same things: a table each'
    for copy, summary in zip(copies, summaries, strict=True):
        (copy / 'summary.json').write_text(json.dumps({key: value for key, value in summary.items() if key != 'routine'}))
    assert main(['compare', *map(str, copies)]) == 0
    assert capsys.readouterr().out.splitlines()[0].startswith('run '), 'runs that recorded no routine but measure the same: one table, as ever'
