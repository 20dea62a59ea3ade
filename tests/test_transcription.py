"""Piano transcription: targets → notes round trips, stitching at seams, the metrics against mir_eval, the model, the
data read like MAESTRO, and whole files through `transcribe` (seed 001)."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path
from typing import Any

import mir_eval
import numpy as np
import pytest
import soundfile
import torch
from conftest import needs_fluidsynth

from etude.data.midi import NOTE_DTYPE, notes_from_columns, notes_to_midi, piano_roll_targets
from etude.errors import DataFileError
from etude.music.transcription import transcribe
from etude.music.transcription.baseline import transcribe_baseline
from etude.music.transcription.data import SegmentDataset, clean_notes, maestro_recordings, segment_starts
from etude.music.transcription.decoding import NoteStream, decode_notes, segment_plan, stitched_frames
from etude.music.transcription.model import PianoTranscriber
from etude.music.transcription.scoring import FIGURES, frame_scores, note_scores, score_piece
from etude.music.transcription.settings import DecodingSettings, FrontEnd

KEYS = ('pitch', 'start', 'end', 'velocity')


def random_notes(seed: int, count: int = 60, seconds: float = 20.0) -> np.ndarray:
    """Notes at sub-frame times, at least 0.15 s long, one key sounding once at a time."""
    generator = np.random.default_rng(seed)
    starts = generator.uniform(0.05, seconds - 1.0, count)
    columns = np.stack([generator.integers(30, 100, count), starts, starts + generator.uniform(0.15, 1.0, count),
                        generator.integers(20, 120, count)], axis=1)
    return clean_notes(notes_from_columns(columns, ('pitch', 'start', 'end', 'velocity')))


def outputs_of(notes: np.ndarray, num_frames: int) -> dict[str, np.ndarray]:
    """What a perfect model would output: the regression, frame and velocity targets."""
    targets = piano_roll_targets(notes, frames_per_second=100, num_frames=num_frames)
    return {'onset': targets['onset_regression'], 'offset': targets['offset_regression'], 'frame': targets['frame'], 'velocity': targets['velocity']}


def test_targets_decode_to_their_notes() -> None:
    notes = random_notes(0)
    decoded = decode_notes(outputs_of(notes, 2100), DecodingSettings(), 100)
    assert len(decoded) == len(notes)
    scores = score_piece(notes, decoded)
    assert all(value == 1.0 for value in scores.values()), scores
    # Kong's regression refinement recovers onsets well below the 10 ms frame, and velocities to the MIDI step
    assert np.abs(decoded['start'] - notes['start']).max() < 2e-3
    assert np.abs(decoded['velocity'].astype(int) - notes['velocity']).max() <= 1


def test_streaming_and_seams_give_each_note_once() -> None:
    notes = random_notes(1, count=120, seconds=30.0)
    whole = outputs_of(notes, 3001)
    expected = decode_notes(whole, DecodingSettings(), 100)
    stream = NoteStream(DecodingSettings(), 100)
    parts, position = [], 0
    for size in np.random.default_rng(2).integers(1, 90, 200):
        parts.append(stream.feed({key: values[position:position + size] for key, values in whole.items()}))
        position += size
    parts.append(stream.finish())
    streamed = np.concatenate(parts)
    streamed = streamed[np.lexsort((streamed['pitch'], streamed['start']))]
    np.testing.assert_array_equal(streamed[list(KEYS)], expected[list(KEYS)])
    # overlapping segments, each a slice of the whole, stitched: every frame decoded once, no note split or doubled
    segment_frames, num_frames = 401, 3001
    hop, count = segment_plan(num_frames, segment_frames, 0.5)
    kept = [stitched_frames(index, count, hop, segment_frames, num_frames) for index in range(count)]
    covered = np.concatenate([np.arange(index * hop + begin, index * hop + end) for index, (begin, end) in enumerate(kept)])
    np.testing.assert_array_equal(covered, np.arange(num_frames))
    stream = NoteStream(DecodingSettings(), 100)
    stitched = []
    for index, (begin, end) in enumerate(kept):
        segment = {key: np.pad(values, ((0, segment_frames), (0, 0)))[index * hop:index * hop + segment_frames] for key, values in whole.items()}
        stitched.append(stream.feed({key: values[begin:end] for key, values in segment.items()}))
    stitched.append(stream.finish())
    joined = np.concatenate(stitched)
    joined = joined[np.lexsort((joined['pitch'], joined['start']))]
    seams = [index * hop + end for index, (_, end) in enumerate(kept[:-1])]
    assert any(((notes['start'] * 100 < seam) & (notes['end'] * 100 > seam)).any() for seam in seams), 'some note crosses a seam'
    np.testing.assert_array_equal(joined[list(KEYS)], expected[list(KEYS)])


def test_scores_equal_mir_eval_called_directly() -> None:
    reference = random_notes(3)
    estimate = reference.copy()
    generator = np.random.default_rng(4)
    estimate['start'] += generator.normal(0, 0.04, len(estimate))
    estimate['end'] += generator.normal(0, 0.1, len(estimate))
    estimate['end'] = np.maximum(estimate['end'], estimate['start'] + 0.02)
    estimate['velocity'] = np.clip(estimate['velocity'] + generator.integers(-20, 20, len(estimate)), 1, 127)
    estimate = estimate[generator.permutation(len(estimate))[:-5]]
    scores = note_scores(reference, estimate)

    def intervals(notes: np.ndarray) -> np.ndarray:
        return np.stack([notes['start'], notes['end']], axis=1)

    hertz = [mir_eval.util.midi_to_hz(notes['pitch'].astype(float)) for notes in (reference, estimate)]
    onset = mir_eval.transcription.precision_recall_f1_overlap(intervals(reference), hertz[0], intervals(estimate), hertz[1], offset_ratio=None)
    both = mir_eval.transcription.precision_recall_f1_overlap(intervals(reference), hertz[0], intervals(estimate), hertz[1])
    velocity = mir_eval.transcription_velocity.precision_recall_f1_overlap(
        intervals(reference), hertz[0], reference['velocity'].astype(float), intervals(estimate), hertz[1], estimate['velocity'].astype(float))
    assert scores['onset_f1'] == pytest.approx(onset[2]) and scores['onset_precision'] == pytest.approx(onset[0])
    assert scores['onset_offset_f1'] == pytest.approx(both[2]) and scores['onset_offset_recall'] == pytest.approx(both[1])
    assert scores['onset_offset_velocity_f1'] == pytest.approx(velocity[2])
    assert 0.3 < scores['onset_offset_f1'] < scores['onset_f1'] < 1.0
    frames = frame_scores(reference, estimate)
    assert 0.5 < frames['frame_f1'] < 1.0 and frame_scores(reference, reference)['frame_f1'] == 1.0


def test_clean_notes_merges_unisons() -> None:
    notes = np.zeros(4, dtype=NOTE_DTYPE)
    notes['pitch'], notes['start'], notes['end'], notes['velocity'] = [60, 60, 60, 10], [0.0, 0.0, 0.5, 1.0], [1.0, 0.6, 1.2, 2.0], 80
    cleaned = clean_notes(notes)
    assert cleaned[['pitch', 'start', 'end']].tolist() == [(60, 0.0, 0.5), (60, 0.5, 1.2)]


def test_model_shapes_seeded_weights_and_losses() -> None:
    parameters = PianoTranscriber.Parameters(channels=(4, 8), acoustic_units=16, gru_units=8)
    model, again = PianoTranscriber(parameters), PianoTranscriber(parameters)
    for mine, theirs in zip(model.state_dict().values(), again.state_dict().values(), strict=True):
        torch.testing.assert_close(mine, theirs)
    waveform = torch.randn(2, 32000) * 0.1
    outputs = model(waveform)
    assert set(outputs) == {'onset', 'offset', 'frame', 'velocity'}
    assert all(values.shape == (2, 201, 88) and 0 <= float(values.detach().min()) and float(values.detach().max()) <= 1 for values in outputs.values())
    targets = {key: torch.zeros(2, 201, 88) for key in ('frame', 'onset', 'onset_regression', 'offset_regression', 'velocity')}
    loss = model.loss(outputs, targets)
    loss.backward()
    assert torch.isfinite(loss) and model.onset_head.weight.grad is not None
    assert model.frame_gru.input_size == 16 + 2 * 88, 'the frame head hears the onset and offset outputs'
    assert float(outputs['onset'].mean()) < 0.1, 'the heads start near the targets\' share of active cells, not at 0.5'


def test_the_readmes_sizes() -> None:
    from etude.music.transcription.model import FULL_SIZE

    def count(model: PianoTranscriber) -> int:
        return sum(weights.numel() for weights in model.parameters())

    assert count(PianoTranscriber(PianoTranscriber.Parameters())) == 1_233_986
    assert round(count(PianoTranscriber(PianoTranscriber.Parameters(**FULL_SIZE))) / 1e6, 1) == 5.1


def augmented_batch(model: PianoTranscriber, inputs: torch.Tensor, targets: dict[str, torch.Tensor], updates: int) -> tuple[torch.Tensor, dict]:
    """What `model.training_step` trains on at update `updates` of a run (the batch after the augmentation)."""
    from etude.training.step import Step

    seen: dict[str, Any] = {}
    step = Step(model, model.configure_optimisers(), model.hyperparameters, device=torch.device('cpu'))
    step.updates = updates
    step.start_batch(is_last_of_epoch=True)
    handle = model.register_forward_pre_hook(lambda module, args: seen.setdefault('inputs', args[0].detach().clone()))
    loss = model.loss

    def recording_loss(predictions: Any, batch_targets: Any) -> torch.Tensor:
        seen['targets'] = batch_targets
        return loss(predictions, batch_targets)

    model.loss = recording_loss  # type: ignore[method-assign]
    model.training_step((inputs, targets), step)
    handle.remove()
    return seen['inputs'], seen['targets']


def test_augmentation_moves_audio_and_targets_together_seeded_by_the_batchs_place() -> None:
    """A pitch shift moves every target roll by the keys the audio moved; gain and noise leave targets alone."""
    rate, seconds = 16000, 1.0
    time = np.arange(int(rate * seconds)) / rate
    inputs = torch.from_numpy(np.stack([0.2 * np.sin(2 * np.pi * 440 * time)] * 4).astype(np.float32))  # A4: key 69 - 21 = 48
    frames = 101
    targets = {key: torch.zeros(4, frames, 88) for key in ('frame', 'onset', 'onset_regression', 'offset_regression', 'velocity')}
    for key in targets:
        targets[key][:, :, 48] = 1.0
    targets['piece'], targets['start'] = torch.arange(4), torch.zeros(4, dtype=torch.float64)
    small = {'channels': (4,), 'acoustic_units': 8, 'gru_units': 4}
    plain = PianoTranscriber(PianoTranscriber.Parameters(**small))
    assert plain.augmentation is None
    seen, _ = augmented_batch(plain, inputs, targets, 0)
    assert torch.equal(seen, inputs), 'no augmentation unless it is switched on'

    parameters = PianoTranscriber.Parameters(**small, pitch_shift_semitones=3, pitch_shift_probability=1.0, noise_probability=1.0, noise_snr_db=(40.0, 40.0))
    model = PianoTranscriber(parameters)
    assert all(isinstance(value, torch.Tensor) for value in model.state_dict().values()), 'exports hold tensors only'
    audio, moved = augmented_batch(model, inputs, targets, 5)
    assert torch.equal(moved['piece'], targets['piece']) and torch.equal(moved['start'], targets['start'])
    shifts = []
    for row in range(4):
        keys = {key: int(moved[key][row].sum(dim=0).argmax()) for key in ('frame', 'onset', 'onset_regression', 'offset_regression', 'velocity')}
        assert len(set(keys.values())) == 1, f'every roll moves alike: {keys}'
        spectrum = np.abs(np.fft.rfft(audio[row].numpy()))
        peak_hz = float(np.fft.rfftfreq(len(time), 1 / rate)[spectrum.argmax()])
        heard = round(12 * np.log2(peak_hz / 440))
        assert keys['frame'] - 48 == heard, f'the audio moved {heard} semitones, the targets {keys["frame"] - 48}'
        shifts.append(heard)
        assert -3 <= heard <= 3
    assert len(set(shifts)) > 1, f'each example draws its own shift: {shifts}'
    again, moved_again = augmented_batch(PianoTranscriber(parameters), inputs, targets, 5)
    assert torch.equal(again, audio) and torch.equal(moved_again['frame'], moved['frame']), 'the same place in the run draws the same'
    other, _ = augmented_batch(PianoTranscriber(parameters), inputs, targets, 6)
    assert not torch.equal(other, audio)
    loud, unchanged = augmented_batch(PianoTranscriber(PianoTranscriber.Parameters(**small, gain_db=6.0)), inputs, targets, 5)
    gains = (loud.abs().amax(dim=1) / inputs.abs().amax(dim=1)).numpy()
    assert np.all((gains >= 10 ** (-6 / 20) - 1e-4) & (gains <= 10 ** (6 / 20) + 1e-4)) and len(set(np.round(gains, 4))) > 1
    assert torch.equal(unchanged['frame'], targets['frame']), 'a gain leaves the targets alone'


def write_piece(path: Path, notes: np.ndarray, seconds: float) -> None:
    """A 16 kHz WAV whose keys sound as decaying sines where `notes` say, beside its MIDI file."""
    rate = 16000
    time = np.arange(round(seconds * rate)) / rate
    audio = np.zeros_like(time)
    for note in notes:
        inside = (time >= note['start']) & (time < note['end'])
        audio[inside] += 0.1 * np.sin(2 * np.pi * 440 * 2 ** ((note['pitch'] - 69) / 12) * time[inside]) * np.exp(-(time[inside] - note['start']) * 3)
    soundfile.write(path.with_suffix('.wav'), audio.astype(np.float32), rate)
    notes_to_midi(notes, path.with_suffix('.midi'))


def test_maestro_layout_split_and_targets_on_the_fly(tmp_path: Path) -> None:
    (tmp_path / '2004').mkdir()
    rows = []
    for index, split in enumerate(('train', 'train', 'validation', 'test')):
        notes = random_notes(10 + index, count=12, seconds=6.0)
        write_piece(tmp_path / '2004' / f'piece{index}', notes, 6.0)
        rows.append({'canonical_title': f'piece {index}', 'split': split, 'midi_filename': f'2004/piece{index}.midi',
                     'audio_filename': f'2004/piece{index}.wav', 'duration': 6.0})
    with open(tmp_path / 'maestro-v3.0.0.csv', 'w', newline='') as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    recordings = maestro_recordings(tmp_path)
    assert [recording.split for recording in recordings] == ['train', 'train', 'validation', 'test']
    front_end = FrontEnd(segment_seconds=2.0)
    items = [(piece, start) for piece, recording in enumerate(recordings) for start in segment_starts(recording.duration, 2.0, 1.5)]
    dataset = SegmentDataset(recordings, items, front_end)
    audio, targets = dataset[5]
    piece, start = items[5]
    expected_audio = soundfile.read(recordings[piece].audio, dtype='float32')[0][round(start * 16000):round(start * 16000) + 32000]
    np.testing.assert_allclose(audio.numpy()[:len(expected_audio)], expected_audio, atol=1e-6)
    shifted = recordings[piece].notes.copy()
    shifted['start'] -= start
    shifted['end'] -= start
    rolls = piano_roll_targets(shifted, frames_per_second=100, num_frames=201)
    for key in ('frame', 'onset', 'onset_regression', 'offset_regression', 'velocity'):
        np.testing.assert_array_equal(targets[key].numpy(), rolls[key], err_msg=key)
    assert int(targets['piece']) == piece and float(targets['start']) == start


def test_transcribe_refuses_bad_audio(tmp_path: Path) -> None:
    model = PianoTranscriber(PianoTranscriber.Parameters(channels=(4,), acoustic_units=8, gru_units=4))
    (tmp_path / 'text.wav').write_text('not audio at all')
    soundfile.write(tmp_path / 'silent.wav', np.zeros(16000, dtype=np.float32), 16000)
    soundfile.write(tmp_path / 'short.wav', np.full(160, 0.1, dtype=np.float32), 16000)
    for name, message in (('text.wav', 'text.wav'), ('silent.wav', 'silent'), ('short.wav', '10 ms')):
        with pytest.raises(DataFileError, match=message):
            transcribe(model, tmp_path / name)
    notes, duration = transcribe(model, np.random.default_rng(0).normal(0, 0.1, 40000).astype(np.float32), segment_seconds=1.0)
    assert duration == 2.5 and notes.dtype == NOTE_DTYPE


def test_the_routines_metric_decodes_as_transcribe_does_holding_one_piece_at_a_time(tmp_path: Path) -> None:
    """NoteMetrics over a split's segments (batches crossing pieces) gives exactly `transcribe`'s notes of each file,
    so `etude evaluate` recomputes the routine's figures; and it keeps only the pieces still coming in."""
    from etude.data.audio import audio_info
    from etude.music.transcription.data import Recording
    from etude.music.transcription.metrics import NoteMetrics

    model = PianoTranscriber(PianoTranscriber.Parameters(channels=(4,), acoustic_units=8, gru_units=4))
    model.eval()
    front_end, settings = FrontEnd(segment_seconds=1.0), DecodingSettings(onset_threshold=0.02, offset_threshold=0.02, frame_threshold=0.02)
    recordings = []
    for index, seconds in enumerate((3.3, 2.05, 4.0)):
        notes = random_notes(10 + index, count=12, seconds=seconds)
        write_piece(tmp_path / f'piece{index}', notes, seconds)
        audio = tmp_path / f'piece{index}.wav'
        recordings.append(Recording(audio, audio.with_suffix('.midi'), notes, audio_info(audio).duration))
    items = [(index, start) for index, recording in enumerate(recordings) for start in segment_starts(recording.duration, 1.0, 0.5)]
    metric = NoteMetrics({i: r.notes for i, r in enumerate(recordings)}, {i: r.duration for i, r in enumerate(recordings)},
                         {i: r.name for i, r in enumerate(recordings)}, front_end, settings)
    with torch.no_grad():
        for inputs, targets in torch.utils.data.DataLoader(SegmentDataset(recordings, items, front_end), batch_size=3):
            metric.update(model(inputs), targets)
            assert len(metric.segments) <= 2, 'a piece whose segments have all come is decoded and its outputs dropped'
    metric.compute()
    for recording in recordings:
        expected, _ = transcribe(model, recording.audio, settings=settings, segment_seconds=1.0, batch_size=2)
        assert len(expected) > 0
        np.testing.assert_array_equal(metric.estimates[recording.name][list(KEYS)], expected[list(KEYS)])


