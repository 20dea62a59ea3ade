"""Network architectures shipped with etude."""

from .crepe import CRePE
from .mel_cnn import MelCNN

__all__ = ['CRePE', 'MelCNN']
