"""Scores (MusicXML, Humdrum, ABC, MEI, MIDI) as note arrays.

`read_score` returns a numpy structured array of dtype `SCORE_DTYPE`, one row per sounding pitch (chords expanded,
tied notes merged, unisons merged, grace notes and unpitched percussion left out), sorted by onset, then pitch, then
part. A unison is one pitch written twice at one onset (two voices or staves sharing a note): a piano plays it once, so
it is one row (the longest of the two, with the marks of both), as the transcription path merges unisons:

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
    tempo_qpm         float32  the tempo mark in effect (a metronome mark or a MusicXML `<sound tempo>`) in quarter
                               notes per minute, NaN where the score has none yet

`etude.music.performance.align_score_to_performance` pairs these rows with the notes of a performance.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataFileError

__all__ = [
    'ARTICULATIONS',
    'SCORE_DTYPE',
    'SCORE_EXTENSIONS',
    'articulation_names',
    'merge_unisons',
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
    ('time_denominator', 'i2'), ('dynamic', 'U6'), ('dynamic_level', 'f4'), ('articulations', 'i4'), ('tempo_qpm', 'f4'),
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


def _quarter_bpm(mark) -> float:
    """A metronome mark's tempo in quarter notes per minute (its sounding number when only that is given), NaN if none."""
    try:
        value = mark.getQuarterBPM() if mark is not None else None
    except Exception:  # music21 raises on a referent it cannot convert
        value = None
    return float(value) if value is not None and value > 0 else np.nan


def merge_unisons(notes: np.ndarray) -> np.ndarray:
    """`notes` (`SCORE_DTYPE`, any order) with each unison, one pitch at one onset written more than once, as one row:
    the longest, carrying the articulation marks of all. Returned sorted by onset, pitch, then part."""
    if not len(notes):
        return notes
    order = np.lexsort((notes['part'], -notes['duration_beats'], notes['pitch'], notes['onset_beats']))  # the longest first
    notes = notes[order]
    same = np.concatenate([[False], (notes['pitch'][1:] == notes['pitch'][:-1]) & (np.abs(np.diff(notes['onset_beats'])) < 1e-6)])
    group = np.cumsum(~same) - 1
    kept = notes[~same].copy()
    marks = np.zeros(len(kept), dtype=np.int64)
    np.bitwise_or.at(marks, group, notes['articulations'].astype(np.int64))
    kept['articulations'] = marks
    return kept[np.lexsort((kept['part'], kept['pitch'], kept['onset_beats']))]


def read_score(source, *, include_grace: bool = False, analyze_key: bool = False, expand_repeats: bool = False,
               keep_unisons: bool = False) -> np.ndarray:
    """Read a score into a note array with score features (see the module docstring for the fields).

    Args:
        source (str | Path | music21.stream.Score | music21.stream.Part): a score file (.musicxml, .xml, .mxl, .krn,
            .abc, .mei, .mid, .midi; the first score of a multi-score file) or an already parsed music21 `Score` or `Part`.
        include_grace: keep grace notes (with `duration_beats` 0). Off by default: they take no metrical time
            and most MIDI renderings of a score leave them out.
        analyze_key: where the notation gives a key signature but no mode (MusicXML often has only
            `<fifths>`), fill `key_tonic`/`key_mode` from music21's key analysis of the whole score.
        expand_repeats: write out repeated sections (repeat barlines, first and second endings) as they are
            played, so the notes follow a performance, which plays them (as music21's own MIDI export does).
            `onset_beats` then runs on through the repeats; `measure` keeps the printed numbers.
        keep_unisons: keep every written note of a unison (see the module docstring) instead of one row for it.

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
    tempi = _timeline(parts, 'MetronomeMark')
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
                _articulation_mask(element), _quarter_bpm(_in_effect(tempi[index], onset)),
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
    if not keep_unisons:
        grace = notes['duration_beats'] <= 0  # grace notes are not unisons of their main notes
        notes = np.concatenate([merge_unisons(notes[~grace]), notes[grace]])
    return notes[np.lexsort((notes['part'], notes['pitch'], notes['onset_beats']))]
