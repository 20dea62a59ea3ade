"""Windows of score notes with what a performance made of each: seed 000's Score / Performance pairs as a dataset.

    pairs = SequenceCache(score_performance_pairs('data/asap', pair_by='folder'), PerformanceSequences()).load()
    # inputs (n, 64, 15): score features of 64 notes; labels (n, 64): velocity, onset_deviation, ... and masks

Built once into etude's binary store by `etude.data.SequenceCache`, keyed by a fingerprint of the raw files and these
settings; every window keeps the group (piece, composer) of its file, so the Routine's split never puts windows of one
piece on both sides.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...data.sequences import check_window
from ...errors import ConfigError, DataFileError
from .codec import SCORE_FEATURES

__all__ = ['PERFORMANCE_TARGETS', 'PerformanceSequences']

PERFORMANCE_TARGETS = ('velocity', 'onset_deviation', 'log_duration_ratio', 'beat_seconds', 'matched', 'note_mask')


@dataclass(frozen=True)
class PerformanceSequences:
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
        matched             1 where the score note was found in the performance, else 0 (and the three above are 0)
        note_mask           1 for real notes, 0 for the padding that fills a piece's last window
    Windows start every `hop` notes; the last also covers the piece's end, padded when the piece is shorter. These are
    this package's codec (`codec.py`): `render_performance` turns them (or a model's predictions) back into notes.
    """

    sequence_length: int = 64
    hop: int = 32
    expand_repeats: bool = True
    min_match_rate: float = 0.5
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
        from .codec import encode_performance, read_pedal, score_features

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
        targets = {**encoded.targets, 'note_mask': np.ones(len(score), dtype=np.float32)}
        features = score_features(score)
        return {'features': features, **targets, 'match_rate': np.array(alignment.match_rate, dtype=np.float32)}

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
