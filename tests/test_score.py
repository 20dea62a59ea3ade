"""Scores from music21's offline corpus, written to MusicXML and MIDI in a temporary directory, read back and aligned."""

import numpy as np
import pytest
from music21 import articulations, chord, corpus, dynamics, key, meter, note, stream, tie

from etude.data.midi import midi_to_notes, notes_from_columns
from etude.data.score import ARTICULATIONS, SCORE_DTYPE, articulation_names, read_score
from etude.errors import DataFileError
from etude.music.performance.alignment import align_score_to_performance


@pytest.fixture(scope='module')
def chorale(tmp_path_factory):
    """BWV 66.6 (four parts, F# minor, a pickup, fermatas) as MusicXML and as a MIDI rendering of it (music21's MIDI
    plays both notes of a unison, so the score keeps them too)."""
    folder = tmp_path_factory.mktemp('chorale')
    score = corpus.parse('bach/bwv66.6')
    xml_path = score.write('musicxml', fp=folder / 'bwv66.6.musicxml')
    midi_path = score.write('midi', fp=folder / 'bwv66.6.mid')
    return read_score(xml_path, keep_unisons=True), midi_to_notes(midi_path)


def test_read_chorale_features(chorale):
    notes, _ = chorale
    assert notes.dtype == SCORE_DTYPE and len(notes) == 163
    order = np.lexsort((notes['part'], notes['pitch'], notes['onset_beats']))
    np.testing.assert_array_equal(order, np.arange(len(notes)))
    assert set(notes['part']) == {0, 1, 2, 3} and set(notes['voice']) == {0}
    assert (notes['key_sharps'] == 3).all() and (notes['key_tonic'] == 6).all() and (notes['key_mode'] == 1).all()
    assert (notes['time_numerator'] == 4).all() and (notes['time_denominator'] == 4).all()
    first = notes[notes['part'] == 0][0]  # the soprano's pickup C#5
    assert (first['pitch'], first['onset_beats'], first['duration_beats'], first['measure'], first['beat']) == (73, 0.0, 0.5, 0, 4.0)
    downbeats = notes[notes['onset_beats'] == 1.0]
    assert (downbeats['measure'] == 1).all() and (downbeats['beat'] == 1.0).all() and (downbeats['beat_strength'] == 1.0).all()
    fermatas = notes[(notes['articulations'] & (1 << ARTICULATIONS.index('fermata'))) > 0]
    assert len(fermatas) >= 4 and articulation_names(fermatas['articulations'][0]) == ['fermata']
    assert (notes['dynamic'] == '').all() and np.isnan(notes['dynamic_level']).all()
    assert notes['onset_beats'].max() + notes['duration_beats'][notes['onset_beats'].argmax()] == pytest.approx(36.0)


def test_read_compressed_corpus_file(chorale):
    path = next(p for p in corpus.getComposer('bach') if p.name == 'bwv66.6.mxl')
    notes = read_score(path, keep_unisons=True)
    for field in ('pitch', 'onset_beats', 'duration_beats', 'part', 'measure', 'beat_strength', 'articulations'):
        np.testing.assert_array_equal(notes[field], chorale[0][field])


def test_chords_ties_voices_dynamics_and_articulations(tmp_path):
    part = stream.Part()
    first = stream.Measure(number=1)
    first.append([meter.TimeSignature('3/4'), key.KeySignature(-2), dynamics.Dynamic('pp')])
    staccato = note.Note('C4', quarterLength=1)
    staccato.articulations.append(articulations.Staccato())
    held = note.Note('G4', quarterLength=2)
    held.tie = tie.Tie('start')
    first.append([staccato, held])
    second = stream.Measure(number=2)
    tied = note.Note('G4', quarterLength=1)
    tied.tie = tie.Tie('stop')
    accented = chord.Chord(['E4', 'C5'], quarterLength=2)
    accented.articulations += [articulations.Accent(), articulations.Tenuto()]
    second.append([tied, dynamics.Dynamic('ff'), accented])
    third = stream.Measure(number=3)
    upper, lower = stream.Voice(id='1'), stream.Voice(id='2')
    upper.append(note.Note('A4', quarterLength=3))
    lower.append([note.Note('F3', quarterLength=1.5), note.Note('D3', quarterLength=1.5)])
    third.insert(0, upper)
    third.insert(0, lower)
    part.append([first, second, third])
    path = tmp_path / 'small.musicxml'
    stream.Score([part]).write('musicxml', fp=path)
    notes = read_score(path)
    rows = [(int(n['pitch']), n['onset_beats'], n['duration_beats'], int(n['voice']), int(n['measure'])) for n in notes]
    assert rows == [
        (60, 0.0, 1.0, 0, 1), (67, 1.0, 3.0, 0, 1),  # G4 tied over the bar line: one note of 3 beats
        (64, 4.0, 2.0, 0, 2), (72, 4.0, 2.0, 0, 2),  # the chord, one row per pitch
        (53, 6.0, 1.5, 2, 3), (69, 6.0, 3.0, 1, 3), (50, 7.5, 1.5, 2, 3),  # two voices in bar 3
    ]
    np.testing.assert_array_equal(notes['dynamic'], ['pp', 'pp', 'ff', 'ff', 'ff', 'ff', 'ff'])
    np.testing.assert_allclose(notes['dynamic_level'][[0, 2]], [0.25, 0.85])
    assert articulation_names(notes['articulations'][0]) == ['staccato']
    assert articulation_names(notes['articulations'][2]) == ['accent', 'tenuto'] == articulation_names(notes['articulations'][3])
    assert (notes['key_sharps'] == -2).all() and (notes['key_tonic'] == -1).all()
    assert (notes['time_numerator'] == 3).all()
    np.testing.assert_allclose(notes['beat'][:3], [1.0, 2.0, 2.0])  # the chord sits on beat 2 of bar 2
    analysed = read_score(path, analyze_key=True)
    assert (analysed['key_tonic'] >= 0).all() and (analysed['key_mode'] >= 0).all()


