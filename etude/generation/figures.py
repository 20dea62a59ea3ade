"""Piano-roll figures of generated pieces beside reference pieces (matplotlib, Agg: no display needed)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

__all__ = ['piano_rolls']


def piano_rolls(rows: Mapping[str, Sequence[np.ndarray]], path: str | Path, *, seconds: float = 20.0) -> Path:
    """One row of piano rolls per entry of `rows` (e.g. {'LSTM': pieces, 'test': pieces}), the first `seconds` of each
    piece, drawn as bars of pitch against time; written as a PNG at `path`."""
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    columns = max((len(pieces) for pieces in rows.values()), default=1)
    figure, axes = plt.subplots(len(rows), columns, figsize=(3.2 * columns, 2.2 * len(rows)), squeeze=False, sharey=True)
    for row, (label, pieces) in enumerate(rows.items()):
        for column in range(columns):
            axis = axes[row][column]
            if column >= len(pieces):
                axis.axis('off')
                continue
            piece = pieces[column]
            starts = np.cumsum(piece[:, 1]) - (piece[0, 1] if len(piece) else 0.0)
            shown = starts < seconds
            for start, pitch, duration in zip(starts[shown], piece[shown, 0], piece[shown, 2], strict=True):
                axis.broken_barh([(float(start), max(float(duration), 0.02))], (float(pitch) - 0.4, 0.8), color='tab:blue')
            axis.set_xlim(0, seconds)
            axis.set_title(f'{label} {column + 1}', fontsize=8)
            axis.tick_params(labelsize=6)
        axes[row][0].set_ylabel('MIDI pitch', fontsize=7)
    for axis in axes[-1]:
        axis.set_xlabel('seconds', fontsize=7)
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
