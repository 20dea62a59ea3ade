"""Judging a performer piece by piece against every pianist, the pianists against each other, the baselines played from
stored features, and the split that keeps a composer's pieces in proportion: on arrays built here, where the answer
is known."""

from __future__ import annotations

import numpy as np
import pytest

from etude.data.split import stratified_group_split
from etude.errors import ConfigError
from etude.music.performance.agreement import human_agreement, judged, pearson, piece_figures
from etude.music.performance.baselines import TrainingMeans, baseline_performers
from etude.music.performance.codec import SCORE_FEATURES
from etude.music.performance.models.common import PREDICTED
from etude.music.performance.pieces import PerformedPiece
from etude.music.performance.sequences import PERFORMANCE_TARGETS


def performance(file: str, piece: str, truth: np.ndarray, keys: np.ndarray | None = None, matched: np.ndarray | None = None) -> PerformedPiece:
    """A performance whose five features are `truth` `(n, 5)`; every note matched unless `matched` says otherwise."""
    count = len(truth)
    targets = {name: truth[:, index].astype(np.float32) for index, name in enumerate(PREDICTED)}
    targets.update(matched=np.ones(count, np.float32) if matched is None else matched.astype(np.float32), note_mask=np.ones(count, np.float32),
                   note_key=(np.arange(count) if keys is None else keys).astype(np.float32))
    return PerformedPiece(file, piece, piece, np.zeros((count, len(SCORE_FEATURES)), np.float32), targets)


def test_pearson_is_zero_for_a_constant_and_one_for_a_line() -> None:
    x = np.arange(10.0)
    assert pearson(x, 3 * x + 1) == pytest.approx(1.0) and pearson(np.full(10, 2.0), x) == 0.0 and pearson(x, -x) == pytest.approx(-1.0)


def test_figures_are_averaged_per_piece_then_over_pieces() -> None:
    rng = np.random.default_rng(0)
    truths = [rng.normal(0.5, 0.1, (40, 5)) for _ in range(4)]
    performances = [performance(f'a{index}', 'A', truth) for index, truth in enumerate(truths[:3])] + [performance('b0', 'B', truths[3])]
    predictions = {f'a{index}': truth for index, truth in enumerate(truths[:3])}
    predictions['b0'] = np.full((40, 5), 0.5)  # B: a constant, r 0 on every feature
    figures = piece_figures(performances, predictions)
    assert figures['pieces'] == 2 and figures['performances'] == 4
    assert figures['piece_velocity_correlation'] == pytest.approx(0.5), 'A counts once however many pianists played it (not 3/4)'
    expected_mae = np.mean(np.abs(truths[3][:, 0] - 0.5)) * 127 / 2
    assert figures['piece_velocity_mae'] == pytest.approx(expected_mae)


def test_a_performer_is_judged_again_on_the_pieces_the_pianists_agreement_is_measured_on() -> None:
    rng = np.random.default_rng(2)
    truth = rng.normal(0.5, 0.1, (20, 5))
    played = [performance(f'a{index}', 'A', truth) for index in range(3)] + [performance(f'b{index}', 'B', truth) for index in range(2)]
    predictions = {item.file: truth if item.piece == 'A' else np.full((20, 5), 0.5) for item in played}
    figures = judged(played, predictions)
    assert figures['pieces'] == 2 and figures['piece_velocity_correlation'] == pytest.approx(0.5)
    assert figures['agreed_pieces'] == human_agreement(played)['pieces'] == 1 and figures['agreed_performances'] == 3
    assert figures['agreed_piece_velocity_correlation'] == pytest.approx(1.0), 'B, played twice, has no agreement and is left out'
    two_scores = [PerformedPiece(f'c{index}', 'C', f'C{index % 2}', item.features, item.targets) for index, item in
                  enumerate(performance(str(index), 'C', truth) for index in range(6))]
    assert human_agreement(two_scores)['pieces'] == 1, 'a movement with and without its repeats: two scores, one piece'
    assert human_agreement(two_scores)['performances'] == 6 == judged(two_scores, {item.file: truth for item in two_scores})['agreed_performances']


