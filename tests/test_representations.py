import dataclasses
import math
from typing import Any

import numpy as np
import pytest
import torch

from etude.data.representations import (
    Featuriser,
    RepresentationSettings,
    featurise,
    num_frames,
    output_shape,
)
from etude.errors import ConfigError

KINDS = ('waveform', 'stft', 'mel', 'log_mel', 'mfcc')
SR = 16000


def small(**overrides: object) -> RepresentationSettings:
    values: dict[str, object] = {'sample_rate': SR, 'n_fft': 256, 'hop_length': 64, 'n_mels': 32, 'n_mfcc': 13}
    values.update(overrides)
    return RepresentationSettings(**values)  # type: ignore[arg-type]


def sine(frequency: float, seconds: float = 0.5, amplitude: float = 1.0) -> torch.Tensor:
    t = torch.arange(int(SR * seconds), dtype=torch.float64) / SR
    return (amplitude * torch.sin(2 * math.pi * frequency * t)).float()


@pytest.mark.parametrize('kind', KINDS)
@pytest.mark.parametrize('center', [True, False])
@pytest.mark.parametrize('num_samples', [256, 257, 300, 1000, 4097])
def test_output_shape_matches_features(kind: str, center: bool, num_samples: int) -> None:
    settings = small(kind=kind, center=center, win_length=200)
    features = Featuriser(settings)(torch.randn(3, num_samples))
    assert features.shape == (3, *output_shape(settings, num_samples))


