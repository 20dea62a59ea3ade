"""Windows of score notes with what a performance made of each: seed 000's Score / Performance pairs as a dataset.

    pairs = SequenceCache(score_performance_pairs('data/asap', pair_by='folder'), PerformanceSequences()).load()
    nasap = SequenceCache(match_performances('data/nasap'), MatchSequences()).load()
    # inputs (n, 64, 17): score features of 64 notes; labels (n, 64): velocity, onset_deviation, ... and masks

`PerformanceSequences` reads a MusicXML score and a MIDI performance and aligns them itself; `MatchSequences` reads a
match file, whose alignment was made (and checked) with the data, on its MusicXML score's features
(`scored_match.read_scored_match`). Both cut a performance into the same windows with the same labels.

Built once into etude's binary store by `etude.data.SequenceCache`, keyed by a fingerprint of the raw files and these
settings; every window keeps the group (piece, composer) of its file, so the Routine's split never puts windows of one
piece on both sides.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ...data.sequences import check_window
from ...errors import ConfigError, DataFileError
from .codec import SCORE_FEATURES

if TYPE_CHECKING:
    from .codec import EncodedPerformance

__all__ = ['PERFORMANCE_TARGETS', 'MatchSequences', 'PerformanceSequences']

PERFORMANCE_TARGETS = ('velocity', 'onset_deviation', 'log_duration_ratio', 'beat_seconds', 'sustain', 'matched', 'note_mask', 'note_key')


class _Windows:
    """What both kinds of window share: the cutting, the shapes and the names (a subclass's fields say `sequence_length`
    and `hop`)."""

    sequence_length: int
    hop: int

    def windows(self, rows: dict[str, np.ndarray]) -> Iterator[tuple[int, np.ndarray, dict[str, np.ndarray]]]:
        count, length = len(rows['features']), self.sequence_length
        starts = list(range(0, max(count - length, 0) + 1, self.hop))
        if count > length and starts[-1] + length < count:
            starts.append(count - length)  # the piece's last notes get a window too
        for start in starts:
            stop = min(start + length, count)
            inputs = np.zeros((length, len(SCORE_FEATURES)), dtype=np.float32)
            inputs[:stop - start] = rows['features'][start:stop]
            labels = {name: np.zeros(length, dtype=np.float32) for name in PERFORMANCE_TARGETS}
            for name in PERFORMANCE_TARGETS:
                labels[name][:stop - start] = rows[name][start:stop]
            yield start, inputs, labels

    def shapes(self) -> tuple[tuple[int, ...], dict[str, tuple[int, ...]], dict[str, str]]:
        return (self.sequence_length, len(SCORE_FEATURES)), {name: (self.sequence_length,) for name in PERFORMANCE_TARGETS}, {}

    def label_types(self) -> dict[str, str]:
        return {name: 'number' for name in PERFORMANCE_TARGETS}

    def classes(self) -> dict[str, list[str]]:
        return {}

    def feature_names(self) -> list[str]:
        return list(SCORE_FEATURES)


def _rows(score: np.ndarray, encoded: EncodedPerformance, note_keys: np.ndarray, match_rate: float) -> dict[str, np.ndarray]:
    """A performance's per-note rows: the score's features, the performance's targets, the masks and note keys."""
    from .codec import score_features

    targets = {**encoded.targets, 'note_mask': np.ones(len(score), dtype=np.float32), 'note_key': note_keys.astype(np.float32)}
    return {'features': score_features(score), **targets, 'match_rate': np.array(match_rate, dtype=np.float32)}


@dataclass(frozen=True)
class PerformanceSequences(_Windows):
    """Windows of `sequence_length` score notes with what a performance made of each (seed 000's pairs).

    Each item is a performance (MIDI) with its score (`companions['score']`, MusicXML), as `score_performance_pairs`
    defines them. The score's notes (`read_score`, repeats written out with `expand_repeats`) are aligned to the
    performance's (`align_score_to_performance`); a pair matching fewer than `min_match_rate` of the score's notes is a
    bad item (wrong pairing, unexpanded repeats, another edition), reported under `on_error`.

    Inputs, per note, `SCORE_FEATURES` (float32): pitch, written duration and onset step in beats, position in the
    bar, metrical weight, key signature and mode, time signature, the dynamic in effect (level and whether there is
    one) and four articulation flags. Labels, per note, `PERFORMANCE_TARGETS` (float32):
        velocity            MIDI velocity / 127 of the matched performance note
        onset_deviation     seconds the note was played early (< 0) or late (> 0) against the tempo curve, which goes
                            through where each onset should be judging from the other onsets within `tempo_window_beats`
        log_duration_ratio  log2 of played over written duration (written in seconds at the local tempo): legato > 0
        beat_seconds        the tempo curve: seconds of the quarter-note beat the note is in, i.e. 60 / quarter-note bpm
        sustain             the sustain pedal's depth (0-1) when the note's key was let go
        matched             1 where the score note was found in the performance, else 0 (and the note features are 0)
        note_mask           1 for real notes, 0 for the padding that fills a piece's last window
        note_key            which written note this is, the same in every performance of the score (here its row in
                            the score as read, repeats written out), so performances of one piece can be compared
    Windows start every `hop` notes; the last also covers the piece's end, padded when the piece is shorter. These are
    this package's codec (`codec.py`): `render_performance` turns them (or a model's predictions) back into notes.
    """

    sequence_length: int = 64
    hop: int = 32
    expand_repeats: bool = True
    min_match_rate: float = 0.6  # a wrong piece in the right key can match half the notes of a chorale
    tempo_window_beats: float = 4.0
    kind: str = field(default='performance_sequences', init=False)

    def __post_init__(self) -> None:
        check_window(self.sequence_length, self.hop)
        if not 0.0 <= self.min_match_rate <= 1.0:
            raise ConfigError(f'min_match_rate must be in [0, 1], got {self.min_match_rate}')
        if not self.tempo_window_beats > 0:
            raise ConfigError(f'tempo_window_beats must be a positive number of quarter notes, got {self.tempo_window_beats}')

    def read(self, root: Path, path: str, companions: dict[str, str]) -> dict[str, np.ndarray]:
        from ...data.midi import midi_to_notes
        from ...data.score import read_score
        from .alignment import align_score_to_performance
        from .codec import encode_performance, read_pedal

        if 'score' not in companions:
            raise DataFileError(f'{root / path}: no score paired with this performance; define pairs with score_performance_pairs')
        score = read_score(root / companions['score'], expand_repeats=self.expand_repeats)
        performance = midi_to_notes(root / path)
        alignment = align_score_to_performance(score, performance)
        matched = np.flatnonzero(alignment.score_to_performance >= 0)
        if alignment.match_rate < self.min_match_rate or len(np.unique(score['onset_beats'][matched])) < 3:
            raise DataFileError(f'{root / path}: only {alignment.match_rate:.0%} of the notes of {companions["score"]} match it '
                                f'(min_match_rate {self.min_match_rate}); check the pairing and the repeats')
        encoded = encode_performance(score, performance, alignment.score_to_performance, tempo_window_beats=self.tempo_window_beats,
                                     pedal=read_pedal(root / path))
        return _rows(score, encoded, np.arange(len(score)), alignment.match_rate)


