"""Measures of a set of generated pieces against reference pieces (seed 002's divergence, done correctly, and more).

A piece is a `(notes, 3)` array of pitch (0..127), step and duration in seconds.

- `histogram_divergences`: Jensen–Shannon divergence in bits (base 2, so in [0, 1]; scipy's `jensenshannon` returns
  its square root, the distance) between the histograms of two sets of pieces, for pitch (128 bins, one per MIDI
  pitch), step and duration (the 13 bins of `etude.music.generation.likelihood.TIME_EDGES`), pitch interval between
  consecutive notes (-24..24 semitones, 49 bins, wider intervals clipped to the ends) and pitch-class transition
  (12 × 12 bins). One histogram is easy to match (a sampler of the training pitch histogram matches it perfectly),
  which the interval and transition histograms are not.
- `relative_measures`: Yang & Lerch (2020), "On the evaluation of generative models in music": per-piece features,
  the intra-set distances (every pair of pieces of one set) and the inter-set distances (every piece of one set with
  every piece of the other), smoothed into densities (Gaussian kernels), and of the generated set's intra-set density
  against the inter-set density the overlap area (1: indistinguishable) and the KL divergence (nats; 0 is best).
  Features: pitch-class histogram (12 values), pitch range (semitones), mean inter-onset interval (seconds between
  distinct onsets) and note count (notes per 10 seconds, so pieces of any length compare).
- `longest_copied_runs`: memorisation: the longest run of consecutive notes a piece shares with any training piece.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from .likelihood import TIME_BINS, quantise_time

__all__ = ['BIN_DESCRIPTIONS', 'RELATIVE_FEATURES', 'histogram_divergences', 'histograms', 'jensen_shannon_bits', 'longest_copied_runs', 'longest_shared_runs',
           'memorisation', 'piece_features', 'relative_measures']

MAX_INTERVAL = 24
BIN_DESCRIPTIONS = {
    'pitch': '128 bins, one per MIDI pitch',
    'step': f'{TIME_BINS} bins with edges 0.02, 0.09, 0.18, 0.3, 0.42, 0.6, 0.85, 1.2, 1.7, 2.4, 3.4, 5 s (below the first and above the last included)',
    'duration': f'{TIME_BINS} bins, the edges of step',
    'interval': f'{2 * MAX_INTERVAL + 1} bins, one per semitone from -{MAX_INTERVAL} to +{MAX_INTERVAL} between consecutive notes (wider clipped)',
    'pitch_class_transition': '144 bins, (pitch class, next pitch class)',
}
NOTE_COUNT_SECONDS = 10.0


def _pitches(piece: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(piece[:, 0]), 0, 127).astype(np.int64)


def histograms(pieces: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
    """Counts of every histogram of `BIN_DESCRIPTIONS` over all notes of `pieces`."""
    counts = {'pitch': np.zeros(128), 'step': np.zeros(TIME_BINS), 'duration': np.zeros(TIME_BINS), 'interval': np.zeros(2 * MAX_INTERVAL + 1),
              'pitch_class_transition': np.zeros(144)}
    for piece in pieces:
        pitch = _pitches(piece)
        counts['pitch'] += np.bincount(pitch, minlength=128)
        counts['step'] += np.bincount(quantise_time(piece[:, 1]), minlength=TIME_BINS)
        counts['duration'] += np.bincount(quantise_time(piece[:, 2]), minlength=TIME_BINS)
        counts['interval'] += np.bincount(np.clip(np.diff(pitch), -MAX_INTERVAL, MAX_INTERVAL) + MAX_INTERVAL, minlength=2 * MAX_INTERVAL + 1)
        classes = pitch % 12
        counts['pitch_class_transition'] += np.bincount(classes[:-1] * 12 + classes[1:], minlength=144)
    return counts


def jensen_shannon_bits(first: np.ndarray, second: np.ndarray) -> float:
    """The Jensen–Shannon divergence (bits, in [0, 1]) of two histograms (counts or probabilities, normalised here);
    NaN when either is empty."""
    from scipy.spatial.distance import jensenshannon

    first, second = np.asarray(first, dtype=np.float64), np.asarray(second, dtype=np.float64)
    if first.sum() <= 0 or second.sum() <= 0:
        return float('nan')
    return float(min(1.0, max(0.0, jensenshannon(first, second, base=2) ** 2)))


def histogram_divergences(pieces: Sequence[np.ndarray], reference: Sequence[np.ndarray]) -> dict[str, float]:
    """JSD in bits of each histogram of `pieces` against `reference`'s: {'pitch': ..., 'step': ..., ...}."""
    mine, theirs = histograms(pieces), histograms(reference)
    return {name: jensen_shannon_bits(mine[name], theirs[name]) for name in mine}


