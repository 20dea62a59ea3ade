"""`etude evaluate`: a run's metrics recomputed (checked against scikit-learn), its report written with every figure."""

from __future__ import annotations

import base64
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import test_inference_runs
import yaml
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, mean_absolute_error
from test_inference_runs import TrainedRun

from etude.cli import main
from etude.data.store import read_dataset

digits_run = test_inference_runs.digits_run  # the shared session fixture
drum_run = test_inference_runs.drum_run  # the shared session fixture

PNG = b'\x89PNG\r\n\x1a\n'


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith('error: ') and 'Traceback' not in captured.err, lines
    return lines[0]


def copy_run(run: TrainedRun, destination: Path) -> Path:
    """A run folder of one's own to write evaluations into (the shared one stays as the routine left it)."""
    return Path(shutil.copytree(run.directory, destination / run.directory.name))


def test_classification_metrics_match_scikit_learn_and_the_routine(digits_run: TrainedRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = copy_run(digits_run, tmp_path)
    assert main(['evaluate', str(run)]) == 0
    assert 'report: ' in capsys.readouterr().out
    folder = run / 'evaluation'
    record = json.loads((folder / 'metrics.json').read_text())
    predictions = [json.loads(line) for line in (folder / 'predictions.jsonl').read_text().splitlines()]
    assert [row['index'] for row in predictions] == digits_run.split['test']
    true = [int(row['true']['digit']) for row in predictions]
    predicted = [int(row['predicted']['digit']) for row in predictions]
    # the truth comes from the file names, independently of the stored labels
    assert true == [int(Path(row['file']).name.split('_')[0]) for row in predictions]
    seen = sorted(set(true) | set(predicted))
    assert record['metrics']['accuracy'] == pytest.approx(accuracy_score(true, predicted))
    assert record['metrics']['macro_f1'] == pytest.approx(f1_score(true, predicted, average='macro', labels=seen))
    assert np.array_equal(record['confusion_matrix']['counts'], confusion_matrix(true, predicted, labels=range(10)))
    test = digits_run.summary['test']
    assert record['metrics']['accuracy'] == test['accuracy'] and record['metrics']['macro_f1'] == pytest.approx(test['macro_f1'], abs=1e-12)
    assert record['metrics']['loss'] == pytest.approx(test['loss'], rel=1e-5)
    assert record['baselines'] == {'majority class': pytest.approx(digits_run.summary['baselines']['majority class'])}
    stored = read_dataset(digits_run.dataset)
    digits = np.asarray(stored.labels['digit'])
    majority = np.bincount(digits[digits_run.split['train']], minlength=10).argmax()
    assert record['baselines']['majority class']['accuracy'] == pytest.approx(np.mean(digits[digits_run.split['test']] == majority))


def test_the_report_embeds_every_figure_and_describes_the_run(digits_run: TrainedRun, tmp_path: Path) -> None:
    run = copy_run(digits_run, tmp_path)
    assert main(['evaluate', str(run)]) == 0
    folder = run / 'evaluation'
    page = (folder / 'report.html').read_text()
    sources = re.findall(r'<img src="([^"]+)"', page)
    pngs = sorted(folder.glob('*.png'))
    assert [path.name for path in pngs] == ['confusion_matrix.png', 'learning_curves.png']
    assert len(sources) == len(pngs) and all(source.startswith('data:image/png;base64,') for source in sources)
    embedded = sorted(base64.b64decode(source.split(',', 1)[1]) for source in sources)
    assert embedded == sorted(path.read_bytes() for path in pngs), 'each figure written is the one embedded'
    assert all(path.read_bytes().startswith(PNG) for path in pngs)
    assert 'src="http' not in page and '<script' not in page, 'self-contained'
    summary, config = digits_run.summary, yaml.safe_load((run / 'config.yaml').read_text())
    assert summary['dataset']['fingerprint'] in page and summary['run_id'] in page
    for split, size in summary['split_sizes'].items():
        assert re.search(rf'<th>{split}</th><td class="number">{size}</td>', page)
    assert f'<th>learning_rate</th><td>{config["learning_rate"]:.6g}</td>' in page  # facts beside their names, left-aligned
    assert 'majority class' in page and 'macro_f1' in page


def test_regression_metrics_per_target_and_their_figures(drum_run: TrainedRun, tmp_path: Path) -> None:
    run = copy_run(drum_run, tmp_path)
    assert main(['evaluate', str(run)]) == 0
    folder = run / 'evaluation'
    record = json.loads((folder / 'metrics.json').read_text())
    rows = [json.loads(line) for line in (folder / 'predictions.jsonl').read_text().splitlines()]
    stored = read_dataset(drum_run.dataset)
    for name in ('drum_size', 'aspect_ratio'):
        true = [row['true'][name] for row in rows]
        assert true == pytest.approx(np.asarray(stored.labels[name])[drum_run.split['test']].tolist())
        error = mean_absolute_error(true, [row['predicted'][name] for row in rows])
        assert record['metrics'][f'mae_{name}'] == pytest.approx(error, rel=1e-5)
        assert drum_run.summary['test'][f'mae_{name}'] == pytest.approx(error, rel=1e-5)
        assert record['baselines']['training mean'][f'mae_{name}'] == pytest.approx(drum_run.summary['baselines']['training mean'][f'mae_{name}'])
        assert (folder / f'regression_{name}.png').read_bytes().startswith(PNG)
    assert record['metrics']['rmse'] == pytest.approx(np.sqrt(np.mean([(row['true'][name] - row['predicted'][name]) ** 2 for row in rows
                                                                       for name in ('drum_size', 'aspect_ratio')])), rel=1e-5)
    page = (folder / 'report.html').read_text()
    assert page.count('<img src="data:image/png;base64,') == 3  # learning curves and one figure per target


def test_the_validation_split_gives_the_best_epochs_validation_figures(digits_run: TrainedRun, tmp_path: Path) -> None:
    import torch

    run = copy_run(digits_run, tmp_path)
    assert main(['evaluate', str(run), '--split', 'validation']) == 0
    record = json.loads((run / 'evaluation-validation' / 'metrics.json').read_text())
    best = torch.load(run / 'checkpoints' / 'best.pt', weights_only=True)
    assert record['metrics']['accuracy'] == best['validation_metrics']['accuracy']
    assert record['metrics']['loss'] == pytest.approx(best['validation_loss'], rel=1e-5)
    assert not (run / 'evaluation').exists()


def test_bad_requests_are_one_line_exit_2(digits_run: TrainedRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = copy_run(digits_run, tmp_path)
    assert main(['evaluate', str(tmp_path / 'nothing')]) == 2
    assert 'does not exist' in one_error_line(capsys)
    assert main(['evaluate', str(tmp_path)]) == 2
    assert 'no checkpoints/best.pt' in one_error_line(capsys)
    loose = tmp_path / 'loose.pt'
    shutil.copy(run / 'checkpoints' / 'best.pt', loose)
    assert main(['evaluate', str(loose)]) == 2
    assert 'no split.json beside it' in one_error_line(capsys)
    with pytest.raises(SystemExit) as exited:
        main(['evaluate', str(run), '--split', 'train'])
    assert exited.value.code == 2 and "invalid choice: 'train'" in one_error_line(capsys)

    split = json.loads((run / 'split.json').read_text())
    (run / 'split.json').write_text(json.dumps({name: part for name, part in split.items() if name != 'validation'}))
    assert main(['evaluate', str(run), '--split', 'validation']) == 2
    assert 'has no validation split' in one_error_line(capsys)
    (run / 'split.json').write_text(json.dumps(split))

    other = tmp_path / 'other-dataset'
    shutil.copytree(digits_run.dataset, other)
    metadata = json.loads((other / 'metadata.json').read_text())
    (other / 'metadata.json').write_text(json.dumps({**metadata, 'fingerprint': '0' * 64}))
    assert main(['evaluate', str(run), '--data', str(other)]) == 2
    assert 'pass --data with the dataset the run trained on' in one_error_line(capsys)
    assert main(['evaluate', str(run), '--data', str(tmp_path / 'nowhere')]) == 2
    assert 'not a complete etude dataset' in one_error_line(capsys)

    assert main(['evaluate', str(run), '--data', str(digits_run.dataset)]) == 0
    capsys.readouterr()
    before = (run / 'evaluation' / 'metrics.json').read_bytes()
    assert main(['evaluate', str(run)]) == 2
    assert 'already holds an evaluation' in one_error_line(capsys)
    assert (run / 'evaluation' / 'metrics.json').read_bytes() == before
    assert main(['evaluate', str(run), '--overwrite']) == 0

    config = (run / 'config.yaml').read_text()
    (run / 'config.yaml').write_text('learning_rate: [unclosed\n')
    shutil.rmtree(run / 'evaluation')
    assert main(['evaluate', str(run)]) == 2
    line = one_error_line(capsys)
    assert 'cannot evaluate' in line and 'config.yaml is damaged' in line and 'nothing was written' in line, line
    assert not (run / 'evaluation').exists() and not list(run.glob('.evaluation.*')), 'a refused evaluation leaves nothing behind'
    (run / 'config.yaml').write_text(config)

    with (run / 'metrics.jsonl').open('a') as metrics:
        metrics.write('garbage that is not json\n')
    assert main(['evaluate', str(run)]) == 0
    report = (run / 'evaluation' / 'report.html').read_text()
    assert 'Warnings' in report and 'is not an epoch record' in report
