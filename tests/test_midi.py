"""MIDI files to note arrays and piano rolls and back, with real files in a temporary directory."""

import numpy as np
import pretty_midi
import pytest

from etude.data.midi import (
    NOTE_DTYPE,
    NOTE_FIELDS,
    midi_to_notes,
    note_columns,
    notes_from_columns,
    notes_to_midi,
    piano_roll_targets,
    piano_roll_to_notes,
    read_midi,
)
from etude.errors import DataFileError

TICK = 60 / (120 * 480)  # seconds per tick at the default tempo and resolution


def random_notes(count: int = 200, seed: int = 0) -> np.ndarray:
    generator = np.random.default_rng(seed)
    columns = np.stack([
        generator.integers(21, 109, count),
        generator.uniform(0.0, 0.3, count),  # step
        generator.uniform(0.05, 1.0, count),  # duration
        generator.integers(1, 128, count),
    ], axis=1)
    return notes_from_columns(columns, ('pitch', 'step', 'duration', 'velocity'))


def test_note_array_layout():
    notes = random_notes()
    assert notes.dtype == NOTE_DTYPE and notes.dtype.names == NOTE_FIELDS
    order = np.lexsort((notes['pitch'], notes['start']))
    np.testing.assert_array_equal(order, np.arange(len(notes)))
    np.testing.assert_allclose(np.cumsum(notes['step']), notes['start'])
    np.testing.assert_allclose(notes['end'] - notes['start'], notes['duration'])
    assert note_columns(notes).shape == (200, 3) and note_columns(notes).dtype == np.float32


def test_round_trip_through_a_midi_file(tmp_path):
    notes = random_notes()
    path = tmp_path / 'out' / 'random.mid'
    notes_to_midi(notes, path, program=40, instrument_name='Violin')
    assert [p.name for p in path.parent.iterdir()] == ['random.mid']
    back = midi_to_notes(path)
    assert len(back) == len(notes)
    # MIDI cannot overlap two notes of one pitch: the earlier one ends where the later one starts
    expected = notes.copy()
    for pitch in np.unique(notes['pitch']):
        rows = np.flatnonzero(notes['pitch'] == pitch)
        expected['end'][rows[:-1]] = np.minimum(notes['end'][rows[:-1]], notes['start'][rows[1:]])
    expected['duration'] = expected['end'] - expected['start']
    assert (expected['end'] < notes['end']).sum() > 0  # the test covers some overlaps
    # the same notes, in the same order unless two starts fall in one tick
    order = np.lexsort((back['pitch'], np.rint(back['start'] / TICK)))
    expected = expected[np.lexsort((expected['pitch'], np.rint(expected['start'] / TICK)))]
    np.testing.assert_array_equal(back['pitch'][order], expected['pitch'])
    np.testing.assert_array_equal(back['velocity'][order], expected['velocity'])
    for field in ('start', 'end', 'duration'):
        np.testing.assert_allclose(back[field][order], expected[field], atol=TICK)
    assert read_midi(path).instruments[0].program == 40


def test_generator_output_matrix_becomes_midi(tmp_path):
    # what a pitch/step/duration generator emits: floats, pitches off the grid, a negative duration
    columns = np.array([[60.2, 0.5, 0.4], [64.0, 0.5, 0.4], [67.0, 0.0, -0.1], [200.0, 0.25, 1.0]])
    midi = notes_to_midi(columns, tmp_path / 'generated.mid', tempo=90)
    notes = midi_to_notes(midi)
    np.testing.assert_array_equal(notes['pitch'], [60, 64, 67, 127])
    np.testing.assert_allclose(notes['start'], [0.5, 1.0, 1.0, 1.25], atol=1e-3)
    np.testing.assert_allclose(notes['duration'], [0.4, 0.4, 0.0, 1.0], atol=2e-3)  # at least one tick
    assert set(notes['velocity']) == {100}
    assert read_midi(tmp_path / 'generated.mid').get_tempo_changes()[1][0] == pytest.approx(90, rel=1e-5)