def test_each_pianist_is_judged_against_the_others_note_by_note() -> None:
    rng = np.random.default_rng(1)
    shared = rng.normal(0.5, 0.1, (30, 5))
    same = [performance(f'p{index}', 'A', shared) for index in range(3)]
    assert human_agreement(same)['piece_tempo_correlation'] == pytest.approx(1.0) and human_agreement(same)['piece_velocity_mae'] == pytest.approx(0.0)
    # the third pianist left out the first five notes and their notes come in another order: keys pair them
    order = rng.permutation(25) + 5
    shuffled = performance('p2', 'A', shared[order], keys=order)
    two_more = [performance('q0', 'B', shared), performance('q1', 'B', shared)]  # only two performances: no agreement for B
    agreement = human_agreement([same[0], same[1], shuffled, *two_more])
    assert agreement['pieces'] == 1 and agreement['performances'] == 3
    assert agreement['piece_velocity_correlation'] == pytest.approx(1.0) and agreement['piece_articulation_mae'] == pytest.approx(0.0, abs=1e-9)
    noisy = [performance(f'n{index}', 'C', shared + rng.normal(0, 0.05, shared.shape)) for index in range(4)]
    assert 0.5 < human_agreement(noisy)['piece_velocity_correlation'] < 0.99, 'pianists who differ agree less than perfectly'
    unmatched = np.ones(30, bool)
    unmatched[:10] = False
    masked = [performance(f'm{index}', 'D', shared if index else shared + np.where(unmatched[:, None], 0.0, 9.0), matched=unmatched)
              for index in range(3)]
    assert human_agreement(masked)['piece_velocity_mae'] == pytest.approx(0.0, abs=1e-9), 'unmatched notes are never compared'


def test_baselines_play_the_marks_from_stored_features() -> None:
    count = 48
    features = np.zeros((count, len(SCORE_FEATURES)), np.float32)
    column = {name: index for index, name in enumerate(SCORE_FEATURES)}
    features[:, column['pitch']], features[:, column['duration_beats']], features[:, column['beat']] = 60, 1.0, 1 + np.arange(count) % 4
    features[1:, column['onset_delta_beats']] = 1.0
    features[:, column['dynamic_level']] = np.where(np.arange(count) < 24, 0.25, 0.85)  # p, then f
    features[:, column['has_dynamic']] = 1
    features[24:, column['tempo_qpm']], features[24:, column['has_tempo']] = 120.0, 1  # no mark, then 120
    labels = {name: np.zeros((2, 8), np.float32) for name in PERFORMANCE_TARGETS}
    labels['matched'][:], labels['note_mask'][:] = 1, 1
    labels['velocity'][:], labels['beat_seconds'][:] = 0.5, 0.8
    performers = baseline_performers(TrainingMeans(labels))
    piece = PerformedPiece('x', 'X', 'X', features, {})
    deadpan, rule, mean = (performers[name](piece) for name in ('deadpan', 'rule', 'training_mean'))
    tempo, velocity = PREDICTED.index('beat_seconds'), PREDICTED.index('velocity')
    np.testing.assert_allclose(deadpan[:, tempo], 0.5, err_msg='the first mark plays from the start: 120 quarter notes a minute')
    assert len(np.unique(deadpan[:, velocity])) == 1 and deadpan[0, velocity] == pytest.approx(0.5)
    assert rule[30, velocity] > rule[5, velocity] + 0.3, 'forte louder than piano'
    np.testing.assert_allclose(mean[:, tempo], 0.5 * TrainingMeans(labels).tempo_ratio)


def test_a_composers_pieces_are_dealt_out_in_proportion() -> None:
    groups = [f'bach{index}' for index in range(20)] + [f'haydn{index}' for index in range(7)] + ['glinka']
    strata = [group.rstrip('0123456789') for group in groups]
    split = stratified_group_split(groups, strata, (0.7, 0.15, 0.15), seed=0)
    bach = [split[group] for group in groups if group.startswith('bach')]
    assert abs(bach.count('train') - 14) <= 1 and abs(bach.count('test') - 3) <= 1 and abs(bach.count('validation') - 3) <= 1
    assert stratified_group_split(groups, strata, (0.7, 0.15, 0.15), seed=0) == split
    lone = {stratified_group_split(groups, strata, (0.7, 0.15, 0.15), seed=seed)['glinka'] for seed in range(40)}
    assert lone == {'train', 'validation', 'test'}, 'a composer of one piece is not always put in train'
    with pytest.raises(ConfigError, match="group 'bach0' is in two strata"):
        stratified_group_split(['bach0', 'bach0'], ['bach', 'haydn'], (0.7, 0.15, 0.15), seed=0)
