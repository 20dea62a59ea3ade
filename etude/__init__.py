"""etude: a PyTorch toolkit for audio and music machine-learning research.

Importing etude imports torch and little else; W&B, music21, pretty_midi and torchaudio load only when used.
"""

from .errors import EtudeError
from .export import ExportedModel, ModelInfo, RunInfo, load_model
from .model import Model
from .parameters import Parameters
from .routine import Routine
from .version import __version__

__all__ = ['EtudeError', 'ExportedModel', 'Model', 'ModelInfo', 'Parameters', 'Routine', 'RunInfo', '__version__', 'load_model']