def test_note_metrics_merge_two_processes_shares_and_refuse_segments_transcribe_does_not_cut() -> None:
    """Under torchrun each process sees a contiguous share of a piece's segments: merged, they decode as one process
    does; a start that is not one of `planned_starts` (segment_starts' extra last one, here) is passed over."""
    from etude.music.transcription.decoding import planned_starts
    from etude.music.transcription.metrics import NoteMetrics

    front_end, settings = FrontEnd(segment_seconds=2.0), DecodingSettings()
    duration = 6.005  # segment_starts gives one segment more than transcribe cuts
    notes = random_notes(7, count=25, seconds=6.0)
    whole = outputs_of(notes, front_end.frames(round(duration * 16000)) + 201)
    starts = planned_starts(duration, front_end, 0.5)
    extra = segment_starts(duration, 2.0, 1.0)
    assert len(extra) == len(starts) + 1

    def metric_of(segment_starts_seen: list[float]) -> NoteMetrics:
        metric = NoteMetrics({0: notes}, {0: duration}, {0: 'piece'}, front_end, settings)
        if segment_starts_seen:
            predictions = {key: torch.from_numpy(np.stack([whole[key][round(start * 100):round(start * 100) + 201] for start in segment_starts_seen]))
                           for key in ('onset', 'offset', 'frame', 'velocity')}
            metric.update(predictions, {'piece': torch.zeros(len(segment_starts_seen), dtype=torch.int64),
                                        'start': torch.tensor(segment_starts_seen, dtype=torch.float64)})
        return metric

    alone = metric_of(extra)
    alone.compute()
    first, second = metric_of(extra[:1]), metric_of(extra[1:])
    first.merge(second)
    first.compute()
    assert len(alone.estimates['piece']) > 0
    np.testing.assert_array_equal(first.estimates['piece'][list(KEYS)], alone.estimates['piece'][list(KEYS)])
    assert alone.pieces['piece']['onset_offset_velocity_key_f1'] == alone.pieces['piece']['onset_offset_velocity_pedal_f1'] == 1.0


