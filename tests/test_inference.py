"""`etude.inference`: prediction from the export alone equals the model on its training features, and decodes by task."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile
import test_inference_runs
import torch
from test_inference_runs import TrainedRun, run_etude

from etude import load_model
from etude.data.audio import read_audio, resample
from etude.data.store import read_dataset
from etude.errors import CheckpointError, ConfigError, DataFileError
from etude.inference import Predictor
from etude.tasks import Classification, Regression, task_from_dict
from etude.tasks.base import InferenceContext

digits_run = test_inference_runs.digits_run  # the shared session fixture
drum_run = test_inference_runs.drum_run  # the shared session fixture


def model_on_stored(run: TrainedRun, rows: list[int], crop: int | None = None) -> torch.Tensor:
    """The independent reference: the exported model on the stored dataset's own rows, as the routine tested it."""
    model = load_model(run.checkpoint)
    inputs = torch.from_numpy(np.asarray(read_dataset(run.dataset).inputs[rows]))
    with torch.no_grad():
        return model(inputs[..., :crop] if crop else inputs)


def test_digits_from_files_equal_the_model_on_cached_features(digits_run: TrainedRun) -> None:
    stored = read_dataset(digits_run.dataset)
    rows = digits_run.split['test']
    files = [Path(stored.metadata['raw_root']) / stored.metadata['files'][row] for row in rows]
    expected = torch.softmax(model_on_stored(digits_run, rows), dim=1)
    predictor = Predictor.from_checkpoint(digits_run.checkpoint, batch_size=7)  # batches that do not divide the split
    results = predictor.predict(files)
    assert [result['digit'] for result in results] == [str(int(index)) for index in expected.argmax(1)]
    assert [result['probability'] for result in results] == pytest.approx(expected.max(1).values.tolist(), abs=1e-5)
    arrays = [read_audio(path)[0] for path in files[:3]]  # the array API: the same files as numbers at their own rate
    assert predictor.predict_arrays(arrays, sample_rate=8000) == results[:3]


def test_another_sample_rate_and_stereo_are_read_as_training_read_them(digits_run: TrainedRun, tmp_path: Path) -> None:
    stored = read_dataset(digits_run.dataset)
    original = Path(stored.metadata['raw_root']) / stored.metadata['files'][digits_run.split['test'][0]]
    audio, rate = read_audio(original)
    stereo = tmp_path / 'stereo.wav'
    soundfile.write(stereo, np.stack([audio, audio], axis=1), rate, subtype='FLOAT')
    upsampled = tmp_path / 'upsampled.flac'
    soundfile.write(upsampled, np.stack([resample(audio, rate, 44100)] * 2, axis=1), 44100, subtype='PCM_24')
    predictor = Predictor.from_checkpoint(digits_run.checkpoint)
    mono, same_stereo, other_rate = predictor.predict([original, stereo, upsampled])
    assert same_stereo == mono, 'two equal channels mix down to the mono recording'
    # independently: soxr's 44.1 kHz → 8 kHz of the file, mono, through the training featuriser and the model
    reference, _ = soundfile.read(upsampled, dtype='float32', always_2d=True)
    clip = np.zeros(8000, dtype=np.float32)
    back = resample(reference.mean(axis=1), 44100, 8000)[:8000]
    clip[:len(back)] = back
    with torch.no_grad():
        expected = torch.softmax(predictor.model(predictor.task.preparation(predictor.context).featuriser()(torch.from_numpy(clip)[None])), dim=1)[0]
    assert other_rate['digit'] == str(int(expected.argmax())) and other_rate['probability'] == pytest.approx(float(expected.max()), abs=1e-4)
    assert other_rate['probability'] == pytest.approx(mono['probability'], abs=0.05), 'a resampled copy sounds the same to the model'


