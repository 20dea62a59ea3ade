"""A match file read against its MusicXML score: the performance's notes, aligned by hand, on the score's own features.

    scored = read_scored_match('Bach/Fugue/bwv_846/Shi05M.match', 'Bach/Fugue/bwv_846/xml_score.musicxml')
    scored.score                 # (n,) SCORE_DTYPE: the written notes in the order this pianist played them (repeats unfolded)
    scored.score_to_performance  # (n,) the performed row of each, -1 where the alignment matched none (left out, ornamented)
    scored.note_keys             # (n,) int64: the same written note on the same pass has the same key in every performance

A match file ((n)ASAP, Vienna 4x22) holds the score as its aligner saw it: pitches, onsets and durations with the
repeats unfolded as this performance played them, and note ids from the MusicXML (`n12-2`: note `n12`, second pass),
but none of the marks a model reads (dynamics, articulations, tempo marks, key). So each match note is found in the
MusicXML as etude reads it for inference (`etude.data.read_score`, music21): partitura reads the MusicXML's note ids
and onsets, and per pitch, in time order, its notes are paired with `read_score`'s rows (one row per unison); a match
note then takes its row's features, at its row's onset moved by where the performance's unfolding puts it (the match's
onset less the row's, rounded to 1/96 of a quarter note: match files of format 5.0 keep beats to 1/1024). The
features a model trains on are therefore those `etude infer` computes from a score. The match file itself is read
line by line (`etude.data.match.read_match_lines`), fifty times faster than through partitura.

Match notes without a row (grace notes, which `read_score` leaves out of the metre; a note partitura and music21 read
differently) are left out, and counted (`mapped_rate`).
"""

from __future__ import annotations

import functools
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import DataFileError

__all__ = ['MAX_PASSES', 'ScoredMatch', 'read_scored_match', 'written_note_rows']

MAX_PASSES = 64  # passes through a repeat a note key tells apart
_ID = re.compile(r'^(.*?)(?:-(\d+))?$')


@dataclass(frozen=True)
class ScoredMatch:
    """A performance on its score's features (see the module docstring).

    Attributes:
        score: `(n,)` SCORE_DTYPE, sorted by onset then pitch: `read_score`'s row of each written note, with the
            match's unfolded `onset_beats`.
        performance: `(m,)` NOTE_DTYPE performed notes.
        score_to_performance: `(n,)` int64 the performed row of each score row, -1 for none.
        pedal: `(k, 2)` sustain-pedal changes `(seconds, value)`.
        note_keys: `(n,)` int64 `row * MAX_PASSES + pass` of each note in the MusicXML as `read_score` reads it.
        mapped_rate: share of the match's score notes found in the MusicXML.
    """

    score: np.ndarray
    performance: np.ndarray
    score_to_performance: np.ndarray
    pedal: np.ndarray
    note_keys: np.ndarray
    mapped_rate: float


@functools.lru_cache(maxsize=2)
def _written(path: str, modified: int) -> tuple[np.ndarray, dict[str, int]]:
    return written_note_rows(Path(path))


def written_note_rows(path: Path) -> tuple[np.ndarray, dict[str, int]]:
    """`read_score(path)` and, for each MusicXML note id partitura reads, its row there (unisons share a row).

    Raises:
        DataFileError: either reader cannot read the file.
    """
    from ...data.score import read_score
    from .alignment import match_in_order

    with warnings.catch_warnings():  # music21 warns of every mark it cannot import and every overfull bar
        warnings.simplefilter('ignore')
        rows = read_score(path)
    try:
        import partitura

        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            parts = partitura.load_musicxml(str(path)).parts
            written = [(note.id, note.midi_pitch, float(part.quarter_map(note.start.t))) for part in parts for note in part.notes_tied
                       if not isinstance(note, partitura.score.GraceNote)]
    except Exception as error:  # partitura raises many kinds on a score it cannot read
        raise DataFileError(f'{path}: partitura cannot read its note ids ({type(error).__name__}: {str(error)[:160]})') from None
    if not written:
        raise DataFileError(f'{path}: partitura finds no notes in it')
    onsets = np.array([onset for _, _, onset in written])
    onsets += float(rows['onset_beats'].min()) - float(onsets.min())  # partitura counts a pickup from below 0, music21 from 0
    pitches = np.array([pitch for _, pitch, _ in written])
    row_of: dict[str, int] = {}
    for pitch in np.unique(pitches):
        ours = np.flatnonzero(rows['pitch'] == pitch)
        theirs = np.flatnonzero(pitches == pitch)
        theirs = theirs[np.argsort(onsets[theirs], kind='stable')]
        distinct, group = np.unique(np.round(onsets[theirs], 6), return_inverse=True)  # a unison is one row of ours
        if len(distinct) == len(ours):
            pairs = list(enumerate(range(len(ours))))
        else:
            pairs = match_in_order(distinct, rows['onset_beats'][ours], tolerance=16.0)
        for index, row in pairs:
            for note in theirs[group == index]:
                row_of[written[note][0]] = int(ours[row])
    return rows, row_of


def read_scored_match(match_path: str | os.PathLike[str], score_path: str | os.PathLike[str]) -> ScoredMatch:
    """The match file's performance on the features of its MusicXML score (see the module docstring).

    The MusicXML is read once for consecutive performances of one piece (the last two scores are kept).

    Raises:
        DataFileError: a file cannot be read.
    """
    from ...data.match import read_match_lines

    score_path = Path(score_path)
    if not score_path.is_file():
        raise DataFileError(f'{score_path}: no such file')
    pair = read_match_lines(match_path)
    if not len(pair.score_ids):
        raise DataFileError(f'{match_path}: the match file aligns no notes (it holds only its header)')
    rows, row_of = _written(str(score_path.resolve()), score_path.stat().st_mtime_ns)
    parsed = [_ID.match(str(identifier)) for identifier in pair.score_ids]
    found = np.array([row_of.get(match.group(1), -1) if match else -1 for match in parsed], dtype=np.int64)
    passes = np.array([min(int(match.group(2) or 1), MAX_PASSES - 1) if match else 0 for match in parsed], dtype=np.int64)
    keys = np.where(found >= 0, found * MAX_PASSES + passes, -1)
    keep = found >= 0
    # one row per key: a unison the match file kept twice, or two ids read as one note, played once
    order = np.lexsort((pair.score_to_performance < 0, keys))
    first = np.concatenate([[True], keys[order][1:] != keys[order][:-1]])
    unique = np.zeros(len(keys), dtype=bool)
    unique[order[first]] = True
    keep &= unique
    score = rows[found[keep]].copy()
    shift = pair.onset_quarters[keep] - score['onset_beats']
    score['onset_beats'] = score['onset_beats'] + np.round(shift * 96.0) / 96.0
    order = np.lexsort((score['pitch'], score['onset_beats']))
    return ScoredMatch(score=score[order], performance=pair.performance, score_to_performance=pair.score_to_performance[keep][order],
                       pedal=pair.pedal, note_keys=keys[keep][order], mapped_rate=float(np.mean(found >= 0)) if len(found) else 0.0)
