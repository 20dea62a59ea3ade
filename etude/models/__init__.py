"""Network architectures shipped with etude."""

from .crepe import CRePE
from .mel_cnn import MelCNN
from .note_lstm import NoteLSTM
from .performance_han import PerformanceHAN
from .performance_lstm import PerformanceLSTM
from .transcriber import PianoTranscriber

__all__ = ['CRePE', 'MelCNN', 'NoteLSTM', 'PerformanceHAN', 'PerformanceLSTM', 'PianoTranscriber']
