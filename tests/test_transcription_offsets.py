"""Note offsets under both conventions: key releases as written, and extended by the sustain pedal (CC 64, down from
64) until the pedal lifts or the key is struck again; targets follow the task's setting, scoring reports both."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pretty_midi
import pytest
import soundfile

from etude.errors import CheckpointError, ConfigError
from etude.music.transcription.data import Recording, SegmentDataset
from etude.music.transcription.scoring import FIGURES, average_scores, score_piece
from etude.music.transcription.settings import BEGIN_NOTE, FrontEnd
from etude.music.transcription.task import Transcription

# (pitch, start, key release): 60 is released while the pedal is down, so sounds until it lifts at 2.0; 64 is released
# under the pedal too but struck again at 1.0, which ends it there; its second note sounds until 2.0; 48 is released
# after the pedal lifted; 67 is released under a pedal at exactly 64 (down), which lifts at 63 (up); 72 under a pedal
# at 63 (up); two voices in unison on 76 (the second on a track of its own, as a chorale's parts are, with no pedal
# events of its own: a piano's pedal holds every track's notes), released under the pedal, are one note in both.
WRITTEN = [(60, 0.0, 0.5), (48, 0.1, 2.5), (64, 0.2, 0.4), (64, 1.0, 1.2), (67, 2.5, 3.0), (72, 4.0, 4.5), (76, 5.0, 5.3), (76, 5.0, 5.2)]
PEDAL = [(0.3, 100), (2.0, 0), (2.8, 64), (3.5, 63), (4.2, 63), (5.1, 127), (6.0, 0)]
KEY_TRUTH = [(60, 0.0, 0.5), (48, 0.1, 2.5), (64, 0.2, 0.4), (64, 1.0, 1.2), (67, 2.5, 3.0), (72, 4.0, 4.5), (76, 5.0, 5.3)]
PEDAL_TRUTH = [(60, 0.0, 2.0), (48, 0.1, 2.5), (64, 0.2, 1.0), (64, 1.0, 2.0), (67, 2.5, 3.5), (72, 4.0, 4.5), (76, 5.0, 6.0)]


def write_performance(folder: Path, pedal: list[tuple[float, int]] = PEDAL) -> Recording:
    """A MIDI file of `WRITTEN` with `pedal` as CC 64 events (pretty_midi), beside 7 s of silence, read as a Recording."""
    midi = pretty_midi.PrettyMIDI()
    piano, voice = pretty_midi.Instrument(program=0), pretty_midi.Instrument(program=0)
    piano.notes = [pretty_midi.Note(velocity=80, pitch=pitch, start=start, end=end) for pitch, start, end in WRITTEN[:-1]]
    voice.notes = [pretty_midi.Note(velocity=60, pitch=pitch, start=start, end=end) for pitch, start, end in WRITTEN[-1:]]
    piano.control_changes = [pretty_midi.ControlChange(number=64, value=value, time=time) for time, value in pedal]
    midi.instruments.extend([piano, voice])
    midi.write(str(folder / 'performance.mid'))
    soundfile.write(folder / 'performance.wav', np.zeros(7 * 16000, dtype=np.float32), 16000)
    return Recording.read(folder / 'performance.wav', folder / 'performance.mid')


def rows(notes: np.ndarray) -> list[tuple[int, float, float]]:
    return [(int(pitch), round(float(start), 6), round(float(end), 6)) for pitch, start, end in notes[['pitch', 'start', 'end']].tolist()]


def test_the_pedal_extends_offsets_until_it_lifts_or_the_key_is_struck_again(tmp_path: Path) -> None:
    recording = write_performance(tmp_path)
    assert rows(recording.notes) == rows(recording.notes_for('key')) == KEY_TRUTH
    assert recording.pedal_notes is not None and rows(recording.notes_for('pedal')) == PEDAL_TRUTH
    pedal = recording.notes_for('pedal')
    np.testing.assert_allclose(pedal['duration'], pedal['end'] - pedal['start'])
    assert set(recording.truths) == {'key', 'pedal'}
    # without pedal events, one note list serves both conventions
    (tmp_path / 'dry').mkdir()
    dry = write_performance(tmp_path / 'dry', pedal=[])
    assert dry.pedal_notes is None and dry.truths['pedal'] is dry.truths['key'] and rows(dry.notes) == KEY_TRUTH


def test_targets_follow_the_convention(tmp_path: Path) -> None:
    recording = write_performance(tmp_path)
    front_end = FrontEnd(segment_seconds=4.0)
    rolls = {convention: SegmentDataset([recording], [(0, 0.0)], front_end, offset_convention=convention).targets(0, 0.0)
             for convention in ('key', 'pedal')}
    key_60 = 60 - BEGIN_NOTE
    assert rolls['key']['frame'][40, key_60] == 1 and rolls['key']['frame'][100, key_60] == 0
    assert rolls['pedal']['frame'][100, key_60] == 1 and rolls['pedal']['frame'][199, key_60] == 1 and rolls['pedal']['frame'][210, key_60] == 0
    assert rolls['key']['offset_regression'][50, key_60] == 1 and rolls['pedal']['offset_regression'][200, key_60] == 1
    assert rolls['key']['offset_regression'][200, key_60] == 0
    np.testing.assert_array_equal(rolls['key']['onset'].numpy(), rolls['pedal']['onset'].numpy())
    with pytest.raises(ConfigError, match="'key'.*'pedal'"):
        SegmentDataset([recording], [(0, 0.0)], front_end, offset_convention='sustain')  # type: ignore[arg-type]


def test_both_conventions_scored_and_different_where_the_pedal_matters(tmp_path: Path) -> None:
    recording = write_performance(tmp_path)
    learned_pedal = recording.notes_for('pedal').copy()  # a transcriber that hears the strings ring on
    scores = score_piece(recording.truths, learned_pedal)
    assert set(scores) == set(FIGURES) and 'onset_offset_f1' not in scores
    assert scores['onset_f1'] == 1.0
    assert scores['onset_offset_pedal_f1'] == scores['onset_offset_velocity_pedal_f1'] == scores['frame_pedal_f1'] == 1.0
    assert scores['onset_offset_key_f1'] == pytest.approx(2 / 7)  # only 48 and 72 end where they were released
    assert scores['frame_key_f1'] < 1.0 and scores['frame_key_precision'] < scores['frame_key_recall'] == 1.0
    # chorale-like: no pedal, so the two truths are one and the figures agree
    (tmp_path / 'dry').mkdir()
    dry = write_performance(tmp_path / 'dry', pedal=[])
    estimate = dry.notes.copy()
    estimate['end'] += 0.3
    dry_scores = score_piece(dry.truths, estimate)
    for kind in ('onset_offset', 'onset_offset_velocity', 'frame'):
        for measure in ('precision', 'recall', 'f1'):
            assert dry_scores[f'{kind}_key_{measure}'] == dry_scores[f'{kind}_pedal_{measure}']
    assert dry_scores['onset_offset_key_f1'] < 1.0
    assert average_scores([scores, dry_scores])['onset_offset_pedal_f1'] == pytest.approx((1.0 + dry_scores['onset_offset_pedal_f1']) / 2)


def test_the_task_records_the_setting_and_reads_old_exports(tmp_path: Path) -> None:
    assert Transcription().offset_convention == 'pedal'
    old = Transcription.from_dict({'kind': 'transcription', 'offset_convention': 'key releases: ground-truth notes are not extended by the sustain pedal'})
    assert old.offset_convention == 'key' and old.to_dict()['offset_convention'] == 'key'
    with pytest.raises(CheckpointError, match='offset_convention'):
        Transcription.from_dict({'kind': 'transcription', 'offset_convention': 'sounding'})
    recording = write_performance(tmp_path)
    task = Transcription(offset_convention='key', pieces={'train': [[str(recording.audio), str(recording.midi)]]})
    dataset, _ = task.segment_dataset({'train': [recording]}, FrontEnd(segment_seconds=4.0), training_hop_seconds=4.0)
    assert dataset.offset_convention == 'key'


def test_the_routine_reports_both() -> None:
    from etude.music.transcription.routine import DEFAULTS, report

    assert DEFAULTS.offset_convention == 'pedal'
    figures = dict.fromkeys(FIGURES, 0.5) | {'onset_offset_key_f1': 0.25, 'onset_offset_pedal_f1': 0.75}
    line = report({'test': figures, 'baselines': {'spectral flux': figures}})
    assert 'onset+offset 0.250 / 0.750' in line and 'key releases / extended by the pedal' in line


def test_the_routines_metric_scores_each_piece_against_both_truths(tmp_path: Path) -> None:
    """NoteMetrics, given `Recording.truths`, reports both conventions' figures: a model that outputs the pedal-extended
    targets scores 1 against that truth and less against key releases."""
    import torch

    from etude.data.midi import piano_roll_targets
    from etude.music.transcription.decoding import planned_starts
    from etude.music.transcription.metrics import NoteMetrics
    from etude.music.transcription.settings import DecodingSettings

    recording = write_performance(tmp_path)
    front_end, settings = FrontEnd(segment_seconds=2.0), DecodingSettings()
    rolls = piano_roll_targets(recording.notes_for('pedal'), frames_per_second=100, num_frames=front_end.frames(round(recording.duration * 16000)) + 201)
    whole = {'onset': rolls['onset_regression'], 'offset': rolls['offset_regression'], 'frame': rolls['frame'], 'velocity': rolls['velocity']}
    starts = planned_starts(recording.duration, front_end, settings.segment_overlap)
    metric = NoteMetrics({0: recording.truths}, {0: recording.duration}, {0: recording.name}, front_end, settings)
    metric.update({key: torch.from_numpy(np.stack([values[round(start * 100):round(start * 100) + 201] for start in starts])) for key, values in whole.items()},
                  {'piece': torch.zeros(len(starts), dtype=torch.int64), 'start': torch.tensor(starts, dtype=torch.float64)})
    figures = metric.compute()
    assert figures['onset_f1'] == figures['onset_offset_pedal_f1'] == figures['frame_pedal_f1'] == 1.0
    assert figures['onset_offset_key_f1'] == pytest.approx(2 / 7) and figures['frame_key_f1'] < 1.0
