"""(n)ASAP's real files, installed from the archive as a user installs it: match files read line by line and on their
MusicXML's features, the split by piece, the performances the tempo curve cannot follow, and a --testing run of
`etude train expressive_performance dataset=nasap` through inference and a listening test.

Skipped, with the reason, where the archive is absent (conftest.NASAP_ARCHIVE).
"""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pretty_midi
import pytest
from conftest import ROOT, needs_fluidsynth

from etude.data.dataset_layouts import match_performances
from etude.data.definitions import SkippedFileWarning
from etude.data.match import read_match, read_match_lines
from etude.errors import DataFileError
from etude.music.performance.scored_match import read_scored_match
from etude.music.performance.sequences import MatchSequences

VERSION_1 = 'Bach/Fugue/bwv_848/Lee01M.match'  # matchFileVersion 1.0.0
VERSION_5 = 'Schumann/Kreisleriana/3/ParkJH06.match'  # matchFileVersion 5.0, beats kept to 1/1024


@pytest.mark.parametrize('name', [VERSION_1, VERSION_5])
def test_match_lines_read_what_partitura_reads(nasap_folder: Path, name: str) -> None:
    ours, theirs = read_match_lines(nasap_folder / name), read_match(nasap_folder / name, keep_unisons=True)
    row = {identifier: index for index, identifier in enumerate(ours.score_ids)}
    order = np.array([row[identifier] for identifier in theirs.score_ids])
    assert len(ours.score_ids) > 1000 and len(order) >= 0.995 * len(ours.score_ids), 'partitura leaves out a handful of score lines at most'
    np.testing.assert_array_equal(ours.score_pitch[order], theirs.score['pitch'])
    matched = theirs.score_to_performance >= 0
    np.testing.assert_array_equal(ours.score_to_performance[order] >= 0, matched)
    mine, partitura = ours.performance[ours.score_to_performance[order][matched]], theirs.performance[theirs.score_to_performance[matched]]
    np.testing.assert_array_equal(mine['pitch'], partitura['pitch'])
    np.testing.assert_array_equal(mine['velocity'], partitura['velocity'])
    np.testing.assert_allclose(mine['start'], partitura['start'], atol=1e-4)
    assert 0 <= len(ours.performance) - len(theirs.performance) <= 0.005 * len(ours.performance) and len(ours.pedal) == len(theirs.pedal) > 0
    shift = ours.onset_quarters[order] - theirs.score['onset_beats']
    np.testing.assert_allclose(shift - np.median(shift), 0.0, atol=0.02)  # format 5.0 rounds beats to 1/1024, partitura to its divisions


def test_a_match_file_on_its_musicxml_features(nasap_folder: Path) -> None:
    scored = read_scored_match(nasap_folder / VERSION_1, nasap_folder / 'Bach/Fugue/bwv_848/xml_score.musicxml')
    assert scored.mapped_rate > 0.99 and np.mean(scored.score_to_performance >= 0) > 0.95
    assert np.all(np.diff(scored.score['onset_beats']) >= 0) and len(np.unique(scored.note_keys)) == len(scored.note_keys)
    pairs = set(zip(scored.score['pitch'].tolist(), scored.score['onset_beats'].round(6).tolist(), strict=True))
    assert len(pairs) == len(scored.score), 'a unison is one note'
    matched = scored.score_to_performance >= 0
    assert np.mean(scored.performance['pitch'][scored.score_to_performance[matched]] == scored.score['pitch'][matched]) > 0.99
    assert np.isnan(scored.score['tempo_qpm']).all(), 'this fugue has no tempo mark'
    other = read_scored_match(nasap_folder / 'Bach/Fugue/bwv_848/Zhou01M.match', nasap_folder / 'Bach/Fugue/bwv_848/xml_score.musicxml')
    shared, mine, theirs = np.intersect1d(scored.note_keys, other.note_keys, return_indices=True)
    assert len(shared) > 0.95 * len(scored.note_keys)
    np.testing.assert_array_equal(scored.score['pitch'][mine], other.score['pitch'][theirs])
    np.testing.assert_allclose(scored.score['onset_beats'][mine], other.score['onset_beats'][theirs])
    ballade = read_scored_match(next((nasap_folder / 'Chopin/Ballades/1').glob('*.match')), nasap_folder / 'Chopin/Ballades/1/xml_score.musicxml')
    assert ballade.score['tempo_qpm'][0] == pytest.approx(48.0) and np.nanmax(ballade.score['tempo_qpm']) > 100, 'Largo, then faster'