def test_a_unison_is_read_as_one_note_the_longer_with_the_marks_of_both(chorale, tmp_path):
    written, _ = chorale
    merged = read_score(next(p for p in corpus.getComposer('bach') if p.name == 'bwv66.6.mxl'))
    keys = list(zip(written['pitch'].tolist(), written['onset_beats'].tolist(), strict=True))
    unisons = len(keys) - len(set(keys))
    assert unisons >= 2 and len(merged) == len(written) - unisons, 'the chorale\'s voices meet in unisons'
    assert len(set(zip(merged['pitch'].tolist(), merged['onset_beats'].tolist(), strict=True))) == len(merged)
    part = stream.Part()
    bar = stream.Measure(number=1)
    upper, lower = stream.Voice(id='1'), stream.Voice(id='2')
    short = note.Note('E4', quarterLength=1)
    short.articulations.append(articulations.Staccato())
    upper.append([short, note.Note('G4', quarterLength=3)])
    lower.append([note.Note('E4', quarterLength=2), note.Note('C4', quarterLength=2)])
    bar.insert(0, meter.TimeSignature('4/4'))
    bar.insert(0, upper)
    bar.insert(0, lower)
    part.append(bar)
    path = tmp_path / 'unison.musicxml'
    stream.Score([part]).write('musicxml', fp=path)
    notes = read_score(path)
    assert [(int(n['pitch']), n['onset_beats'], n['duration_beats']) for n in notes] == [(64, 0.0, 2.0), (67, 1.0, 3.0), (60, 2.0, 2.0)]
    assert articulation_names(notes['articulations'][0]) == ['staccato'] and len(read_score(path, keep_unisons=True)) == 4


def test_a_metronome_mark_is_the_tempo_of_the_notes_after_it(tmp_path):
    from music21 import tempo

    part = stream.Part()
    first, second = stream.Measure(number=1), stream.Measure(number=2)
    first.append([meter.TimeSignature('2/4'), note.Note('C4', quarterLength=2)])
    second.append([tempo.MetronomeMark(number=60, referent=note.Note(type='half')), note.Note('D4', quarterLength=2)])
    part.append([first, second])
    path = tmp_path / 'tempo.musicxml'
    stream.Score([part]).write('musicxml', fp=path)
    notes = read_score(path)
    assert np.isnan(notes['tempo_qpm'][0]) and notes['tempo_qpm'][1] == pytest.approx(120.0), 'a half note at 60 is 120 quarters a minute'


def test_align_exact_rendering(chorale):
    score_notes, performance = chorale
    alignment = align_score_to_performance(score_notes, performance)
    assert alignment.match_rate == pytest.approx(1.0, abs=0.02)  # a unison of two parts is one MIDI note
    assert alignment.performance_match_rate == 1.0
    matched = alignment.score_to_performance >= 0
    np.testing.assert_array_equal(score_notes['pitch'][matched], performance['pitch'][alignment.score_to_performance[matched]])
    seconds_per_beat = np.diff(alignment.time_map[[0, -1], 1]) / np.diff(alignment.time_map[[0, -1], 0])
    predicted = score_notes['onset_beats'][matched] * seconds_per_beat
    np.testing.assert_allclose(performance['start'][alignment.score_to_performance[matched]], predicted, atol=0.01)
    assert alignment.pairs.shape == (len(score_notes) + np.sum(alignment.performance_to_score < 0), 2)


