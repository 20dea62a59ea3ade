"""What a transcriber must do for the transcription task: say what it hears, and turn audio into frame outputs.

`PianoTranscriber` is one; a model of your own is one if it has `front_end` and its forward maps `(batch, samples)`
waveforms to a dict of `(batch, frames, 88)` outputs: `onset`, `offset`, `frame` and `velocity`, in [0, 1].
`etude.tasks.Task.check_model` holds a model to this before anything trains.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .settings import FrontEnd

__all__ = ['FrameTranscriber']


class FrameTranscriber(Protocol):
    """A model of piano audio, frame by frame."""

    def front_end(self, segment_seconds: float) -> FrontEnd:
        """Its sample rate, frame rate and mel bands, with segments of `segment_seconds`."""
        ...

    def __call__(self, waveforms: Any) -> Any:
        """`(batch, samples)` → {'onset', 'offset', 'frame', 'velocity'}, each `(batch, frames, 88)`."""
        ...

    def eval(self) -> Any:
        """Switch to inference mode."""
        ...