def test_pieces_are_split_whole_and_by_composer(nasap_folder: Path) -> None:
    with pytest.warns(SkippedFileWarning, match='Liszt/Sonata'):
        definition = match_performances(nasap_folder)
    split_of: dict[str, set[str]] = collections.defaultdict(set)
    for item in definition.items:
        split_of[item.group].add(str(item.split))
    assert all(len(splits) == 1 for splits in split_of.values()), 'no piece on two sides'
    folders = {str(Path(item.path).parent): item.split for item in definition.items}
    assert folders['Beethoven/Piano_Sonatas/21-1'] == folders['Beethoven/Piano_Sonatas/21-1_no_repeat'], 'one movement, with and without its repeats'
    by_composer: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for group, splits in split_of.items():
        by_composer[group.split('/')[0]][next(iter(splits))] += 1
    for composer in ('Bach', 'Beethoven', 'Chopin'):
        counts = by_composer[composer]
        assert all(abs(counts[split] - share * sum(counts.values())) <= 1 for split, share in (('train', 0.7), ('validation', 0.15), ('test', 0.15)))
    assert definition.split_rule == 'by piece (composer/title), stratified by composer: fractions 0.7/0.15/0.15, seed 0'
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', SkippedFileWarning)
        subset = match_performances(nasap_folder, pieces=60)
    chosen = collections.Counter(group.split('/')[0] for group in {item.group for item in subset.items})
    for composer in ('Bach', 'Beethoven', 'Chopin'):
        assert abs(chosen[composer] - 60 * sum(by_composer[composer].values()) / len(split_of)) <= 2, composer
    assert sum(chosen.values()) == 60


def test_a_performance_the_tempo_curve_cannot_follow_is_refused_and_the_rest_is_masked(nasap_folder: Path) -> None:
    settings = MatchSequences()
    with pytest.raises(DataFileError, match='more than 0.5 s from the tempo curve'):
        settings.read(nasap_folder, 'Beethoven/Piano_Sonatas/3-1/Lin01.match', {'score': 'Beethoven/Piano_Sonatas/3-1/xml_score.musicxml'})
    with pytest.raises(DataFileError, match='aligns no notes'):  # (n)ASAP ships this one as its header alone
        settings.read(nasap_folder, 'Debussy/Pour_le_Piano/1/MunA12M.match', {'score': 'Debussy/Pour_le_Piano/1/xml_score.musicxml'})
    rows = settings.read(nasap_folder, VERSION_5, {'score': 'Schumann/Kreisleriana/3/xml_score.musicxml'})
    matched = rows['matched'] == 1
    assert matched.mean() > 0.9 and np.abs(rows['onset_deviation'][matched]).max() <= 0.5 and rows['beat_seconds'].max() <= 4.0
    assert not rows['velocity'][~matched].any() and 0.0 < rows['sustain'][matched].mean() < 1.0, 'a pedalled piece, not pedalled throughout'


def _run(*arguments: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, 'PYTHONPATH': str(ROOT), 'OMP_NUM_THREADS': '1', 'WANDB_MODE': 'offline'}
    return subprocess.run([sys.executable, '-m', 'etude', *arguments], cwd=cwd, env=environment, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope='module')
