"""Typed settings of piano transcription: the front end (what the model hears) and the decoding thresholds.

Kong et al. (2021) hear 16 kHz audio as a log-mel spectrogram of 229 bands from 30 Hz to 8 kHz, with a 2048-sample
window and a 160-sample hop: 100 frames per second. Those are the defaults here. The routine's small CPU default keeps
them; only the network behind them is small.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ...errors import ConfigError

__all__ = ['BEGIN_NOTE', 'NUM_PITCHES', 'DecodingSettings', 'FrontEnd']

BEGIN_NOTE = 21  # A0, the piano's lowest key
NUM_PITCHES = 88


@dataclass(frozen=True)
class FrontEnd:
    """Kong's front end and the segment length the model is trained (and run) on."""

    sample_rate: int = 16_000
    n_fft: int = 2048
    hop_length: int = 160
    n_mels: int = 229
    f_min: float = 30.0
    f_max: float = 8000.0
    segment_seconds: float = 4.0
    regression_width: int = 5
    """J of Kong's regression targets, in frames."""

    def __post_init__(self) -> None:
        if self.sample_rate % self.hop_length:
            raise ConfigError(f'hop_length {self.hop_length} must divide sample_rate {self.sample_rate} so frames fall on whole samples')
        if not 0 <= self.f_min < self.f_max <= self.sample_rate / 2:
            raise ConfigError(f'mel range {self.f_min}-{self.f_max} Hz must lie within 0-{self.sample_rate / 2} Hz')
        if self.segment_seconds * self.sample_rate % self.hop_length:
            raise ConfigError(f'segment_seconds {self.segment_seconds} must be a whole number of {self.hop_length}-sample hops')
        if self.regression_width < 1 or self.n_mels < 8:
            raise ConfigError(f'regression_width must be >= 1 and n_mels >= 8, got {self.regression_width}, {self.n_mels}')

    @property
    def frames_per_second(self) -> float:
        return self.sample_rate / self.hop_length

    @property
    def segment_samples(self) -> int:
        return round(self.segment_seconds * self.sample_rate)

    def frames(self, num_samples: int) -> int:
        """Frames of `num_samples` samples: a centred STFT gives one per hop plus one."""
        return num_samples // self.hop_length + 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DecodingSettings:
    """Thresholds that turn the model's frame outputs into notes (Kong's values), recorded in the export."""

    onset_threshold: float = 0.3
    """A peak of the onset regression output above this starts a note."""
    offset_threshold: float = 0.3
    """A peak of the offset regression output above this ends a sounding note."""
    frame_threshold: float = 0.3
    """A note also ends where its frame output falls below this."""
    segment_overlap: float = 0.5
    """Share of each segment that overlaps the next when a long file is transcribed in pieces (0 <= overlap < 1)."""

    def __post_init__(self) -> None:
        for name in ('onset_threshold', 'offset_threshold', 'frame_threshold'):
            if not 0.0 < getattr(self, name) < 1.0:
                raise ConfigError(f'{name} must be between 0 and 1, got {getattr(self, name)}')
        if not 0.0 <= self.segment_overlap < 1.0:
            raise ConfigError(f'segment_overlap must be in [0, 1), got {self.segment_overlap}')

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