@dataclass(frozen=True)
class MatchSequences(_Windows):
    """Windows of `sequence_length` score notes of match files, with what the performance made of each.

    Each item is a match file with its MusicXML score (`companions['score']`), as `etude.data.match_performances`
    defines them; `read_scored_match` puts the match's notes on the score's features. Inputs and labels are those of
    `PerformanceSequences`; `note_key` is the note's row in the MusicXML times `MAX_PASSES` plus its pass through a
    repeat. Score notes the alignment left unmatched (ornaments, notes left out) are masked (`matched` 0), never
    guessed, and so are matched notes played more than `max_deviation_seconds` from the tempo curve: not a pianist's
    timing but a place where the score's time and the performance's part (a cadenza written in free time, a fermata
    held far longer than the curve's smoothing). The tempo curve is clipped to `max_beat_seconds` a quarter note.
    A bad item, reported under `on_error`: a pair whose match notes are mostly not in the MusicXML (below
    `min_mapped_rate`: another edition), or with more than `max_outlier_rate` of its matched notes so masked.
    """

    sequence_length: int = 64
    hop: int = 64
    min_mapped_rate: float = 0.9
    tempo_window_beats: float = 2.0
    max_deviation_seconds: float = 0.5
    max_outlier_rate: float = 0.05
    max_beat_seconds: float = 4.0
    kind: str = field(default='match_sequences', init=False)

    def __post_init__(self) -> None:
        check_window(self.sequence_length, self.hop)
        if not 0.0 <= self.min_mapped_rate <= 1.0:
            raise ConfigError(f'min_mapped_rate must be in [0, 1], got {self.min_mapped_rate}')
        if not self.tempo_window_beats > 0:
            raise ConfigError(f'tempo_window_beats must be a positive number of quarter notes, got {self.tempo_window_beats}')

    def read(self, root: Path, path: str, companions: dict[str, str]) -> dict[str, np.ndarray]:
        from .codec import encode_performance
        from .scored_match import read_scored_match

        if 'score' not in companions:
            raise DataFileError(f'{root / path}: no score paired with this match file; define items with match_performances')
        scored = read_scored_match(root / path, root / companions['score'])
        if scored.mapped_rate < self.min_mapped_rate:
            raise DataFileError(f'{root / path}: only {scored.mapped_rate:.0%} of its score notes are in {companions["score"]} '
                                f'(min_mapped_rate {self.min_mapped_rate}); another edition of the score?')
        try:
            encoded = encode_performance(scored.score, scored.performance, scored.score_to_performance,
                                         tempo_window_beats=self.tempo_window_beats, pedal=scored.pedal)
        except ValueError as error:
            raise DataFileError(f'{root / path}: {error}') from None
        targets = encoded.targets
        outliers = (targets['matched'] == 1) & (np.abs(targets['onset_deviation']) > self.max_deviation_seconds)
        if outliers.sum() > self.max_outlier_rate * max(targets['matched'].sum(), 1):
            raise DataFileError(f'{root / path}: {outliers.sum() / max(targets["matched"].sum(), 1):.0%} of its matched notes are played more '
                                f'than {self.max_deviation_seconds} s from the tempo curve (max_outlier_rate {self.max_outlier_rate}): the '
                                'score\'s time and the performance\'s part')
        for name in ('matched', 'velocity', 'onset_deviation', 'log_duration_ratio', 'sustain'):
            targets[name][outliers] = 0.0
        targets['beat_seconds'] = np.minimum(targets['beat_seconds'], self.max_beat_seconds)
        matched = float(np.mean(targets['matched'] == 1)) if len(scored.score) else 0.0
        return _rows(scored.score, encoded, scored.note_keys, matched)