def nasap_run(nasap_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """`etude train expressive_performance dataset=nasap --testing`: eight pieces, two epochs."""
    folder = tmp_path_factory.mktemp('nasap-run')
    result = _run('train', 'expressive_performance', 'dataset=nasap', '--testing', f'data_directory={nasap_folder.parent}',
                  '--runs-dir', str(folder / 'runs'), cwd=folder)
    assert result.returncode == 0, result.stderr[-3000:]
    (run,) = (folder / 'runs').iterdir()
    return {'run': run, 'summary': json.loads((run / 'summary.json').read_text()), 'stdout': result.stdout, 'folder': folder}


@pytest.mark.slow
def test_a_testing_run_judges_the_model_against_every_performance_and_the_pianists(nasap_run: dict[str, Any]) -> None:
    import torch

    summary = nasap_run['summary']
    test, baselines = summary['test'], summary['baselines']
    for feature in ('velocity', 'timing', 'articulation', 'tempo', 'pedal'):
        for name in ('deadpan', 'rule', 'training_mean', 'human'):
            assert np.isfinite(baselines[name][f'piece_{feature}_correlation']), (name, feature)
        assert np.isfinite(test[f'piece_{feature}_correlation']) and test[f'piece_{feature}_mae'] >= 0
    assert baselines['deadpan']['piece_velocity_correlation'] == 0.0, 'one velocity says nothing about which notes differ'
    assert baselines['human']['pieces'] >= 1 and baselines['human']['piece_tempo_correlation'] > 0.5, 'pianists agree on the tempo'
    assert test['pieces'] >= baselines['human']['pieces'] and test['performances'] >= 3 * baselines['human']['pieces']
    export = torch.load(summary['paths']['best'], map_location='cpu', weights_only=True)
    assert export['dataset']['split_rule'].startswith('by piece (composer/title), stratified by composer')
    assert 'per piece, against every performance (' in nasap_run['stdout'] and 'human r ' in nasap_run['stdout']
    assert test['agreed_pieces'] == baselines['human']['pieces'] and baselines['deadpan']['agreed_pieces'] == baselines['human']['pieces'], \
        'the model and the baselines are judged again on the pieces the pianists agreement is measured on'


@pytest.mark.slow
def test_etude_infer_plays_a_nasap_score_and_its_deadpan_at_the_marked_tempo(nasap_run: dict[str, Any], nasap_folder: Path, tmp_path: Path) -> None:
    score = nasap_folder / 'Chopin/Ballades/1/xml_score.musicxml'
    result = _run('infer', nasap_run['summary']['paths']['best'], str(score), '--output', str(tmp_path / 'out'), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    played = pretty_midi.PrettyMIDI(str(tmp_path / 'out' / 'xml_score.mid'))
    deadpan = pretty_midi.PrettyMIDI(str(tmp_path / 'out' / 'xml_score.deadpan.mid'))
    assert len(played.instruments[0].notes) == len(deadpan.instruments[0].notes) > 4000
    onsets = np.unique(np.round([note.start for note in deadpan.instruments[0].notes], 4))
    assert np.median(np.diff(onsets[:12])) == pytest.approx(60 / 48 / 2, rel=0.01), 'Largo at 48 quarter notes a minute: the opening quavers'
    assert not deadpan.instruments[0].control_changes, 'deadpan uses no pedal'


@pytest.mark.slow
@needs_fluidsynth
def test_the_listening_test_puts_the_model_and_deadpan_beside_a_pianist(nasap_run: dict[str, Any], tmp_path: Path) -> None:
    from etude.cli import main

    assert main(['listen', 'from-run', str(nasap_run['run']), str(tmp_path / 'test'), '--pieces', '1', '--seconds', '6']) == 0
    plan = json.loads((tmp_path / 'test' / 'plan.json').read_text())
    assert plan['kind'] == 'mushra' and {'model', 'deadpan', 'hidden_reference'} <= set(plan['conditions']), plan['conditions']
    assert all(name.startswith('anchor_') for name in set(plan['conditions']) - {'model', 'deadpan', 'hidden_reference'}), \
        'the pianist is the reference (heard openly and hidden); the rest are MUSHRA\'s low-pass anchors'
    page = ' '.join(path.read_text(errors='ignore') for path in (tmp_path / 'test').rglob('*.html'))
    assert not any(word in page for word in ('deadpan', 'pianist', 'model')), 'nothing on the page says which is which'
    assert main(['listen', 'from-run', str(nasap_run['run']), str(tmp_path / 'ab'), '--kind', 'ab', '--pieces', '1', '--seconds', '6']) == 0
    assert json.loads((tmp_path / 'ab' / 'plan.json').read_text())['kind'] == 'ab'
