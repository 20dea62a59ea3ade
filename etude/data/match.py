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
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataFileError, MissingDependencyError
from .midi import NOTE_DTYPE
from .score import SCORE_DTYPE

__all__ = ['MatchPair', 'read_match']


@dataclass(frozen=True)
class MatchPair:
    """A match file's contents.

    Attributes:
        score: `(n,)` `SCORE_DTYPE` (pitch, onsets and durations in quarter notes, voice, measure, beat and time
            signature; no dynamics or articulations, which match files do not keep), sorted by onset then pitch.
        performance: `(m,)` `NOTE_DTYPE` performed notes, sorted by start then pitch.
        score_to_performance: `(n,)` int64 matched performance row of each score row, -1 for a deleted note.
        pedal: `(k, 2)` sustain-pedal changes `(seconds, value)`.
    """

    score: np.ndarray
    performance: np.ndarray
    score_to_performance: np.ndarray
    pedal: np.ndarray


def read_match(path: str | os.PathLike[str]) -> MatchPair:
    """Read a `.match` file with partitura (`pip install partitura`).

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
    score['key_tonic'], score['key_mode'], score['dynamic_level'] = -1, -1, np.nan
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
    return MatchPair(score=score, performance=performance, score_to_performance=score_to_performance,
                     pedal=np.array(pedal, dtype=np.float64).reshape(-1, 2))