@needs_fluidsynth
def test_baseline_finds_separate_notes(tmp_path: Path) -> None:
    from etude.data.generators import render_midi

    notes = notes_from_columns(np.array([[60, 0.2, 0.9, 90], [67, 1.2, 1.9, 90], [48, 2.2, 2.9, 90], [72, 3.2, 3.9, 90]]),
                               ('pitch', 'start', 'end', 'velocity'))
    notes_to_midi(notes, tmp_path / 'scale.mid')
    render_midi(tmp_path / 'scale.mid', tmp_path / 'scale.wav')
    found = transcribe_baseline(tmp_path / 'scale.wav')
    assert note_scores(notes, found)['onset_recall'] >= 0.75
    shutil.rmtree(tmp_path)


def routine_module_report(summary: dict) -> str:
    from etude.music.transcription import routine as routine_module

    return routine_module.report(summary)


def train_testing_routine(root: Path, *overrides: str) -> dict:
    """The routine as `etude train piano_transcription --testing` runs it (Routine, parameters, build, train, report)."""
    from etude import Routine
    from etude.music.transcription import routine as routine_module

    routine = Routine(runs_directory=root / 'runs', verbose=False)
    parameters = routine.set_parameters(routine_module.DEFAULTS, overrides=['testing=true', f'data_directory={root / "data"}', *overrides],
                                        testing_defaults=routine_module.TESTING)
    routine_module.build(routine, parameters)
    summary = routine.train()
    assert 'note-onset F1' in routine_module.report(summary)
    return summary


