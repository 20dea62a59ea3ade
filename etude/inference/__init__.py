"""Production inference from an export alone: `Predictor` (the export's task reads, runs and decodes) and `etude infer`.

    from etude.inference import Predictor
    predictor = Predictor.from_checkpoint('runs/<id>/checkpoints/best.pt')
    predictor.predict(['some.wav'])        # [{'digit': '7', 'probability': 0.98}]

Names load on first use, so `etude -h` (which imports `etude.inference.command`) needs no torch.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .predictor import Outcome, Predictor

_SOURCES = {
    'Outcome': '.predictor',
    'Predictor': '.predictor',
}

__all__ = ['Outcome', 'Predictor']


def __getattr__(name: str) -> Any:
    if name in _SOURCES:
        value = getattr(import_module(_SOURCES[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'etude.inference' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
