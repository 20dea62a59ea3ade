"""Bad input, one table: every case is one line `error: <what>; <what to do>`, exit status 2, and nothing left behind.

Each row is (id, command-line arguments, fragments the error line must hold, optional set-up). The set-up receives the
test folder and may create files; it returns extra arguments (a path it made, say). After every case the test checks
that no run directory and no partial dataset were left, and that every file present before is unchanged. Add a row
for each new way a user can get something wrong.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from conftest import SCRIPTS

SMALL = ['--testing', '--device', 'cpu', 'number_of_drums=8', 'strikes_per_drum=3', 'num_of_epochs=1']
Setup = Callable[[Path], list[str]]


def load_train_script():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location('etude_train_script', SCRIPTS / 'train.py')
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TRAIN = load_train_script()


@pytest.fixture(scope='module')
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished one-epoch run (and its data) to damage in the resume and checkpoint cases."""
    folder = tmp_path_factory.mktemp('finished')
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        assert TRAIN.run_cli([*SMALL]) == 0
    return folder


def copy_run(source: Path, destination: Path) -> Path:
    shutil.copytree(source / 'runs', destination / 'runs')
    shutil.copytree(source / 'data', destination / 'data')
    (run,) = (destination / 'runs').iterdir()
    return run


def file_in_place(name: str) -> Setup:
    def setup(folder: Path) -> list[str]:
        (folder / name).write_text('a file, not a folder\n')
        return []
    return setup


def yaml_file(text: str) -> Setup:
    def setup(folder: Path) -> list[str]:
        (folder / 'config.yaml').write_text(text)
        return ['--config', str(folder / 'config.yaml')]
    return setup


def damaged_run(damage: Callable[[Path], None], *extra: str) -> Callable[[Path, Path], list[str]]:
    def setup(folder: Path, finished: Path) -> list[str]:
        run = copy_run(finished, folder)
        damage(run)
        return ['--resume', str(run), *extra]
    return setup


def best_over_last(run: Path) -> None:
    shutil.copy(run / 'checkpoints' / 'best.pt', run / 'checkpoints' / 'last.pt')


def replace_last(contents: dict) -> Callable[[Path], None]:  # type: ignore[type-arg]
    def damage(run: Path) -> None:
        torch.save(contents, run / 'checkpoints' / 'last.pt')
    return damage


def unfinish(run: Path) -> None:
    (run / 'summary.json').unlink()


CASES: list[tuple[str, list[str], list[str], Setup | None]] = [
    ('negative learning rate', ['learning_rate=-1'], ["'learning_rate'", 'must be > 0', '-1'], None),
    ('NaN learning rate', ['learning_rate=.nan'], ["'learning_rate'", 'must be > 0', 'nan'], None),
    ('NaN learning rate in YAML', [], ["'learning_rate'", 'config.yaml must be > 0'], yaml_file('learning_rate: .nan\n')),
    ('negative weight decay', ['weight_decay=-1'], ["'weight_decay'", 'must be >= 0'], None),
    ('negative workers', ['num_workers=-1'], ["'num_workers'", 'must be >= 0'], None),
    ('negative seed', ['seed=-1'], ["'seed'", 'must be in [0, 4294967295]'], None),
    ('seed beyond 2**64', ['seed=18446744073709551616'], ["'seed'", 'must be in [0, 4294967295]'], None),
    ('negative clip', ['gradient_clip=-1'], ["'gradient_clip'", 'must be >= 0'], None),
    ('NaN min_delta', ['min_delta=.nan'], ["'min_delta'", 'must be >= 0'], None),
    ('input longer than the clips', ['input_length=100000'], ['CRePE cannot take', 'expects (batch, 100000)'], None),
    ('two outputs for one target', ['outputs=2'], ['predicts (2,) per item but the targets are (1,)', 'outputs=1'], None),
    ('empty test split', ['dataset_split=[0.85,0.15,0.0]'], ['The test split', 'is empty', 'give dataset_split a test fraction'], None),
    ('unknown key across both kinds', ['precison=bf16'], ["Unknown parameter 'precison'", "did you mean 'precision'"], None),
    ('fp16 on the CPU', ['precision=fp16'], ['fp16 needs a CUDA device'], None),
    ('cosine without a length', ['lr_schedule=cosine', 'num_of_epochs=0'], ['lr_schedule cosine needs the run', 'num_of_epochs'], None),
    ('monitor of no metric', ['monitor=validation_accuracy'], ['monitor is validation_accuracy', 'validation_mae_cm'], None),
    ('data folder is a file', ['data_directory=datafile'], ['datafile', 'is a file'], file_in_place('datafile')),
    ('runs folder is a file', ['--runs-dir', 'runsfile'], ['runsfile is a file, not a folder', '--runs-dir'], file_in_place('runsfile')),
    ('far-off dataset name', ['dataset=nope'], ['nope'], None),
    ('argparse mistake', ['--routine'], ['argument --routine: expected one argument'], None),
]

