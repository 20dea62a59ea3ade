"""A score's notes aligned to a performance's: which performed note plays each written one.

    alignment = align_score_to_performance(read_score('piece.musicxml', expand_repeats=True), midi_to_notes('take.mid'))
    alignment.score_to_performance      # (n_score,) the performed row of each score row, -1 where none was played

Used where a performance is read against its score: the performance codec's training pairs (`PerformanceSequences`),
the listening test's human condition, and a MIDI performance without a match file.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ['Alignment', 'align_score_to_performance', 'match_in_order']


@dataclass(frozen=True)
class Alignment:
    """Which score note each performance note plays.

    Attributes:
        score_to_performance: `(n_score,)` int64, the matched performance row of each score row, -1 if unmatched
            (a note the performer left out, or could not be matched).
        performance_to_score: `(n_performance,)` int64, the matched score row of each performance row, -1 if
            unmatched (an extra, wrong or ornamental note).
        pairs: `(n_rows, 2)` int64 `(score_index, performance_index)`: every match, then `(s, -1)` for each
            unmatched score note and `(-1, p)` for each unmatched performance note.
        match_rate: matched score notes / score notes (0 when the score is empty).
        performance_match_rate: matched performance notes / performance notes.
        time_map: `(n_anchors, 2)` float64 `(onset_beats, seconds)`, the smoothed tempo map the match used.
    """

    score_to_performance: np.ndarray
    performance_to_score: np.ndarray
    pairs: np.ndarray
    match_rate: float
    performance_match_rate: float
    time_map: np.ndarray


def match_in_order(predicted: np.ndarray, actual: np.ndarray, tolerance: float) -> list[tuple[int, int]]:
    """Order-preserving matching of one pitch's score and performance occurrences (both sorted by time).

    Maximises the sum over matches of `1 - |predicted - actual| / tolerance`, matches beyond `tolerance` being
    forbidden: the classic alignment recurrence with free gaps, `F[i, j] = max(F[i-1, j], F[i, j-1],
    F[i-1, j-1] + reward)`, computed a row at a time (the `F[i, j-1]` term is a running maximum along the row).
    """
    reward = 1.0 - np.abs(predicted[:, None] - actual[None, :]) / tolerance
    reward[reward <= 0] = -np.inf
    table = np.zeros((len(predicted) + 1, len(actual) + 1))
    for i in range(1, len(predicted) + 1):
        candidates = np.maximum(table[i - 1, 1:], table[i - 1, :-1] + reward[i - 1])
        table[i, 1:] = np.maximum.accumulate(candidates)
    matches = []
    i, j = len(predicted), len(actual)
    while i > 0 and j > 0:
        if table[i, j] == table[i - 1, j]:
            i -= 1
        elif table[i, j] == table[i, j - 1]:
            j -= 1
        else:
            matches.append((i - 1, j - 1))
            i, j = i - 1, j - 1
    return matches


def _fit_time_map(beats: np.ndarray, seconds: np.ndarray) -> np.ndarray:
    """A monotone `(n, 2)` map from matched pairs: median time per score onset, a running median over 5 onsets
    to drop isolated wrong matches, then a running maximum so time never goes backwards."""
    order = np.argsort(beats, kind='stable')
    onsets, first = np.unique(beats[order], return_index=True)
    times = np.array([np.median(chunk) for chunk in np.split(seconds[order], first[1:])])
    if len(times) >= 5:
        padded = np.pad(times, 2, mode='edge')
        times = np.median(np.lib.stride_tricks.sliding_window_view(padded, 5), axis=1)
    return np.stack([onsets, np.maximum.accumulate(times)], axis=1)


def _apply_time_map(time_map: np.ndarray, beats: np.ndarray) -> np.ndarray:
    """Interpolate the map, extending it past both ends at its average tempo."""
    x, y = time_map[:, 0], time_map[:, 1]
    if len(x) == 1:
        return np.full(len(beats), y[0])
    slope = (y[-1] - y[0]) / (x[-1] - x[0]) if x[-1] > x[0] else 0.0
    result = np.interp(beats, x, y)
    result = np.where(beats < x[0], y[0] + (beats - x[0]) * slope, result)
    return np.where(beats > x[-1], y[-1] + (beats - x[-1]) * slope, result)


def _groups(times: np.ndarray, gap: float) -> np.ndarray:
    """Group index of each time (sorted or not): a new group starts after a gap larger than `gap`."""
    order = np.argsort(times, kind='stable')
    starts = np.diff(times[order], prepend=-np.inf) > gap
    groups = np.empty(len(times), dtype=np.int64)
    groups[order] = np.cumsum(starts) - 1
    return groups


def _coarse_time_map(
    score_times: np.ndarray, score_pitch: np.ndarray, performance_times: np.ndarray, performance_pitch: np.ndarray
) -> np.ndarray:
    """Tempo map from dynamic time warping of the score's chords against the performance's.

    Score notes are grouped by onset, performance notes by onsets less than 50 ms apart; each group is a vector of
    MIDI pitch counts and the cost of pairing two groups is one minus their cosine similarity. Pitch content alone
    fixes the coarse timing, however far the tempo strays from a straight line. The cost of the warp through row i
    is computed a row at a time: with `m[k] = min(D[i-1, k], D[i-1, k-1])` and `C` the running sum of the row's
    costs, `D[i, j] = C[j] + min over k <= j of (m[k] - C[k - 1])`, a running minimum. Memory is
    `(score chords) x (performance chords)` float32.
    """
    score_group = _groups(score_times, 1e-9)
    performance_group = _groups(performance_times, 0.05)

    def chord_vectors(group: np.ndarray, pitch: np.ndarray) -> np.ndarray:
        counts = np.zeros((group.max() + 1, 128), dtype=np.float32)
        np.add.at(counts, (group, np.clip(pitch, 0, 127)), 1.0)
        return counts / np.linalg.norm(counts, axis=1, keepdims=True)

    score_vectors = chord_vectors(score_group, score_pitch)
    performance_vectors = chord_vectors(performance_group, performance_pitch)
    rows, columns = len(score_vectors), len(performance_vectors)
    table = np.empty((rows, columns), dtype=np.float32)
    previous = np.full(columns, np.inf)
    for i in range(rows):
        cost = 1.0 - (performance_vectors @ score_vectors[i]).astype(np.float64)
        if i == 0:
            entry = np.full(columns, np.inf)
            entry[0] = 0.0
        else:
            entry = np.minimum(previous, np.concatenate([[np.inf], previous[:-1]]))
        running = np.cumsum(cost)
        previous = running + np.minimum.accumulate(entry - running + cost)
        table[i] = previous
    path = [(rows - 1, columns - 1)]
    i, j = rows - 1, columns - 1
    while i > 0 or j > 0:
        steps = [(i - 1, j - 1), (i - 1, j), (i, j - 1)]
        i, j = min((step for step in steps if step[0] >= 0 and step[1] >= 0), key=lambda step: table[step])
        path.append((i, j))
    score_onsets, performance_onsets = np.full(rows, np.inf), np.full(columns, np.inf)
    np.minimum.at(score_onsets, score_group, score_times)
    np.minimum.at(performance_onsets, performance_group, performance_times)
    path_array = np.array(path[::-1])
    return _fit_time_map(score_onsets[path_array[:, 0]], performance_onsets[path_array[:, 1]])


def align_score_to_performance(
    score_notes: np.ndarray,
    performance_notes: np.ndarray,
    *,
    tolerance_seconds: float = 0.3,
) -> Alignment:
    """Match the notes of a score to the notes of a performance of it.

    Method, in two stages:
      1. A coarse tempo map from dynamic time warping of chords (`_coarse_time_map`): score notes grouped by
         onset, performance notes by onsets under 50 ms apart, compared by their pitch content. This needs no
         timing at all, so any tempo and rubato are fine.
      2. For each pitch separately, the score's occurrences (at the times the map predicts) are aligned with the
         performance's in time order, maximising the number of matches and preferring small timing errors, a match
         being allowed only within a tolerance (`match_in_order`). Working per pitch makes the order of notes within
         a chord, which a performance scrambles, irrelevant, and each performance note is used at most once. The
         map is then refitted through the matches (median per onset, median-smoothed over 5 onsets, monotone) and
         the matching repeated, with a tolerance of `4 * tolerance_seconds`, then twice `tolerance_seconds`.

    Limits: the performance must follow the score without jumps (expand repeats in the score first, and cut
    sections out of it that are not played); an asynchrony or a local tempo change sharper than the smoothing
    that puts a note more than `tolerance_seconds` from where the map expects it leaves it unmatched; trills,
    other ornaments and wrong or octave-displaced notes stay unmatched; a wrong note of the right pitch within the
    tolerance of a left-out note is matched to it; of two unison notes in the score (two parts on one pitch) a
    MIDI rendering keeps one, so the other stays unmatched. Time and memory grow with (score chords) x
    (performance chords): about 0.3 s and 10 MB for a 3,000-note quartet movement.

    Args:
        score_notes: structured array with `pitch` and `onset_beats` (from `read_score`) or `start` (a note array
            from `etude.data.midi`, for score-like MIDI).
        performance_notes: note array from `etude.data.midi.midi_to_notes`, with `pitch` and `start` in seconds.
        tolerance_seconds: the largest timing error a match may have once the tempo map is known.

    Returns:
        An `Alignment` (row indices refer to the arrays as passed in, whatever their order).
    """
    score_times = np.asarray(score_notes['onset_beats' if 'onset_beats' in (score_notes.dtype.names or ()) else 'start'], dtype=np.float64)
    score_pitch = np.asarray(score_notes['pitch'], dtype=np.int64)
    performance_times = np.asarray(performance_notes['start'], dtype=np.float64)
    performance_pitch = np.asarray(performance_notes['pitch'], dtype=np.int64)
    score_to_performance, time_map = np.full(len(score_times), -1, dtype=np.int64), np.zeros((0, 2))
    if len(score_times) and len(performance_times):
        time_map = _coarse_time_map(score_times, score_pitch, performance_times, performance_pitch)
        for tolerance in (4 * tolerance_seconds, tolerance_seconds, tolerance_seconds):
            predicted = _apply_time_map(time_map, score_times)
            score_to_performance[:] = -1
            for pitch in np.intersect1d(score_pitch, performance_pitch):
                score_rows = np.flatnonzero(score_pitch == pitch)
                score_rows = score_rows[np.argsort(predicted[score_rows], kind='stable')]
                performance_rows = np.flatnonzero(performance_pitch == pitch)
                performance_rows = performance_rows[np.argsort(performance_times[performance_rows], kind='stable')]
                for i, j in match_in_order(predicted[score_rows], performance_times[performance_rows], tolerance):
                    score_to_performance[score_rows[i]] = performance_rows[j]
            matched = np.flatnonzero(score_to_performance >= 0)
            if len(matched):
                time_map = _fit_time_map(score_times[matched], performance_times[score_to_performance[matched]])
    performance_to_score = np.full(len(performance_times), -1, dtype=np.int64)
    matched = np.flatnonzero(score_to_performance >= 0)
    performance_to_score[score_to_performance[matched]] = matched
    unmatched_score = np.flatnonzero(score_to_performance < 0)
    unmatched_performance = np.flatnonzero(performance_to_score < 0)
    pairs = np.concatenate([
        np.stack([matched, score_to_performance[matched]], axis=1),
        np.stack([unmatched_score, np.full_like(unmatched_score, -1)], axis=1),
        np.stack([np.full_like(unmatched_performance, -1), unmatched_performance], axis=1),
    ]).astype(np.int64)
    return Alignment(
        score_to_performance=score_to_performance,
        performance_to_score=performance_to_score,
        pairs=pairs,
        match_rate=len(matched) / len(score_times) if len(score_times) else 0.0,
        performance_match_rate=len(matched) / len(performance_times) if len(performance_times) else 0.0,
        time_map=time_map,
    )
