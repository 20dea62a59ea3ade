"""Tempo curves and velocity contours of performed pieces, the model's beside the performance's, for the report."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ['draw_performance_curves']


def draw_performance_curves(pieces: Sequence[Mapping[str, Any]], path: str | Path) -> Path:
    """One row per piece: the tempo curve (beats per minute per note) and the velocity contour, prediction against
    the performance. Each piece is {'name', 'onsets' (beats), 'predicted' (n, 4), 'target' (n, 4), 'matched' (n,)}."""
    from ...figures import new_figure, save_figure

    figure = new_figure(11, 2.6 * len(pieces))
    axes = figure.subplots(len(pieces), 2, squeeze=False)
    for row, piece in enumerate(pieces):
        onsets, predicted, target, matched = (np.asarray(piece[key]) for key in ('onsets', 'predicted', 'target', 'matched'))
        tempo_axis, velocity_axis = axes[row]
        tempo_axis.plot(onsets, 60.0 / target[:, 3], label='performance', color='black')
        tempo_axis.plot(onsets, 60.0 / predicted[:, 3], label='model', color='tab:orange')
        tempo_axis.set(title=f'{piece["name"]}: tempo', xlabel='score position (quarter notes)', ylabel='quarter notes per minute')
        shown = matched == 1
        velocity_axis.plot(onsets[shown], 127 * target[shown, 0], '.', markersize=3, label='performance', color='black')
        velocity_axis.plot(onsets[shown], 127 * predicted[shown, 0], '.', markersize=3, label='model', color='tab:orange')
        velocity_axis.set(title=f'{piece["name"]}: velocity', xlabel='score position (quarter notes)', ylabel='MIDI velocity')
        tempo_axis.legend(loc='best', fontsize='small')
    return save_figure(figure, path)
