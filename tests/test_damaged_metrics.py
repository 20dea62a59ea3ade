"""A garbage line in metrics.jsonl is named by the run folder's reader, by `etude compare` and in a report; a crash's cut-short last line is not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from etude.cli import main
from etude.evaluation.report import write_report
from etude.training.run_directory import RunDirectory


def epoch(number: int) -> str:
    return json.dumps({'epoch': number, 'training_loss': 1.0 / number, 'validation_loss': 1.5 / number, 'validation_metrics': {}, 'seconds': 1.0})


@pytest.fixture
def run(tmp_path: Path) -> Path:
    folder = tmp_path / 'runs' / 'damaged'
    folder.mkdir(parents=True)
    (folder / 'config.yaml').write_text('learning_rate: 0.001\nmonitor: validation_loss\n')
    (folder / 'metrics.jsonl').write_text('\n'.join([epoch(1), 'this is not json', epoch(3), '{"epoch": "four"}', '{"epoch": 5, "training_l']))
    return folder


def test_the_reader_names_each_garbage_line_and_keeps_the_rest(run: Path) -> None:
    directory = RunDirectory(run)
    assert [record['epoch'] for record in directory.read_metrics()] == [1, 3]
    problems = directory.metrics_problems()
    assert len(problems) == 2, 'the cut-short last line is what a crash leaves: not damage'
    assert problems[0] == f"{run / 'metrics.jsonl'} line 2 is not an epoch record ('this is not json'); the learning curves leave it out"
    assert 'line 4' in problems[1]


def test_a_clean_file_and_a_crash_name_no_problem(run: Path) -> None:
    (run / 'metrics.jsonl').write_text(epoch(1) + '\n' + epoch(2) + '\n' + '{"epoch": 3, "trai')
    assert [record['epoch'] for record in RunDirectory(run).read_metrics()] == [1, 2]
    assert RunDirectory(run).metrics_problems() == []


def test_compare_says_it_in_one_line_each_and_still_tabulates(run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(['compare', str(run)]) == 0
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 2 and all(line.startswith('warning: ') and 'is not an epoch record' in line for line in lines), lines
    assert 'damaged' in captured.out


def test_the_report_shows_the_warnings_first(run: Path, tmp_path: Path) -> None:
    problems = RunDirectory(run).metrics_problems()
    page = write_report(tmp_path / 'report.html', title='Run damaged', run={'id': 'damaged'}, warnings=problems).read_text()
    assert page.index('<h2>Warnings</h2>') < page.index('<h2>Run</h2>')
    assert 'line 2 is not an epoch record' in page and 'line 4 is not an epoch record' in page
