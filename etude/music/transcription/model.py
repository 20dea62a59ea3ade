"""A piano transcriber of the Onsets and Frames / Kong family: waveform in, per-frame onset, offset, frame, velocity.

    waveform (batch, samples) → log-mel (batch, frames, n_mels), batch-normalised per band
      → conv stack per frame (blocks of conv 3x3 → BN → ReLU, pooled in frequency only, so frames stay 10 ms apart)
      → linear to `acoustic_units` per frame
      → onset GRU → onset (Kong's regression output, a triangle peaking at the exact onset) and velocity
      → offset GRU → offset (the same for the key release)
      → frame GRU over [acoustic features, onset, offset] → frame (the key sounds)

The frame head is conditioned on the onset and offset outputs (detached, as in Kong et al. 2021, so the frame loss
does not pull the onset head), which is what lets it tell a repeated note from a held one. All GRUs are
bidirectional. The defaults are a small network that trains on a 2-core CPU in minutes; `FULL_SIZE` lists a setting
near Kong's widths for a GPU. The front end (16 kHz, 229 bands, 100 frames per second) is Kong's at every size.

Augmentation (off by default; the `pitch_shift_*`, `reverb_*`, `equalizer_*`, `gain_db` and `noise_*` settings): each
training batch is changed on the device it trains on, with `etude.data.augment` and `etude.data.acoustics` — a pitch
shift of whole semitones with every target roll moved by as many keys, a synthetic room response, random peaking
equalisers, a gain, white noise at a random SNR — drawn from a generator seeded by the run's seed and the batch's place in the run, so a
resumed run draws the same. The model's own default is off; the piano_transcription routine and `FULL_SIZE` switch
pitch shift and noise on (on the 2-core CPU they make an epoch about 5 % slower, and they are what lets the model hear
a piano it never trained on: onset F1 on another soundfont 0.77 with them, 0.54 without), and room responses and
equalisers on 30 % of the segments each (about 1.4 % of a step; their effect on the figures is not measured apart).

Loss: the weighted sum of each head's binary cross-entropy: onset and offset against the regression targets (soft
labels in [0, 1]), frame against the frame roll, velocity against velocity / 127 on the onset frames only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import torch

from ...metrics import Metric
from ...model import Batch, Model
from ...parameters import AT_LEAST_ONE, NON_NEGATIVE, Range
from ...parameters import Parameters as BaseParameters
from .settings import FrontEnd

if TYPE_CHECKING:
    from ...data.augment import BatchAugmentation
    from ...training.step import Step

__all__ = ['FULL_SIZE', 'HEADS', 'HeadLosses', 'PianoTranscriber', 'augmentation_of']

HEADS = ('onset', 'offset', 'frame', 'velocity')
# nearer Kong's acoustic model (which has four conv stacks of 48-128 channels and 256-unit GRUs) for a GPU, where the
# augmentation costs little beside a step
FULL_SIZE: dict[str, Any] = {'channels': (48, 64, 96, 128), 'acoustic_units': 512, 'gru_units': 256, 'dropout': 0.2,
                             'pitch_shift_semitones': 2, 'noise_probability': 0.3, 'reverb_probability': 0.3, 'equalizer_probability': 0.3}


def _target_key(head: str) -> str:
    return {'onset': 'onset_regression', 'offset': 'offset_regression'}.get(head, head)


class PianoTranscriber(Model):
    """`(batch, samples)` 16 kHz waveforms → dict of `(batch, frames, 88)` probabilities, one per head in `HEADS`."""

    @dataclass(kw_only=True)
    class Parameters(BaseParameters):
        sample_rate: Annotated[int, AT_LEAST_ONE] = 16_000
        """Sample rate of the input waveforms (Kong: 16 kHz)."""
        n_fft: Annotated[int, AT_LEAST_ONE] = 2048
        """STFT window of the log-mel front end."""
        hop_length: Annotated[int, AT_LEAST_ONE] = 160
        """Hop of the front end: 160 samples at 16 kHz is 100 frames per second."""
        n_mels: Annotated[int, Range(8)] = 229
        """Mel bands (Kong: 229, 30 Hz - 8 kHz)."""
        f_min: Annotated[float, NON_NEGATIVE] = 30.0
        """Lowest mel band edge, Hz."""
        f_max: Annotated[float, NON_NEGATIVE] = 8000.0
        """Highest mel band edge, Hz."""
        channels: tuple[int, ...] = (8, 16, 16)
        """Output channels of each convolution block; each block halves the mel axis."""
        acoustic_units: Annotated[int, AT_LEAST_ONE] = 256
        """Width of the per-frame acoustic features after the conv stack."""
        gru_units: Annotated[int, AT_LEAST_ONE] = 128
        """Hidden units per direction of each bidirectional GRU."""
        dropout: Annotated[float, Range(0, 1, exclusive_maximum=True)] = 0.1
        """Dropout on the acoustic features and before each head."""
        onset_weight: Annotated[float, NON_NEGATIVE] = 1.0
        """Weight of the onset head's loss."""
        offset_weight: Annotated[float, NON_NEGATIVE] = 1.0
        """Weight of the offset head's loss."""
        frame_weight: Annotated[float, NON_NEGATIVE] = 1.0
        """Weight of the frame head's loss."""
        velocity_weight: Annotated[float, NON_NEGATIVE] = 0.5
        """Weight of the velocity head's loss."""
        pitch_shift_semitones: Annotated[int, NON_NEGATIVE] = 0
        """Augmentation: shift training segments by up to this many semitones either way, targets moved too; 0: off."""
        pitch_shift_probability: Annotated[float, Range(0, 1)] = 0.5
        """Augmentation: the share of training segments pitch-shifted (when pitch_shift_semitones is above 0)."""
        gain_db: Annotated[float, NON_NEGATIVE] = 0.0
        """Augmentation: scale training segments by a gain uniform in +-gain_db decibels; 0: off (it blurs what loudness says of velocity)."""
        noise_probability: Annotated[float, Range(0, 1)] = 0.0
        """Augmentation: the share of training segments given white noise; 0: off."""
        noise_snr_db: tuple[float, float] = (20.0, 50.0)
        """Augmentation: the noise's signal-to-noise ratio, drawn uniformly in this (low, high) range of decibels."""
        reverb_probability: Annotated[float, Range(0, 1)] = 0.0
        """Augmentation: the share of training segments convolved with a synthetic room response (targets kept); 0: off."""
        reverb_seconds: tuple[float, float] = (0.2, 1.5)
        """Augmentation: the room's RT60 (seconds to decay by 60 dB), drawn uniformly in this (low, high) range."""
        equalizer_probability: Annotated[float, Range(0, 1)] = 0.0
        """Augmentation: the share of training segments through three random peaking equalisers (targets kept); 0: off."""
        equalizer_gain_db: Annotated[float, Range(0, 24)] = 6.0
        """Augmentation: each equaliser band's gain, drawn uniformly in +-equalizer_gain_db decibels."""

        def validate(self) -> None:
            super().validate()
            from ...errors import ConfigError

            if not self.channels or min(self.channels) < 1:
                raise ConfigError(f'channels must list at least one positive width, got {list(self.channels)}')
            if self.n_mels >> len(self.channels) < 1:
                raise ConfigError(f'{len(self.channels)} blocks halve the {self.n_mels} mel bands to nothing; use fewer blocks or more bands')
            if len(self.noise_snr_db) != 2 or self.noise_snr_db[0] > self.noise_snr_db[1]:
                raise ConfigError(f'noise_snr_db must be a (low, high) pair with low <= high, got {list(self.noise_snr_db)}')
            if len(self.reverb_seconds) != 2 or not 0 < self.reverb_seconds[0] <= self.reverb_seconds[1] <= 10:
                raise ConfigError(f'reverb_seconds must be a (low, high) pair with 0 < low <= high <= 10, got {list(self.reverb_seconds)}')
            if not self.f_min < self.f_max <= self.sample_rate / 2:
                raise ConfigError(f'f_min {self.f_min} and f_max {self.f_max} must satisfy f_min < f_max <= sample_rate / 2')

    hyperparameters: PianoTranscriber.Parameters
    augmentation: BatchAugmentation | None

    def __init__(self, hyperparameters: PianoTranscriber.Parameters) -> None:
        super().__init__(hyperparameters)
        from ...data.representations import Featuriser, RepresentationSettings

        p = hyperparameters
        self.featuriser = Featuriser(RepresentationSettings(kind='log_mel', sample_rate=p.sample_rate, n_fft=p.n_fft, hop_length=p.hop_length,
                                                            n_mels=p.n_mels, f_min=p.f_min, f_max=p.f_max, mel_scale='slaney', log_offset=1e-5))
        # initial weights from the hyperparameters' seed, on a forked generator: the same Parameters give the same
        # weights wherever the model is built, and building it never shifts the run's random stream
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(p.seed)
            self.band_norm = torch.nn.BatchNorm1d(p.n_mels)
            blocks: list[torch.nn.Module] = []
            widths = (1, *p.channels)
            for block in range(len(p.channels)):
                blocks += [torch.nn.Conv2d(widths[block], widths[block + 1], 3, padding=1, bias=False), torch.nn.BatchNorm2d(widths[block + 1]),
                           torch.nn.ReLU(), torch.nn.AvgPool2d((1, 2))]
            self.convolutions = torch.nn.Sequential(*blocks)
            self.acoustic = torch.nn.Linear(p.channels[-1] * (p.n_mels >> len(p.channels)), p.acoustic_units)
            self.dropout = torch.nn.Dropout(p.dropout)
            self.onset_gru = torch.nn.GRU(p.acoustic_units, p.gru_units, batch_first=True, bidirectional=True)
            self.offset_gru = torch.nn.GRU(p.acoustic_units, p.gru_units, batch_first=True, bidirectional=True)
            self.frame_gru = torch.nn.GRU(p.acoustic_units + 2 * 88, p.gru_units, batch_first=True, bidirectional=True)
            self.onset_head = torch.nn.Linear(2 * p.gru_units, 88)
            self.velocity_head = torch.nn.Linear(2 * p.gru_units, 88)
            self.offset_head = torch.nn.Linear(2 * p.gru_units, 88)
            self.frame_head = torch.nn.Linear(2 * p.gru_units, 88)
            # output biases start at the targets' rough share of active cells (a few keys of 88 sound at once, and an
            # onset or offset covers a few frames per note) rather than at 0.5: otherwise the first few hundred updates
            # only learn that nearly every cell is off, and on a CPU budget that is a tenth of the run
            for head, prior in ((self.onset_head, 0.01), (self.offset_head, 0.01), (self.frame_head, 0.05)):
                torch.nn.init.constant_(head.bias, math.log(prior / (1 - prior)))
        # kept out of the module tree: it has no weights, and an export's state dict holds tensors only
        self.__dict__['augmentation'] = augmentation_of(p)

    def forward(self, inputs: torch.Tensor) -> dict[str, torch.Tensor]:  # type: ignore[override]
        """(batch, samples) waveforms → {head: (batch, frames, 88) probabilities}, frames = samples // hop + 1."""
        if inputs.dim() != 2:
            raise ValueError(f'PianoTranscriber expects (batch, samples) waveforms, got {tuple(inputs.shape)}')
        return self.frame_outputs(self.featuriser(inputs))

    def frame_outputs(self, log_mel: torch.Tensor) -> dict[str, torch.Tensor]:
        """(batch, n_mels, frames) log-mel spectrograms → {head: (batch, frames, 88) probabilities}: the network behind
        the front end (an ONNX export computes the STFT outside the graph and enters here, see `onnx_network.py`)."""
        mel = self.band_norm(log_mel)  # (batch, n_mels, frames)
        x = self.convolutions(mel.transpose(1, 2).unsqueeze(1))  # (batch, channels, frames, bands)
        x = x.permute(0, 2, 1, 3).flatten(2)  # (batch, frames, channels * bands)
        x = self.dropout(torch.relu(self.acoustic(x)))
        onset_features = self.dropout(self.onset_gru(x)[0])
        offset_features = self.dropout(self.offset_gru(x)[0])
        onset = torch.sigmoid(self.onset_head(onset_features))
        offset = torch.sigmoid(self.offset_head(offset_features))
        velocity = torch.sigmoid(self.velocity_head(onset_features))
        frame_features = self.frame_gru(torch.cat([x, onset.detach(), offset.detach()], dim=-1))[0]
        frame = torch.sigmoid(self.frame_head(self.dropout(frame_features)))
        return {'onset': onset, 'offset': offset, 'frame': frame, 'velocity': velocity}

    def loss(self, predictions: Any, targets: Any) -> torch.Tensor:
        """The weighted sum of the heads' losses (`head_losses`)."""
        p = self.hyperparameters
        weights = {'onset': p.onset_weight, 'offset': p.offset_weight, 'frame': p.frame_weight, 'velocity': p.velocity_weight}
        losses = head_losses(predictions, targets)
        return sum((weights[head] * losses[head] for head in HEADS), start=torch.zeros((), device=losses['frame'].device))

    def front_end(self, segment_seconds: float) -> FrontEnd:
        """The front end this transcriber hears (its sample rate, STFT and mel bands), with segments of `segment_seconds`."""
        p = self.hyperparameters
        return FrontEnd(sample_rate=p.sample_rate, n_fft=p.n_fft, hop_length=p.hop_length, n_mels=p.n_mels, f_min=p.f_min, f_max=p.f_max,
                        segment_seconds=segment_seconds)

    def training_step(self, batch: Batch, step: Step) -> dict[str, torch.Tensor]:
        """The default supervised step, on a batch changed by the augmentation when it is switched on."""
        if self.augmentation is not None:
            inputs, targets = batch
            # seeded by the batch's place in the run: the same changes after a resume, with nothing saved
            self.augmentation.reset(self.hyperparameters.seed * 1_000_003 + step.updates * 1_009 + step.batch_in_window)
            batch = self.augmentation(inputs, targets)
        return super().training_step(batch, step)

    def evaluation_step(self, batch: Batch) -> dict[str, Any]:
        inputs, targets = batch
        predictions = self(inputs)
        return {'loss': self.loss(predictions, targets), 'predictions': predictions, 'targets': targets}


