"""Match files (the Vienna 4x22 corpus, Batik, parangonar's examples) as etude's score and performance arrays.

A match file holds a score, a performance and the note-by-note alignment between them, made by hand or checked by
hand: the ground truth the automatic alignment of `etude.data.score` only approximates. partitura reads it; this
module turns what partitura returns into the arrays the rest of etude uses, so the performance codec
(`etude.music.performance.codec`) and the datasets read a match file like a MusicXML / MIDI pair.

    pair = read_match('mozart_k265_var1.match')
    encoded = encode_performance(pair.score, pair.performance, pair.score_to_performance, pedal=pair.pedal)
"""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataFileError, MissingDependencyError
from .midi import NOTE_DTYPE
from .score import SCORE_DTYPE

__all__ = ['MatchLines', 'MatchPair', 'read_match', 'read_match_lines']


@dataclass(frozen=True)
class MatchPair:
    """A match file's contents.

    Attributes:
        score: `(n,)` `SCORE_DTYPE` (pitch, onsets and durations in quarter notes, voice, measure, beat and time
            signature; no dynamics or articulations, which match files do not keep), sorted by onset then pitch.
        performance: `(m,)` `NOTE_DTYPE` performed notes, sorted by start then pitch.
        score_to_performance: `(n,)` int64 matched performance row of each score row, -1 for a deleted note.
        pedal: `(k, 2)` sustain-pedal changes `(seconds, value)`.
        score_ids: `(n,)` the match file's id of each score row (`n12-2`: note `n12` of the score, on its second
            pass through a repeat, in (n)ASAP's files).
    """

    score: np.ndarray
    performance: np.ndarray
    score_to_performance: np.ndarray
    pedal: np.ndarray
    score_ids: np.ndarray


def _merge_unisons(score: np.ndarray, ids: np.ndarray, score_to_performance: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One row per unison (one pitch at one onset written twice): the one the performer's note was matched to, if any."""
    order = np.lexsort((score_to_performance < 0, score['pitch'], score['onset_beats']))  # a matched row first in its unison
    pitch, onset = score['pitch'][order], score['onset_beats'][order]
    repeated = np.concatenate([[False], (pitch[1:] == pitch[:-1]) & (np.abs(np.diff(onset)) < 1e-6)])
    kept = np.sort(order[~repeated])
    return score[kept], ids[kept], score_to_performance[kept]


def read_match(path: str | os.PathLike[str], *, keep_unisons: bool = False) -> MatchPair:
    """Read a `.match` file with partitura (`pip install partitura`).

    A unison, one pitch written twice at one onset (two voices sharing a note), is one score row, as `read_score`
    reads it: the row the performed note was matched to (a piano plays the note once, so the other was 'deleted');
    `keep_unisons=True` keeps both.

    Raises:
        MissingDependencyError: partitura is not installed.
        DataFileError: the file is missing or partitura cannot read it.
    """
    try:
        import partitura
    except ImportError:
        raise MissingDependencyError('reading match files needs partitura: pip install partitura==1.9.0') from None
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f'{path}: no such file')
    try:
        with warnings.catch_warnings():  # partitura warns about every composite duration it meets
            warnings.simplefilter('ignore')
            performance_object, alignment, score_object = partitura.load_match(str(path), create_score=True)
            score_array = score_object.note_array(include_time_signature=True, include_metrical_position=True)
        performed = performance_object.performedparts[0]
        performance_array = performed.note_array()
    except Exception as error:  # partitura raises many kinds on a malformed file
        raise DataFileError(f'{path}: not a readable match file ({type(error).__name__}: {str(error).splitlines()[0][:160] if str(error) else ""})') from None
    score = np.zeros(len(score_array), dtype=SCORE_DTYPE)
    score['pitch'] = score_array['pitch']
    score['onset_beats'] = score_array['onset_quarter']
    score['duration_beats'] = score_array['duration_quarter']
    score['voice'] = score_array['voice']
    score['beat'] = score_array['rel_onset_div'] / score_array['divs_pq'] + 1.0 if 'rel_onset_div' in score_array.dtype.names else np.nan
    score['beat_strength'] = np.where(score_array['is_downbeat'] == 1, 1.0, 0.5) if 'is_downbeat' in score_array.dtype.names else np.nan
    score['time_numerator'] = score_array['ts_beats'] if 'ts_beats' in score_array.dtype.names else 0
    score['time_denominator'] = score_array['ts_beat_type'] if 'ts_beat_type' in score_array.dtype.names else 0
    score['key_tonic'], score['key_mode'], score['dynamic_level'], score['tempo_qpm'] = -1, -1, np.nan, np.nan
    score_order = np.lexsort((score['pitch'], score['onset_beats']))
    score, score_ids = score[score_order], np.asarray(score_array['id'])[score_order]
    performance = np.zeros(len(performance_array), dtype=NOTE_DTYPE)
    performance['pitch'] = performance_array['pitch']
    performance['start'] = performance_array['onset_sec'].astype(np.float64)
    performance['duration'] = performance_array['duration_sec'].astype(np.float64)
    performance['end'] = performance['start'] + performance['duration']
    performance['velocity'] = performance_array['velocity']
    performance_order = np.lexsort((performance['pitch'], performance['start']))
    performance, performance_ids = performance[performance_order], np.asarray(performance_array['id'])[performance_order]
    performance['step'] = np.diff(performance['start'], prepend=0.0)
    score_row = {identifier: row for row, identifier in enumerate(score_ids)}
    performance_row = {identifier: row for row, identifier in enumerate(performance_ids)}
    score_to_performance = np.full(len(score), -1, dtype=np.int64)
    for entry in alignment:
        if entry.get('label') == 'match' and entry['score_id'] in score_row and entry['performance_id'] in performance_row:
            score_to_performance[score_row[entry['score_id']]] = performance_row[entry['performance_id']]
    pedal = sorted((float(control['time']), float(control['value'])) for control in performed.controls if control['number'] == 64)
    if not keep_unisons:
        score, score_ids, score_to_performance = _merge_unisons(score, score_ids, score_to_performance)
    return MatchPair(score=score, performance=performance, score_to_performance=score_to_performance,
                     pedal=np.array(pedal, dtype=np.float64).reshape(-1, 2), score_ids=score_ids.astype(str))