def _pitch_class_histogram(piece: np.ndarray) -> np.ndarray:
    counts = np.bincount(_pitches(piece) % 12, minlength=12).astype(np.float64)
    return counts / max(counts.sum(), 1.0)


def _pitch_range(piece: np.ndarray) -> np.ndarray:
    pitch = _pitches(piece)
    return np.array([float(pitch.max() - pitch.min()) if len(pitch) else 0.0])


def _inter_onset_interval(piece: np.ndarray) -> np.ndarray:
    onsets = np.unique(np.round(np.cumsum(piece[:, 1]), 6))
    return np.array([float(np.diff(onsets).mean()) if len(onsets) > 1 else 0.0])


def _note_count(piece: np.ndarray) -> np.ndarray:
    span = float(np.sum(piece[1:, 1])) + (float(piece[-1, 2]) if len(piece) else 0.0)
    return np.array([len(piece) * NOTE_COUNT_SECONDS / max(span, 1e-3)])


RELATIVE_FEATURES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    'pitch_class_histogram': _pitch_class_histogram,
    'pitch_range': _pitch_range,
    'inter_onset_interval': _inter_onset_interval,
    'note_count': _note_count,
}


def piece_features(pieces: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
    """Each Yang & Lerch feature of every piece: name → `(pieces, dimension)`."""
    return {name: np.stack([feature(piece) for piece in pieces]) for name, feature in RELATIVE_FEATURES.items()}


def _distances(first: np.ndarray, second: np.ndarray | None = None) -> np.ndarray:
    """Euclidean distances of every pair within `first` (second None) or between `first` and `second`."""
    if second is None:
        rows, columns = np.triu_indices(len(first), k=1)
        return np.linalg.norm(first[rows] - first[columns], axis=-1)
    return np.linalg.norm(first[:, None] - second[None], axis=-1).reshape(-1)


def _density(values: np.ndarray, grid: np.ndarray, floor_bandwidth: float) -> np.ndarray:
    """A Gaussian kernel density of `values` on `grid` (scipy's, Scott's bandwidth); a narrow kernel of width
    `floor_bandwidth` when the values are all equal, where scipy's covariance would be singular."""
    from scipy.stats import gaussian_kde

    if len(values) > 1 and np.std(values) > 1e-9:
        return gaussian_kde(values)(grid)
    centre = float(np.mean(values)) if len(values) else 0.0
    return np.exp(-0.5 * ((grid - centre) / floor_bandwidth) ** 2) / (floor_bandwidth * np.sqrt(2 * np.pi))


def _overlap_and_kl(intra: np.ndarray, inter: np.ndarray) -> tuple[float, float]:
    """Overlap area and KL(intra ‖ inter) (nats) of the two distance densities on a shared grid."""
    everything = np.concatenate([intra, inter])
    spread = float(np.ptp(everything)) if len(everything) else 0.0
    floor = max(spread, float(np.abs(everything).max(initial=0.0)), 1.0) * 1e-3
    low, high = everything.min() - 0.2 * spread - 5 * floor, everything.max() + 0.2 * spread + 5 * floor
    grid = np.linspace(low, high, 2000)
    p, q = _density(intra, grid, floor), _density(inter, grid, floor)
    p, q = p / np.trapezoid(p, grid), q / np.trapezoid(q, grid)
    overlap = float(np.trapezoid(np.minimum(p, q), grid))
    kl = float(np.trapezoid(np.where(p > 1e-12, p * np.log(np.maximum(p, 1e-12) / np.maximum(q, 1e-12)), 0.0), grid))
    return min(overlap, 1.0), max(kl, 0.0)


def relative_measures(pieces: Sequence[np.ndarray], reference: Sequence[np.ndarray]) -> dict[str, dict[str, float]]:
    """Yang & Lerch's measures of `pieces` against `reference` (see the module): per feature, the means of the
    intra-set distances of each set and of the inter-set distances, the overlap area and the KL divergence of the
    pieces' intra-set density against the inter-set density."""
    mine, theirs = piece_features(pieces), piece_features(reference)
    results = {}
    for name in RELATIVE_FEATURES:
        intra, reference_intra, inter = _distances(mine[name]), _distances(theirs[name]), _distances(mine[name], theirs[name])
        overlap, kl = _overlap_and_kl(intra, inter)
        results[name] = {'intra_mean': float(intra.mean()) if len(intra) else float('nan'),
                         'reference_intra_mean': float(reference_intra.mean()) if len(reference_intra) else float('nan'),
                         'inter_mean': float(inter.mean()), 'overlap_area': overlap, 'kl_divergence': kl}
    return results


def longest_copied_runs(pieces: Sequence[np.ndarray], training: Sequence[np.ndarray], *, pitch_only: bool = False) -> np.ndarray:
    """`(pieces,)` for each piece, the most consecutive notes it shares with any training piece (notes compared as
    (pitch, step bin, duration bin), or pitch alone)."""
    from .baselines import encode_notes

    def tokens(piece: np.ndarray) -> np.ndarray:
        return _pitches(piece) if pitch_only else encode_notes(piece)

    return longest_shared_runs([tokens(piece) for piece in pieces], [tokens(piece) for piece in training])


def longest_shared_runs(sequences: Sequence[np.ndarray], corpus: Sequence[np.ndarray]) -> np.ndarray:
    """`(sequences,)` for each int64 sequence, the length of its longest run of consecutive values found in a sequence
    of `corpus`.

    A binary search on the run length per sequence, against the set of all corpus runs of that length (a run of k
    shared values contains one of every shorter length, so the answer is monotone)."""
    corpus = [np.ascontiguousarray(sequence, dtype=np.int64) for sequence in corpus]
    runs: dict[int, set[bytes]] = {}

    def corpus_runs(length: int) -> set[bytes]:
        if length not in runs:
            runs[length] = {sequence[start:start + length].tobytes() for sequence in corpus for start in range(len(sequence) - length + 1)}
        return runs[length]

    longest = []
    for sequence in sequences:
        sequence = np.ascontiguousarray(sequence, dtype=np.int64)
        low, high = 0, len(sequence)  # low: a shared length; high: the most possible
        while low < high:
            middle = (low + high + 1) // 2
            shared = corpus_runs(middle)
            if any(sequence[start:start + middle].tobytes() in shared for start in range(len(sequence) - middle + 1)):
                low = middle
            else:
                high = middle - 1
        longest.append(low)
    return np.array(longest, dtype=np.int64)


def memorisation(pieces: Sequence[np.ndarray], training: Sequence[np.ndarray], threshold: int = 16) -> tuple[dict[str, float], np.ndarray]:
    """The longest copied runs summarised (median and maximum, the share of pieces copying more than `threshold` notes
    in a row, and the same for pitch sequences alone), and the runs of (pitch, step bin, duration bin) per piece."""
    summary: dict[str, float] = {}
    runs = np.zeros(len(pieces), dtype=np.int64)
    for prefix, pitch_only in (('', False), ('pitch_only_', True)):
        longest = longest_copied_runs(pieces, training, pitch_only=pitch_only)
        runs = longest if not pitch_only else runs
        summary |= {f'{prefix}longest_run_median': float(np.median(longest)), f'{prefix}longest_run_max': float(longest.max()),
                    f'{prefix}share_copying_over_{threshold}': float(np.mean(longest > threshold))}
    return summary, runs
