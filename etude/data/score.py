"""Scores (MusicXML, Humdrum, ABC, MEI, MIDI) as note arrays, and their alignment to performances.

`read_score` returns a numpy structured array of dtype `SCORE_DTYPE`, one row per sounding pitch (chords expanded,
tied notes merged, grace notes and unpitched percussion left out), sorted by onset, then pitch, then part:

    pitch             int16    MIDI note number
    onset_beats       float64  onset in quarter notes from the start of the score, across measures
    duration_beats    float64  written duration in quarter notes (ties merged)
    part              int16    index of the part (staff) in the score, from 0
    voice             int16    voice within the measure, from 1; 0 when the measure has a single voice
    measure           int32    measure number as printed (0 for a pickup measure)
    beat              float64  position in the measure in beats, from 1
    beat_strength     float32  metrical weight from the time signature: 1 downbeat, 0.5, 0.25 ... weaker beats
    key_sharps        int8     sharps (> 0) or flats (< 0) of the key signature in effect
    key_tonic         int8     pitch class 0-11 of the key in effect, -1 when only a signature is known
    key_mode          int8     0 major, 1 minor, -1 unknown or another mode
    time_numerator    int16    time signature in effect, 0/0 when there is none
    time_denominator  int16
    dynamic           <U6      last dynamic mark at or before the note in its part ('pp', 'mf', 'sfz' ...), ''
                               when none; a part with no dynamics at all reads those of the first part that has
                               some (a piano's marks sit between its staves and belong to the upper one)
    dynamic_level     float32  music21's loudness for that mark, 0-1 (pp 0.25, mf 0.55, ff 0.85), NaN when none
    articulations     int32    bitmask over `ARTICULATIONS`: bit i is set when the note carries ARTICULATIONS[i]

`align_score_to_performance` pairs these rows with the notes of a performance (`etude.data.midi` note arrays).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataFileError

__all__ = [
    'ARTICULATIONS',
    'SCORE_DTYPE',
    'SCORE_EXTENSIONS',
    'Alignment',
    'align_score_to_performance',
    'articulation_names',
    'read_score',
]

SCORE_EXTENSIONS = ('musicxml', 'xml', 'mxl', 'krn', 'abc', 'mei', 'mid', 'midi')
ARTICULATIONS = ('staccato', 'staccatissimo', 'spiccato', 'accent', 'strong_accent', 'tenuto', 'detached_legato', 'stress', 'fermata', 'other')
# music21 class name -> entry of ARTICULATIONS, by exact class so a Staccatissimo is not also a Staccato
_ARTICULATION_CLASSES = {
    'Staccato': 'staccato', 'Staccatissimo': 'staccatissimo', 'Spiccato': 'spiccato', 'Accent': 'accent', 'StrongAccent': 'strong_accent',
    'Tenuto': 'tenuto', 'DetachedLegato': 'detached_legato', 'Stress': 'stress',
}
SCORE_DTYPE = np.dtype([
    ('pitch', 'i2'), ('onset_beats', 'f8'), ('duration_beats', 'f8'), ('part', 'i2'), ('voice', 'i2'), ('measure', 'i4'), ('beat', 'f8'),
    ('beat_strength', 'f4'), ('key_sharps', 'i1'), ('key_tonic', 'i1'), ('key_mode', 'i1'), ('time_numerator', 'i2'),
    ('time_denominator', 'i2'), ('dynamic', 'U6'), ('dynamic_level', 'f4'), ('articulations', 'i4'),
])


def articulation_names(mask: int) -> list[str]:
    """The names in `ARTICULATIONS` set in an `articulations` bitmask, e.g. `5 -> ['staccato', 'spiccato']`."""
    return [name for bit, name in enumerate(ARTICULATIONS) if int(mask) >> bit & 1]


def _parse(path: Path):
    """Parse a score file with music21, turning every failure into a `DataFileError` naming it."""
    from music21 import converter, stream

    if not path.is_file():
        raise DataFileError(f'{path}: no such file' if not path.exists() else f'{path}: not a file')
    extension = path.suffix.lower().lstrip('.')
    if extension not in SCORE_EXTENSIONS:
        raise DataFileError(f"{path}: not a score file (unsupported format '{extension}'); supported: {', '.join(SCORE_EXTENSIONS)}")
    if path.stat().st_size == 0:
        raise DataFileError(f'{path}: empty file (0 bytes)')
    try:
        # parse a file path, never a string (music21 would read a bad path as tinyNotation), and write no pickle
        # cache into music21's scratch directory
        parsed = converter.parse(path, forceSource=True, storePickle=False)
    except Exception as error:  # music21's parsers raise anything from ParseError to IndexError on bad files
        reason = f'{type(error).__name__}: {error}'.splitlines()[0][:200]
        raise DataFileError(f'{path}: corrupt or unreadable {extension} score ({reason})') from None
    if isinstance(parsed, stream.Opus):
        scores = list(parsed.scores)
        if not scores:
            raise DataFileError(f'{path}: the file holds no score')
        parsed = scores[0]
    return parsed


def _timeline(parts, classes: str) -> list[tuple[np.ndarray, list]]:
    """Per part, the offsets (quarter notes) and objects of one kind of context mark, in order."""
    timelines = []
    for part in parts:
        marks = sorted(
            ((mark.getOffsetInHierarchy(part), i, mark) for i, mark in enumerate(part.recurse().getElementsByClass(classes))),
            key=lambda item: item[:2],
        )
        timelines.append((np.array([offset for offset, _, _ in marks], dtype=np.float64), [m for _, _, m in marks]))
    # a part without any such mark borrows from the first that has: key and time signatures are often given once,
    # and a piano's dynamics, written between its staves, belong to the upper staff alone
    fallback = next((timeline for timeline in timelines if timeline[1]), (np.zeros(0), []))
    return [timeline if timeline[1] else fallback for timeline in timelines]


def _in_effect(timeline: tuple[np.ndarray, list], onset: float):
    offsets, marks = timeline
    index = int(np.searchsorted(offsets, onset + 1e-9, side='right')) - 1
    return marks[index] if index >= 0 else None


def _articulation_mask(element) -> int:
    mask = 0
    for articulation in element.articulations:
        name = _ARTICULATION_CLASSES.get(type(articulation).__name__, 'other')
        mask |= 1 << ARTICULATIONS.index(name)
    if any(type(expression).__name__ == 'Fermata' for expression in element.expressions):
        mask |= 1 << ARTICULATIONS.index('fermata')
    return mask


def _walk(part, measure_class) -> Iterator[tuple[Any, float, int, float | None, int]]:
    """Yield `(element, onset, measure number, position in a full bar, voice)` for every note-like element.

    Walking measure by measure avoids music21's per-note context searches (seconds for a quartet movement). A part
    without measures gives measure 0 and no position."""
    measures = list(part.recurse().getElementsByClass(measure_class))
    if not measures:
        for element in part.recurse().notes:
            yield element, float(element.getOffsetInHierarchy(part)), 0, None, 0
        return
    for measure in measures:
        start = float(measure.getOffsetInHierarchy(part))
        padding = float(measure.paddingLeft)
        for element in measure.notes:
            offset = float(measure.elementOffset(element))
            yield element, start + offset, measure.number, offset + padding, 0
        for number, voice in enumerate(measure.voices, 1):
            voice_offset = float(measure.elementOffset(voice))
            for element in voice.notes:
                offset = voice_offset + float(voice.elementOffset(element))
                yield element, start + offset, measure.number, offset + padding, number


def _metre(time_signature, position: float | None, cache: dict) -> tuple[float, float]:
    """`(beat, beat_strength)` of a position in a measure, as music21's `Music21Object.beat`/`beatStrength`."""
    from music21 import meter

    if not isinstance(time_signature, meter.TimeSignature) or position is None:
        return np.nan, np.nan
    cache_key = (id(time_signature), position)
    if cache_key not in cache:
        bar = float(time_signature.barDuration.quarterLength)
        wrapped = position % bar if bar and position >= bar else position
        try:
            cache[cache_key] = (
                float(time_signature.getBeatProportion(wrapped)),
                float(time_signature.getAccentWeight(wrapped, forcePositionMatch=True, permitMeterModulus=False)),
            )
        except Exception:  # music21 raises MeterException for positions its meter hierarchy cannot place
            cache[cache_key] = (np.nan, np.nan)
    return cache[cache_key]


