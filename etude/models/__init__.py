"""Network architectures shipped with etude."""

from .crepe import CRePE
from .mel_cnn import MelCNN
from .note_lstm import NoteLSTM

__all__ = ['CRePE', 'MelCNN', 'NoteLSTM']
