"""The measures of issue 23 §3: how much a set of generated pieces sounds like its corpus, on voiced, metrical notes.

A piece is a voiced note array `(notes, 5)`: pitch, onset and duration in quarter notes, voice (-1 when the
representation has none) and the onset's position in its bar in quarter notes (`tokens.NOTE_COLUMNS`; seed 002's notes
in seconds convert with `tokens.voiced_from_seconds`, at 120 quarter notes a minute and in 4/4 from the first onset).

- Jensen–Shannon divergences in bits (`measures.jensen_shannon_bits`: 0 identical, 1 disjoint) of five histograms of
  a set against a reference set: `pitch_class` (12 bins), `voice_interval` (semitones between consecutive notes of one
  voice, -24..24, 49 bins; consecutive notes of the piece where there are no voices), `onset_interval` (between
  consecutive distinct onsets) and `duration`, each in 16ths, 0..32 and a bin for longer (34 bins with the off-grid
  bin), and `bar_position` (the onset's 16th in its bar, 0..23, and off-grid: 25 bins). A value is on the grid when it
  lies within `GRID_TOLERANCE` quarter notes of a multiple of a 16th; off-grid values share one bin.
- `in_key_share`: each piece's best Krumhansl–Kessler key (the largest correlation of its duration-weighted pitch-class
  histogram with the 24 rotated profiles), and the share of the set's notes in that key's scale (major: the diatonic
  scale; minor: natural and harmonic minor together, eight pitch classes).
- `notes_per_onset` (notes over distinct onsets, the set pooled), `pitch_range` (the mean over pieces of the highest
  minus the lowest pitch), `on_grid_share` (of the onsets, on the 16th grid).
- `longest_copied_run`: the most consecutive notes (ordered by onset, voice, pitch; compared as pitch, 16ths since the
  previous onset, duration in 16ths) that a piece shares with any training piece; the maximum over the set.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .measures import jensen_shannon_bits, longest_shared_runs

__all__ = ['GRID_TOLERANCE', 'METRICAL_HISTOGRAMS', 'copy_tokens', 'in_key_shares', 'metrical_figures', 'metrical_histograms']

GRID_TOLERANCE = 0.02
"""Quarter notes: how far from the 16th grid a time may be and still count as on it (10 ms at 120 a minute)."""
GRID = 4
"""Grid steps per quarter note (16ths)."""
MAX_INTERVAL = 24
LONGEST_GRID = 32
METRICAL_HISTOGRAMS = ('pitch_class', 'voice_interval', 'onset_interval', 'duration', 'bar_position')

# Krumhansl & Kessler (1982) probe-tone profiles, tonic first
MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
MINOR_SCALE = (0, 2, 3, 5, 7, 8, 10, 11)


def _grid_bins(values: np.ndarray, top: int) -> np.ndarray:
    """Values in quarter notes → 16ths 0..top (longer: top + 1), off the grid: top + 2."""
    steps = values * GRID
    on = np.abs(steps - np.rint(steps)) <= GRID_TOLERANCE * GRID
    return np.where(on, np.clip(np.rint(steps), 0, top + 1), top + 2).astype(np.int64)


def _onsets(piece: np.ndarray) -> np.ndarray:
    return np.unique(np.round(piece[:, 1], 6))


def _voice_intervals(piece: np.ndarray) -> np.ndarray:
    intervals = []
    for voice in np.unique(piece[:, 3]):
        line = piece[piece[:, 3] == voice]
        line = line[np.lexsort((-line[:, 0], line[:, 1]))]
        intervals.append(np.diff(line[:, 0]))
    return np.concatenate(intervals).astype(np.int64) if intervals else np.zeros(0, dtype=np.int64)


def metrical_histograms(pieces: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
    """Counts of the five histograms of the module over all notes of `pieces`."""
    counts = {'pitch_class': np.zeros(12), 'voice_interval': np.zeros(2 * MAX_INTERVAL + 1), 'onset_interval': np.zeros(LONGEST_GRID + 3),
              'duration': np.zeros(LONGEST_GRID + 3), 'bar_position': np.zeros(24 + 1)}
    for piece in pieces:
        if not len(piece):
            continue
        pitch = np.rint(piece[:, 0]).astype(np.int64)
        counts['pitch_class'] += np.bincount(pitch % 12, minlength=12)
        counts['voice_interval'] += np.bincount(np.clip(_voice_intervals(piece), -MAX_INTERVAL, MAX_INTERVAL) + MAX_INTERVAL, minlength=2 * MAX_INTERVAL + 1)
        counts['onset_interval'] += np.bincount(_grid_bins(np.diff(_onsets(piece)), LONGEST_GRID), minlength=LONGEST_GRID + 3)
        counts['duration'] += np.bincount(_grid_bins(piece[:, 2], LONGEST_GRID), minlength=LONGEST_GRID + 3)
        positions = _grid_bins(piece[:, 4], 23)
        counts['bar_position'] += np.bincount(np.where(positions > 23, 24, positions), minlength=25)
    return counts


def best_key(piece: np.ndarray) -> tuple[int, str]:
    """The Krumhansl–Kessler key of a piece: (tonic pitch class, 'major' or 'minor')."""
    weights = np.bincount(np.rint(piece[:, 0]).astype(np.int64) % 12, weights=np.maximum(piece[:, 2], 1e-3), minlength=12)
    best, key = -np.inf, (0, 'major')
    for mode, profile in (('major', MAJOR_PROFILE), ('minor', MINOR_PROFILE)):
        for tonic in range(12):
            correlation = np.corrcoef(weights, np.roll(profile, tonic))[0, 1] if weights.std() > 0 else 0.0
            if correlation > best:
                best, key = correlation, (tonic, mode)
    return key


def in_key_shares(pieces: Sequence[np.ndarray]) -> np.ndarray:
    """`(pieces,)` the share of each piece's notes in the scale of its best Krumhansl–Kessler key."""
    shares = []
    for piece in pieces:
        tonic, mode = best_key(piece)
        scale = (np.array(MAJOR_SCALE if mode == 'major' else MINOR_SCALE) + tonic) % 12
        shares.append(float(np.isin(np.rint(piece[:, 0]).astype(np.int64) % 12, scale).mean()) if len(piece) else float('nan'))
    return np.array(shares)


