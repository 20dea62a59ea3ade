"""A metrical token representation of MIDI pieces, with miditok's REMI: bars, positions on a grid, voices, pitch, duration.

    representation = Representation()                     # REMI, 16ths, four voices (the chorales' S, A, T, B)
    ids = representation.encode_file('bwv269.mid')        # (tokens,) int64: Bar TimeSig_3/4 Position_0 Program_0 Pitch_67 Duration_1.0.4 ...
    notes = representation.voiced_notes(ids)              # (notes, 5): pitch, onset and duration in quarter notes, voice, bar position
    representation.write_midi(ids, 'piece.mid')           # four tracks, the time signature and a marker at every bar

What miditok does etude does not write again: the tokenizer, its vocabulary, the encoding of a `symusic.Score` and its
decoding back are miditok's (REMI, Huang & Yang 2020: a `Bar` token opens each bar, `Position_k` the k-th grid step of
the bar, then per note `Pitch` and `Duration` on the same grid; `TimeSig_n/d` after a bar where the metre is stated).
etude adds what a four-voice corpus needs around it. **Voices**: the first `voices` tracks that hold notes become voices
0..voices-1 (a chorale's soprano, alto, tenor and bass), each note preceded by its voice's `Program_i` token (miditok's
program tokens in one stream, so the voices interleave in time and a sample is four lines); tracks past the last voice
join it. With `voices=0` every track is one stream, without voice tokens (a piano corpus). **Grid**: `grid` positions
per quarter note (4: 16ths; 12 also holds triplets) for positions and durations up to a bar of 4/4, then half that
resolution up to 12 quarters. The representation is a plain dict in the export (`Representation.to_dict`, recorded as
the task's setting), so `etude infer` rebuilds the same tokenizer from the export alone. Importing this module costs
nothing; miditok and symusic load when a tokenizer is first built.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ...errors import ConfigError, DataFileError

if TYPE_CHECKING:
    import miditok

__all__ = ['NOTE_COLUMNS', 'VOICE_NAMES', 'Representation']

VOICE_NAMES = ('Soprano', 'Alto', 'Tenor', 'Bass')
NOTE_COLUMNS = ('pitch', 'onset', 'duration', 'voice', 'bar_position')
"""The columns of a voiced note array: onset, duration and position in the bar in quarter notes; voice -1 when unknown."""
SECONDS_PER_QUARTER = 0.5
"""The tempo written and assumed: 120 quarter notes a minute (music21's export of the chorales)."""


@dataclass(frozen=True)
class Representation:
    """The settings of the token representation (all plain values, so that they go into an export as they are)."""

    kind: str = 'REMI'
    """miditok's tokenization; REMI is the one whose grammar the sampler knows."""
    grid: int = 4
    """Positions per quarter note: 4 is the 16th grid; 12 holds triplets too."""
    voices: int = 4
    """Voice tokens for the first this many tracks (0: one stream without voices)."""
    pitch_low: int = 21
    """Lowest MIDI pitch with a token (notes outside the range are dropped by miditok)."""
    pitch_high: int = 108
    """Highest MIDI pitch with a token."""
    time_signatures: bool = True
    """TimeSig tokens, so a bar's length follows the piece's metre."""

    def __post_init__(self) -> None:
        if self.kind != 'REMI':
            raise ConfigError(f"the metrical representation is miditok's REMI (kind='REMI'), got {self.kind!r}")
        if self.grid not in (1, 2, 3, 4, 6, 8, 12):
            raise ConfigError(f'grid must be 1, 2, 3, 4, 6, 8 or 12 positions per quarter note, got {self.grid}')
        if not 0 <= self.voices <= 16:
            raise ConfigError(f'voices must be between 0 and 16, got {self.voices}')
        if not 0 <= self.pitch_low < self.pitch_high <= 127:
            raise ConfigError(f'the pitch range must lie within 0..127, low below high, got {self.pitch_low}..{self.pitch_high}')

    def to_dict(self) -> dict[str, Any]:
        return {'library': 'miditok', **asdict(self)}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Representation:
        """From `to_dict()`'s values (an unknown key is a one-line ConfigError)."""
        known = {field.name for field in fields(cls)}
        unknown = sorted(set(values) - known - {'library'})
        if unknown:
            raise ConfigError(f'unknown representation setting(s) {", ".join(unknown)}; known: {", ".join(sorted(known))}')
        return cls(**{key: value for key, value in values.items() if key in known})

    # -- the tokenizer -----------------------------------------------------------------------------------------

    def tokenizer(self) -> miditok.REMI:
        """miditok's REMI tokenizer with these settings (built once per settings)."""
        return _tokenizer(self)

    @property
    def vocabulary_size(self) -> int:
        return len(self.tokenizer())

    def token_types(self) -> list[str]:
        """The type of every token id ('Bar', 'Position', 'Pitch', 'Duration', 'Program', 'TimeSig', 'PAD', ...)."""
        vocabulary = self.tokenizer().vocab
        types = [''] * len(vocabulary)
        for name, index in vocabulary.items():
            types[index] = name.split('_', 1)[0]
        return types

    def token_values(self, kind: str) -> dict[int, str]:
        """{token id: value} of the tokens of one type, e.g. 'Position' → {126: '0', ...}."""
        return {index: name.split('_', 1)[1] for name, index in self.tokenizer().vocab.items() if name.split('_', 1)[0] == kind}

    # -- encoding and decoding ---------------------------------------------------------------------------------

    def encode_file(self, path: str | Path) -> np.ndarray:
        """`(tokens,)` int64 ids of a MIDI file (a DataFileError naming it when it cannot be read or has no notes)."""
        import symusic

        try:
            score = symusic.Score(str(path))
        except Exception as error:  # noqa: BLE001 - symusic raises RuntimeError or ValueError on files it cannot parse
            raise DataFileError(f'{path}: not a readable MIDI file ({str(error).splitlines()[0] if str(error) else type(error).__name__})') from None
        return self.encode_score(score, name=str(path))

    def encode_score(self, score: Any, *, name: str = 'the score') -> np.ndarray:
        """`(tokens,)` int64 ids of a `symusic.Score`, its tracks made voices as the module says."""
        import symusic

        tracks = [track for track in score.tracks if len(track.notes) and not track.is_drum]
        if not tracks:
            raise DataFileError(f'{name}: holds no pitched notes (drum tracks are left out)')
        merged: Any = symusic.Score(score.tpq)  # symusic's stubs miss most attributes
        merged.time_signatures = score.time_signatures
        merged.tempos = score.tempos
        voices = max(self.voices, 1)
        for voice in range(min(voices, len(tracks))):
            merged.tracks.append(symusic.Track(name=f'voice {voice}', program=voice if self.voices else 0))
        for index, track in enumerate(tracks):
            merged.tracks[min(index, voices - 1)].notes.extend(track.notes)
        for track in merged.tracks:
            track.notes.sort()
        ids = np.asarray(self.tokenizer().encode(merged).ids, dtype=np.int64)
        if not np.isin(ids, list(self.token_values('Pitch'))).any():
            raise DataFileError(f'{name}: no note lies in the representation\'s pitch range {self.pitch_low}..{self.pitch_high}')
        return ids

    def decode(self, ids: np.ndarray) -> Any:
        """The `symusic.Score` (ticks: `grid` per quarter note) miditok decodes from token ids; one track per voice."""
        return self.tokenizer().decode([int(token) for token in np.asarray(ids).reshape(-1)])

    def voiced_notes(self, ids: np.ndarray) -> np.ndarray:
        """`(notes, 5)` float64 columns `NOTE_COLUMNS` of the decoded piece, sorted by onset then voice then pitch."""
        return score_notes(self.decode(ids), voiced=bool(self.voices))

    def write_midi(self, ids: np.ndarray, path: str | Path) -> Path:
        """Write the piece as a MIDI file: one track per voice (named Soprano, Alto, Tenor, Bass when there are four;
        all piano), 120 quarter notes a minute, the time signatures, and a marker `bar N` at the start of every bar."""
        import symusic

        from ...data.audio import atomic_path

        score = self.decode(ids)
        out: Any = symusic.Score(score.tpq)
        out.tempos.append(symusic.Tempo(0, qpm=60.0 / SECONDS_PER_QUARTER))
        signatures = list(score.time_signatures) or [symusic.TimeSignature(0, 4, 4)]
        out.time_signatures = signatures
        names = VOICE_NAMES if len(score.tracks) == 4 else tuple(f'Voice {index + 1}' for index in range(len(score.tracks)))
        for track, name in zip(score.tracks, names, strict=True):
            copy: Any = symusic.Track(name=name, program=0)
            copy.notes.extend(track.notes)
            out.tracks.append(copy)
        end = max((track.end() for track in out.tracks), default=0)
        for number, tick in enumerate(bar_starts(signatures, end, score.tpq), start=1):
            out.markers.append(symusic.TextMeta(int(tick), f'bar {number}'))
        path = Path(path)
        with atomic_path(path) as temporary:
            out.dump_midi(str(temporary))
        return path


@functools.lru_cache(maxsize=8)
def _tokenizer(representation: Representation) -> miditok.REMI:
    from miditok import REMI, TokenizerConfig

    voices = representation.voices
    config = TokenizerConfig(
        pitch_range=(representation.pitch_low, representation.pitch_high + 1),
        beat_res={(0, 4): representation.grid, (4, 12): max(representation.grid // 2, 1)},
        use_velocities=False, use_programs=bool(voices), one_token_stream_for_programs=True, programs=list(range(max(voices, 1))),
        use_time_signatures=representation.time_signatures, time_signature_range={4: [1, 2, 3, 4, 5, 6, 7], 2: [1, 2, 3, 4], 8: [3, 6, 9, 12]},
        use_tempos=False, use_chords=False, use_rests=False, use_pitchdrum_tokens=False, remove_duplicated_notes=True,
        special_tokens=['PAD', 'BOS', 'EOS'])
    return REMI(config)


def bar_starts(signatures: Any, end: int, tpq: int) -> list[int]:
    """The tick of every bar start up to `end`, from time signatures (objects with `time`, `numerator`, `denominator`)."""
    starts: list[int] = []
    ordered = sorted(signatures, key=lambda signature: signature.time) or []
    for index, signature in enumerate(ordered):
        stop = ordered[index + 1].time if index + 1 < len(ordered) else max(end, signature.time + 1)
        length = max(int(round(tpq * 4 * signature.numerator / signature.denominator)), 1)
        starts.extend(range(int(signature.time), int(stop), length))
    return starts


def score_notes(score: Any, *, voiced: bool = True) -> np.ndarray:
    """`(notes, 5)` float64 `NOTE_COLUMNS` of a score: times in quarter notes, the track index as the voice (or -1 when
    `voiced` is False), the onset's distance from the start of its bar in quarter notes (bars from the time signatures;
    4/4 from the start where there are none)."""
    import symusic

    tpq = score.tpq
    rows = [(note.pitch, note.time, note.duration, voice if voiced else -1) for voice, track in enumerate(score.tracks) for note in track.notes]
    if not rows:
        return np.zeros((0, len(NOTE_COLUMNS)))
    table = np.array(rows, dtype=np.float64)
    signatures = list(score.time_signatures) or [symusic.TimeSignature(0, 4, 4)]
    end = int(table[:, 1].max()) + 1
    starts = np.array(bar_starts(signatures, end, tpq), dtype=np.float64)
    bar = starts[np.clip(np.searchsorted(starts, table[:, 1], side='right') - 1, 0, None)] if len(starts) else np.zeros(len(table))
    notes = np.stack([table[:, 0], table[:, 1] / tpq, table[:, 2] / tpq, table[:, 3], (table[:, 1] - bar) / tpq], axis=1)
    return notes[np.lexsort((notes[:, 0], notes[:, 3], notes[:, 1]))]


def voiced_from_seconds(notes: np.ndarray) -> np.ndarray:
    """Seed 002's notes `(n, 3)` (pitch, step, duration in seconds) as voiced notes: quarter notes at 120 a minute, no
    voice (-1), bars of 4/4 from the first onset (the representation has no metre, so this is an assumption)."""
    notes = np.asarray(notes, dtype=np.float64).reshape(-1, 3)
    onsets = (np.cumsum(notes[:, 1]) - (notes[0, 1] if len(notes) else 0.0)) / SECONDS_PER_QUARTER
    return np.stack([notes[:, 0], onsets, notes[:, 2] / SECONDS_PER_QUARTER, np.full(len(notes), -1.0), np.mod(onsets, 4.0)], axis=1)


def seconds_from_voiced(notes: np.ndarray) -> np.ndarray:
    """Voiced notes as `(n, 3)` float32 pitch, step and duration in seconds (for piano rolls and `notes_to_midi`)."""
    notes = np.asarray(notes, dtype=np.float64)
    if not len(notes):
        return np.zeros((0, 3), dtype=np.float32)
    ordered = notes[np.lexsort((notes[:, 0], notes[:, 1]))]
    onsets = ordered[:, 1] * SECONDS_PER_QUARTER
    return np.stack([ordered[:, 0], np.diff(onsets, prepend=onsets[0]), ordered[:, 2] * SECONDS_PER_QUARTER], axis=1).astype(np.float32)