@pytest.mark.slow
@pytest.mark.timeout(900)  # renders, trains, then three subprocesses: minutes on a loaded 2-core machine
@needs_fluidsynth
def test_routine_end_to_end_then_infer_and_evaluate(tmp_path: Path) -> None:
    import json
    import os
    import subprocess
    import sys

    summary = train_testing_routine(tmp_path)
    for figure in FIGURES:  # onset_f1, onset_offset_key_f1, onset_offset_pedal_f1, ..., frame_pedal_f1
        assert 0.0 <= summary['test'][figure] <= 1.0
        assert figure in summary['baselines']['spectral flux']
    assert summary['test']['onset_offset_key_f1'] == summary['test']['onset_offset_pedal_f1'], 'chorales have no pedal: both conventions agree'
    assert 'held_out_piano_onset_f1' in summary['test'] and 'onset_loss' in summary['test']
    from etude.music.transcription.peer import BASIC_PITCH, basic_pitch_available

    if basic_pitch_available():  # the peer on the same pieces, by the same calls (CI installs it)
        peer = summary['baselines'][BASIC_PITCH]
        assert set(peer) == set(summary['baselines']['spectral flux']) and 0 < peer['onset_f1'] <= 1
        assert f"basic-pitch {peer['onset_f1']:.3f}" in routine_module_report(summary)
    run = Path(summary['paths']['run'])
    pieces = sorted((tmp_path / 'data' / 'renders').glob('*.wav'))
    silent, text = tmp_path / 'silent.wav', tmp_path / 'text.wav'
    soundfile.write(silent, np.zeros(8000, dtype=np.float32), 16000)
    text.write_text('not audio')
    environment = {**os.environ, 'PYTHONPATH': str(Path(__file__).resolve().parents[1])}
    inferred = subprocess.run([sys.executable, '-m', 'etude', 'infer', summary['paths']['best'], str(pieces[0]), str(silent), str(text),
                               '--output', str(tmp_path / 'out'), '--onset-threshold', '0.4', '--render'],
                              capture_output=True, text=True, env=environment, timeout=300)
    assert inferred.returncode == 2, inferred.stderr
    assert 'silent' in inferred.stderr and 'text.wav' in inferred.stderr and 'Traceback' not in inferred.stderr
    rows = [json.loads(line) for line in (tmp_path / 'out' / 'predictions.jsonl').read_text().splitlines()]
    assert len(rows) == 1 and rows[0]['duration'] > 1 and {'notes', 'seconds'} <= set(rows[0])
    assert (tmp_path / 'out' / f'{pieces[0].stem}.mid').is_file()
    if rows[0]['notes']:  # a re-synthesis of no notes would be silence, and none is written
        assert soundfile.info(tmp_path / 'out' / f'{pieces[0].stem}.wav').samplerate == 16000, 'the re-synthesis pairs with its original by name and rate'
    wrong = subprocess.run([sys.executable, '-m', 'etude', 'infer', summary['paths']['best'], str(pieces[0]), '--top', '2', '--output', str(tmp_path / 'o2')],
                           capture_output=True, text=True, env=environment, timeout=300)
    assert wrong.returncode == 2 and len(wrong.stderr.strip().splitlines()) == 1, wrong.stderr
    evaluated = subprocess.run([sys.executable, '-m', 'etude', 'evaluate', str(run)], capture_output=True, text=True, env=environment, timeout=600)
    assert evaluated.returncode == 0, evaluated.stderr
    metrics = json.loads(next((run / 'evaluation').glob('metrics.json')).read_text())
    assert json.dumps(metrics).count('onset_f1') >= 1
    report = next((run / 'evaluation').glob('*.html')).read_text()
    assert 'sustain pedal' in report and 'Worst pieces' in report and 'piano roll' in report