def test_repeats_are_expanded_to_follow_a_performance(tmp_path):
    """BWV 269 repeats its first section; music21's MIDI plays the repeat, so only the expanded score aligns fully."""
    score = corpus.parse('bach/bwv269')
    xml_path = score.write('musicxml', fp=tmp_path / 'bwv269.musicxml')
    performance = midi_to_notes(score.write('midi', fp=tmp_path / 'bwv269.mid'))
    as_printed, as_played = read_score(xml_path, keep_unisons=True), read_score(xml_path, expand_repeats=True, keep_unisons=True)
    assert len(as_printed) < len(as_played) == len(performance)
    assert np.all(np.diff(as_played['onset_beats']) >= 0) and as_played['measure'].max() == as_printed['measure'].max()
    assert align_score_to_performance(as_printed, performance).performance_match_rate < 0.8
    assert align_score_to_performance(as_played, performance).performance_match_rate > 0.98


def test_align_perturbed_performance(chorale):
    score_notes, performance = chorale
    exact = align_score_to_performance(score_notes, performance).score_to_performance
    generator = np.random.default_rng(7)
    keep = generator.random(len(performance)) >= 0.1  # the performer leaves out 10% of the notes
    # rubato: the tempo slows by half over the piece; plus 20 ms of timing jitter
    start = performance['start'] * (1 + 0.5 * performance['start'] / performance['start'].max())
    start = start + generator.normal(0, 0.02, len(performance))
    played = np.stack([performance['pitch'], start, performance['duration']], axis=1)[keep]
    wrong = played[generator.choice(len(played), 8, replace=False)].copy()
    wrong[:, 0] += generator.choice([-2, -1, 1, 2], len(wrong))  # eight wrong notes a tone or semitone off
    wrong[:, 1] += generator.uniform(-0.05, 0.05, len(wrong))
    columns = np.concatenate([played, wrong])
    perturbed = notes_from_columns(columns, ('pitch', 'start', 'duration'))
    origin = np.lexsort((columns[:, 0], columns[:, 1]))  # perturbed row -> columns row
    alignment = align_score_to_performance(score_notes, perturbed, tolerance_seconds=0.15)
    assert keep.mean() - 0.05 <= alignment.match_rate <= keep.mean() + 0.01
    is_wrong = origin >= len(played)
    assert (alignment.performance_to_score[is_wrong] == -1).all()  # wrong notes stay unmatched
    assert np.mean(alignment.performance_to_score[~is_wrong] >= 0) >= 0.97  # the rest almost all matched
    assert alignment.performance_match_rate == pytest.approx(np.mean(alignment.performance_to_score >= 0))
    # matches are right: each matched score note meets the note its exact rendering played (or an identical one:
    # doubled parts put two equal notes in the MIDI file)
    kept_rows = np.flatnonzero(keep)
    matched = np.flatnonzero(alignment.score_to_performance >= 0)
    original = kept_rows[origin[alignment.score_to_performance[matched]]]
    assert np.mean(performance['start'][original] == performance['start'][exact[matched]]) >= 0.99


def test_align_edge_cases(chorale):
    score_notes, performance = chorale
    empty = align_score_to_performance(score_notes, performance[:0])
    assert empty.match_rate == 0.0 and (empty.score_to_performance == -1).all() and len(empty.pairs) == len(score_notes)
    single = align_score_to_performance(score_notes[:1], performance)
    assert single.match_rate == 1.0 and single.performance_match_rate == pytest.approx(1 / len(performance))
    shuffled = np.random.default_rng(0).permutation(len(performance))
    alignment = align_score_to_performance(score_notes, performance[shuffled])  # indices refer to the input order
    matched = alignment.score_to_performance >= 0
    np.testing.assert_array_equal(performance[shuffled]['pitch'][alignment.score_to_performance[matched]], score_notes['pitch'][matched])


def test_bad_score_files(tmp_path, chorale):
    (tmp_path / 'empty.musicxml').write_bytes(b'')
    (tmp_path / 'broken.musicxml').write_text('<?xml version="1.0"?><score-partwise><part id="P1"><measure')
    (tmp_path / 'garbage.mxl').write_bytes(b'PK\x03\x04 this is not a zip archive')
    (tmp_path / 'notes.txt').write_text('C4 D4 E4')
    rests = stream.Score([stream.Part([stream.Measure([note.Rest(quarterLength=4)])])])
    rests.write('musicxml', fp=tmp_path / 'rests.musicxml')
    cases = {
        'missing.musicxml': 'missing.musicxml: no such file',
        'empty.musicxml': r'empty.musicxml: empty file \(0 bytes\)',
        'broken.musicxml': 'broken.musicxml: corrupt or unreadable musicxml score',
        'garbage.mxl': 'garbage.mxl: corrupt or unreadable mxl score',
        'notes.txt': "notes.txt: not a score file \\(unsupported format 'txt'\\)",
        'rests.musicxml': 'rests.musicxml: score contains no pitched notes',
    }
    for name, message in cases.items():
        with pytest.raises(DataFileError, match=message) as caught:
            read_score(tmp_path / name)
        assert '\n' not in str(caught.value)
