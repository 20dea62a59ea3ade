import math

import numpy as np
import pytest
import torch

from etude.data.augment import (
    AddNoise,
    BatchAugmentation,
    BatchAugmentor,
    FrequencyMasking,
    Gain,
    PitchShift,
    TimeMasking,
)
from etude.errors import ConfigError

SR = 16000


def sines(frequencies: list[float], seconds: float = 0.5) -> torch.Tensor:
    """`(len(frequencies), samples)` unit sines."""
    t = torch.arange(int(SR * seconds), dtype=torch.float64) / SR
    return torch.stack([torch.sin(2 * math.pi * f * t) for f in frequencies]).float()


def peak_hz(waveforms: torch.Tensor) -> torch.Tensor:
    """`(batch,)` frequency of the strongest spectral peak of each `(batch, samples)` waveform."""
    n = waveforms.shape[-1]
    spectrum = torch.fft.rfft(waveforms * torch.hann_window(n, periodic=False), n=4 * n).abs()
    return spectrum.argmax(dim=-1) * SR / (4 * n)


def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_same_seed_same_output_and_different_seed_different_output() -> None:
    x = torch.randn(6, 4000)
    targets = {'pitch': torch.arange(60, 66)}

    def run(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        chain = BatchAugmentation(PitchShift(SR, (-2, 2), p=0.7), Gain(-6, 6), AddNoise((10, 30)), seed=seed)
        out, labels = chain(x, targets)
        return out, labels['pitch']

    first, second, other = run(1), run(1), run(2)
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])
    assert not torch.equal(first[0], other[0])


def test_generator_continues_between_batches_and_resumes_from_state_dict() -> None:
    x = torch.randn(4, 1000)
    chain = BatchAugmentation(Gain(-12, 12), AddNoise((0, 20)), seed=5)
    first = chain(x)[0]
    state = chain.state_dict()
    second = chain(x)[0]
    assert not torch.equal(first, second)  # the sequence moves on
    resumed = BatchAugmentation(Gain(-12, 12), AddNoise((0, 20)), seed=99)
    resumed.load_state_dict(state)
    assert torch.equal(resumed(x)[0], second)
    chain.reset()
    assert torch.equal(chain(x)[0], first)


def test_the_seed_is_the_runs_never_the_global_generators() -> None:
    before = torch.get_rng_state()
    with pytest.raises(ConfigError, match="needs seed=...; pass the run's seed"):
        BatchAugmentation(Gain(-6, 6))
    assert BatchAugmentation(Gain(-6, 6), seed=3).seed == 3
    assert torch.equal(torch.get_rng_state(), before), 'building an augmentation draws nothing from the global generator'


@pytest.mark.parametrize('semitones, ratio', [(12, 2.0), (-12, 0.5), (3, 2 ** (3 / 12)), (-2, 2 ** (-2 / 12))])
def test_pitch_shift_moves_spectral_peak_and_keeps_length(semitones: int, ratio: float) -> None:
    x = sines([440.0])
    shifted, _ = PitchShift(SR, (semitones, semitones))(x, None, generator(0))
    assert shifted.shape == x.shape
    assert abs(float(peak_hz(shifted)[0]) - 440.0 * ratio) < 3.0
    # The phase-locked vocoder keeps the level of a steady tone.
    middle = slice(x.shape[-1] // 4, 3 * x.shape[-1] // 4)
    assert abs(float(shifted[0, middle].pow(2).mean().sqrt()) - math.sqrt(0.5)) < 0.05


def test_pitch_shift_labels_follow_audio_per_example() -> None:
    batch = 8
    x = sines([330.0] * batch)
    pitch = torch.full((batch,), 64)
    pitch[0] = -1  # 'no pitch' marker survives
    roll = torch.zeros(batch, 10, 88)
    roll[:, :, 40] = 1.0
    roll[:, :, 87] = 0.5  # top key: dropped, not wrapped, when shifted up
    roll[:, :, 0] = 0.25  # bottom key: dropped when shifted down
    targets = {'pitch': pitch, 'frame': roll, 'f0': torch.full((batch, 10), 330.0), 'instrument': torch.arange(batch)}
    out, labels = PitchShift(SR, (-2, 2))(x, targets, generator(4))
    n = torch.round(12 * torch.log2(peak_hz(out) / 330.0)).long()
    assert len(n.unique()) > 1  # shifts are drawn per example
    assert torch.equal(labels['pitch'][1:], 64 + n[1:]) and labels['pitch'][0] == -1
    torch.testing.assert_close(labels['f0'], 330.0 * 2 ** (n.float()[:, None] / 12).expand(batch, 10))
    assert torch.equal(labels['instrument'], targets['instrument'])
    for b in range(batch):
        k = int(n[b])
        expected = torch.zeros(10, 88)
        expected[:, 40 + k] = 1.0
        if k <= 0:
            expected[:, 87 + k] = 0.5
        if k >= 0:
            expected[:, k] = 0.25
        assert torch.equal(labels['frame'][b], expected), f'example {b}, shift {k}'
    assert torch.equal(targets['frame'], roll)  # the caller's targets are not mutated


def test_pitch_shift_rejects_bare_tensor_targets_and_bad_settings() -> None:
    with pytest.raises(ConfigError, match='dict'):
        PitchShift(SR)(torch.randn(2, 4000), torch.zeros(2), generator(0))
    with pytest.raises(ConfigError, match='semitones'):
        PitchShift(SR, (2, -2))
    with pytest.raises(ConfigError, match='semitones'):
        PitchShift(SR, (0.5, 1))  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match='roll_pitch_dim'):
        PitchShift(SR, roll_pitch_dim=0)