def test_overlaps_of_one_pitch_are_written_unambiguously():
    notes = notes_from_columns(
        np.array([[60, 0.0, 1.0], [60, 0.5, 1.0], [62, 0.0, 0.5], [62, 0.0, 0.25]]), ('pitch', 'start', 'duration')
    )
    back = midi_to_notes(notes_to_midi(notes))
    rows = [(int(n['pitch']), round(n['start'], 3), round(n['end'], 3)) for n in back]
    # the first C ends where the second starts; of the two Ds starting together the longer stays
    assert rows == [(60, 0.0, 0.5), (62, 0.0, 0.5), (60, 0.5, 1.5)]


def test_instrument_and_drum_selection(tmp_path):
    midi = pretty_midi.PrettyMIDI()
    piano, bass, drums = (pretty_midi.Instrument(0), pretty_midi.Instrument(33), pretty_midi.Instrument(0, True))
    piano.notes.append(pretty_midi.Note(80, 72, 0.5, 1.0))
    bass.notes.append(pretty_midi.Note(90, 36, 0.0, 2.0))
    drums.notes.append(pretty_midi.Note(100, 38, 0.25, 0.3))
    midi.instruments += [piano, bass, drums]
    path = tmp_path / 'band.mid'
    midi.write(str(path))
    np.testing.assert_array_equal(midi_to_notes(path)['pitch'], [36, 72])
    np.testing.assert_array_equal(midi_to_notes(path, include_drums=True)['pitch'], [36, 38, 72])
    np.testing.assert_array_equal(midi_to_notes(path, instrument=2)['pitch'], [38])
    with pytest.raises(DataFileError, match='band.mid: has 3 instrument'):
        midi_to_notes(path, instrument=3)
    drums_only = pretty_midi.PrettyMIDI()
    drums_only.instruments.append(drums)
    drums_only.write(str(tmp_path / 'drums.mid'))
    with pytest.raises(DataFileError, match=r'drums.mid: MIDI file contains only drum notes \(drum tracks are left out'):
        midi_to_notes(tmp_path / 'drums.mid')


def test_bad_files_raise_data_file_errors(tmp_path):
    good = tmp_path / 'good.mid'
    notes_to_midi(random_notes(20), good)
    (tmp_path / 'empty.mid').write_bytes(b'')
    (tmp_path / 'text.mid').write_text('this is not MIDI')
    (tmp_path / 'truncated.mid').write_bytes(good.read_bytes()[:40])
    pretty_midi.PrettyMIDI().write(str(tmp_path / 'silent.mid'))
    cases = {
        'missing.mid': 'missing.mid: no such file',
        'empty.mid': r'empty.mid: empty file \(0 bytes\)',
        'text.mid': 'text.mid: not a MIDI file',
        'truncated.mid': 'truncated.mid: corrupt MIDI file',
        'silent.mid': 'silent.mid: MIDI file contains no notes',
    }
    for name, message in cases.items():
        for reader in (read_midi, midi_to_notes):
            with pytest.raises(DataFileError, match=message) as caught:
                reader(tmp_path / name)
            assert '\n' not in str(caught.value)
    assert read_midi(tmp_path / 'silent.mid', allow_empty=True).instruments == []


def test_piano_roll_targets():
    notes = notes_from_columns(
        np.array([[60, 0.102, 0.5, 127], [60, 0.8, 0.2, 64], [64, 0.1, 0.004, 32], [10, 0.0, 1.0, 100]]),
        ('pitch', 'start', 'duration', 'velocity'),
    )
    targets = piano_roll_targets(notes, frames_per_second=100)
    assert set(targets) == {'onset', 'offset', 'frame', 'velocity', 'onset_regression', 'offset_regression'}
    assert all(t.shape == (101, 88) and t.dtype == np.float32 for t in targets.values())
    c4, e4 = 60 - 21, 64 - 21
    np.testing.assert_array_equal(np.flatnonzero(targets['onset'][:, c4]), [10, 80])
    np.testing.assert_array_equal(np.flatnonzero(targets['offset'][:, c4]), [60, 100])
    np.testing.assert_array_equal(np.flatnonzero(targets['frame'][:, c4]), [*range(10, 60), *range(80, 100)])
    np.testing.assert_allclose(targets['velocity'][[10, 80], c4], [1.0, 64 / 127])
    np.testing.assert_array_equal(np.flatnonzero(targets['frame'][:, e4]), [10])  # a 4 ms note keeps one frame
    assert targets['frame'].sum() == 50 + 20 + 1  # pitch 10 is below the piano and left out
    # triangles: 1 - |t_i - 0.102| / 0.05 around frame 10, zero beyond 5 frames
    expected = np.clip(1 - np.abs(np.arange(4, 17) / 100 - 0.102) / 0.05, 0, 1)
    np.testing.assert_allclose(targets['onset_regression'][4:17, c4], expected, atol=1e-6)
    assert targets['onset_regression'][:4, c4].sum() == 0 and targets['onset_regression'][10, c4] < 1
    assert targets['offset_regression'][100, c4] == pytest.approx(1.0)
    assert piano_roll_targets(notes, num_frames=50)['frame'].shape == (50, 88)


