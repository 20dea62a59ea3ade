"""A piano roll of transcribed notes drawn over the true ones, for `etude evaluate`'s report."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.patches import Rectangle

__all__ = ['piano_roll_figure']


def piano_roll_figure(truth: np.ndarray, estimate: np.ndarray, path: str | Path, *, title: str = '', seconds: float = 15.0) -> Path:
    """Bars of the first `seconds`: true notes in grey, transcribed ones in red outline; the pitch axis spans both."""
    from ...figures import new_figure, save_figure

    figure = new_figure(9, 4)
    axes = figure.add_subplot(1, 1, 1)
    shown = [notes[notes['start'] < seconds] for notes in (truth, estimate)]
    styles: tuple[dict[str, Any], ...] = ({'color': '0.6'}, {'facecolor': 'none', 'edgecolor': 'tab:red', 'linewidth': 0.8})
    for notes, style in zip(shown, styles, strict=True):
        for note in notes:
            axes.add_patch(_bar(note, style))
    pitches = np.concatenate([notes['pitch'] for notes in shown]) if any(len(notes) for notes in shown) else np.array([60])
    axes.set_xlim(0, seconds)
    axes.set_ylim(int(pitches.min()) - 2, int(pitches.max()) + 2)
    axes.set_xlabel('seconds')
    axes.set_ylabel('MIDI pitch')
    axes.set_title(title)
    return save_figure(figure, path)


def _bar(note: np.void, style: dict[str, Any]) -> Rectangle:
    from matplotlib.patches import Rectangle

    return Rectangle((float(note['start']), int(note['pitch']) - 0.4), float(note['end'] - note['start']), 0.8, **style)