def read_score(source, *, include_grace: bool = False, analyze_key: bool = False, expand_repeats: bool = False) -> np.ndarray:
    """Read a score into a note array with score features (see the module docstring for the fields).

    Args:
        source: a score file (.musicxml, .xml, .mxl, .krn, .abc, .mei, .mid, .midi; the first score of a
            multi-score file) or an already parsed music21 `Score` or `Part`.
        include_grace: keep grace notes (with `duration_beats` 0). Off by default: they take no metrical time
            and most MIDI renderings of a score leave them out.
        analyze_key: where the notation gives a key signature but no mode (MusicXML often has only
            `<fifths>`), fill `key_tonic`/`key_mode` from music21's key analysis of the whole score.
        expand_repeats: write out repeated sections (repeat barlines, first and second endings) as they are
            played, so the notes follow a performance, which plays them (as music21's own MIDI export does).
            `onset_beats` then runs on through the repeats; `measure` keeps the printed numbers.

    Returns:
        `(n_notes,)` structured array of `SCORE_DTYPE`.

    Raises:
        DataFileError: the file is missing, empty, of an unsupported format, unparsable, or holds no pitched notes.
    """
    from music21 import chord, key, meter, note, stream

    name = 'score'
    if isinstance(source, (str, os.PathLike)):
        name = str(source)
        source = _parse(Path(source))
    if expand_repeats:
        try:
            source = source.expandRepeats()
        except Exception as error:  # music21's RepeatExpander raises its own and generic errors on ill-formed repeats
            raise DataFileError(f'{name}: its repeats cannot be expanded ({type(error).__name__}: {str(error)[:160]})') from None
    parts = list(source.parts) if isinstance(source, stream.Score) else []
    parts = parts or [source]
    analysed = source.analyze('key') if analyze_key and any(True for _ in source.recurse().notes) else None
    keys = _timeline(parts, 'KeySignature')
    meters = _timeline(parts, 'TimeSignature')
    dynamics = _timeline(parts, 'Dynamic')
    metre_cache: dict[tuple[int, float], tuple[float, float]] = {}
    rows: list[list] = []  # SCORE_DTYPE fields in order
    for index, part in enumerate(parts):
        open_ties: dict[int, list[int]] = {}  # MIDI pitch -> rows of notes whose tie is still open
        items = sorted(_walk(part, stream.Measure), key=lambda item: item[1])
        for element, onset, measure, position, voice in items:
            if not isinstance(element, (note.Note, chord.Chord)):  # unpitched and percussion chords are neither
                continue
            duration = float(element.duration.quarterLength)
            if element.duration.isGrace and not include_grace:
                continue
            signature = _in_effect(keys[index], onset)
            tonality = signature if isinstance(signature, key.Key) else analysed
            time_signature = _in_effect(meters[index], onset)
            dynamic = _in_effect(dynamics[index], onset)
            beat, strength = _metre(time_signature, position, metre_cache)
            metered = isinstance(time_signature, meter.TimeSignature)
            shared = [
                duration, index, voice, measure, beat, strength, signature.sharps if signature is not None else 0,
                tonality.tonic.pitchClass if tonality is not None else -1,
                {'major': 0, 'minor': 1}.get(tonality.mode, -1) if tonality is not None else -1,
                time_signature.numerator if metered else 0, time_signature.denominator if metered else 0,
                str(dynamic.value) if dynamic is not None else '', dynamic.volumeScalar if dynamic is not None else np.nan,
                _articulation_mask(element),
            ]
            for sounding in element.notes if isinstance(element, chord.Chord) else [element]:
                pitch = sounding.pitch.midi
                tie = sounding.tie or element.tie
                kind = tie.type if tie is not None else None
                # a tied continuation lengthens the note it continues (an open tie of this pitch ending exactly
                # here, preferably in the same voice) instead of starting a new one; ties left dangling by the file
                # are never joined to a later note
                waiting = [r for r in open_ties.get(pitch, []) if abs(rows[r][1] + rows[r][2] - onset) < 1e-6]
                if kind in ('stop', 'continue') and waiting:
                    chosen = min(waiting, key=lambda r: rows[r][4] != voice)
                    rows[chosen][2] = onset + duration - rows[chosen][1]
                    open_ties[pitch].remove(chosen)
                    if kind == 'continue':
                        open_ties[pitch].append(chosen)
                    continue
                rows.append([pitch, onset, *shared])
                if kind in ('start', 'continue'):
                    open_ties.setdefault(pitch, []).append(len(rows) - 1)
    if not rows:
        raise DataFileError(f'{name}: score contains no pitched notes')
    notes = np.array([tuple(row) for row in rows], dtype=SCORE_DTYPE)
    return notes[np.lexsort((notes['part'], notes['pitch'], notes['onset_beats']))]


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


def _match_pitch(predicted: np.ndarray, actual: np.ndarray, tolerance: float) -> list[tuple[int, int]]:
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
         being allowed only within a tolerance (`_match_pitch`). Working per pitch makes the order of notes within
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
                for i, j in _match_pitch(predicted[score_rows], performance_times[performance_rows], tolerance):
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