def augmentation_of(parameters: PianoTranscriber.Parameters) -> BatchAugmentation | None:
    """The pitch shift, room, equaliser, gain and noise the parameters switch on, in that order (the piano, the hall,
    the microphone, the level, the line's noise), or None when all are off.

    The pitch shift moves every `(batch, frames, 88)` target roll by as many keys as the audio (notes shifted off the
    keyboard are dropped); the others leave the targets as they are (a room's tail after a release is not a held key).
    """
    from ...data.acoustics import Equalizer, Reverb
    from ...data.augment import AddNoise, BatchAugmentation, BatchAugmentor, Gain, PitchShift

    p = parameters
    augmentors: list[BatchAugmentor] = []
    if p.pitch_shift_semitones and p.pitch_shift_probability:
        augmentors.append(PitchShift(p.sample_rate, (-p.pitch_shift_semitones, p.pitch_shift_semitones), p=p.pitch_shift_probability))
    if p.reverb_probability:
        augmentors.append(Reverb(p.sample_rate, (p.reverb_seconds[0], p.reverb_seconds[1]), p=p.reverb_probability))
    if p.equalizer_probability and p.equalizer_gain_db:
        augmentors.append(Equalizer(p.sample_rate, p.equalizer_gain_db, frequency_hz=(60.0, min(6000.0, 0.375 * p.sample_rate)),
                                     p=p.equalizer_probability))
    if p.gain_db:
        augmentors.append(Gain(-p.gain_db, p.gain_db))
    if p.noise_probability:
        augmentors.append(AddNoise((p.noise_snr_db[0], p.noise_snr_db[1]), p=p.noise_probability))
    return BatchAugmentation(*augmentors, seed=p.seed) if augmentors else None


