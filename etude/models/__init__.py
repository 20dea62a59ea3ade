"""Network architectures shipped with etude."""

from .crepe import CRePE
from .mel_cnn import MelCNN
from .transcriber import PianoTranscriber

__all__ = ['CRePE', 'MelCNN', 'PianoTranscriber']
