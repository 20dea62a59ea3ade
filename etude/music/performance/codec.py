"""Score features, performance features and their inverse: a score and four numbers per note give back a performance.

    score = read_score('piece.musicxml', expand_repeats=True)
    features = score_features(score)                                    # (n, 17): what a model reads, no performance needed
    encoded = encode_performance(score, performance, alignment.score_to_performance, pedal=read_pedal('take.mid'))
    notes, pedal = render_performance(score, encoded.targets, start_seconds=encoded.start_seconds, pedal_beats=encoded.pedal_beats)

The performance features, per score note (`PERFORMANCE_FEATURES`, float32):
    velocity            MIDI velocity / 127 of the matched performance note
    onset_deviation     seconds the note was played early (< 0) or late (> 0) against the tempo curve
    log_duration_ratio  log2 of played over written duration, the written one in seconds at the local beat period
    beat_seconds        the tempo curve: the length in seconds of the quarter-note beat the note starts in
    sustain             the sustain pedal's depth (0-1) when the note's key was let go: whether the pedal holds it on
    matched             1 where the score note was found in the performance (the note features are 0 elsewhere)

The tempo curve is beat-level: one period per quarter-note beat of the score (`beat_index`). It is smooth because it
goes through where each onset "should" be, judged from the onsets around it (`local_tempo`, which leaves the onset
itself out, so a chord played late shows as late instead of bending the curve). A beat without notes takes the
period of the next beat that has some, so the curve needs no other data. Rendering integrates the periods from
`start_seconds` into the time of each beat, places each note at its fraction of its beat, adds its deviation, and
gives it `2 ** log_duration_ratio` times its written length at the beat's period: the encoder computes the expected
times by the same integration (from float32 periods, as stored), so encoding and rendering a performance give back
its onsets to float rounding (microseconds) and its velocities exactly, for every matched note.

The sustain pedal is kept as events in score time (`pedal_beats`, `(n, 2)` beats and value), mapped through the same
tempo curve, so it moves with the music when a model changes the tempo. Rendering a model's per-note `sustain`
instead (no events to replay) presses the pedal on the first onset of a beat whose notes it holds, lets it up where
they are not held, and changes it (up at the onset, down again `PEDAL_CHANGE_SECONDS` later) at each new beat: a
pianist's legato pedalling, one change a beat; it blurs a harmony that changes within a beat, and leaves a long
harmony's figuration re-pedalled every beat.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

__all__ = [
    'PERFORMANCE_FEATURES',
    'SCORE_FEATURES',
    'EncodedPerformance',
    'beat_index',
    'beat_times',
    'deadpan_targets',
    'encode_performance',
    'local_tempo',
    'marked_beat_seconds',
    'pedal_depth',
    'performance_to_midi',
    'read_pedal',
    'render_performance',
    'score_features',
    'sustain_pedal_events',
]

SCORE_FEATURES = ('pitch', 'duration_beats', 'onset_delta_beats', 'beat', 'beat_strength', 'key_sharps', 'key_mode', 'time_numerator',
                  'time_denominator', 'dynamic_level', 'has_dynamic', 'staccato', 'accent', 'tenuto', 'fermata', 'tempo_qpm', 'has_tempo')
PERFORMANCE_FEATURES = ('velocity', 'onset_deviation', 'log_duration_ratio', 'beat_seconds', 'sustain', 'matched')
MIN_SECONDS = 1e-3  # shortest period or duration the codec writes: time never runs backwards, a note never vanishes
PEDAL_CHANGE_SECONDS = 0.06  # a legato pedal change: up at the new beat's onset, down again this much later


def score_features(score: np.ndarray) -> np.ndarray:
    """`(n, len(SCORE_FEATURES))` float32 model inputs from a `read_score` note array, with no performance needed.

    Pitch, written duration and onset step in quarter notes, position in the bar and metrical weight, key signature
    and mode, time signature, the dynamic in effect (level, and whether there is one), the staccato, accent, tenuto
    and fermata flags, and the tempo mark in effect (quarter notes a minute, and whether there is one). Missing metre
    (NaN from a score without time signatures) and a missing tempo mark read as 0.
    """
    from ...data.score import ARTICULATIONS

    onsets = score['onset_beats']
    level = np.nan_to_num(score['dynamic_level'].astype(np.float32), nan=0.0)
    flags = [(score['articulations'] >> ARTICULATIONS.index(name)) & 1 for name in ('staccato', 'accent', 'tenuto', 'fermata')]
    features = np.stack([
        score['pitch'], score['duration_beats'], np.diff(onsets, prepend=onsets[:1]), score['beat'], score['beat_strength'],
        score['key_sharps'], score['key_mode'], score['time_numerator'], score['time_denominator'], level, score['dynamic'] != '', *flags,
        np.nan_to_num(score['tempo_qpm'].astype(np.float32), nan=0.0), np.isfinite(score['tempo_qpm']),
    ], axis=1).astype(np.float32)
    return np.nan_to_num(features, nan=0.0)


def beat_index(onset_beats: np.ndarray) -> tuple[float, np.ndarray]:
    """The first beat (a whole quarter note at or before the first onset) and the `(n,)` int64 beat each onset is in."""
    first = float(np.floor(np.min(onset_beats) + 1e-9))
    return first, np.floor(onset_beats - first + 1e-9).astype(np.int64)


def _note_bearing_periods(periods_of_beats: np.ndarray, bearing: np.ndarray) -> np.ndarray:
    """Periods of every beat `0..len-1` where only `bearing` beats are known: an empty beat takes the next known one's
    (the last known one's after the end). `periods_of_beats` holds the known values at `bearing`."""
    count = len(periods_of_beats)
    known = np.flatnonzero(bearing)
    following = np.searchsorted(known, np.arange(count), side='left')
    return periods_of_beats[known[np.minimum(following, len(known) - 1)]]


def beat_times(periods: np.ndarray, start_seconds: float) -> np.ndarray:
    """`(n_beats + 1,)` seconds at which each beat starts (and the last one ends), integrating the periods."""
    return start_seconds + np.concatenate([[0.0], np.cumsum(periods.astype(np.float64))])


@dataclass(frozen=True)
class EncodedPerformance:
    """A performance as features of its score's notes.

    Attributes:
        targets: `PERFORMANCE_FEATURES` name -> `(n_score,)` float32.
        start_seconds: when the first beat of the score begins in the performance.
        pedal_beats: `(n_events, 2)` float64 sustain-pedal changes `(beats, value 0-127)` in score time.
    """

    targets: dict[str, np.ndarray]
    start_seconds: float
    pedal_beats: np.ndarray


def encode_performance(score: np.ndarray, performance: np.ndarray, score_to_performance: np.ndarray, *, tempo_window_beats: float = 4.0,
                       pedal: np.ndarray | None = None) -> EncodedPerformance:
    """What a performance made of each note of its score (see the module docstring for the features).

    Args:
        score: `(n,)` note array with `onset_beats` and `duration_beats` (`read_score`).
        performance: `(m,)` note array with `start`, `duration` (seconds) and `velocity` (`etude.data.midi`).
        score_to_performance: `(n,)` the matched performance row of each score note, -1 for none (`Alignment`).
        tempo_window_beats: quarter notes either side of an onset that judge where it should be.
        pedal: `(k, 2)` sustain-pedal changes `(seconds, value)` (`read_pedal`), or None.

    Raises:
        ValueError: fewer than two distinct onsets are matched, so there is no tempo to speak of.
    """

    onsets, durations = np.asarray(score['onset_beats'], dtype=np.float64), np.asarray(score['duration_beats'], dtype=np.float64)
    matched = np.flatnonzero(score_to_performance >= 0)
    played = performance[score_to_performance[matched]]
    if len(np.unique(onsets[matched])) < 2:
        raise ValueError('a performance needs at least two matched onsets to have a tempo')
    # where each matched onset should be, from the onsets around it (leaving itself out), then the beat grid through them
    anchors, first_rows = np.unique(onsets[matched], return_index=True)
    expected, slopes = local_tempo(onsets[matched], played['start'], anchors, tempo_window_beats)
    first, beats = beat_index(onsets)
    grid = first + np.arange(beats.max() + 2, dtype=np.float64)
    grid_seconds = np.interp(grid, anchors, expected)
    grid_seconds = np.where(grid < anchors[0], expected[0] + (grid - anchors[0]) * slopes[0], grid_seconds)
    grid_seconds = np.where(grid > anchors[-1], expected[-1] + (grid - anchors[-1]) * slopes[-1], grid_seconds)
    bearing = np.zeros(len(grid) - 1, dtype=bool)
    bearing[beats] = True
    # a note-bearing beat and the empty beats before it share one period, ending where the curve says its beat ends
    known = np.flatnonzero(bearing)
    previous_end = np.concatenate([[0], known[:-1] + 1])
    spans = known + 1 - previous_end
    periods_known = np.maximum((grid_seconds[known + 1] - grid_seconds[previous_end]) / spans, MIN_SECONDS)
    periods = np.zeros(len(bearing))
    periods[known] = periods_known
    periods = _note_bearing_periods(periods, bearing).astype(np.float32).astype(np.float64)  # as stored: the renderer sees these
    start_seconds = float(grid_seconds[0])
    times = beat_times(periods, start_seconds)
    note_periods = periods[beats]
    expected_at = times[beats] + (onsets - grid[beats]) * note_periods
    targets = {name: np.zeros(len(score), dtype=np.float32) for name in PERFORMANCE_FEATURES}
    targets['beat_seconds'] = note_periods.astype(np.float32)
    targets['matched'][matched] = 1.0
    targets['velocity'][matched] = played['velocity'] / 127.0
    targets['onset_deviation'][matched] = played['start'] - expected_at[matched]
    written = np.maximum(durations[matched] * note_periods[matched], MIN_SECONDS)
    targets['log_duration_ratio'][matched] = np.log2(np.maximum(played['duration'], MIN_SECONDS) / written)
    pedal_beats = np.zeros((0, 2))
    if pedal is not None and len(pedal):
        targets['sustain'][matched] = pedal_depth(pedal, played['start'] + played['duration'])
        pedal_beats = np.stack([_seconds_to_beats(np.asarray(pedal[:, 0], dtype=np.float64), times, first), pedal[:, 1]], axis=1)
    return EncodedPerformance(targets=targets, start_seconds=start_seconds, pedal_beats=pedal_beats)


def pedal_depth(pedal: np.ndarray, seconds: np.ndarray) -> np.ndarray:
    """`(m,)` float32 depth 0-1 of the sustain pedal at each of `seconds`: the last change `(seconds, value 0-127)` of
    `pedal` at or before it (0 before the first)."""
    order = np.argsort(pedal[:, 0], kind='stable')
    times, values = pedal[order, 0], pedal[order, 1]
    index = np.searchsorted(times, seconds, side='right') - 1
    return np.where(index >= 0, values[np.clip(index, 0, None)] / 127.0, 0.0).astype(np.float32)


def sustain_pedal_events(score: np.ndarray, starts: np.ndarray, sustain: np.ndarray) -> np.ndarray:
    """`(k, 2)` pedal events `(seconds, 0 or 127)` that play per-note `sustain` (0-1) as legato pedalling, one change a
    beat (see the module docstring). `starts` are the notes' rendered onsets in seconds."""
    _, beats = beat_index(np.asarray(score['onset_beats'], dtype=np.float64))
    events: list[tuple[float, float]] = []
    down = False
    for beat in np.unique(beats):
        notes = beats == beat
        onset = float(np.min(starts[notes]))
        held = float(np.mean(np.clip(sustain[notes], 0.0, 1.0))) >= 0.5
        if down:
            events.append((onset, 0.0))
        if held:
            events.append((onset + (PEDAL_CHANGE_SECONDS if down else 0.0), 127.0))
        down = held
    if down:
        events.append((float(np.max(starts)) + 1.0, 0.0))
    return np.array(events, dtype=np.float64).reshape(-1, 2)


def _seconds_to_beats(seconds: np.ndarray, times: np.ndarray, first: float) -> np.ndarray:
    """Score time of each of `seconds` under the beat times `times` (linear past both ends at the end beats' tempo)."""
    beats = first + np.arange(len(times), dtype=np.float64)
    result = np.interp(seconds, times, beats)
    result = np.where(seconds < times[0], first + (seconds - times[0]) / (times[1] - times[0]), result)
    return np.where(seconds > times[-1], beats[-1] + (seconds - times[-1]) / (times[-1] - times[-2]), result)


def _beats_to_seconds(score_beats: np.ndarray, times: np.ndarray, first: float) -> np.ndarray:
    beats = first + np.arange(len(times), dtype=np.float64)
    result = np.interp(score_beats, beats, times)
    result = np.where(score_beats < beats[0], times[0] + (score_beats - beats[0]) * (times[1] - times[0]), result)
    return np.where(score_beats > beats[-1], times[-1] + (score_beats - beats[-1]) * (times[-1] - times[-2]), result)


def render_performance(score: np.ndarray, targets: dict[str, np.ndarray], *, start_seconds: float = 0.0,
                       pedal_beats: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A performance of `score` from per-note features: the inverse of `encode_performance`.

    `targets` needs `velocity`, `onset_deviation`, `log_duration_ratio` and `beat_seconds` (`(n,)`, e.g. a model's
    predictions), and may hold `sustain`, played as pedalling when no `pedal_beats` are given. The notes of one beat
    share its period: the mean of their `beat_seconds`. Velocities are rounded and clipped to 1-127; periods and
    durations are at least 1 ms.

    Returns:
        `(n,)` `NOTE_DTYPE` notes in score order (not re-sorted, so row i plays score note i), and the pedal events
        `(k, 2)` `(seconds, value)`.
    """
    from ...data.midi import NOTE_DTYPE  # pretty_midi comes with it: imported only when rendering

    onsets, durations = np.asarray(score['onset_beats'], dtype=np.float64), np.asarray(score['duration_beats'], dtype=np.float64)
    first, beats = beat_index(onsets)
    count = int(beats.max()) + 1
    sums, counts = np.zeros(count), np.zeros(count)
    np.add.at(sums, beats, np.asarray(targets['beat_seconds'], dtype=np.float32).astype(np.float64))
    np.add.at(counts, beats, 1.0)
    bearing = counts > 0
    periods = np.zeros(count)
    periods[bearing] = np.maximum(sums[bearing] / counts[bearing], MIN_SECONDS)
    periods = _note_bearing_periods(periods, bearing).astype(np.float32).astype(np.float64)
    times = beat_times(periods, start_seconds)
    note_periods = periods[beats]
    starts = times[beats] + (onsets - (first + beats)) * note_periods + np.asarray(targets['onset_deviation'], dtype=np.float32).astype(np.float64)
    written = np.maximum(durations * note_periods, MIN_SECONDS)
    lengths = np.maximum(written * np.exp2(np.asarray(targets['log_duration_ratio'], dtype=np.float32).astype(np.float64)), MIN_SECONDS)
    notes = np.zeros(len(score), dtype=NOTE_DTYPE)
    notes['pitch'] = score['pitch']
    notes['start'], notes['end'], notes['duration'] = starts, starts + lengths, lengths
    notes['velocity'] = np.clip(np.rint(np.asarray(targets['velocity'], dtype=np.float32).astype(np.float64) * 127.0), 1, 127)
    order = np.argsort(starts, kind='stable')
    notes['step'][order] = np.diff(starts[order], prepend=0.0)
    pedal = np.zeros((0, 2))
    if pedal_beats is not None and len(pedal_beats):
        pedal = np.stack([_beats_to_seconds(pedal_beats[:, 0], times, first), pedal_beats[:, 1]], axis=1)
    elif pedal_beats is None and 'sustain' in targets and len(score):
        pedal = sustain_pedal_events(score, starts, np.asarray(targets['sustain'], dtype=np.float64))
    return notes, pedal


def marked_beat_seconds(tempo_qpm: np.ndarray, default: float) -> np.ndarray:
    """`(n,)` float32 quarter-note periods of the score's tempo marks (`tempo_qpm` per note, NaN where none is in effect):
    notes before the first mark take the first mark's tempo, a score without marks `default` seconds."""
    qpm = np.asarray(tempo_qpm, dtype=np.float64)
    marked = np.flatnonzero(np.isfinite(qpm) & (qpm > 0))
    if not len(marked):
        return np.full(len(qpm), default, dtype=np.float32)
    filled = qpm.copy()
    filled[:marked[0]] = qpm[marked[0]]
    index = np.maximum.accumulate(np.where(np.isfinite(filled) & (filled > 0), np.arange(len(filled)), 0))
    return (60.0 / filled[index]).astype(np.float32)


def deadpan_targets(score: np.ndarray, *, velocity: float, beat_seconds: float, follow_marks: bool = True) -> dict[str, np.ndarray]:
    """Features of a deadpan performance: one velocity (0-1), every note on time and at its written length, no pedal,
    at the score's tempo marks (`beat_seconds` where it has none, or with `follow_marks=False` throughout)."""
    count = len(score)
    marks = score['tempo_qpm'] if follow_marks and 'tempo_qpm' in (score.dtype.names or ()) else np.full(count, np.nan)
    return {'velocity': np.full(count, velocity, dtype=np.float32), 'onset_deviation': np.zeros(count, dtype=np.float32),
            'log_duration_ratio': np.zeros(count, dtype=np.float32), 'beat_seconds': marked_beat_seconds(marks, beat_seconds),
            'sustain': np.zeros(count, dtype=np.float32)}


def read_pedal(source: str | os.PathLike[str] | object) -> np.ndarray:
    """`(k, 2)` float64 sustain-pedal changes `(seconds, value)` (MIDI controller 64) of a MIDI file or `PrettyMIDI`."""
    from ...data.midi import read_midi

    midi = source if hasattr(source, 'instruments') else read_midi(source)  # type: ignore[arg-type]
    events = sorted((change.time, change.value) for track in midi.instruments for change in track.control_changes if change.number == 64)
    return np.array(events, dtype=np.float64).reshape(-1, 2)


def performance_to_midi(notes: np.ndarray, path: str | os.PathLike[str] | None = None, *, pedal: np.ndarray | None = None, resolution: int = 1920):
    """A piano MIDI file of rendered notes and pedal events, written atomically when `path` is given.

    The resolution of 1920 ticks per quarter at 120 bpm keeps times to 0.26 ms, inside the codec's 1 ms.
    """
    import pretty_midi

    from ...data.audio import atomic_path
    from ...data.midi import notes_to_midi

    midi = notes_to_midi(notes, resolution=resolution)
    if pedal is not None:
        for seconds, value in pedal:
            midi.instruments[0].control_changes.append(pretty_midi.ControlChange(number=64, value=int(np.clip(round(value), 0, 127)),
                                                                                time=max(float(seconds), 0.0)))
    if path is not None:
        with atomic_path(path) as temporary:
            midi.write(str(temporary))
    return midi


def local_tempo(anchor_beats: np.ndarray, anchor_seconds: np.ndarray, beats: np.ndarray, half_width: float) -> tuple[np.ndarray, np.ndarray]:
    """Where (seconds) and how fast (seconds per quarter note) the music goes at each of `beats`, judged from the
    other onsets around it.

    The performed time of each score onset is the median over its notes (a chord's spread does not move it). At each
    query onset a line is fitted, by least squares with triangular weights, through the onsets within `half_width`
    quarter notes on either side, leaving out the onset itself: so a whole chord played late shows as late instead
    of bending the line through itself, and a ritardando shows as a slower line rather than as late notes. Where
    fewer than two other onsets lie within reach, the three nearest are used.

    Args:
        anchor_beats: `(n,)` score onsets (quarter notes) of matched notes.
        anchor_seconds: `(n,)` their performed times.
        beats: `(m,)` the onsets to evaluate at.
    Returns:
        `(m,)` expected times in seconds and `(m,)` seconds per quarter note.
    """
    order = np.argsort(anchor_beats, kind='stable')
    onsets, first = np.unique(anchor_beats[order], return_index=True)
    times = np.array([np.median(chunk) for chunk in np.split(anchor_seconds[order], first[1:])])
    queries, inverse = np.unique(beats, return_inverse=True)
    expected, slopes = np.empty(len(queries)), np.empty(len(queries))
    for index, query in enumerate(queries):
        distance = np.abs(onsets - query)
        others = distance > 1e-9
        weights = np.where(others, np.clip(1.0 - distance / half_width, 0.0, None), 0.0)
        if np.count_nonzero(weights) < 2:
            nearest = np.argsort(np.where(others, distance, np.inf), kind='stable')[:3]
            weights = np.zeros(len(onsets))
            weights[nearest[np.isfinite(distance[nearest]) & others[nearest]]] = 1.0
        centre_x, centre_y = np.average(onsets, weights=weights), np.average(times, weights=weights)
        spread = np.sum(weights * (onsets - centre_x) ** 2)
        slope = np.sum(weights * (onsets - centre_x) * (times - centre_y)) / spread if spread > 0 else 0.0
        slopes[index] = max(slope, 1e-3)  # time never runs backwards
        expected[index] = centre_y + slopes[index] * (query - centre_x)
    return expected[inverse], slopes[inverse]