def copy_tokens(piece: np.ndarray) -> np.ndarray:
    """`(notes,)` int64 codes of a piece's notes in the order of the module: pitch, 16ths since the previous onset and
    duration in 16ths (off-grid values rounded), so that two passages with the same codes sound the same."""
    ordered = piece[np.lexsort((piece[:, 0], piece[:, 3], piece[:, 1]))]
    steps = np.clip(np.rint(np.diff(ordered[:, 1], prepend=ordered[:1, 1]) * GRID), 0, 255).astype(np.int64)
    durations = np.clip(np.rint(ordered[:, 2] * GRID), 0, 255).astype(np.int64)
    return (np.rint(ordered[:, 0]).astype(np.int64) * 256 + steps) * 256 + durations


def metrical_figures(pieces: Sequence[np.ndarray], reference: Sequence[np.ndarray], training: Sequence[np.ndarray] | None = None) -> dict[str, float]:
    """Every figure of the module for one set: `jsd_<histogram>` against `reference` (bits), `in_key_share`,
    `notes_per_onset`, `pitch_range`, `on_grid_share` and, given the training pieces, `longest_copied_run` (the
    maximum over pieces) and `longest_copied_run_median`."""
    pieces = [piece for piece in pieces if len(piece)]
    mine, theirs = metrical_histograms(pieces), metrical_histograms(reference)
    figures = {f'jsd_{name}': jensen_shannon_bits(mine[name], theirs[name]) for name in METRICAL_HISTOGRAMS}
    onsets = np.concatenate([_onsets(piece) for piece in pieces]) if pieces else np.zeros(0)
    on_grid = np.abs(onsets * GRID - np.rint(onsets * GRID)) <= GRID_TOLERANCE * GRID
    shares = in_key_shares(pieces)
    figures |= {
        'in_key_share': float(np.average(shares, weights=[len(piece) for piece in pieces])) if pieces else float('nan'),
        'notes_per_onset': float(sum(len(piece) for piece in pieces) / max(len(onsets), 1)),
        'pitch_range': float(np.mean([np.ptp(piece[:, 0]) for piece in pieces])) if pieces else float('nan'),
        'on_grid_share': float(on_grid.mean()) if len(onsets) else float('nan'),
    }
    if training is not None:
        runs = longest_shared_runs([copy_tokens(piece) for piece in pieces], [copy_tokens(piece) for piece in training if len(piece)])
        figures |= {'longest_copied_run': float(runs.max()) if len(runs) else 0.0, 'longest_copied_run_median': float(np.median(runs)) if len(runs) else 0.0}
    return figures
