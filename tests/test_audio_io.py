"""Reading, writing and resampling real audio files in a temporary directory."""

import os

import numpy as np
import pytest
import soundfile
import torch

from etude.data.audio import AudioInfo, audio_info, read_audio, resample, resample_tensor, write_audio
from etude.errors import DataFileError

RATE = 16000


def tone(frequency: float, seconds: float = 1.0, rate: int = RATE) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return (0.5 * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


@pytest.fixture
def stereo_wav(tmp_path):
    """1 s stereo file: a 440 Hz tone left, a 220 Hz tone right, written as 32-bit float WAV by soundfile."""
    audio = np.stack([tone(440), tone(220)])
    path = tmp_path / 'stereo.wav'
    soundfile.write(path, audio.T, RATE, subtype='FLOAT')
    return path, audio


def test_read_stereo_layouts(stereo_wav):
    path, audio = stereo_wav
    both, rate = read_audio(path, mono=False)
    assert rate == RATE and both.dtype == np.float32 and both.shape == (2, RATE)
    np.testing.assert_array_equal(both, audio)
    mono, _ = read_audio(path)
    np.testing.assert_allclose(mono, audio.mean(axis=0), atol=1e-7)
    right, _ = read_audio(path, channel=1)
    np.testing.assert_array_equal(right, audio[1])


def test_read_excerpt_reads_the_right_frames(stereo_wav):
    path, audio = stereo_wav
    excerpt, _ = read_audio(path, mono=False, offset_seconds=0.25, duration_seconds=0.5)
    np.testing.assert_array_equal(excerpt, audio[:, 4000:12000])
    tail, _ = read_audio(path, channel=0, offset_seconds=0.9, duration_seconds=5.0)  # cut at the end
    np.testing.assert_array_equal(tail, audio[0, 14400:])


def test_read_with_resampling_keeps_the_tone(stereo_wav):
    path, _ = stereo_wav
    audio, rate = read_audio(path, channel=0, sample_rate=8000)
    assert rate == 8000 and audio.shape == (8000,) and audio.dtype == np.float32
    np.testing.assert_allclose(audio[100:-100], tone(440, rate=8000)[100:-100], atol=2e-3)


@pytest.mark.parametrize('extension', ['wav', 'flac', 'ogg', 'mp3'])
def test_write_then_read_every_format(tmp_path, extension):
    audio = np.stack([tone(440), tone(330)])
    path = write_audio(tmp_path / 'sub' / f'out.{extension}', torch.from_numpy(audio), RATE)
    info = audio_info(path)
    assert isinstance(info, AudioInfo)
    assert (info.sample_rate, info.channels, info.format) == (RATE, 2, extension.upper())
    back, rate = read_audio(path, mono=False)
    assert rate == RATE and back.shape[0] == 2
    if extension in ('wav', 'flac'):  # lossless 16-bit
        assert info.frames == RATE and info.duration == pytest.approx(1.0)
        np.testing.assert_allclose(back, audio, atol=1 / 2**15)
    else:  # lossy codecs: same length give or take codec padding, same energy
        assert abs(back.shape[1] - RATE) < 0.1 * RATE
        assert np.std(back) == pytest.approx(np.std(audio), rel=0.2)
    assert [p.name for p in path.parent.iterdir()] == [f'out.{extension}']  # no temporary file left
    assert os.stat(path).st_mode & 0o777 == 0o644


def test_write_mono_with_subtype(tmp_path):
    path = write_audio(tmp_path / 'mono.wav', tone(100), RATE, subtype='PCM_24')
    info = audio_info(path)
    assert (info.channels, info.subtype, info.frames) == (1, 'PCM_24', RATE)
    np.testing.assert_allclose(read_audio(path)[0], tone(100), atol=1e-6)


def test_failed_write_keeps_the_old_file(tmp_path):
    path = write_audio(tmp_path / 'keep.flac', tone(100), RATE)
    before = path.read_bytes()
    with pytest.raises(DataFileError, match='keep.flac: subtype'):
        write_audio(path, tone(200), RATE, subtype='FLOAT')  # FLAC has no float subtype
    with pytest.raises(ValueError, match='shape'):
        write_audio(path, np.zeros((1, 2, 100)), RATE)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ['keep.flac']


def test_resample_numpy_and_tensor_agree():
    audio = np.stack([tone(300, rate=44100), tone(600, rate=44100)])
    numpy_out = resample(audio, 44100, 16000)
    assert numpy_out.shape == (2, 16000) and numpy_out.dtype == np.float32
    batch = torch.from_numpy(audio)[None].repeat(3, 1, 1)  # (batch, channels, samples)
    for quality in ('default', 'high'):
        tensor_out = resample_tensor(batch, 44100, 16000, quality=quality)
        assert tensor_out.shape == (3, 2, 16000)
        np.testing.assert_allclose(tensor_out[1, :, 200:-200].numpy(), numpy_out[:, 200:-200], atol=5e-3)
    np.testing.assert_allclose(numpy_out[0, 200:-200], tone(300)[200:-200], atol=2e-3)
    assert resample(audio.astype(np.float64), 44100, 22050).dtype == np.float64
    assert resample(np.zeros((2, 0)), 44100, 16000).shape == (2, 0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA device')
def test_resample_tensor_stays_on_the_device():
    batch = torch.from_numpy(np.stack([tone(300, rate=44100)] * 4)).cuda()
    out = resample_tensor(batch, 44100, 16000, quality='high')
    assert out.device == batch.device and out.shape == (4, 16000)
    np.testing.assert_allclose(out[2, 200:-200].cpu().numpy(), resample(tone(300, rate=44100), 44100, 16000)[200:-200], atol=5e-3)


def test_missing_empty_corrupt_and_unsupported_files(tmp_path, stereo_wav):
    path, _ = stereo_wav
    (tmp_path / 'empty.wav').write_bytes(b'')
    (tmp_path / 'notes.txt').write_text('not audio')
    (tmp_path / 'text.flac').write_text('not audio either')
    (tmp_path / 'truncated.wav').write_bytes(path.read_bytes()[:30])  # header cut short
    (tmp_path / 'cut.wav').write_bytes(path.read_bytes()[:len(path.read_bytes()) // 3])  # audio cut short: libsndfile reads it silently
    soundfile.write(tmp_path / 'silent.wav', np.zeros((0, 1), dtype=np.float32), RATE)
    cases = {
        'missing.wav': 'missing.wav: no such file',
        'empty.wav': r'empty.wav: empty file \(0 bytes\)',
        'notes.txt': "notes.txt: not a readable audio file \\(unsupported format 'txt'\\); supported: wav, flac",
        'text.flac': 'text.flac: corrupt or not a flac audio file',
        'truncated.wav': 'truncated.wav: corrupt',
        'cut.wav': r'cut.wav: truncated: its header declares \d+ bytes of audio but the file holds \d+',
        'silent.wav': r'silent.wav: empty audio \(0 frames\)',
    }
    for name, message in cases.items():
        for reader in (read_audio, audio_info):
            with pytest.raises(DataFileError, match=message) as caught:
                reader(tmp_path / name)
            assert '\n' not in str(caught.value)
    with pytest.raises(DataFileError, match='has 2 channel'):
        read_audio(path, channel=2)
    with pytest.raises(DataFileError, match='past the end'):
        read_audio(path, offset_seconds=3.0)
    with pytest.raises(DataFileError, match="unsupported format 'aiff'"):
        write_audio(tmp_path / 'x.aiff', tone(100), RATE)


def test_resampled_excerpt_matches_the_same_stretch_of_the_resampled_file(tmp_path):
    """Context around an excerpt is decoded and resampled with it, so its edges are not filtered against silence."""
    rng = np.random.default_rng(0)
    soundfile.write(tmp_path / 'noise.wav', (0.1 * rng.standard_normal(44100 * 3)).astype(np.float32), 44100, subtype='FLOAT')
    whole, _ = read_audio(tmp_path / 'noise.wav', sample_rate=16000)
    for offset, duration in ((0.0, 1.0), (0.5, 1.0), (1.23, 0.77), (2.5, 1.0)):
        excerpt, _ = read_audio(tmp_path / 'noise.wav', sample_rate=16000, offset_seconds=offset, duration_seconds=duration)
        start = round(offset * 16000)
        assert len(excerpt) == min(round(duration * 16000), len(whole) - start)
        np.testing.assert_allclose(excerpt, whole[start:start + len(excerpt)], atol=1e-6)
