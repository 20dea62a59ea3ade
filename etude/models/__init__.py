"""Network architectures shipped with etude."""

from .crepe import CRePE

__all__ = ['CRePE']
