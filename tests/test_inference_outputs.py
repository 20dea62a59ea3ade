"""`etude infer --output DIR` never writes over one of its inputs, for every task kind (issue 26 §1).

Each file-writing task names its files after its inputs (`<stem>.mid`, `<stem>.deadpan.mid`, `<stem>.wav`), so an
input can carry the name of an output: a score `score.mid` played into its own folder, a primer `p-000.mid` beside
`p.mid`, `take.flac` rendered beside `take.wav`. The plan of what a run writes is checked before the model runs; these
tests use tiny exports of the real model classes, so without the check the inputs really are replaced.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pretty_midi
import pytest
import soundfile
from conftest import needs_fluidsynth

from etude.cli import main
from etude.export import save_export
from etude.inference import Predictor
from etude.models import CRePE
from etude.music.generation.model import NoteLSTM
from etude.music.generation.task import Generation, piece_names
from etude.music.performance.models.lstm import PerformanceLSTM
from etude.music.performance.task import ExpressivePerformance
from etude.music.transcription.model import PianoTranscriber
from etude.music.transcription.task import Transcription
from etude.tasks.base import Task
from etude.version import __version__

WORKTREE = Path(__file__).resolve().parent.parent


def _export(model: Any, task: dict[str, Any], path: Path, dataset: dict[str, Any] | None = None) -> Path:
    return save_export({
        'dataset': dataset or {'name': 'tiny'}, 'task': task, 'hyperparameters': model.hyperparameters.to_dict(),
        'model': {'class_path': type(model).class_path(), 'etude_version': __version__}, 'model_state_dict': model.state_dict(),
        'optimiser_state_dicts': [], 'run_info': {'id': 'tiny', 'epoch': 1, 'best_epoch': 1}, 'testing_metrics': None, 'resume_state': None,
    }, path)


EXPORTS: dict[str, Callable[[Path], Path]] = {
    'performance': lambda folder: _export(PerformanceLSTM(PerformanceLSTM.Parameters(hidden_size=4, layers=1)),
                                          ExpressivePerformance().to_dict(), folder / 'performance.pt'),
    'transcription': lambda folder: _export(PianoTranscriber(PianoTranscriber.Parameters(channels=(4, 8), acoustic_units=16, gru_units=8)),
                                            Transcription().to_dict(), folder / 'transcription.pt'),
    'generation': lambda folder: _export(NoteLSTM(NoteLSTM.Parameters(num_rnn_layers=1, hidden_size=16, embedding_size=8, pitch_hidden_size=12)),
                                         Generation().to_dict(), folder / 'generation.pt'),
    'classification': lambda folder: _export(CRePE(CRePE.Parameters(depth='tiny', outputs=2)), {'kind': 'classification', 'classes': ['a', 'b']},
                                             folder / 'classification.pt', {'name': 'tiny', 'sample_rate': 16000, 'num_samples': 1024}),
}


@pytest.fixture(scope='module')
def exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp('exports')
    return {kind: make(folder) for kind, make in EXPORTS.items()}


def write_midi(path: Path, notes: int = 8) -> Path:
    midi = pretty_midi.PrettyMIDI()
    piano = pretty_midi.Instrument(program=0)
    piano.notes = [pretty_midi.Note(velocity=80, pitch=60 + index % 12, start=index * 0.5, end=index * 0.5 + 0.4) for index in range(notes)]
    midi.instruments.append(piano)
    midi.write(str(path))
    return path


def write_tone(path: Path, seconds: float = 1.0, sample_rate: int = 16000) -> Path:
    time = np.arange(int(seconds * sample_rate)) / sample_rate
    soundfile.write(path, (0.3 * np.sin(2 * np.pi * 440 * time)).astype(np.float32), sample_rate)
    return path


def contents(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob('*')) if path.is_file()}


def refused(capsys: pytest.CaptureFixture[str], *arguments: str) -> str:
    """`etude infer ...` in this process: exit 2 with exactly one line on standard error, which is returned."""
    assert main(['infer', *arguments]) == 2
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith('error: '), captured.err
    assert captured.out == ''
    return lines[0]


@pytest.mark.slow
def test_a_performance_of_score_mid_into_its_own_folder_is_refused_before_the_model_runs(exports: dict[str, Path], tmp_path: Path) -> None:
    """The issue's case, as a user runs it: `etude infer best.pt DIR/score.mid --output DIR` replaced score.mid."""
    write_midi(tmp_path / 'score.mid')
    before = contents(tmp_path)
    for extra in ([], ['--overwrite']):  # --overwrite replaces earlier results, never an input
        result = subprocess.run([sys.executable, '-m', 'etude', 'infer', str(exports['performance']), str(tmp_path / 'score.mid'),
                                 '--output', str(tmp_path), *extra], cwd=tmp_path, env={**os.environ, 'PYTHONPATH': str(WORKTREE)},
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 2, result.stderr
        assert result.stderr == f'error: etude infer would write {tmp_path / "score.mid"} over the input {tmp_path / "score.mid"}; ' \
                                'pass another --output folder (or move the input out of this one)\n'
        assert result.stdout == '' and contents(tmp_path) == before, 'nothing is written, predictions.jsonl included'


def test_every_file_writing_task_refuses_to_write_over_an_input(exports: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # generation: p.mid's first piece is p-000.mid, another primer of the same run
    write_midi(tmp_path / 'p.mid')
    write_midi(tmp_path / 'p-000.mid', notes=5)
    # transcription: take.flac's re-synthesis is take.wav, another input
    write_tone(tmp_path / 'take.flac')
    write_tone(tmp_path / 'take.wav', seconds=0.5)
    # classification writes only predictions.jsonl, which may not be an input either, --overwrite or not
    (tmp_path / 'rows').mkdir()
    (tmp_path / 'rows' / 'predictions.jsonl').write_text('{"input": "a list of results someone passed as an input"}\n')
    before = contents(tmp_path)
    line = refused(capsys, str(exports['generation']), str(tmp_path / 'p.mid'), str(tmp_path / 'p-000.mid'), '--output', str(tmp_path), '--length', '4')
    assert f'write {tmp_path / "p-000.mid"} over the input {tmp_path / "p-000.mid"}' in line
    line = refused(capsys, str(exports['transcription']), str(tmp_path / 'take.flac'), str(tmp_path / 'take.wav'), '--output', str(tmp_path), '--render')
    assert f'write {tmp_path / "take.wav"} over the input {tmp_path / "take.wav"}' in line
    line = refused(capsys, str(exports['classification']), str(tmp_path / 'rows' / 'predictions.jsonl'), '--output', str(tmp_path / 'rows'),
                   '--overwrite')
    assert f'write {tmp_path / "rows" / "predictions.jsonl"} over the input' in line
    assert contents(tmp_path) == before


def test_a_link_or_a_hard_link_to_an_input_is_that_input(exports: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scores, played, links = tmp_path / 'scores', tmp_path / 'played', tmp_path / 'links'
    for folder in (scores, played, links):
        folder.mkdir()
    write_midi(scores / 'score.mid')
    os.link(scores / 'score.mid', played / 'score.mid')  # writing played/score.mid would rewrite the input's bytes
    (links / 'score.mid').symlink_to(scores / 'score.mid')
    before = contents(tmp_path)
    line = refused(capsys, str(exports['performance']), str(scores / 'score.mid'), '--output', str(played), '--overwrite')
    assert f'write {played / "score.mid"} over the input {scores / "score.mid"}' in line
    line = refused(capsys, str(exports['performance']), str(links / 'score.mid'), '--output', str(scores), '--overwrite')
    assert f'write {scores / "score.mid"} over the input {links / "score.mid"}' in line
    assert contents(tmp_path) == before


def test_a_transcriptions_truth_beside_its_audio_and_two_inputs_of_one_name_are_refused(exports: dict[str, Path], tmp_path: Path,
                                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """A folder of `take.wav` + `take.mid` (a recording and its truth, as MAESTRO has them): the truth is not an input,
    but it is a file the run would replace; and `a/take.wav`, `b/take.wav` would both become `out/take.mid`."""
    write_tone(tmp_path / 'take.wav')
    write_midi(tmp_path / 'take.mid')
    before = contents(tmp_path)
    line = refused(capsys, str(exports['transcription']), str(tmp_path / 'take.wav'), '--output', str(tmp_path))
    assert line == f'error: {tmp_path / "take.mid"} exists; pass --overwrite to replace what this run writes, or another --output folder'
    (tmp_path / 'other').mkdir()
    write_tone(tmp_path / 'other' / 'take.wav')
    line = refused(capsys, str(exports['transcription']), str(tmp_path), '--output', str(tmp_path / 'out'))
    assert line == (f'error: {tmp_path / "other" / "take.wav"} and {tmp_path / "take.wav"} would both be written to {tmp_path / "out" / "take.mid"}; '
                    'run them into different --output folders or give them different names')
    assert not (tmp_path / 'out').exists()
    assert {key: value for key, value in contents(tmp_path).items() if not key.startswith('other')} == before


def test_the_same_file_given_twice_is_not_a_clash_and_a_run_into_another_folder_works(exports: dict[str, Path], tmp_path: Path,
                                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    score = write_midi(tmp_path / 'score.mid')
    assert main(['infer', str(exports['performance']), str(score), '--output', str(tmp_path / 'played')]) == 0
    assert sorted(path.name for path in (tmp_path / 'played').iterdir()) == ['predictions.jsonl', 'score.deadpan.mid', 'score.mid']
    assert main(['infer', str(exports['performance']), str(score), '--output', str(tmp_path / 'played'), '--overwrite']) == 0, 'a rerun replaces its results'
    capsys.readouterr()


def planned_and_written(predictor: Predictor, sources: list[str], folder: Path) -> tuple[set[Path], set[Path]]:
    planned = {path for _, files in predictor.planned_files(sources, folder) for path in files}
    written = {path for outcome in predictor.predict_files(sources) if outcome.result is not None for path in predictor.write(outcome, folder)}
    return planned, written


@pytest.mark.parametrize('render', [False, pytest.param(True, marks=needs_fluidsynth)], ids=['midi', 'render'])
def test_each_task_writes_only_the_files_it_planned(exports: dict[str, Path], tmp_path: Path, render: bool) -> None:
    """The check is only as good as the plan: every file a task's `write` writes is one its `planned_files` named."""
    inputs = tmp_path / 'inputs'
    inputs.mkdir()
    (inputs / 'a').mkdir()
    (inputs / 'b').mkdir()
    primers = [str(write_midi(inputs / 'a' / 'x.mid')), str(inputs / 'missing.mid'), str(write_midi(inputs / 'b' / 'x.mid', notes=4))]
    cases: dict[str, tuple[list[str], dict[str, Any]]] = {
        'performance': ([str(write_midi(inputs / 'score.mid'))], {}),
        'transcription': ([str(write_tone(inputs / 'take.wav')), str(write_tone(inputs / 'take2.flac'))], {}),
        'generation': (primers, {'num': 2, 'length': 4}),
        'generation-from-scratch': ([], {'num': 2, 'length': 4}),
    }
    for name, (sources, options) in cases.items():
        kind = name.split('-')[0]
        predictor = Predictor.from_checkpoint(exports[kind], **options, **({'render': True} if render else {}))
        planned, written = planned_and_written(predictor, sources, tmp_path / name)
        assert written and written <= planned, (name, written - planned)
        if kind != 'transcription':  # a transcription of no notes is not rendered; an unreadable primer makes no piece
            assert written == {path for path in planned if not path.name.startswith('missing')}, name
    assert planned_and_written(Predictor.from_checkpoint(exports['classification']), [str(inputs / 'take.wav')], tmp_path / 'rows') == (set(), set())


def test_generated_pieces_keep_their_names_whichever_primers_are_readable() -> None:
    """The names a plan gives are the names the pieces get: two primers of one name in different folders, as before."""
    assert piece_names(['a/x.mid', 'b/x.mid'], 2) == [['x-000', 'x-001'], ['x-000-2', 'x-001-3']]
    assert piece_names([], 3) == [['piece-000', 'piece-001', 'piece-002']]
    assert Task.planned_files(Generation(), ['p.mid'], Path('out'), {'num': 1}) == [], 'the protocol: no files by default'
