"""etude: a PyTorch toolkit for audio and music machine-learning research.

    from etude import Routine, Model, Parameters, Step, Metric, RunOptions, Range, load_model

These names are what a routine, a model or a script needs; a shipped routine imports nothing else from below
`etude`, `etude.data`, `etude.models`, `etude.tasks`, `etude.evaluation` and `etude.inference` (tests/test_package.py
holds them to it). Names are imported on first use (PEP 562), so `import etude` costs nothing and tools that need no
torch, such as the dataset installer, start at once; W&B, music21, pretty_midi and torchaudio load only when a
feature needs them.
"""

from typing import TYPE_CHECKING

from .lazy import lazy_names
from .version import __version__

if TYPE_CHECKING:
    from .errors import CheckpointError, ConfigError, DataFileError, DatasetError, DownloadError, EtudeError, MissingDependencyError, RoutineError
    from .export import ExportedModel, ModelInfo, RunInfo, load_export, load_model
    from .metrics import Accuracy, Classification, DecodedMetric, Mean, MeanAbsoluteError, Metric, RootMeanSquaredError
    from .model import Batch, Model
    from .parameters import AT_LEAST_ONE, FINITE, NON_NEGATIVE, POSITIVE, Parameters, Range, Settings
    from .run_options import RunOptions
    from .training.routine import Routine, TrainingInterrupted
    from .training.step import Diverged, Step

# name → the module that defines it (relative to etude)
_SOURCES = {
    **dict.fromkeys(['CheckpointError', 'ConfigError', 'DataFileError', 'DatasetError', 'DownloadError', 'EtudeError', 'MissingDependencyError',
                     'RoutineError'], '.errors'),
    **dict.fromkeys(['ExportedModel', 'ModelInfo', 'RunInfo', 'load_export', 'load_model'], '.export'),
    **dict.fromkeys(['Accuracy', 'Classification', 'DecodedMetric', 'Mean', 'MeanAbsoluteError', 'Metric', 'RootMeanSquaredError'], '.metrics'),
    **dict.fromkeys(['Batch', 'Model'], '.model'),
    **dict.fromkeys(['AT_LEAST_ONE', 'FINITE', 'NON_NEGATIVE', 'POSITIVE', 'Parameters', 'Range', 'Settings'], '.parameters'),
    **dict.fromkeys(['Routine', 'TrainingInterrupted'], '.training.routine'),
    'RunOptions': '.run_options',
    **dict.fromkeys(['Diverged', 'Step'], '.training.step'),
}

__all__ = [
    'AT_LEAST_ONE', 'Accuracy', 'Batch', 'CheckpointError', 'Classification', 'ConfigError', 'DataFileError', 'DatasetError', 'DecodedMetric',
    'Diverged', 'DownloadError', 'EtudeError', 'ExportedModel', 'FINITE', 'Mean', 'MeanAbsoluteError', 'Metric', 'MissingDependencyError', 'Model',
    'ModelInfo', 'NON_NEGATIVE', 'POSITIVE', 'Parameters', 'Range', 'RootMeanSquaredError', 'Routine', 'RoutineError', 'RunInfo', 'RunOptions',
    'Settings', 'Step', 'TrainingInterrupted', '__version__', 'load_export', 'load_model',
]


__getattr__, __dir__ = lazy_names(__name__, _SOURCES, __all__)