def test_gain_changes_rms_by_sampled_db_within_range() -> None:
    x = torch.randn(16, 2000)
    out, targets = Gain(-9.0, 3.0)(x, {'label': torch.ones(16)}, generator(0))
    db = 20 * torch.log10(out.pow(2).mean(-1).sqrt() / x.pow(2).mean(-1).sqrt())
    assert db.min() >= -9.0 - 1e-3 and db.max() <= 3.0 + 1e-3
    assert db.std() > 1.0  # drawn per example
    assert torch.equal(targets['label'], torch.ones(16))


def test_noise_snr_within_range() -> None:
    x = torch.randn(16, 2000) * torch.linspace(0.01, 1.0, 16)[:, None]
    out, _ = AddNoise((5.0, 20.0))(x, None, generator(0))
    noise = out - x
    snr = 10 * torch.log10(x.pow(2).mean(-1) / noise.pow(2).mean(-1))
    assert snr.min() >= 5.0 - 1e-3 and snr.max() <= 20.0 + 1e-3
    assert snr.std() > 1.0
    silent, _ = AddNoise((5.0, 20.0))(torch.zeros(2, 100), None, generator(0))
    assert torch.equal(silent, torch.zeros(2, 100))


@pytest.mark.parametrize('masking, axis', [(TimeMasking, -1), (FrequencyMasking, -2)])
def test_masks_zero_whole_bands_per_example(masking: type, axis: int) -> None:
    spectrogram = torch.rand(12, 40, 50) + 1.0
    out, _ = masking(max_width=6, num_masks=2)(spectrogram, None, generator(0))
    zero = out == 0
    other = -2 if axis == -1 else -1
    assert torch.equal(zero.any(dim=other), zero.all(dim=other))  # whole rows/columns are masked
    masked = zero.all(dim=other)  # (batch, size along axis)
    assert masked.sum(-1).max() <= 12
    assert len({tuple(row.tolist()) for row in masked}) > 1  # examples differ
    assert torch.equal(out[~zero], spectrogram[~zero])
    exact, _ = masking(max_width=5, min_width=5, num_masks=1)(spectrogram, None, generator(1))
    assert torch.equal((exact == 0).all(dim=other).sum(-1), torch.full((12,), 5))


def test_probability_p_selects_examples() -> None:
    x = torch.ones(200, 10)
    out, _ = Gain(6.0, 6.0, p=0.5)(x, None, generator(0))
    changed = (out[:, 0] != 1.0).float().mean()
    assert 0.35 < changed < 0.65
    assert torch.equal(Gain(6.0, 6.0, p=0.0)(x, None, generator(0))[0], x)


def test_eval_mode_is_identity() -> None:
    x = torch.randn(4, 4000)
    targets = {'pitch': torch.arange(4)}
    chain = BatchAugmentation(PitchShift(SR), Gain(), AddNoise(), seed=0).eval()
    out, labels = chain(x, targets)
    assert out is x and labels is targets
    gain = Gain().eval()
    assert gain(x, None, generator(0))[0] is x


def test_chaining_applies_all_in_order() -> None:
    x = torch.rand(3, 20, 30) + 0.5
    chain = BatchAugmentation(Gain(-6, 6), TimeMasking(8, 2), FrequencyMasking(4, 1), seed=11)
    assert len(chain) == 3 and isinstance(chain[1], TimeMasking)
    out, _ = chain(x)
    g = generator(11)
    expected = x
    for augmentor in chain:
        expected, _ = augmentor(expected, None, g)
    assert torch.equal(out, expected)
    with pytest.raises(ConfigError, match='BatchAugmentor'):
        BatchAugmentation(torch.nn.Identity(), seed=0)  # type: ignore[arg-type]


def test_runs_on_cpu_device_and_base_class_is_abstract() -> None:
    chain = BatchAugmentation(Gain(), AddNoise(), seed=0).to('cpu')
    out, _ = chain(torch.randn(2, 500, device='cpu'))
    assert out.device.type == 'cpu'
    assert chain.generator('cpu').device.type == 'cpu'
    with pytest.raises(NotImplementedError):
        BatchAugmentor()(torch.zeros(2, 3), None, generator(0))
    with pytest.raises(ConfigError, match='probability'):
        Gain(p=1.5)


def test_pitch_shift_moves_every_piano_roll_target_and_keeps_labels_valid() -> None:
    """All of piano_roll_targets' outputs move with the audio; pitches leaving 0..127 become 'no pitch' (-1)."""
    from etude.data.midi import NOTE_DTYPE, piano_roll_targets

    note = np.zeros(1, dtype=NOTE_DTYPE)
    note[0] = (60, 0.1, 0.3, 0.1, 0.2, 100)
    rolls = piano_roll_targets(note, frames_per_second=100, num_frames=50)
    batch = 4
    targets = {key: torch.from_numpy(value).expand(batch, -1, -1).clone() for key, value in rolls.items()}
    targets['next_pitch'] = torch.tensor([60, 127, 0, -1])
    targets['velocity_of_example'] = torch.full((batch,), 0.8)  # not a roll: passes through
    shifter = PitchShift(SR, (2, 2), roll_keys=(*PitchShift(SR).roll_keys, 'velocity_of_example'))
    _, shifted = shifter(sines([330.0] * batch, 0.1), targets, generator(0))
    assert set(rolls) <= set(shifter.roll_keys)
    for key in rolls:
        assert torch.equal(shifted[key][:, :, 2:], targets[key][:, :, :-2]), key
    assert shifted['next_pitch'].tolist() == [62, -1, 2, -1]
    assert torch.equal(shifted['velocity_of_example'], targets['velocity_of_example'])
