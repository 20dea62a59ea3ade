"""Samplers synthesise labelled datasets locally, so training and tests need no download and no account."""

from .base import Sampler
from .circular_drum import CircularDrumSampler, CircularDrumSettings

__all__ = ['CircularDrumSampler', 'CircularDrumSettings', 'Sampler']
