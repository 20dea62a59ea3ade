"""Note-sequence datasets from real MIDI and MusicXML (Bach chorales from music21's offline corpus)."""

from __future__ import annotations

import os
import shutil
import warnings
from pathlib import Path

import numpy as np
import pretty_midi
import pytest

from etude.data.dataset_layouts import midi_collection, score_performance_pairs
from etude.data.definitions import SkippedFileWarning, split_items
from etude.data.generators import export_chorales
from etude.data.midi import midi_to_notes, note_columns
from etude.data.sequences import NoteSequences, SequenceCache
from etude.errors import ConfigError, DataFileError
from etude.music.performance.codec import SCORE_FEATURES
from etude.music.performance.sequences import PERFORMANCE_TARGETS, PerformanceSequences

CHORALES = ['bach/bwv66.6', 'bach/bwv269', 'bach/bwv347']  # bwv269 repeats its first section


@pytest.fixture(scope='module')
def chorale_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three chorales as MIDI (repeats played, at their marked tempo) beside their MusicXML scores."""
    folder = tmp_path_factory.mktemp('chorales')
    export_chorales(folder, names=CHORALES, write_musicxml=True)
    return folder


def copy_of(folder: Path, destination: Path, suffixes: tuple[str, ...] = ('.mid', '.musicxml')) -> Path:
    destination.mkdir()
    for path in folder.iterdir():
        if path.suffix in suffixes:
            shutil.copy2(path, destination / path.name)
    return destination


def test_note_windows_hold_the_notes_and_the_next_one(chorale_folder: Path, tmp_path: Path) -> None:
    definition = midi_collection(copy_of(chorale_folder, tmp_path / 'midi', ('.mid',)), group_by='file')
    settings = NoteSequences(sequence_length=8, hop=3)
    dataset = SequenceCache(definition, settings, cache_root=tmp_path / 'cache', workers=1, progress=False).load()
    notes = {item.path: note_columns(midi_to_notes(definition.root / item.path)) for item in definition.items}
    assert len(dataset) == sum(len(range(0, len(columns) - 8, 3)) for columns in notes.values())
    assert dataset.inputs.shape == (len(dataset), 8, 3) and dataset.labels['next_pitch'].dtype == np.int64
    for row in (0, len(dataset) // 2, len(dataset) - 1):
        columns, start = notes[dataset.metadata['files'][row]], dataset.metadata['window_starts'][row]
        np.testing.assert_array_equal(dataset.inputs[row], columns[start:start + 8])
        assert dataset.labels['next_pitch'][row] == columns[start + 8, 0]
        assert dataset.labels['next_step'][row] == pytest.approx(columns[start + 8, 1])
    assert dataset.metadata['input_features'] == ['pitch', 'step', 'duration'] and len(dataset.metadata['classes']['next_pitch']) == 128
    split = split_items(dataset, (0.34, 0.33, 0.33), seed=0)
    files = [{dataset.metadata['files'][row] for row in rows} for rows in split.values()]
    assert not (files[0] & files[1] or files[0] & files[2] or files[1] & files[2]), 'windows of one piece stay in one split'
    parallel = SequenceCache(definition, settings, cache_root=tmp_path / 'parallel', workers=2, progress=False).load()
    np.testing.assert_array_equal(parallel.inputs, dataset.inputs)


def test_reused_until_a_file_or_a_setting_changes(chorale_folder: Path, tmp_path: Path) -> None:
    root = copy_of(chorale_folder, tmp_path / 'midi', ('.mid',))
    cache = SequenceCache(midi_collection(root), NoteSequences(sequence_length=8), cache_root=tmp_path / 'cache', workers=1, progress=False)
    first = cache.load()
    assert cache.load().metadata['created'] == first.metadata['created']
    other = SequenceCache(midi_collection(root), NoteSequences(sequence_length=12), cache_root=tmp_path / 'cache', workers=1, progress=False)
    assert other.load().inputs.shape[1] == 12
    touched = next(root.iterdir())
    os.utime(touched, ns=(touched.stat().st_atime_ns, touched.stat().st_mtime_ns + 10**9))
    rebuilt = SequenceCache(midi_collection(root), NoteSequences(sequence_length=8), cache_root=tmp_path / 'cache', workers=1, progress=False)
    assert rebuilt.fingerprint() != first.fingerprint and rebuilt.load().directory != first.directory


def test_bad_midi_is_named_or_skipped_and_remembered(chorale_folder: Path, tmp_path: Path) -> None:
    root = copy_of(chorale_folder, tmp_path / 'midi', ('.mid',))
    (root / 'broken.mid').write_bytes(b'MThd this is not MIDI')
    with pytest.raises(DataFileError, match=r"broken\.mid: .*on_error='skip'"):
        SequenceCache(midi_collection(root), NoteSequences(), cache_root=tmp_path / 'cache', workers=1, progress=False).load()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        dataset = SequenceCache(midi_collection(root), NoteSequences(), cache_root=tmp_path / 'cache', on_error='skip', workers=1, progress=False).load()
    messages = [str(warning.message) for warning in caught if issubclass(warning.category, SkippedFileWarning)]
    assert messages[-1] == 'skipped 1 of 4 files: broken.mid' and 'broken.mid' not in dataset.metadata['files']
    with pytest.raises(DataFileError, match=r'broken\.mid: .*1 file\(s\) left out'):
        SequenceCache(midi_collection(root), NoteSequences(), cache_root=tmp_path / 'cache', workers=1, progress=False).load()
    with pytest.raises(ConfigError, match='columns'):
        NoteSequences(columns=('pitch', 'loudness'))


def test_performance_windows_of_an_exact_rendering(chorale_folder: Path, tmp_path: Path) -> None:
    """music21's MIDI plays the score exactly: every note matched, on time, at one tempo per piece."""
    definition = score_performance_pairs(copy_of(chorale_folder, tmp_path / 'pairs'))
    settings = PerformanceSequences(sequence_length=32, hop=16)
    dataset = SequenceCache(definition, settings, cache_root=tmp_path / 'cache', workers=2, progress=False).load()
    assert dataset.inputs.shape[1:] == (32, len(SCORE_FEATURES)) and set(PERFORMANCE_TARGETS) <= set(dataset.labels)
    assert min(dataset.metadata['match_rates'].values()) > 0.97  # bwv269 only because its repeats were expanded
    real = np.asarray(dataset.labels['note_mask']) == 1
    matched = np.asarray(dataset.labels['matched']) == 1
    assert matched.sum() > 0.97 * real.sum() and not (matched & ~real).any()
    np.testing.assert_allclose(np.asarray(dataset.labels['onset_deviation'])[matched], 0.0, atol=0.01)
    files = np.array(dataset.metadata['files'])
    for name in set(files):  # a MIDI rendering keeps one tempo per piece (bwv66.6 is marked slower than 120 bpm)
        beats = np.asarray(dataset.labels['beat_seconds'])[files == name][real[files == name]]
        np.testing.assert_allclose(beats, np.median(beats), atol=0.01)
        assert 0.3 < np.median(beats) < 1.0
    pitches = np.asarray(dataset.inputs)[..., SCORE_FEATURES.index('pitch')]
    assert ((pitches[real] >= 36) & (pitches[real] <= 84)).all() and (pitches[~real] == 0).all()
    for name in ('bwv269.mid', 'bwv66.6.mid'):
        rows = [row for row, path in enumerate(dataset.metadata['files']) if path == name]
        starts = [dataset.metadata['window_starts'][row] for row in rows]
        assert starts[0] == 0 and starts == sorted(starts)
        assert dataset.labels['note_mask'][rows[-1]].all(), 'the last window ends on the last note, not on padding'


