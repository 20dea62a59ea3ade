"""Samplers synthesise labelled datasets locally, so training and tests need no download and no account."""

from .base import Sampler
from .circular_drum import CircularDrumSampler, CircularDrumSettings
from .rectangular_drum import RectangularDrumSampler, RectangularDrumSettings, rectangle_sides

__all__ = ['CircularDrumSampler', 'CircularDrumSettings', 'RectangularDrumSampler', 'RectangularDrumSettings', 'Sampler', 'rectangle_sides']