RESUME_CASES: list[tuple[str, list[str], Callable[[Path, Path], list[str]]]] = [
    ('best.pt copied over last.pt', ['holds no resume state', 'restore the run'], damaged_run(lambda run: (best_over_last(run), unfinish(run)))),
    ('config.yaml missing', ['config.yaml (the hyperparameters) is missing'], damaged_run(lambda run: (run / 'config.yaml').unlink())),
    ('config.yaml not YAML', ['config.yaml is not valid YAML'], damaged_run(lambda run: (run / 'config.yaml').write_text('batch_size: [1\n'))),
    ('resume changes the data', ['a resume continues the run of', 'cannot change seed=5 (the run has 0)', 'start a new run without --resume'],
     damaged_run(unfinish, 'seed=5')),
    ('resume with --config', ['--resume continues a run with its own config.yaml', 'drop --config'],
     damaged_run(lambda run: (run.parent.parent / 'other.yaml').write_text('dropout: 0.1\n'), '--config', 'other.yaml')),
    ('resume a finished run', ['is complete (1 epochs', 'num_of_epochs=2'], damaged_run(lambda run: None)),
    ('export with only a format', ['not a complete etude export (no format_version)'], damaged_run(replace_last({'format': 'etude-model'}))),
    ('format_version a word', ['not a complete etude export (format_version is a str)'],
     damaged_run(replace_last({'format': 'etude-model', 'format_version': 'one'}))),
]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in folder.rglob('*') if path.is_file()}


def run_case(folder: Path, arguments: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        try:
            status = TRAIN.run_cli(arguments)
        except SystemExit as exit_:
            status = int(exit_.code or 0)
    return status, capsys.readouterr().err


def assert_one_line(status: int, stderr: str, fragments: list[str]) -> None:
    lines = [line for line in stderr.splitlines() if line.strip() and not line.startswith('etude: waiting')]
    assert status == 2, stderr
    assert len(lines) == 1 and lines[0].startswith('error: '), lines
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.mark.parametrize(('arguments', 'fragments', 'setup'), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_bad_input_is_one_line_and_leaves_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str], arguments: list[str], fragments: list[str],
                                                  setup: Setup | None) -> None:
    extra = setup(tmp_path) if setup is not None else []
    before = snapshot(tmp_path)
    status, stderr = run_case(tmp_path, [*SMALL, *arguments, *extra], capsys)
    assert_one_line(status, stderr, fragments)
    after = snapshot(tmp_path)
    assert {name: data for name, data in after.items() if name in before} == before, 'nothing pre-existing changed'
    runs = [path for path in (tmp_path / 'runs').iterdir()] if (tmp_path / 'runs').is_dir() else []
    assert runs == [], 'no run directory is left behind'
    assert not list(tmp_path.rglob('*.partial*')), 'no partial dataset is left behind'


@pytest.mark.parametrize(('fragments', 'setup'), [case[1:] for case in RESUME_CASES], ids=[case[0] for case in RESUME_CASES])
def test_bad_resume_is_one_line_and_changes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str], finished_run: Path,
                                                    fragments: list[str], setup: Callable[[Path, Path], list[str]]) -> None:
    extra = setup(tmp_path, finished_run)
    before, data_before = snapshot(tmp_path / 'runs'), snapshot(tmp_path / 'data')
    status, stderr = run_case(tmp_path, [*SMALL, *extra], capsys)
    assert_one_line(status, stderr, fragments)
    assert snapshot(tmp_path / 'runs') == before, 'a refused resume changes nothing in the run directory'
    assert snapshot(tmp_path / 'data') == data_before, 'a refused resume builds no data'


def test_a_half_written_metrics_line_is_dropped_on_resume(tmp_path: Path, capsys: pytest.CaptureFixture[str], finished_run: Path) -> None:
    run = copy_run(finished_run, tmp_path)
    unfinish(run)
    with open(run / 'metrics.jsonl', 'a') as file:
        file.write('{"epoch": 2, "training_loss": 0.')  # what a crash mid-append leaves
    (run / 'checkpoints' / '.last.pt.abc123.tmp').write_bytes(b'')  # what a kill mid-save leaves
    status, stderr = run_case(tmp_path, [*SMALL, '--resume', str(run), 'num_of_epochs=2'], capsys)
    assert status == 0, stderr
    epochs = [json.loads(line)['epoch'] for line in (run / 'metrics.jsonl').read_text().splitlines()]
    assert epochs == [1, 2]
    assert not list((run / 'checkpoints').glob('.*.tmp')), 'resume cleans up its own leftovers'
