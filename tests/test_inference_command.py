"""`etude infer`: the routine's own test predictions from files, bad inputs skipped with one line each, nothing overwritten."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile
import test_inference_runs
import torch
from test_inference_runs import TrainedRun, run_etude

from etude import load_model
from etude.cli import main
from etude.data.store import read_dataset
from etude.errors import ConfigError
from etude.inference import Predictor

digits_run = test_inference_runs.digits_run  # the shared session fixture


def stderr_lines(captured: pytest.CaptureResult[str]) -> list[str]:
    return [line for line in captured.err.splitlines() if line.strip()]


@pytest.mark.slow
def test_infer_on_the_generated_files_gives_the_routines_test_predictions(digits_run: TrainedRun, tmp_path: Path) -> None:
    stored = read_dataset(digits_run.dataset)
    recordings = Path(stored.metadata['raw_root'])
    result = run_etude('infer', str(digits_run.checkpoint), str(recordings), '--output', str(tmp_path / 'out'), '--jsonl', cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in (tmp_path / 'out' / 'predictions.jsonl').read_text().splitlines()]
    assert [json.loads(line) for line in result.stdout.splitlines()] == lines
    assert len(lines) == len(stored), 'a folder means every audio file in it'
    by_file = {line['input']: line for line in lines}
    rows = digits_run.split['test']
    model = load_model(digits_run.checkpoint)
    with torch.no_grad():
        probabilities = torch.softmax(model(torch.from_numpy(np.asarray(stored.inputs[rows]))), dim=1)
    correct = 0
    for row, expected in zip(rows, probabilities, strict=True):
        line = by_file[str(recordings / stored.metadata['files'][row])]
        assert line['digit'] == str(int(expected.argmax())) and line['probability'] == pytest.approx(float(expected.max()), abs=1e-5)
        spoken = re.match(r'(\d)_', Path(line['input']).name)
        assert spoken is not None
        correct += line['digit'] == spoken.group(1)
    assert correct / len(rows) == pytest.approx(digits_run.summary['test']['accuracy']), "the routine's own test accuracy, from the files"


def test_bad_inputs_are_skipped_with_one_line_each_and_the_rest_written(digits_run: TrainedRun, tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    stored = read_dataset(digits_run.dataset)
    good = [Path(stored.metadata['raw_root']) / stored.metadata['files'][row] for row in digits_run.split['test'][:2]]
    corrupt, text, short, empty = tmp_path / 'corrupt.wav', tmp_path / 'notes.txt', tmp_path / 'short.wav', tmp_path / 'empty'
    corrupt.write_bytes(b'RIFF\x24\x00\x00\x00WAVEjunk')
    text.write_text('not audio')
    soundfile.write(short, np.zeros(20, dtype=np.float32), 8000)
    empty.mkdir()
    output = tmp_path / 'out'
    inputs = [str(good[0]), str(corrupt), str(text), str(short), str(tmp_path / 'missing.wav'), str(empty), str(good[1])]
    assert main(['infer', str(digits_run.checkpoint), *inputs, '--output', str(output)]) == 2
    captured = capsys.readouterr()
    errors = [line for line in stderr_lines(captured) if line.startswith('error: ')]
    assert len(errors) == 5 and all(line.endswith('skipped') for line in errors)
    for bad, reason in ((corrupt, 'corrupt'), (text, 'not a readable audio file'), (short, 'too short'), (tmp_path / 'missing.wav', 'no such file'),
                        (empty, 'no audio files')):
        assert sum(str(bad) in line and reason in line for line in errors) == 1, (bad, errors)
    written = [json.loads(line) for line in (output / 'predictions.jsonl').read_text().splitlines()]
    assert [line['input'] for line in written] == [str(path) for path in good]
    assert 'Traceback' not in captured.err and len(captured.out.strip().splitlines()) == 3  # header + the two good rows

    before = (output / 'predictions.jsonl').read_bytes()
    assert main(['infer', str(digits_run.checkpoint), str(good[0]), '--output', str(output)]) == 2
    (line,) = stderr_lines(capsys.readouterr())
    assert line.startswith('error: ') and 'exists; pass --overwrite' in line
    assert (output / 'predictions.jsonl').read_bytes() == before, 'nothing is overwritten without --overwrite'
    assert main(['infer', str(digits_run.checkpoint), str(good[0]), '--output', str(output), '--overwrite']) == 0
    assert len((output / 'predictions.jsonl').read_text().splitlines()) == 1


def test_files_that_are_not_exports_are_one_line_exit_2(digits_run: TrainedRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    metadata = read_dataset(digits_run.dataset).metadata
    some = str(Path(metadata['raw_root']) / metadata['files'][0])
    text = tmp_path / 'model.pt'
    text.write_text('weights, honest')
    plain = tmp_path / 'plain.pt'
    torch.save({'weights': torch.zeros(3)}, plain)
    truncated = tmp_path / 'truncated.pt'
    whole = digits_run.checkpoint.read_bytes()
    truncated.write_bytes(whole[:len(whole) // 2])
    for path, reason in ((text, 'is not an etude export'), (plain, 'not an etude export'), (truncated, 'truncated or corrupt'),
                         (tmp_path / 'absent.pt', 'does not exist')):
        assert main(['infer', str(path), some]) == 2
        captured = capsys.readouterr()
        (line,) = stderr_lines(captured)
        assert line.startswith('error: ') and reason in line, line
        assert captured.out == ''
    assert main(['infer', str(digits_run.checkpoint)]) == 2
    (line,) = stderr_lines(capsys.readouterr())
    assert 'no inputs' in line


def test_a_folder_and_standard_input_expand_to_their_audio_files(digits_run: TrainedRun, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    stored = read_dataset(digits_run.dataset)
    folder = tmp_path / 'mine' / 'deeper'
    folder.mkdir(parents=True)
    picked = [Path(stored.metadata['raw_root']) / stored.metadata['files'][row] for row in (0, 1, 2)]
    for path in picked:
        shutil.copy(path, folder / path.name)
    (folder / 'README.txt').write_text('ignored: not audio')
    (tmp_path / 'mine' / '.hidden.wav').write_bytes(b'ignored: hidden')
    import io

    monkeypatch.setattr('sys.stdin', io.StringIO(f'{picked[0]}\n\n{picked[1]}\n'))
    assert main(['infer', str(digits_run.checkpoint), str(tmp_path / 'mine'), '-', '--jsonl']) == 0
    inputs = [json.loads(line)['input'] for line in capsys.readouterr().out.splitlines()]
    assert inputs == [str(folder / path.name) for path in sorted(picked, key=lambda path: path.name)] + [str(picked[0]), str(picked[1])]


def test_the_etude_command_answers_without_loading_torch() -> None:
    import subprocess
    import sys

    from conftest import ROOT

    code = ("import sys\nfrom etude.cli import build_parser\nparser = build_parser()\n"
            "heavy = [name for name in ('torch', 'torchaudio', 'matplotlib', 'numpy') if name in sys.modules]\nassert not heavy, heavy\n"
            "assert {'infer', 'evaluate', 'compare'} <= set(parser._subparsers._group_actions[0].choices)\n")
    result = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_non_finite_audio_a_broken_link_and_another_tasks_option_are_one_line_each(digits_run: TrainedRun, tmp_path: Path,
                                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    stored = read_dataset(digits_run.dataset)
    good = Path(stored.metadata['raw_root']) / stored.metadata['files'][digits_run.split['test'][0]]
    folder = tmp_path / 'inputs'
    folder.mkdir()
    for name, value in (('nan.wav', np.nan), ('inf.wav', np.inf), ('minus_inf.wav', -np.inf)):
        soundfile.write(folder / name, np.full(8000, value, dtype=np.float32), 8000, subtype='FLOAT')
    (folder / 'gone.wav').symlink_to(tmp_path / 'deleted.wav')
    shutil.copy(good, folder / 'good.wav')
    output = tmp_path / 'out'
    assert main(['infer', str(digits_run.checkpoint), str(folder), '--output', str(output), '--jsonl']) == 2
    captured = capsys.readouterr()
    errors = [line for line in stderr_lines(captured) if line.startswith('error: ')]
    assert len(errors) == 4 and 'Traceback' not in captured.err, errors
    for name in ('nan.wav', 'inf.wav', 'minus_inf.wav'):
        assert sum(f'/{name}:' in line and 'not numbers (NaN or infinite)' in line for line in errors) == 1, errors
    assert sum('gone.wav' in line and 'does not exist' in line for line in errors) == 1, errors
    written = [json.loads(line) for line in (output / 'predictions.jsonl').read_text().splitlines()]
    assert [Path(line['input']).name for line in written] == ['good.wav'] and 'nan' not in json.dumps(written)

    with pytest.raises(SystemExit) as refused:
        main(['infer', str(digits_run.checkpoint), str(good), '--top', '0'])
    assert refused.value.code == 2 and 'argument --top: must be a whole number of at least 1' in capsys.readouterr().err
    with pytest.raises(ConfigError, match=r'--colour is not an option of any task, and .* is a classification model \(its options: --top\)'):
        Predictor.from_checkpoint(digits_run.checkpoint, colour='red')