def test_piano_roll_of_a_segment_cut_from_a_longer_recording():
    """Times relative to the segment: a note sounding since before it has frames but no onset; one that ended is gone."""
    notes = notes_from_columns(np.array([[60, -0.5, 0.8, 80], [62, -0.5, 0.2, 80], [64, 0.2, 0.1, 80]]), ('pitch', 'start', 'duration', 'velocity'))
    targets = piano_roll_targets(notes, frames_per_second=100, num_frames=40)
    c4, d4, e4 = 60 - 21, 62 - 21, 64 - 21
    np.testing.assert_array_equal(np.flatnonzero(targets['frame'][:, c4]), range(30))
    assert targets['onset'][:, c4].sum() == targets['velocity'][:, c4].sum() == targets['onset_regression'][:, c4].sum() == 0
    assert targets['offset'][30, c4] == 1
    assert targets['frame'][:, d4].sum() == targets['offset'][:, d4].sum() == 0  # ended at -0.3 s
    np.testing.assert_array_equal(np.flatnonzero(targets['onset'][:, e4]), [20])


def test_piano_roll_round_trip():
    notes = random_notes(300, seed=3)
    fps = 100
    # two onsets of one pitch in the same or adjacent frames are one onset run, so one decoded note: avoid them
    frames = np.rint(notes['start'] * fps)
    crowded = [(np.abs(frames[notes['pitch'] == p] - f) <= 1).sum() > 1 for p, f in zip(notes['pitch'], frames, strict=True)]
    notes = notes[~np.array(crowded)]
    targets = piano_roll_targets(notes, frames_per_second=fps)
    decoded = piano_roll_to_notes(
        targets['frame'], targets['onset'], targets['velocity'], frames_per_second=fps
    )
    # same-pitch notes that overlap merge in the frame roll; the onsets split them again
    assert len(decoded) == len(notes)
    np.testing.assert_allclose(decoded['start'], np.rint(notes['start'] * fps) / fps)
    np.testing.assert_array_equal(decoded['pitch'], notes['pitch'][np.lexsort((notes['pitch'], decoded['start']))])
    assert np.abs(decoded['velocity'] - notes['velocity'][np.lexsort((notes['pitch'], decoded['start']))]).max() <= 1
    # frame-only decoding merges overlapping repeats of a pitch, so it finds at most as many notes
    assert 0 < len(piano_roll_to_notes(targets['frame'], frames_per_second=fps)) <= len(notes)


def test_decoding_noisy_probabilities():
    frame = np.zeros((40, 3))
    onset = np.zeros((40, 3))
    frame[5:20, 0] = 0.9  # a held note
    onset[5:7, 0] = 0.8  # its onset, two frames wide
    onset[12, 0] = 0.7  # a re-strike while it is held
    frame[25:30, 1] = 0.9  # activity without an onset: dropped when onsets are given
    frame[35, 2] = onset[35, 2] = 0.9  # a one-frame note
    notes = piano_roll_to_notes(frame, onset, frames_per_second=10, begin_note=60)
    assert [(int(n['pitch']), n['start'], n['end']) for n in notes] == [
        (60, 0.5, 1.2), (60, 1.2, 2.0), (62, 3.5, 3.6)
    ]
    assert len(piano_roll_to_notes(frame, onset, frames_per_second=10, min_frames=2)) == 2
    frame_only = piano_roll_to_notes(frame, frames_per_second=10, begin_note=60)
    assert [int(p) for p in frame_only['pitch']] == [60, 61, 62]
    assert len(piano_roll_to_notes(np.zeros((10, 88)), frames_per_second=100)) == 0
