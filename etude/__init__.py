"""etude: a PyTorch toolkit for audio and music machine-learning research.

    from etude import Routine, Model, Parameters, ExportedModel, RunInfo, load_model

Names are imported on first use (PEP 562), so `import etude` costs nothing and tools that need no torch, such as
the dataset installer, start at once; W&B, music21, pretty_midi and torchaudio load only when a feature needs them.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

from .version import __version__

if TYPE_CHECKING:
    from .errors import EtudeError
    from .export import ExportedModel, ModelInfo, RunInfo, load_model
    from .model import Model
    from .parameters import Parameters
    from .routine import Routine

_SOURCES = {
    'EtudeError': '.errors',
    'ExportedModel': '.export',
    'ModelInfo': '.export',
    'RunInfo': '.export',
    'load_model': '.export',
    'Model': '.model',
    'Parameters': '.parameters',
    'Routine': '.routine',
}

__all__ = ['EtudeError', 'ExportedModel', 'Model', 'ModelInfo', 'Parameters', 'Routine', 'RunInfo', '__version__', 'load_model']


def __getattr__(name: str) -> Any:
    if name in _SOURCES:
        value = getattr(import_module(_SOURCES[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'etude' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
