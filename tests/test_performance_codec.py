"""The performance codec on a real performance: a pianist's Mozart (a hand-checked match file) encoded and rendered back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from etude.data.match import read_match
from etude.data.midi import midi_to_notes
from etude.errors import DataFileError
from etude.music.performance.codec import (
    PERFORMANCE_FEATURES,
    SCORE_FEATURES,
    deadpan_targets,
    encode_performance,
    performance_to_midi,
    read_pedal,
    render_performance,
    score_features,
)

# Mozart, K. 265, variation 1, played on a computer-monitored grand piano; shipped with parangonar 3.4.0 (Apache-2.0)
MATCH = Path(__file__).parent / 'data' / 'mozart_k265_var1.match'


@pytest.fixture(scope='module')
def pair():
    pytest.importorskip('partitura')
    return read_match(MATCH)


def test_a_real_performance_survives_encoding_and_rendering(pair, tmp_path: Path) -> None:
    matched = pair.score_to_performance >= 0
    assert matched.sum() == 218 and len(pair.pedal) > 50, 'every score note of the variation is matched, with its pedalling'
    encoded = encode_performance(pair.score, pair.performance, pair.score_to_performance, pedal=pair.pedal)
    assert set(encoded.targets) == set(PERFORMANCE_FEATURES)
    deviation = np.abs(encoded.targets['onset_deviation'][matched])
    assert 0.005 < np.median(deviation) < 0.05, 'a pianist is never exactly on the curve, and rarely far from it'
    notes, pedal = render_performance(pair.score, encoded.targets, start_seconds=encoded.start_seconds, pedal_beats=encoded.pedal_beats)
    played = pair.performance[pair.score_to_performance[matched]]
    assert np.abs(notes['start'][matched] - played['start']).max() < 1e-3
    np.testing.assert_array_equal(notes['velocity'][matched], played['velocity'])
    assert np.abs(notes['duration'][matched] - played['duration']).max() < 1e-3
    np.testing.assert_allclose(pedal, pair.pedal, atol=1e-6)
    # and through a MIDI file: the same notes and pedal come back from disk
    path = tmp_path / 'rendered.mid'
    performance_to_midi(notes[matched], path, pedal=pedal)
    reread = midi_to_notes(path)
    original = np.sort(played[['start', 'pitch', 'velocity']], order=['start', 'pitch'])
    assert len(reread) == len(original)
    assert np.abs(reread['start'] - original['start']).max() < 1e-3
    np.testing.assert_array_equal(reread['velocity'], original['velocity'])
    np.testing.assert_allclose(read_pedal(path), pair.pedal, atol=1e-3)


def test_a_changed_tempo_curve_moves_notes_and_pedal_together(pair) -> None:
    encoded = encode_performance(pair.score, pair.performance, pair.score_to_performance, pedal=pair.pedal)
    slower = {**encoded.targets, 'beat_seconds': encoded.targets['beat_seconds'] * 2}
    notes, pedal = render_performance(pair.score, encoded.targets, start_seconds=0.0, pedal_beats=encoded.pedal_beats)
    slow_notes, slow_pedal = render_performance(pair.score, slower, start_seconds=0.0, pedal_beats=encoded.pedal_beats)
    span, slow_span = np.ptp(notes['start']), np.ptp(slow_notes['start'])
    assert 1.9 < slow_span / span < 2.1 and 1.9 < np.ptp(slow_pedal[:, 0]) / np.ptp(pedal[:, 0]) < 2.1


def test_deadpan_renders_the_score_at_one_tempo(pair) -> None:
    notes, _ = render_performance(pair.score, deadpan_targets(pair.score, velocity=0.5, beat_seconds=0.5))
    np.testing.assert_allclose(notes['start'], pair.score['onset_beats'] * 0.5, atol=1e-9)
    np.testing.assert_allclose(notes['duration'], np.maximum(pair.score['duration_beats'] * 0.5, 1e-3), atol=1e-9)
    assert set(notes['velocity']) == {64}


def test_score_features_need_no_performance(pair) -> None:
    features = score_features(pair.score)
    assert features.shape == (len(pair.score), len(SCORE_FEATURES)) and features.dtype == np.float32 and np.isfinite(features).all()
    np.testing.assert_array_equal(features[:, SCORE_FEATURES.index('pitch')], pair.score['pitch'])


def test_a_file_that_is_not_a_match_file_is_named(tmp_path: Path) -> None:
    pytest.importorskip('partitura')
    bad = tmp_path / 'notes.match'
    bad.write_text('this is not a match file\n')
    with pytest.raises(DataFileError, match='notes.match'):
        read_match(bad)
    with pytest.raises(DataFileError, match='no such file'):
        read_match(tmp_path / 'missing.match')


def test_the_sustain_pedal_is_kept_per_note_and_played_as_legato_pedalling(pair) -> None:
    from etude.music.performance.codec import PEDAL_CHANGE_SECONDS, beat_index

    encoded = encode_performance(pair.score, pair.performance, pair.score_to_performance, pedal=pair.pedal)
    matched = np.flatnonzero(pair.score_to_performance >= 0)
    sustain = encoded.targets['sustain']
    for row in matched[::7]:  # the pedal as it stood when the key came up, found by walking the events
        played = pair.performance[pair.score_to_performance[row]]
        depth = 0.0
        for seconds, value in pair.pedal:
            if seconds <= played['start'] + played['duration']:
                depth = value / 127.0
        assert sustain[row] == pytest.approx(depth, abs=1e-6)
    assert 0.2 < np.mean(sustain[matched] >= 0.5) < 1.0, 'this Mozart is pedalled, not throughout'
    notes, pedal = render_performance(pair.score, encoded.targets, start_seconds=encoded.start_seconds)  # no events given: per-note pedal
    _, beats = beat_index(pair.score['onset_beats'])
    for beat in np.unique(beats)[:40]:
        onset = notes['start'][beats == beat].min()
        held = np.mean(sustain[beats == beat]) >= 0.5
        before = pedal[pedal[:, 0] <= onset + PEDAL_CHANGE_SECONDS + 1e-9]
        assert (before[-1, 1] == 127) == held if len(before) else not held, f'beat {beat}: the pedal is down just after its onset iff held'
    assert set(pedal[:, 1]) <= {0.0, 127.0} and np.all(np.diff(pedal[:, 0]) >= 0)


def test_deadpan_plays_the_scores_tempo_marks(pair) -> None:
    from etude.music.performance.codec import marked_beat_seconds

    marks = np.full(len(pair.score), np.nan)
    marks[40:] = 120.0
    marks[100:] = 60.0
    np.testing.assert_allclose(marked_beat_seconds(marks, 0.7)[[0, 39, 40, 99, 100]], [0.5, 0.5, 0.5, 0.5, 1.0], err_msg='the first mark from the start')
    np.testing.assert_allclose(marked_beat_seconds(np.full(5, np.nan), 0.7), 0.7)
    score = pair.score.copy()
    score['tempo_qpm'] = marks
    periods = deadpan_targets(score, velocity=0.5, beat_seconds=0.7)['beat_seconds']
    assert set(np.round(periods, 6)) == {0.5, 1.0} and not deadpan_targets(score, velocity=0.5, beat_seconds=0.7)['sustain'].any()
