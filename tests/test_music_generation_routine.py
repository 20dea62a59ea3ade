"""The music_generation routine end to end: train (--testing), `etude infer`, `etude evaluate`, a listening test, for the
default token model (issue 23) and for seed 002's note LSTM (`model=seed`, issue 13 §7)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, needs_fluidsynth

pytestmark = pytest.mark.slow


def run_etude(*arguments: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, 'PYTHONPATH': str(ROOT), 'OMP_NUM_THREADS': '1'}
    return subprocess.run([sys.executable, '-m', 'etude', *arguments], cwd=cwd, env=environment, capture_output=True, text=True, timeout=300)


def train_testing_run(folder: Path, *overrides: str) -> dict[str, Any]:
    """The routine's --testing run (24 chorales, a one-layer LSTM of 32 units, two epochs), as `etude train` drives it."""
    from etude import Routine
    from etude.music.generation import routine as music_generation

    routine = Routine(runs_directory=folder / 'runs', verbose=False)
    parameters = routine.set_parameters(music_generation.DEFAULTS, overrides=['testing=true', f'data_directory={folder / "data"}', *overrides],
                                        testing_defaults=music_generation.TESTING)
    music_generation.build(routine, parameters)
    summary = routine.train()
    return {'folder': folder, 'summary': summary, 'run': Path(summary['paths']['run']), 'best': summary['paths']['best'],
            'report': music_generation.report(summary)}


@pytest.fixture(scope='module')
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Seed 002's note LSTM (`model=seed`)."""
    return train_testing_run(tmp_path_factory.mktemp('generation'), 'model=seed')


