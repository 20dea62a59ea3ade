"""Piano-roll figures of generated pieces beside reference pieces (matplotlib's object API: no display, no global backend)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

__all__ = ['copied_runs_figure', 'piano_rolls']

VOICE_COLOURS = ('tab:blue', 'tab:orange', 'tab:green', 'tab:red')


def piano_rolls(rows: Mapping[str, Sequence[np.ndarray]], path: str | Path, *, seconds: float = 20.0) -> Path:
    """One row of piano rolls per entry of `rows` (e.g. {'LSTM': pieces, 'test': pieces}), the first `seconds` of each
    piece, drawn as bars of pitch against time; written as a PNG at `path`. A piece is seed 002's `(notes, 3)` (pitch,
    step, duration in seconds), or voiced notes `(notes, 5)` (`tokens.NOTE_COLUMNS`), drawn at 120 quarter notes a
    minute with a colour per voice (soprano blue, alto orange, tenor green, bass red) and a grey line at each bar."""
    from ...figures import new_figure, save_figure

    columns = max((len(pieces) for pieces in rows.values()), default=1)
    figure = new_figure(3.2 * columns, 2.2 * len(rows))
    axes = figure.subplots(len(rows), columns, squeeze=False, sharey=True)
    for row, (label, pieces) in enumerate(rows.items()):
        for column in range(columns):
            axis = axes[row][column]
            if column >= len(pieces):
                axis.axis('off')
                continue
            piece = pieces[column]
            if piece.shape[1] == 5:  # voiced notes in quarter notes (tokens.NOTE_COLUMNS): a colour per voice, bar lines
                starts, durations, colours = piece[:, 1] * 0.5, piece[:, 2] * 0.5, [VOICE_COLOURS[int(voice) % 4] for voice in piece[:, 3]]
                for bar in np.unique(np.round((piece[:, 1] - piece[:, 4]) * 0.5, 6)):
                    if bar < seconds:
                        axis.axvline(float(bar), color='0.85', linewidth=0.6, zorder=0)
            else:
                starts = np.cumsum(piece[:, 1]) - (piece[0, 1] if len(piece) else 0.0)
                durations, colours = piece[:, 2], ['tab:blue'] * len(piece)
            shown = np.flatnonzero(starts < seconds)
            for index in shown:
                axis.broken_barh([(float(starts[index]), max(float(durations[index]), 0.02))], (float(piece[index, 0]) - 0.4, 0.8), color=colours[index])
            axis.set_xlim(0, seconds)
            axis.set_title(f'{label} {column + 1}', fontsize=8)
            axis.tick_params(labelsize=6)
        axes[row][0].set_ylabel('MIDI pitch', fontsize=7)
    for axis in axes[-1]:
        axis.set_xlabel('seconds', fontsize=7)
    return save_figure(figure, path)


def copied_runs_figure(runs: Mapping[str, Sequence[int]], path: str | Path, *, threshold: int = 16) -> Path:
    """Histograms of the longest run of notes each piece shares with a training piece, one per set, with the
    `threshold` marked; written as a PNG at `path`."""
    from ...figures import new_figure, save_figure

    figure = new_figure(6, 3)
    axis = figure.add_subplot(1, 1, 1)
    highest = max((max(values, default=0) for values in runs.values()), default=0)
    bins = [edge - 0.5 for edge in range(max(highest, threshold) + 2)]
    for label, values in runs.items():
        axis.hist(values, bins=bins, histtype='step', label=label, linewidth=1.5)
    axis.axvline(threshold + 0.5, color='grey', linestyle='--', linewidth=1)
    axis.set_xlabel('longest run of consecutive notes shared with a training piece')
    axis.set_ylabel('pieces')
    axis.legend(fontsize=7)
    return save_figure(figure, path)
