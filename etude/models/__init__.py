"""Generic network architectures shipped with etude: CRePE (a waveform regressor) and MelCNN (a log-mel classifier).

A music task's own models live in its package (`etude.music.generation.NoteLSTM`, `etude.music.transcription.
PianoTranscriber`, `etude.music.performance.PerformanceHAN` and `PerformanceLSTM`); their former names here say where
they went.
"""

from ..lazy import lazy_names
from .crepe import CRePE
from .mel_cnn import MelCNN

__all__ = ['CRePE', 'MelCNN']

_MOVED = {'NoteLSTM': 'etude.music.generation', 'PianoTranscriber': 'etude.music.transcription', 'PerformanceHAN': 'etude.music.performance',
          'PerformanceLSTM': 'etude.music.performance'}

__getattr__, __dir__ = lazy_names(__name__, {}, __all__, _MOVED)