def test_drum_dimensions_from_files_equal_the_model_on_stored_strikes(drum_run: TrainedRun, tmp_path: Path) -> None:
    stored = read_dataset(drum_run.dataset)
    rows = drum_run.split['test']
    paths = []
    for row in rows:
        path = tmp_path / f'strike_{row}.wav'
        soundfile.write(path, np.asarray(stored.inputs[row]) * 0.5, 16000, subtype='FLOAT')  # quieter: inference peak-normalises as the sampler did
        paths.append(path)
    results = Predictor.from_checkpoint(drum_run.checkpoint).predict(paths)
    expected = model_on_stored(drum_run, rows, crop=1024)
    predicted = np.array([[result['drum_size'], result['aspect_ratio']] for result in results])
    np.testing.assert_allclose(predicted, expected.numpy(), rtol=1e-4, atol=1e-5)


def test_tasks_decode_as_their_settings_say() -> None:
    logits = torch.tensor([[0.5, 2.0, -1.0], [3.0, 0.0, 0.1]])
    vowels = Classification(target='vowel', classes=['a', 'e', 'i'])
    context = InferenceContext({}, 'vowels.pt', torch.device('cpu'), options={'top': 2})
    first, second = vowels.decode(logits, context)
    probabilities = np.exp(logits.numpy()) / np.exp(logits.numpy()).sum(axis=1, keepdims=True)
    assert first['vowel'] == 'e' and first['probability'] == pytest.approx(probabilities[0].max(), abs=1e-6)
    assert [entry['class'] for entry in second['top']] == ['a', 'i'] and second['top'][1]['probability'] == pytest.approx(probabilities[1, 2], abs=1e-6)
    sizes = Regression(targets=['width', 'height'], scales={'width': 100.0}, units={'width': 'cm', 'height': 'm'})
    assert sizes.decode(torch.tensor([[0.25, 1.5]]), None) == [{'width': 25.0, 'height': 1.5}]
    assert task_from_dict(sizes.to_dict()) == sizes
    with pytest.raises(CheckpointError, match='records no task'):
        task_from_dict({})
    with pytest.raises(CheckpointError, match="task kind 'tapping'.*not registered here.*install the package"):
        task_from_dict({'kind': 'tapping'})
    with pytest.raises(CheckpointError, match="setting 'colour'"):
        task_from_dict({'kind': 'regression', 'targets': ['width'], 'colour': 'red'})
    with pytest.raises(ConfigError, match='at least two classes'):
        Classification(target='vowel', classes=['a'])


def test_unusable_files_are_one_line_errors(digits_run: TrainedRun, tmp_path: Path) -> None:
    predictor = Predictor.from_checkpoint(digits_run.checkpoint)
    short = tmp_path / 'click.wav'
    soundfile.write(short, np.ones(40, dtype=np.float32) * 0.1, 8000)
    corrupt = tmp_path / 'corrupt.wav'
    corrupt.write_bytes(b'RIFF\x00\x00\x00\x00WAVEfmt nonsense')
    for path, message in ((short, 'too short for this model'), (corrupt, 'corrupt'), (tmp_path / 'missing.wav', 'no such file'),
                          (tmp_path / 'notes.mid', 'not a readable audio file')):
        with pytest.raises(DataFileError, match=message) as caught:
            predictor.predict([path])
        assert '\n' not in str(caught.value) and str(path) in str(caught.value)


@pytest.mark.slow
def test_python_m_etude_infer_prints_the_digit_and_its_probability(digits_run: TrainedRun, tmp_path: Path) -> None:
    """A user's view: nothing installed, `python -m etude infer best.pt some.wav` in a fresh process."""
    stored = read_dataset(digits_run.dataset)
    some = Path(stored.metadata['raw_root']) / stored.metadata['files'][digits_run.split['test'][0]]
    result = run_etude('infer', str(digits_run.checkpoint), str(some), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    header, row = result.stdout.strip().splitlines()
    assert header.split() == ['input', 'digit', 'probability']
    expected = torch.softmax(model_on_stored(digits_run, [digits_run.split['test'][0]]), dim=1)[0]
    assert row.split()[1:] == [str(int(expected.argmax())), f'{float(expected.max()):.4g}']
    listed = run_etude('infer', str(digits_run.checkpoint), '-', '--jsonl', '--top', '3', cwd=tmp_path, stdin=f'{some}\n')
    assert listed.returncode == 0, listed.stderr
    line = json.loads(listed.stdout)
    assert line['input'] == str(some) and len(line['top']) == 3 and line['top'][0]['class'] == line['digit']
