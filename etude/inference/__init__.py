"""Production inference from an export alone: `Predictor` (the export's task reads, runs and decodes) and `etude infer`.

    from etude.inference import Predictor
    predictor = Predictor.from_checkpoint('runs/<id>/checkpoints/best.pt')
    predictor.predict(['some.wav'])        # [{'digit': '7', 'probability': 0.98}]

Names load on first use, so `etude -h` (which imports `etude.inference.command`) needs no torch.
"""

from typing import TYPE_CHECKING

from ..lazy import lazy_names

if TYPE_CHECKING:
    from .predictor import Outcome, Predictor

_SOURCES = {
    'Outcome': '.predictor',
    'Predictor': '.predictor',
}

__all__ = ['Outcome', 'Predictor']


__getattr__, __dir__ = lazy_names(__name__, _SOURCES, __all__)