def test_note_metrics_join_segments_and_pass_over_noise() -> None:
    from etude.music.transcription.metrics import NoteMetrics

    front_end, settings = FrontEnd(segment_seconds=2.0), DecodingSettings()
    notes = random_notes(5, count=20, seconds=5.0)
    duration = 5.0
    whole = outputs_of(notes, front_end.frames(round(duration * 16000)) + 201)
    starts = segment_starts(duration, 2.0, 1.0)
    metric = NoteMetrics({0: notes, 1: notes}, {0: duration, 1: duration}, {0: 'clean', 1: 'noise'}, front_end, settings)
    noise = np.random.default_rng(6).uniform(0.3, 0.35, (len(starts), 201, 88)).astype(np.float32)
    for piece in (0, 1):
        predictions = {key: torch.from_numpy(np.stack([whole[key][round(start * 100):round(start * 100) + 201] for start in starts])) if piece == 0
                       else torch.from_numpy(noise) for key in ('onset', 'offset', 'frame', 'velocity')}
        metric.update(predictions, {'piece': torch.full((len(starts),), piece), 'start': torch.tensor(starts, dtype=torch.float64)})
    figures = metric.compute()
    assert metric.pieces['clean']['onset_offset_velocity_pedal_f1'] == 1.0 and metric.pieces['noise']['onset_f1'] == 0.0
    assert metric.pieces['noise']['onset_offset_key_f1'] == 0.0 and 0.0 <= metric.pieces['noise']['frame_key_f1'] < 1.0
    assert figures['noise_pieces'] == 1.0 and figures['onset_f1'] == 0.5