@pytest.fixture(scope='module')
def metrical(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The default: the LSTM over REMI tokens with voices."""
    return train_testing_run(tmp_path_factory.mktemp('metrical'))


def test_the_default_run_records_every_measure_of_issue_23_beside_the_token_baselines(metrical: dict[str, Any]) -> None:
    summary = metrical['summary']
    measures = ('jsd_pitch_class', 'jsd_voice_interval', 'jsd_onset_interval', 'jsd_duration', 'jsd_bar_position', 'in_key_share',
                'notes_per_onset', 'pitch_range', 'on_grid_share')
    for name in ('test', 'markov', 'unigram'):
        figures = summary['test'] if name == 'test' else summary['baselines'][name]
        assert 0 < figures['nll_per_token'] < figures['nll_per_note'] and all(measure in figures for measure in measures)
        assert 'longest_copied_run' in figures
    assert summary['baselines']['markov']['order'] in (1, 2, 3, 4)
    assert 0 < summary['test']['on_grid_share'] <= 1.0  # off the 16th grid only in x/8 bars, where miditok's positions are 32nds
    assert all(measure in summary['baselines']['test excerpts'] for measure in measures)
    assert summary['baselines']['test excerpts']['on_grid_share'] == 1.0 and summary['baselines']['test excerpts']['jsd_voice_interval'] == 0
    assert summary['nll_units'].startswith('nats per token') and 'Markov' in metrical['report']


def test_etude_infer_writes_midi_with_a_time_signature_bars_and_four_voices(metrical: dict[str, Any], tmp_path: Path) -> None:
    import pretty_midi
    import symusic

    outputs = []
    for attempt in ('first', 'second'):
        result = run_etude('infer', metrical['best'], '--num', '2', '--length', '30', '--seed', '3', '--output', str(tmp_path / attempt), cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        outputs.append(tmp_path / attempt)
    for name in ('piece-000.mid', 'piece-001.mid'):
        assert (outputs[0] / name).read_bytes() == (outputs[1] / name).read_bytes()
        midi = pretty_midi.PrettyMIDI(str(outputs[0] / name))
        assert midi.time_signature_changes and [track.name for track in midi.instruments] == ['Soprano', 'Alto', 'Tenor', 'Bass'][:len(midi.instruments)]
        assert sum(len(track.notes) for track in midi.instruments) == 30
        markers = symusic.Score(str(outputs[0] / name)).markers
        assert markers and markers[0].text == 'bar 1'
    row = json.loads((outputs[0] / 'predictions.jsonl').read_text().splitlines()[0])
    assert row['notes'] == 30 and row['bars'] >= 1 and row['seed'] == 3
    assert row['weights'] == 'int8'  # the default model's default on the CPU (generation README: it keeps the figures)
    refused = run_etude('infer', metrical['best'], '--draw-times', '--output', str(tmp_path / 'refused'), cwd=tmp_path)
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1, refused.stderr


def test_etude_evaluate_gives_the_default_runs_figures_back(metrical: dict[str, Any], tmp_path: Path) -> None:
    result = run_etude('evaluate', str(metrical['run']), '--output', str(tmp_path / 'evaluation'), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    metrics = json.loads((tmp_path / 'evaluation' / 'metrics.json').read_text())
    assert 'in_key_share' in json.dumps(metrics) and 'Piano rolls' in (tmp_path / 'evaluation' / 'report.html').read_text()


@needs_fluidsynth
def test_etude_listen_from_run_builds_a_test_of_the_default_model_markov_and_test_chorales(metrical: dict[str, Any], tmp_path: Path) -> None:
    from etude.listening.plan import load_plan

    result = run_etude('listen', 'from-run', str(metrical['run']), str(tmp_path / 'test'), '--pieces', '2', '--seconds', '4', cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    plan = load_plan(tmp_path / 'test')
    assert set(plan.conditions) == {'model', 'markov', 'test'} and len(plan.stimuli) == 6
    # three simulated listeners who rate the chorales 5, the model 4 and the Markov chain 2; their means come back
    import asyncio

    import httpx

    from etude.listening.server import create_app
    from etude.listening.simulate import listen, running_server

    scores = {'test': 5, 'model': 4, 'markov': 2}

    async def panel(url: str) -> None:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            for _ in range(3):
                await listen(client, rate=lambda identifier: scores[plan.stimuli[identifier].condition], choose=lambda shown: 'none', fetch_audio=True)

    with running_server(create_app(tmp_path / 'test')) as url:
        asyncio.run(panel(url))
    assert run_etude('listen', 'results', str(tmp_path / 'test'), cwd=tmp_path).returncode == 0
    summary = json.loads((tmp_path / 'test' / 'results' / 'summary.json').read_text())
    assert {entry['condition']: entry['mean'] for entry in summary['conditions']} == {'test': 5.0, 'model': 4.0, 'markov': 2.0}


def test_the_routine_records_the_nll_beside_both_baselines_in_one_unit(trained: dict[str, Any]) -> None:
    summary = trained['summary']
    for figures in (summary['test'], summary['baselines']['unigram'], summary['baselines']['markov']):
        assert 0 < figures['nll_per_note'] < 20
    assert summary['test']['nll_per_note'] == pytest.approx(sum(summary['test'][f'{term}_nll_per_note'] for term in ('pitch', 'step', 'duration')))
    assert summary['nll_units'].startswith('nats per note')
    assert 'Markov' in trained['report']
    from etude.data.store import read_dataset

    files = read_dataset(summary['dataset']['directory']).metadata['files']
    split = json.loads((trained['run'] / 'split.json').read_text())
    pieces = {name: {files[index] for index in part['indices']} for name, part in split.items()}
    assert pieces['test'] and not (pieces['train'] & pieces['test']) and not (pieces['train'] & pieces['validation'])


def test_etude_infer_writes_the_same_playable_pieces_for_the_same_seed(trained: dict[str, Any], tmp_path: Path) -> None:
    import pretty_midi

    outputs = []
    for attempt in ('first', 'second'):
        result = run_etude('infer', trained['best'], '--num', '3', '--length', '40', '--seed', '5', '--temperature', '0.9', '--top-p', '0.95',
                           '--output', str(tmp_path / attempt), cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        outputs.append(tmp_path / attempt)
    names = sorted(path.name for path in outputs[0].glob('*.mid'))
    assert names == ['piece-000.mid', 'piece-001.mid', 'piece-002.mid']
    for name in names:
        assert (outputs[0] / name).read_bytes() == (outputs[1] / name).read_bytes()
        assert sum(len(track.notes) for track in pretty_midi.PrettyMIDI(str(outputs[0] / name)).instruments) == 40
    rows = [json.loads(line) for line in (outputs[0] / 'predictions.jsonl').read_text().splitlines()]
    assert [row['piece_in_batch'] for row in rows] == [0, 1, 2]
    assert {(row['seed'], row['temperature'], row['top_p'], row['length_notes'], row['count']) for row in rows} == {(5, 0.9, 0.95, 40, 3)}


def test_a_primed_piece_starts_with_the_primer(trained: dict[str, Any], tmp_path: Path) -> None:
    from etude.data.midi import midi_to_notes, notes_to_midi

    primer = tmp_path / 'primer.mid'
    notes_to_midi(__import__('numpy').array([[60, 0.0, 0.5], [64, 0.5, 0.5], [67, 0.5, 0.5]], dtype='float32'), primer)
    result = run_etude('infer', trained['best'], str(primer), '--num', '2', '--length', '10', '--output', str(tmp_path / 'out'), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    written = midi_to_notes(tmp_path / 'out' / 'primer-000.mid')
    assert len(written) == 13 and written['pitch'][:3].tolist() == [60, 64, 67]


@pytest.mark.parametrize('arguments', [
    ['--temperature', '0'], ['--temperature', '-1'], ['--top-p', '0'], ['--top-p', '1.5'], ['--top', '3'], ['--weights', 'int4'],
])
def test_bad_settings_are_one_line_and_status_2(trained: dict[str, Any], tmp_path: Path, arguments: list[str]) -> None:
    result = run_etude('infer', trained['best'], *arguments, '--output', str(tmp_path / 'out'), cwd=tmp_path)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and 'Traceback' not in result.stderr
    assert not (tmp_path / 'out').exists()


def test_a_primer_that_is_not_midi_or_has_no_notes_is_one_line_and_status_2(trained: dict[str, Any], tmp_path: Path) -> None:
    import pretty_midi

    text = tmp_path / 'notes.mid'
    text.write_text('not a MIDI file')
    empty = tmp_path / 'empty.mid'
    pretty_midi.PrettyMIDI().write(str(empty))
    for primer in (text, empty):
        result = run_etude('infer', trained['best'], str(primer), '--output', str(tmp_path / primer.stem), cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        errors = [line for line in result.stderr.splitlines() if line.startswith('error:')]
        assert len(errors) == 1 and str(primer) in errors[0] and 'Traceback' not in result.stderr


def test_etude_evaluate_reports_every_measure_beside_the_baselines(trained: dict[str, Any], tmp_path: Path) -> None:
    result = run_etude('evaluate', str(trained['run']), '--output', str(tmp_path / 'evaluation'), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    metrics = json.loads((tmp_path / 'evaluation' / 'metrics.json').read_text())
    text = json.dumps(metrics)
    for name in ('nll_per_note', 'jsd_pitch', 'jsd_interval', 'jsd_pitch_class_transition', 'pitch_range_overlap', 'note_count_kl',
                 'share_copying_over_16', 'unigram', 'markov', 'test excerpts'):
        assert name in text, name
    assert metrics['metrics']['nll_per_note'] == pytest.approx(trained['summary']['test']['nll_per_note'], rel=1e-6) if 'metrics' in metrics else True
    report = (tmp_path / 'evaluation' / 'report.html').read_text()
    assert 'Piano rolls' in report and 'bits' in report


@needs_fluidsynth
def test_etude_listen_from_run_builds_a_test_of_generated_markov_and_test_pieces(trained: dict[str, Any], tmp_path: Path) -> None:
    from etude.listening.plan import load_plan

    result = run_etude('listen', 'from-run', str(trained['run']), str(tmp_path / 'test'), '--pieces', '2', '--seconds', '3', '--seed', '0',
                       cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    plan = load_plan(tmp_path / 'test')
    assert plan.kind == 'mos' and set(plan.conditions) == {'model', 'markov', 'test'} and list(plan.items) == ['piece-000', 'piece-001']
    assert len(plan.stimuli) == 6
    refused = run_etude('listen', 'from-run', str(trained['run']), str(tmp_path / 'mushra'), '--kind', 'mushra', cwd=tmp_path)
    assert refused.returncode == 2 and refused.stderr.count('\n') == 1 and 'no reference' in refused.stderr, refused.stderr


def test_model_transformer_trains_through_the_routine_and_writes_pieces(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    run = train_testing_run(tmp_path_factory.mktemp('transformer'), 'model=transformer')
    assert run['summary']['test']['nll_per_token'] > 0 and 'jsd_voice_interval' in run['summary']['test']
    result = run_etude('infer', run['best'], '--num', '2', '--length', '12', '--seed', '1', '--output', str(tmp_path / 'out'), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / 'out' / 'predictions.jsonl').read_text().splitlines()[1])['notes'] == 12