def head_losses(predictions: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Each head's mean binary cross-entropy against `(batch, frames, 88)` targets; velocity only on the target's
    onset frames (a velocity elsewhere means nothing)."""
    bce = torch.nn.functional.binary_cross_entropy
    losses = {head: bce(predictions[head].float().clamp(1e-7, 1 - 1e-7), targets[_target_key(head)].float()) for head in ('onset', 'offset', 'frame')}
    mask = targets['onset'].float()
    velocity = bce(predictions['velocity'].float().clamp(1e-7, 1 - 1e-7), targets['velocity'].float(), reduction='none')
    losses['velocity'] = (velocity * mask).sum() / mask.sum().clamp(min=1.0)
    return losses


class HeadLosses(Metric):
    """Each head's loss over a split (`onset_loss`, `offset_loss`, `frame_loss`, `velocity_loss`), batch-weighted."""

    _state = ('totals', 'weight')

    def __init__(self) -> None:
        self.totals = torch.zeros(len(HEADS), dtype=torch.float64)
        self.weight = torch.zeros((), dtype=torch.float64)

    def update(self, predictions: Any, targets: Any) -> None:
        losses = head_losses(predictions, targets)
        size = predictions['frame'].shape[0]
        values = torch.stack([losses[head].detach().double().cpu() for head in HEADS])
        self.totals, self.weight = self.totals + values * size, self.weight + size

    def compute(self) -> dict[str, float]:
        weight = float(self.weight) or float('nan')
        return {f'{head}_loss': float(total) / weight for head, total in zip(HEADS, self.totals.tolist(), strict=True)}