@dataclass(frozen=True)
class MatchLines:
    """A match file's notes, read from its lines without partitura (hundreds of times faster, for datasets).

    Attributes:
        score_ids: `(n,)` str id of each score note (`snote`), in the file's order.
        score_pitch: `(n,)` int64 MIDI pitch written.
        onset_beats: `(n,)` float64 the snote's onset in beats of the time signature in effect, repeats unfolded as played.
        onset_quarters: `(n,)` float64 the same in quarter notes (through the time signatures the file records).
        performance: `(m,)` NOTE_DTYPE every performed note, matched or inserted, sorted by start then pitch.
        score_to_performance: `(n,)` int64 the performed row of each score note, -1 where it was deleted.
        pedal: `(k, 2)` sustain-pedal changes `(seconds, value)`.
    """

    score_ids: np.ndarray
    score_pitch: np.ndarray
    onset_beats: np.ndarray
    onset_quarters: np.ndarray
    performance: np.ndarray
    score_to_performance: np.ndarray
    pedal: np.ndarray


_SNOTE = re.compile(r'^snote\(([^,]+),\[([A-Ga-g]),([^\]]*)\],(-?\d+),[^,]*,[^,]*,[^,]*,(-?[\d.]+),(-?[\d.]+),\[[^\]]*\]\)-(.*)$')
_STEPS = {'c': 0, 'd': 2, 'e': 4, 'f': 5, 'g': 7, 'a': 9, 'b': 11}
_ALTERS = {'n': 0, '': 0, '#': 1, 'b': -1, 'x': 2, '##': 2, 'bb': -2}


def _performed(text: str, version: str) -> tuple[str, int, int, int, int]:
    """`(id, pitch, onset tick, offset tick, velocity)` of a `note(...)` term, in match version 1.x or 5."""
    fields = text[text.index('(') + 1:text.rindex(')')].replace('[', '').replace(']', '').split(',')
    if version.startswith('1'):  # note(Id,MidiPitch,Onset,Offset,Velocity,Channel,Track)
        return fields[0], int(fields[1]), int(fields[2]), int(fields[3]), int(fields[4])
    # note(Id,[Step,Alter],Octave,Onset,Offset,AdjOffset,Velocity)
    pitch = 12 * (int(fields[3]) + 1) + _STEPS[fields[1].lower()] + _ALTERS[fields[2]]
    return fields[0], pitch, int(fields[4]), int(fields[5]), int(fields[7])


