"""Expressive performance end to end: the rule performer's pairs, the routine, `etude infer` and `etude evaluate` on its export."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pretty_midi
import pytest

from etude.data.midi import midi_to_notes
from etude.data.score import read_score
from etude.music.performance.alignment import align_score_to_performance
from etude.music.performance.codec import PERFORMANCE_FEATURES, encode_performance
from etude.music.performance.rule_performer import RulePerformer, export_rule_performances

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope='module')
def rule_pairs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return export_rule_performances(tmp_path_factory.mktemp('rule-pairs'), limit=2, seed=3)


def test_the_rule_performers_output_aligns_back_to_its_score_completely(rule_pairs: list[Path]) -> None:
    assert len(rule_pairs) == 2 and (rule_pairs[0].parent / 'SYNTHETIC.md').read_text().startswith('# Synthetic performances')
    for midi in rule_pairs:
        score, performance = read_score(midi.with_suffix('.musicxml'), expand_repeats=True), midi_to_notes(midi)
        alignment = align_score_to_performance(score, performance)
        assert alignment.match_rate == 1.0 and alignment.performance_match_rate == 1.0
        encoded = encode_performance(score, performance, alignment.score_to_performance)
        assert set(encoded.targets) == set(PERFORMANCE_FEATURES)
        velocity = encoded.targets['velocity'] * 127
        top = score['part'] == 0
        assert velocity[top].mean() > velocity[~top].mean() + 5, 'the melody leads'


def test_the_rule_performer_is_seeded_and_marks_only_is_plain(rule_pairs: list[Path]) -> None:
    score = read_score(rule_pairs[0].with_suffix('.musicxml'), expand_repeats=True)
    first, again, other = RulePerformer().play(score, seed=1), RulePerformer().play(score, seed=1), RulePerformer().play(score, seed=2)
    assert all(np.array_equal(first[name], again[name]) for name in first)
    assert not np.array_equal(first['velocity'], other['velocity'])
    plain = RulePerformer(marks_only=True).play(score)
    assert not plain['onset_deviation'].any() and len(np.unique(plain['velocity'])) == 1, 'a chorale has no dynamic marks or accents'
    np.testing.assert_allclose(np.unique(plain['beat_seconds']), [0.6, 0.78], rtol=1e-6, err_msg='one tempo, fermatas held longer')


def _run(*arguments: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, 'PYTHONPATH': str(ROOT), 'OMP_NUM_THREADS': '1', 'WANDB_MODE': 'offline'}
    return subprocess.run([sys.executable, '-m', 'etude', *arguments], cwd=cwd, env=environment, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope='module')
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """`etude train expressive_performance --testing`, with enough epochs for the LSTM to learn the velocity rules."""
    folder = tmp_path_factory.mktemp('expressive')
    result = _run('train', 'expressive_performance', '--testing', '--runs-dir', str(folder / 'runs'), f'data_directory={folder / "data"}', 'model=lstm',
                  'num_of_epochs=30', 'hidden_size=24', 'with_early_stopping=false', cwd=folder)
    assert result.returncode == 0, result.stderr[-2000:]
    (run,) = (folder / 'runs').iterdir()
    return {'summary': json.loads((run / 'summary.json').read_text()), 'folder': folder, 'report': result.stdout}


@pytest.mark.slow
def test_a_model_trained_on_a_tiny_synthetic_set_beats_deadpan_on_velocity(trained_run: dict[str, Any]) -> None:
    summary = trained_run['summary']
    test, deadpan, rule = summary['test'], summary['baselines']['deadpan'], summary['baselines']['rule']
    assert test['velocity_mae'] < deadpan['velocity_mae'] and test['velocity_correlation'] > 0.3
    for feature in ('velocity', 'timing', 'articulation', 'tempo'):
        assert np.isfinite(test[f'{feature}_correlation']) and np.isfinite(rule[f'{feature}_mae']) and f'loss_{feature}' in test
    assert 'velocity: r ' in trained_run['report'] and 'deadpan r 0.000' in trained_run['report']
    assert 'human' not in summary['baselines'] and 'agreed_pieces' not in test


def test_chorales_in_one_folder_are_each_their_own_score(trained_run: dict[str, Any]) -> None:
    """One take of each chorale, all in one folder: no score is played twice, so there is no agreement to measure
    (not eight chorales compared note by note as if they were one piece)."""
    from etude.data.store import read_dataset
    from etude.music.performance.agreement import human_agreement
    from etude.music.performance.pieces import performances_of

    stored = read_dataset(trained_run['summary']['dataset_directory'])
    performances = performances_of(stored, range(len(stored)))
    assert len(performances) == len({performance.score for performance in performances}) >= 3
    assert human_agreement(performances) == {}


@pytest.mark.slow
def test_etude_infer_plays_scores_and_names_a_bad_file(trained_run: dict[str, Any], tmp_path: Path) -> None:
    summary, folder = trained_run['summary'], trained_run['folder']
    score = next((folder / 'data').glob('rule-performances-*/bwv*.musicxml'))
    bad = tmp_path / 'notes.musicxml'
    bad.write_text('not a score at all')
    result = _run('infer', summary['paths']['best'], str(bad), str(score), '--output', str(tmp_path / 'out'), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith('error:')]
    assert len(errors) == 1 and 'notes.musicxml' in errors[0] and 'Traceback' not in result.stderr
    played = pretty_midi.PrettyMIDI(str(tmp_path / 'out' / f'{score.stem}.mid'))
    deadpan = pretty_midi.PrettyMIDI(str(tmp_path / 'out' / f'{score.stem}.deadpan.mid'))
    written = read_score(score, expand_repeats=True)
    assert sum(len(track.notes) for track in played.instruments) == len(written), 'one note per score note, ties merged'
    unisons = len(written) - len({(int(note['pitch']), float(note['onset_beats'])) for note in written})
    assert sum(len(track.notes) for track in deadpan.instruments) == len(written) - unisons, 'MIDI holds one of two unison notes played together'
    velocities = {note.velocity for track in played.instruments for note in track.notes}
    assert len(velocities) > 5 and len({note.velocity for note in deadpan.instruments[0].notes}) == 1
    rows = [json.loads(line) for line in (tmp_path / 'out' / 'predictions.jsonl').read_text().splitlines()]
    assert len(rows) == 1 and rows[0]['notes'] == len(written)


@pytest.mark.slow
def test_etude_evaluate_recomputes_the_routines_figures(trained_run: dict[str, Any]) -> None:
    summary = trained_run['summary']
    run = Path(summary['paths']['run'])
    result = _run('evaluate', str(run), cwd=run)
    assert result.returncode == 0, result.stderr
    figures = json.loads((run / 'evaluation' / 'metrics.json').read_text())
    metrics = figures.get('metrics', figures)
    for key in ('velocity_mae', 'tempo_correlation'):
        assert abs(metrics[key] - summary['test'][key]) < 1e-6
    assert (run / 'evaluation' / 'performance_curves.png').stat().st_size > 10_000


@pytest.mark.slow
def test_the_listening_test_of_a_run_serves_and_records_a_rating(trained_run: dict[str, Any], tmp_path: Path) -> None:
    import asyncio
    import sqlite3

    import httpx

    from etude.cli import main
    from etude.listening.server import create_app
    from etude.listening.simulate import listen, running_server
    from etude.music.performance.listening import CONDITIONS

    run = Path(trained_run['summary']['paths']['run'])
    data = next((trained_run['folder'] / 'data' / 'cache').glob('rule-performances-*'))
    assert main(['listen', 'from-run', str(run), str(tmp_path / 'test'), '--pieces', '2', '--seconds', '5', '--data', str(data)]) == 0
    plan = json.loads((tmp_path / 'test' / 'plan.json').read_text())
    assert plan['kind'] == 'mos' and len(plan['pages']) == 2, 'MOS, all four versions of a piece on one page'
    assert sorted(plan['conditions']) == sorted(CONDITIONS)
    assert main(['listen', 'from-run', str(run), str(tmp_path / 'mushra'), '--kind', 'mushra', '--pieces', '1', '--seconds', '4',
                 '--data', str(data)]) == 0
    mushra = json.loads((tmp_path / 'mushra' / 'plan.json').read_text())
    assert mushra['kind'] == 'mushra' and 'performance' not in mushra['conditions'], "the pianist's performance is the reference"

    async def one_listener(url: str) -> None:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            await listen(client, rate=lambda stimulus: 60.0, pages=1)

    with running_server(create_app(tmp_path / 'test')) as url:
        asyncio.run(one_listener(url))
    with sqlite3.connect(tmp_path / 'test' / 'ratings.sqlite') as connection:
        assert connection.execute('SELECT COUNT(*) FROM ratings').fetchone()[0] == len(CONDITIONS)
    assert main(['listen', 'from-run', str(tmp_path / 'nowhere'), str(tmp_path / 'other')]) == 2
