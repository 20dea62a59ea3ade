import math

import pytest
import torch

from etude.data.acoustics import Equalizer, Reverb
from etude.data.augment import BatchAugmentation
from etude.errors import ConfigError

SR = 16000


def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def rt60_of(response: torch.Tensor, start: int) -> float:
    """RT60 in seconds from the slope of Schroeder's energy decay curve between -5 and -25 dB (T20) of the tail."""
    energy = response[start:].double().pow(2).flip(0).cumsum(0).flip(0)
    decay_db = 10 * torch.log10(energy / energy[0])
    first = int((decay_db <= -5).nonzero()[0])
    last = int((decay_db <= -25).nonzero()[0])
    return 60 * (last - first) / SR / 20


def test_seeded_draws_repeat_and_differ_between_seeds() -> None:
    x = torch.randn(4, 8000)
    targets = {'frame': torch.rand(4, 51, 88)}

    def run(seed: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        chain = BatchAugmentation(Reverb(SR, p=0.7), Equalizer(SR, 12.0, p=0.7), seed=seed)
        out, labels = chain(x, targets)
        return out, labels  # type: ignore[return-value]

    first, second, other = run(3), run(3), run(4)
    assert torch.equal(first[0], second[0]) and not torch.equal(first[0], other[0])
    assert first[1] is targets and torch.equal(first[1]['frame'], targets['frame']), 'targets pass through unchanged'


@pytest.mark.parametrize('rt60', [0.3, 1.2])
def test_decay_after_an_impulse_matches_the_drawn_rt60(rt60: float) -> None:
    impulse = torch.zeros(3, int(2 * SR))
    impulse[:, 0] = 1.0
    reverb = Reverb(SR, rt60_seconds=(rt60, rt60), direct_to_reverberant_db=(0.0, 0.0), pre_delay_seconds=(0.01, 0.01))
    out, _ = reverb.augment(impulse, None, torch.ones(3, dtype=torch.bool), generator(0))
    for row in out:
        assert row[0] == pytest.approx(1.0), 'the direct path keeps unit gain at delay 0'
        assert row[1:int(0.01 * SR)].abs().max() < 1e-6, 'nothing between the direct path and the pre-delay'
        tail = row[1:]
        assert tail.pow(2).sum().item() == pytest.approx(1.0, rel=1e-3), 'direct-to-reverberant ratio of 0 dB'
        assert rt60_of(row, int(0.01 * SR) + 1) == pytest.approx(rt60, rel=0.1)


def test_equalizer_at_zero_db_is_the_identity_and_a_band_gives_its_drawn_gain_at_its_centre() -> None:
    x = torch.randn(4, 16000) * 0.1
    flat, _ = Equalizer(SR, 0.0, bands=3).augment(x, None, torch.ones(4, dtype=torch.bool), generator(1))
    torch.testing.assert_close(flat, x, atol=1e-4, rtol=0)
    sine = torch.sin(2 * math.pi * 1000 * torch.arange(16000) / SR).repeat(3, 1)
    band = Equalizer(SR, 12.0, bands=1, frequency_hz=(1000.0, 1000.0), q=(1.0, 1.0))
    _, drawn_db, _ = band.draw_bands(3, generator(2), torch.device('cpu'))
    out, _ = band.augment(sine, None, torch.ones(3, dtype=torch.bool), generator(2))
    rms = out[:, 8000:].pow(2).mean(1).sqrt() / sine[:, 8000:].pow(2).mean(1).sqrt()
    torch.testing.assert_close(20 * torch.log10(rms).double(), drawn_db[0], atol=0.05, rtol=0)
    assert drawn_db.abs().max() > 1, 'the draws are not all near 0 dB'


def test_probability_zero_and_eval_mode_leave_audio_exactly_unchanged() -> None:
    x = torch.randn(5, 4000)
    for augmentor in (Reverb(SR, p=0.0), Equalizer(SR, 12.0, p=0.0)):
        out, _ = augmentor(x, None, generator(0))
        assert out is x or torch.equal(out, x)
    chain = BatchAugmentation(Reverb(SR), Equalizer(SR), seed=0).eval()
    assert chain(x)[0] is x


def test_only_the_chosen_examples_change_and_multichannel_audio_works() -> None:
    x = torch.randn(6, 2, 4000)
    apply = torch.tensor([True, False, True, False, False, True])
    for augmentor in (Reverb(SR), Equalizer(SR, 12.0)):
        out, _ = augmentor.augment(x, None, apply, generator(5))
        assert out.shape == x.shape
        assert torch.equal(out[~apply], x[~apply]) and not torch.equal(out[apply], x[apply])


@pytest.mark.parametrize('build', [
    lambda: Reverb(SR, rt60_seconds=(0.0, 1.0)),
    lambda: Reverb(SR, rt60_seconds=(1.5, 0.2)),
    lambda: Reverb(SR, pre_delay_seconds=(-0.1, 0.0)),
    lambda: Reverb(0),
    lambda: Equalizer(SR, -3.0),
    lambda: Equalizer(SR, bands=0),
    lambda: Equalizer(SR, frequency_hz=(60.0, 9000.0)),
    lambda: Equalizer(SR, q=(0.0, 1.0)),
    lambda: Equalizer(SR, p=1.5),
])
def test_bad_settings_are_refused_in_one_line(build: object) -> None:
    with pytest.raises(ConfigError) as error:
        build()  # type: ignore[operator]
    assert '\n' not in str(error.value)


def test_the_transcribers_parameters_switch_them_on_in_order_and_refuse_bad_values() -> None:
    from etude.music.transcription.model import PianoTranscriber, augmentation_of

    small = {'channels': (4,), 'acoustic_units': 8, 'gru_units': 4}
    assert augmentation_of(PianoTranscriber.Parameters(**small)) is None, 'off by default'
    chain = augmentation_of(PianoTranscriber.Parameters(**small, pitch_shift_semitones=1, reverb_probability=0.5,
                                                        reverb_seconds=(0.3, 0.8), equalizer_probability=0.5,
                                                        equalizer_gain_db=9.0, noise_probability=0.1))
    assert chain is not None
    assert [type(a).__name__ for a in chain] == ['PitchShift', 'Reverb', 'Equalizer', 'AddNoise']
    reverb, equalizer = chain[1], chain[2]
    assert isinstance(reverb, Reverb) and reverb.rt60_seconds == (0.3, 0.8) and reverb.p == 0.5
    assert isinstance(equalizer, Equalizer) and equalizer.gain_db == 9.0
    for bad in ({'reverb_seconds': (0.0, 1.0)}, {'reverb_seconds': (2.0, 1.0)}, {'reverb_probability': 1.2},
                {'equalizer_gain_db': -1.0}, {'equalizer_probability': -0.1}):
        with pytest.raises(ConfigError) as error:
            PianoTranscriber.Parameters(**small, **bad)
        assert '\n' not in str(error.value)