def _quarters(beats: np.ndarray, signatures: list[tuple[float, int]]) -> np.ndarray:
    """Onsets in beats → quarter notes: a beat lasts 4 / denominator quarters of the time signature in effect."""
    if not signatures:
        return beats * 1.0
    signatures = sorted(signatures)
    starts = np.array([onset for onset, _ in signatures])
    scale = np.array([4.0 / denominator for _, denominator in signatures])
    at_starts = np.concatenate([[0.0], np.cumsum(np.diff(starts) * scale[:-1])])
    index = np.clip(np.searchsorted(starts, beats, side='right') - 1, 0, len(starts) - 1)
    return at_starts[index] + (beats - starts[index]) * scale[index]


def read_match_lines(path: str | os.PathLike[str]) -> MatchLines:
    """Read a match file (format 1.0 or 5.0, as (n)ASAP's and parangonar's) line by line (see `MatchLines`).

    Ticks become seconds by the file's `midiClockUnits` and `midiClockRate`; beats become quarter notes by its time
    signatures (`scoreprop(timeSignature, ...)` lines in 1.0, the `info(timeSignature, [...])` line in 5.0).

    Raises:
        DataFileError: the file is missing, not a match file, or holds a note line it cannot read.
    """
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f'{path}: no such file')
    version, units, rate = '', 480.0, 500_000.0
    signatures: list[tuple[float, int]] = []
    snotes: list[tuple[str, int, float, str]] = []
    inserted: list[str] = []
    sustain: list[tuple[int, float]] = []
    try:
        lines = path.read_text(errors='replace').splitlines()
        for number, line in enumerate(lines, 1):
            line = line.strip()
            if line.startswith('snote('):
                match = _SNOTE.match(line.rstrip('.'))
                if match is None:
                    raise ValueError(f'line {number} is not a score note: {line[:80]}')
                identifier, step, alter, octave, onset, _, rest = match.groups()
                snotes.append((identifier, 12 * (int(octave) + 1) + _STEPS[step.lower()] + _ALTERS[alter], float(onset), rest))
            elif line.startswith('insertion-'):
                inserted.append(line[len('insertion-'):])
            elif line.startswith('sustain('):
                tick, value = line[len('sustain('):line.rindex(')')].split(',')
                sustain.append((int(tick), float(value)))
            elif line.startswith('info(matchFileVersion,'):
                version = line.split(',', 1)[1].rstrip(').')
            elif line.startswith('info(midiClockUnits,'):
                units = float(line.split(',', 1)[1].rstrip(').'))
            elif line.startswith('info(midiClockRate,'):
                rate = float(line.split(',', 1)[1].rstrip(').'))
            elif line.startswith('scoreprop(timeSignature,'):
                fields = line[len('scoreprop('):line.rindex(')')].split(',')
                signatures.append((float(fields[-1]), int(fields[1].split('/')[1])))
            elif line.startswith('info(timeSignature,'):
                signatures.append((-1e9, int(line.split('/')[-1].split(']')[0])))
        if not version:
            raise ValueError('no info(matchFileVersion, ...) line')
        performed = [_performed(rest, version) for *_, rest in snotes if rest.startswith('note(')] + [_performed(text, version) for text in inserted]
    except (ValueError, KeyError, IndexError) as error:
        raise DataFileError(f'{path}: not a readable match file ({error})') from None
    seconds = rate / units / 1e6
    performance = np.zeros(len(performed), dtype=NOTE_DTYPE)
    if performed:
        columns = np.array([row[1:] for row in performed], dtype=np.float64)
        performance['pitch'], performance['velocity'] = columns[:, 0], columns[:, 3]
        performance['start'], performance['end'] = columns[:, 1] * seconds, np.maximum(columns[:, 2], columns[:, 1]) * seconds
        performance['duration'] = performance['end'] - performance['start']
    order = np.lexsort((performance['pitch'], performance['start']))
    performance = performance[order]
    performance['step'] = np.diff(performance['start'], prepend=0.0)
    row_of = {performed[index][0]: row for row, index in enumerate(order)}
    score_to_performance = np.array([row_of[_performed(rest, version)[0]] if rest.startswith('note(') else -1 for *_, rest in snotes], dtype=np.int64)
    beats = np.array([onset for _, _, onset, _ in snotes], dtype=np.float64)
    pedal = np.array(sorted((tick * seconds, value) for tick, value in sustain), dtype=np.float64).reshape(-1, 2)
    return MatchLines(score_ids=np.array([identifier for identifier, *_ in snotes], dtype=str),
                      score_pitch=np.array([pitch for _, pitch, _, _ in snotes], dtype=np.int64),
                      onset_beats=beats, onset_quarters=_quarters(beats, signatures), performance=performance,
                      score_to_performance=score_to_performance, pedal=pedal)