def test_expressive_changes_show_in_the_targets(chorale_folder: Path, tmp_path: Path) -> None:
    """Play one chorale louder in its second half, one note late, one whole chord late and the ending slower: the
    targets say exactly that."""
    root = copy_of(chorale_folder, tmp_path / 'pairs')
    midi = pretty_midi.PrettyMIDI(str(root / 'bwv66.6.mid'))
    notes = sorted((note for instrument in midi.instruments for note in instrument.notes), key=lambda note: (note.start, note.pitch))
    onsets = sorted({note.start for note in notes})
    halfway, late_chord, lone_onset, slowing = onsets[len(onsets) // 2], onsets[20], onsets[30], onsets[-8]
    lone = next(note for note in notes if note.start == lone_onset)
    for note in notes:
        note.velocity = 40 if note.start < halfway else 110
        if note.start == late_chord or note is lone:
            shift = 0.08 if note.start == late_chord else 0.06
            note.start, note.end = note.start + shift, note.end + shift
        elif note.start >= slowing:  # a ritardando: from here on every beat takes 1.5 times as long
            note.start, note.end = slowing + 1.5 * (note.start - slowing), slowing + 1.5 * (note.end - slowing)
    midi.write(str(root / 'bwv66.6.mid'))
    definition = score_performance_pairs(root)
    definition.items = [item for item in definition.items if item.path == 'bwv66.6.mid']
    dataset = SequenceCache(definition, PerformanceSequences(sequence_length=256, hop=256), cache_root=tmp_path / 'cache', workers=1,
                            progress=False).load()
    assert len(dataset) == 1
    labels = {name: np.asarray(dataset.labels[name][0]) for name in PERFORMANCE_TARGETS}
    matched = labels['matched'] == 1
    assert set(np.round(labels['velocity'][matched] * 127).astype(int)) == {40, 110}
    deviation = labels['onset_deviation'][matched]
    assert np.sum(np.abs(deviation - 0.08) < 0.01) >= 3, 'the whole late chord shows as late (a fit through its own time would hide it)'
    assert np.sum(np.abs(deviation - 0.06) < 0.01) == 1, 'the single late note, against its chord'
    beat_seconds = labels['beat_seconds'][labels['note_mask'] == 1]
    assert beat_seconds[-1] > 1.3 * np.median(beat_seconds), 'the ritardando slows the local tempo'
    assert np.median(np.abs(deviation)) < 0.005, 'notes played in time show no deviation'


def test_a_pair_that_does_not_align_is_refused(chorale_folder: Path, tmp_path: Path) -> None:
    root = copy_of(chorale_folder, tmp_path / 'pairs')
    shutil.copy2(root / 'bwv347.mid', root / 'bwv66.6.mid')  # another piece under this score's name
    with pytest.raises(DataFileError, match=r'bwv66\.6\.mid: only \d+% of the notes of bwv66\.6\.musicxml match it'):
        SequenceCache(score_performance_pairs(root), PerformanceSequences(), cache_root=tmp_path / 'cache', workers=1, progress=False).load()


def test_a_piece_shorter_than_a_window_is_padded_and_masked(chorale_folder: Path, tmp_path: Path) -> None:
    root = copy_of(chorale_folder, tmp_path / 'pairs')
    dataset = SequenceCache(score_performance_pairs(root), PerformanceSequences(sequence_length=1024, hop=512), cache_root=tmp_path / 'cache',
                            workers=1, progress=False).load()
    assert len(dataset) == 3  # one padded window per chorale
    for row in range(3):
        mask = np.asarray(dataset.labels['note_mask'][row])
        count = int(mask.sum())
        assert 100 < count < 1024 and mask[:count].all() and not mask[count:].any()
        assert not np.asarray(dataset.inputs[row, count:]).any() and not np.asarray(dataset.labels['matched'][row, count:]).any()