def test_documented_shapes() -> None:
    assert output_shape(small(kind='waveform'), 1000) == (1000,)
    assert output_shape(small(kind='stft'), 1000) == (129, 1 + 1000 // 64)
    assert output_shape(small(kind='mel', center=False), 1000) == (32, 1 + (1000 - 256) // 64)
    assert output_shape(small(kind='log_mel'), 1000) == (32, num_frames(small(), 1000))
    assert output_shape(small(kind='mfcc'), 1000) == (13, 16)


def test_too_short_clips_raise_config_error() -> None:
    with pytest.raises(ConfigError, match='n_fft=256'):
        output_shape(small(kind='mel', center=False), 255)
    with pytest.raises(ConfigError, match='too short'):
        Featuriser(small(kind='stft'))(torch.randn(2, 128))
    with pytest.raises(ConfigError, match='num_samples'):
        output_shape(small(kind='waveform'), 0)


def test_mel_of_sine_peaks_in_band_containing_frequency() -> None:
    settings = small(kind='mel', n_fft=2048, hop_length=512, n_mels=40, f_max=8000.0)

    def to_mel(hz: float) -> float:
        return 2595.0 * math.log10(1.0 + hz / 700.0)

    centres = torch.linspace(to_mel(0.0), to_mel(8000.0), 40 + 2)[1:-1]
    expected = int((centres - to_mel(1000.0)).abs().argmin())
    mel = Featuriser(settings)(sine(1000.0)[None])[0]
    assert int(mel.mean(dim=-1).argmax()) == expected


def test_mfcc_shape_and_log_mel_definition() -> None:
    x = torch.randn(2, 2000)
    assert Featuriser(small(kind='mfcc'))(x).shape == (2, 13, 1 + 2000 // 64)
    mel = Featuriser(small(kind='mel'))(x)
    log_mel = Featuriser(small(kind='log_mel', log_offset=1e-3))(x)
    torch.testing.assert_close(log_mel, torch.log(mel + 1e-3))


def test_stft_power_is_magnitude_squared() -> None:
    x = torch.randn(2, 3000)
    magnitude = Featuriser(small(kind='stft', power=1.0))(x)
    power = Featuriser(small(kind='stft', power=2.0))(x)
    torch.testing.assert_close(power, magnitude ** 2, rtol=1e-4, atol=1e-5)


def test_peak_normalisation() -> None:
    x = torch.randn(4, 1000) * torch.tensor([[0.1], [2.0], [0.5], [0.0]])
    waveform = Featuriser(small(kind='waveform', normalise='peak'))(x)
    torch.testing.assert_close(waveform[:3].abs().amax(dim=-1), torch.ones(3))
    assert torch.equal(waveform[3], torch.zeros(1000))  # silence stays silence, no NaN
    # Peak normalisation removes the recording gain from any representation.
    mel = Featuriser(small(kind='log_mel', normalise='peak'))
    torch.testing.assert_close(mel(x[:1] * 7.0), mel(x[:1]), rtol=1e-4, atol=1e-4)


def test_standardise_and_min_max_per_example() -> None:
    x = torch.randn(3, 2000) * torch.tensor([[0.01], [1.0], [30.0]])
    standardised = Featuriser(small(kind='log_mel', normalise='standardise'))(x)
    torch.testing.assert_close(standardised.mean(dim=(1, 2)), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(standardised.std(dim=(1, 2), unbiased=False), torch.ones(3), atol=1e-4, rtol=0)
    scaled = Featuriser(small(kind='stft', normalise='min_max'))(x)
    torch.testing.assert_close(scaled.amin(dim=(1, 2)), torch.zeros(3))
    torch.testing.assert_close(scaled.amax(dim=(1, 2)), torch.ones(3))
    constant = Featuriser(small(kind='waveform', normalise='standardise'))(torch.ones(1, 500))
    assert torch.equal(constant, torch.zeros(1, 500))


def test_features_do_not_depend_on_batch_composition() -> None:
    x = torch.randn(4, 2000)
    x[0] *= 100.0
    for kind in KINDS:
        featuriser = Featuriser(small(kind=kind, normalise='standardise'))
        torch.testing.assert_close(featuriser(x)[1:], featuriser(x[1:]), rtol=1e-4, atol=1e-4)


def test_settings_round_trip_through_json_dict() -> None:
    import json

    settings = small(kind='mfcc', f_max=7000.0, win_length=200, normalise='standardise', mel_scale='slaney')
    values = json.loads(json.dumps(settings.to_dict()))
    assert RepresentationSettings.from_dict(values) == settings
    assert RepresentationSettings.from_dict({}) == RepresentationSettings()


def test_from_dict_names_nearest_key() -> None:
    with pytest.raises(ConfigError, match="'n_mel'.*'n_mels'"):
        RepresentationSettings.from_dict({'n_mel': 64})
    assert RepresentationSettings(kind='log_mel', n_mels=20).n_mfcc == 40  # n_mfcc only constrains 'mfcc'
    with pytest.raises(ConfigError, match='mapping'):
        RepresentationSettings.from_dict([('n_mels', 64)])  # type: ignore[arg-type]


def test_fingerprint_is_stable_and_changes_with_every_field() -> None:
    # A literal digest: sha256 of sorted JSON is the same in every process and on every machine.
    assert RepresentationSettings().fingerprint() == 'ccf5b462e2a908b554e98dcd7929761b8bad658c7173508f0a0b5945273c0d92'
    assert RepresentationSettings(power=2).fingerprint() == RepresentationSettings(power=2.0).fingerprint()
    changed: dict[str, Any] = {
        'kind': 'mel', 'sample_rate': 22050, 'n_fft': 2048, 'hop_length': 512, 'win_length': 512, 'power': 1.0,
        'n_mels': 64, 'f_min': 20.0, 'f_max': 4000.0, 'mel_scale': 'slaney', 'n_mfcc': 20, 'log_offset': 1e-5,
        'center': False, 'normalise': 'peak',
    }
    names = {field.name for field in dataclasses.fields(RepresentationSettings)}
    assert set(changed) == names
    base = RepresentationSettings()
    digests = {base.fingerprint()}
    for name, value in changed.items():
        digests.add(dataclasses.replace(base, **{name: value}).fingerprint())
    assert len(digests) == len(names) + 1


@pytest.mark.parametrize('overrides, field', [
    ({'kind': 'cqt'}, 'kind'),
    ({'n_fft': 0}, 'n_fft'),
    ({'hop_length': 2048}, 'hop_length'),
    ({'win_length': 4096}, 'win_length'),
    ({'power': 3.0}, 'power'),
    ({'n_mels': 0}, 'n_mels'),
    ({'f_max': 9000.0}, 'f_max'),
    ({'f_min': -1.0}, 'f_min'),
    ({'kind': 'mfcc', 'n_mfcc': 200}, 'n_mfcc'),
    ({'log_offset': 0.0}, 'log_offset'),
    ({'normalise': 'l2'}, 'normalise'),
    ({'sample_rate': 16000.5}, 'sample_rate'),
    ({'center': 'yes'}, 'center'),
    ({'f_min': float('nan')}, 'f_min'),
])
def test_invalid_settings_raise_config_error_naming_field(overrides: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        RepresentationSettings(**overrides)  # type: ignore[arg-type]


def test_featurise_batches_numpy_float64_on_cpu() -> None:
    settings = small(kind='log_mel')
    data = np.random.default_rng(0).standard_normal((10, 1500))
    features = featurise(data, settings, device='cpu', batch_size=3)
    assert features.dtype == torch.float32 and features.device.type == 'cpu'
    assert features.shape == (10, *output_shape(settings, 1500))
    featuriser = Featuriser(settings).to('cpu')
    torch.testing.assert_close(features, featuriser(torch.from_numpy(data).float()), rtol=1e-4, atol=1e-4)
    assert featurise(data[0], settings).shape == output_shape(settings, 1500)
    assert featurise(np.zeros((0, 1500)), settings).shape == (0, *output_shape(settings, 1500))


def test_featurise_rejects_bad_input() -> None:
    with pytest.raises(TypeError, match='floating-point'):
        featurise(np.zeros((2, 1000), dtype=np.int16), small())
    with pytest.raises(ConfigError, match='batch_size'):
        featurise(np.zeros((2, 1000)), small(), batch_size=0)


def test_featuriser_follows_module_device_and_dtype() -> None:
    featuriser = Featuriser(small(kind='mfcc')).to('cpu')
    x = torch.randn(2, 1000, dtype=torch.float64)
    assert featuriser(x).dtype == torch.float32
    assert featuriser.double()(x).dtype == torch.float64
    if torch.cuda.is_available():
        assert Featuriser(small(kind='mfcc')).to('cuda')(x).device.type == 'cuda'
