"""MIDI files as note arrays and piano rolls.

A note array is a numpy structured array of dtype `NOTE_DTYPE`, one row per note, sorted by start then pitch:

    pitch     int16    MIDI note number, 0-127
    start     float64  onset in seconds
    end       float64  offset in seconds
    step      float64  start minus the previous note's start; the first note's step is its start (the previous
                       start is taken as 0), so `np.cumsum(step) == start` and a sequence of steps keeps its timing
    duration  float64  end - start
    velocity  int16    MIDI velocity, 1-127

A melody generator (seed 002) reads and writes `(pitch, step, duration)` columns: `note_columns` makes the float
matrix and `notes_to_midi` accepts it back. A transcriber (seed 001, after Kong et al., "High-resolution piano
transcription with pedals by regressing onset and offset times", 2021) trains on the frame-wise targets of
`piano_roll_targets` and turns its output back into notes with `piano_roll_to_notes`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pretty_midi

from ..errors import DataFileError
from .audio import atomic_path

__all__ = [
    'NOTE_DTYPE',
    'NOTE_FIELDS',
    'midi_to_notes',
    'note_columns',
    'notes_from_columns',
    'notes_to_midi',
    'piano_roll_targets',
    'piano_roll_to_notes',
    'read_midi',
]

NOTE_FIELDS = ('pitch', 'start', 'end', 'step', 'duration', 'velocity')
NOTE_DTYPE = np.dtype([
    ('pitch', np.int16),
    ('start', np.float64),
    ('end', np.float64),
    ('step', np.float64),
    ('duration', np.float64),
    ('velocity', np.int16),
])


def read_midi(path: str | os.PathLike[str], *, allow_empty: bool = False) -> pretty_midi.PrettyMIDI:
    """Parse a standard MIDI file.

    Args:
        path: a .mid/.midi file (the content is checked, not the extension).
        allow_empty: accept a file with no notes. Off by default because in a dataset a file without notes is
            almost always a broken export, and failing here names it instead of training on silence.

    Returns:
        The parsed `pretty_midi.PrettyMIDI`.

    Raises:
        DataFileError: the file is missing, empty, not MIDI, corrupt, or (unless `allow_empty`) holds no notes.
    """
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f'{path}: no such file' if not path.exists() else f'{path}: not a file')
    with open(path, 'rb') as handle:
        header = handle.read(4)
    if not header:
        raise DataFileError(f'{path}: empty file (0 bytes)')
    if header != b'MThd':  # every standard MIDI file starts with its header chunk
        raise DataFileError(f'{path}: not a MIDI file (no MThd header; got {header!r})')
    try:
        midi = pretty_midi.PrettyMIDI(str(path))
    except Exception as error:  # mido and pretty_midi raise anything from EOFError to KeyError on corrupt data
        reason = (str(error).splitlines() or [''])[0][:200]
        raise DataFileError(f'{path}: corrupt MIDI file ({type(error).__name__}: {reason})') from None
    if not allow_empty and not any(instrument.notes for instrument in midi.instruments):
        raise DataFileError(f'{path}: MIDI file contains no notes')
    return midi


def _empty_notes() -> np.ndarray:
    return np.zeros(0, dtype=NOTE_DTYPE)


def _build_notes(pitch, start, end, velocity) -> np.ndarray:
    """Sort by start then pitch and fill the derived fields."""
    order = np.lexsort((pitch, start))
    notes = np.zeros(len(order), dtype=NOTE_DTYPE)
    notes['pitch'] = np.asarray(pitch)[order]
    notes['start'] = np.asarray(start, dtype=np.float64)[order]
    notes['end'] = np.asarray(end, dtype=np.float64)[order]
    notes['velocity'] = np.asarray(velocity)[order]
    notes['step'] = np.diff(notes['start'], prepend=0.0)
    notes['duration'] = notes['end'] - notes['start']
    return notes


def midi_to_notes(
    source: str | os.PathLike[str] | pretty_midi.PrettyMIDI,
    *,
    instrument: int | None = None,
    include_drums: bool = False,
) -> np.ndarray:
    """Read the notes of a MIDI file into a note array.

    Args:
        source: a MIDI file path or an already parsed `PrettyMIDI`.
        instrument: index into `midi.instruments` to read only that one (drum or not); `None` merges all.
        include_drums: when merging, also keep drum tracks (whose pitches name drums, not notes).

    Returns:
        `(n_notes,)` structured array of `NOTE_DTYPE` (fields `pitch, start, end, step, duration, velocity`),
        sorted by start then pitch. Empty only for a parsed `PrettyMIDI` without notes.

    Raises:
        DataFileError: the file cannot be read, `instrument` is not in it, or the selection holds no notes.
    """
    midi = source if isinstance(source, pretty_midi.PrettyMIDI) else read_midi(source, allow_empty=True)
    name = 'MIDI data' if isinstance(source, pretty_midi.PrettyMIDI) else str(source)
    if instrument is not None:
        if not 0 <= instrument < len(midi.instruments):
            raise DataFileError(f'{name}: has {len(midi.instruments)} instrument(s), instrument {instrument} requested')
        chosen = [midi.instruments[instrument]]
    else:
        chosen = [track for track in midi.instruments if include_drums or not track.is_drum]
    notes = [note for track in chosen for note in track.notes]
    if not notes:
        if isinstance(source, pretty_midi.PrettyMIDI):
            return _empty_notes()
        drums_only = instrument is None and not include_drums and any(t.notes for t in midi.instruments)
        reason = 'only drum notes (drum tracks are left out: their pitches name drums, not notes)' if drums_only else 'no notes'
        raise DataFileError(f'{name}: MIDI file contains {reason}')
    return _build_notes(
        [note.pitch for note in notes],
        [note.start for note in notes],
        [note.end for note in notes],
        [note.velocity for note in notes],
    )


def note_columns(
    notes: np.ndarray, fields: Sequence[str] = ('pitch', 'step', 'duration'), dtype=np.float32
) -> np.ndarray:
    """The chosen fields of a note array as a plain `(n_notes, len(fields))` matrix, e.g. a generator's input."""
    return np.stack([notes[field].astype(dtype) for field in fields], axis=-1).reshape(len(notes), len(fields))


def notes_from_columns(
    columns: np.ndarray, fields: Sequence[str] = ('pitch', 'step', 'duration'), *, velocity: int = 100
) -> np.ndarray:
    """Build a note array from a `(n_notes, len(fields))` matrix, e.g. a generator's output.

    Start times come from `start` if given, else from the running sum of `step`; end times from `end`, else
    `start + duration`. Pitches are rounded and clipped to 0-127, velocities (default `velocity`) to 1-127, and
    negative durations set to 0, so raw model output always makes valid notes.

    Args:
        columns: `(n_notes, len(fields))` numbers, in the order of `fields`.
        fields: names from `NOTE_FIELDS`; must include `pitch`, `start` or `step`, and `end` or `duration`.
        velocity: velocity of every note when `fields` has none.

    Returns:
        `(n_notes,)` structured array of `NOTE_DTYPE`, sorted by start then pitch.
    """
    columns = np.asarray(columns, dtype=np.float64).reshape(-1, len(fields))
    unknown = set(fields) - set(NOTE_FIELDS)
    if unknown:
        raise ValueError(f'unknown note fields {sorted(unknown)}; known: {", ".join(NOTE_FIELDS)}')
    named = {field: columns[:, i] for i, field in enumerate(fields)}
    if 'pitch' not in named or not {'start', 'step'} & set(named) or not {'end', 'duration'} & set(named):
        raise ValueError(f'fields {tuple(fields)} need pitch, start or step, and end or duration')
    start = named['start'] if 'start' in named else np.cumsum(named['step'])
    end = named['end'] if 'end' in named else start + named['duration']
    pitch = np.clip(np.rint(named['pitch']), 0, 127).astype(np.int16)
    velocities = named.get('velocity', np.full(len(columns), velocity))
    return _build_notes(pitch, start, np.maximum(end, start), np.clip(np.rint(velocities), 1, 127).astype(np.int16))


def _playable(notes: np.ndarray, tick: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pitches, starts, ends and velocities that a MIDI file can hold unambiguously.

    MIDI has one on/off state per pitch and channel, and readers differ in which note a note-off ends (pretty_midi
    ends them all), so a note still sounding when its pitch starts again is ended there, of notes with the same
    pitch and start only the longest is kept, and every note lasts at least one tick (a note-off on the tick of
    its own note-on is read as ending a later note).
    """
    notes = notes[np.lexsort((notes['end'], notes['start'], notes['pitch']))]
    same_pitch_next = np.append(notes['pitch'][1:] == notes['pitch'][:-1], False)
    next_start = np.append(notes['start'][1:], np.inf)
    keep = ~(same_pitch_next & (next_start <= notes['start']))
    end = np.where(same_pitch_next, np.minimum(notes['end'], next_start), notes['end'])
    end = np.maximum(end, notes['start'] + tick)
    velocity = notes['velocity'] if 'velocity' in (notes.dtype.names or ()) else np.full(len(notes), 100)
    return notes['pitch'][keep], notes['start'][keep], end[keep], velocity[keep]


def notes_to_midi(
    notes: np.ndarray,
    path: str | os.PathLike[str] | None = None,
    *,
    fields: Sequence[str] | None = None,
    program: int = 0,
    instrument_name: str = 'Acoustic Grand Piano',
    is_drum: bool = False,
    tempo: float = 120.0,
    resolution: int = 480,
) -> pretty_midi.PrettyMIDI:
    """Make a one-instrument MIDI file from notes, and write it (atomically) when `path` is given.

    Args:
        notes: a `NOTE_DTYPE` structured array, or a `(n_notes, len(fields))` float matrix (see
            `notes_from_columns`: steps are summed into start times when only pitch/step/duration are given).
        path: where to write the .mid file; `None` only builds it.
        fields: the column names of a float matrix; default `('pitch', 'step', 'duration')`.
        program: General MIDI program number, 0-127 (0 is the acoustic grand piano).
        instrument_name: track name stored in the file.
        is_drum: put the notes on the drum channel.
        tempo: tempo in BPM written to the file; it sets the tick length (note times are kept in seconds).
        resolution: ticks per quarter note; 480 at 120 BPM quantises times to about 1 ms.

    Returns:
        The `pretty_midi.PrettyMIDI` object. MIDI cannot hold overlapping notes of one pitch: a note still
        sounding when its pitch starts again ends there, of notes sharing pitch and start the longest is written,
        and notes last at least one tick.
    """
    if notes.dtype.names is None:
        notes = notes_from_columns(notes, fields or ('pitch', 'step', 'duration'))
    elif fields is not None:
        raise ValueError('fields names the columns of a plain matrix; a structured note array has its own')
    midi = pretty_midi.PrettyMIDI(resolution=resolution, initial_tempo=tempo)
    track = pretty_midi.Instrument(program=program, is_drum=is_drum, name=instrument_name)
    pitch, start, end, velocity = _playable(notes, tick=60.0 / (tempo * resolution))
    for values in zip(pitch.tolist(), start.tolist(), end.tolist(), velocity.tolist(), strict=True):
        track.notes.append(pretty_midi.Note(velocity=values[3], pitch=values[0], start=values[1], end=values[2]))
    midi.instruments.append(track)
    if path is not None:
        with atomic_path(path) as temporary:
            midi.write(str(temporary))
    return midi


def piano_roll_targets(
    notes: np.ndarray,
    *,
    frames_per_second: float = 100,
    num_frames: int | None = None,
    begin_note: int = 21,
    num_pitches: int = 88,
    onset_width: int = 1,
    offset_width: int = 1,
    regression_width: int = 5,
) -> dict[str, np.ndarray]:
    """Frame-wise training targets for piano transcription.

    Frame `i` stands for time `i / frames_per_second`. A note from `s` to `e` seconds has onset frame
    `a = round(s * fps)` and offset frame `b = max(round(e * fps), a + 1)`, and sounds in frames `[a, b)`. Times are
    relative to the segment's start: a note already sounding at 0 (negative `s`, as in a window cut from a longer
    recording) sounds from frame 0 but has no onset, velocity or onset-regression target in this segment, as in
    Kong et al.'s segments; a note that ended before 0 is left out.

    The regression targets follow Kong et al. (2021): instead of marking one frame, which throws away where in the
    frame the onset fell, each frame within `regression_width` frames (J) of an onset at exact time `t` gets
    `1 - |i / fps - t| / (J / fps)`, a triangle peaking at the true time; taking the maximum over overlapping
    triangles. A model regressing these recovers onsets to well under a frame.

    Args:
        notes: note array (needs `pitch`, `start`, `end`; `velocity` defaults to 127). Notes outside
            `[begin_note, begin_note + num_pitches)` are left out.
        frames_per_second: frame rate of the targets (100 = a 10 ms hop).
        num_frames: length of the targets; notes past it are cut. Default: up to the last offset frame.
        begin_note: MIDI pitch of the first column (21 = A0, the lowest piano key).
        num_pitches: number of columns (88 piano keys).
        onset_width: frames marked 1 from each onset frame on.
        offset_width: frames marked 1 from each offset frame on.
        regression_width: J, the half-width of the regression triangles in frames.

    Returns:
        float32 `(num_frames, num_pitches)` arrays: `onset`, `offset`, `frame` (1 while a note sounds),
        `velocity` (velocity / 127 on onset frames, else 0), `onset_regression` and `offset_regression`.
    """
    names = notes.dtype.names or ()
    keep = (notes['pitch'] >= begin_note) & (notes['pitch'] < begin_note + num_pitches) & (notes['end'] > 0)
    notes = notes[keep]
    onset_frames = np.rint(notes['start'] * frames_per_second).astype(np.int64)
    offset_frames = np.maximum(np.rint(notes['end'] * frames_per_second).astype(np.int64), onset_frames + 1)
    onset_frames = np.maximum(onset_frames, 0)
    if num_frames is None:
        num_frames = int(offset_frames.max() + offset_width) if len(notes) else 0
    targets = {
        key: np.zeros((num_frames, num_pitches), dtype=np.float32)
        for key in ('onset', 'offset', 'frame', 'velocity', 'onset_regression', 'offset_regression')
    }
    velocities = notes['velocity'] / 127.0 if 'velocity' in names else np.ones(len(notes))
    frame_times = np.arange(num_frames) / frames_per_second
    for note, a, b, velocity in zip(notes, onset_frames, offset_frames, velocities, strict=True):
        column = int(note['pitch']) - begin_note
        targets['frame'][a:b, column] = 1.0
        targets['offset'][b:b + offset_width, column] = 1.0
        began_inside = note['start'] >= 0  # a note sounding from before the segment has no onset in it
        if began_inside:
            targets['onset'][a:a + onset_width, column] = 1.0
            targets['velocity'][a:a + onset_width, column] = velocity
        for key, time, centre in (('onset_regression', note['start'], a), ('offset_regression', note['end'], b)):
            if key == 'onset_regression' and not began_inside:
                continue
            lo, hi = max(centre - regression_width, 0), min(centre + regression_width + 1, num_frames)
            if lo >= hi:
                continue
            triangle = 1.0 - np.abs(frame_times[lo:hi] - time) * frames_per_second / regression_width
            np.maximum(targets[key][lo:hi, column], np.clip(triangle, 0.0, 1.0), out=targets[key][lo:hi, column])
    return targets


def piano_roll_to_notes(
    frame: np.ndarray,
    onset: np.ndarray | None = None,
    velocity: np.ndarray | None = None,
    *,
    frames_per_second: float,
    threshold: float = 0.5,
    onset_threshold: float | None = None,
    begin_note: int = 21,
    min_frames: int = 1,
) -> np.ndarray:
    """Turn frame-wise note probabilities back into notes (the inverse of `piano_roll_targets`).

    With `onset`, a note starts at the first frame of each run of onset probability >= `onset_threshold` and lasts
    while the frame (or onset) probability stays >= `threshold`, or until the next onset of that pitch: frame
    activity without an onset is dropped, as in Onsets and Frames decoding, because a frame detector alone
    fires on resonance and lets repeated notes run together. Without `onset`, each run of frame activity is a note.

    Args:
        frame: `(num_frames, num_pitches)` probabilities (or 0/1 targets) that a pitch sounds.
        onset: optional `(num_frames, num_pitches)` onset probabilities.
        velocity: optional `(num_frames, num_pitches)` velocities in [0, 1], read at each onset frame;
            default velocity 100.
        frames_per_second: frame rate of the inputs.
        threshold: frame probability above which a pitch counts as sounding.
        onset_threshold: onset probability above which a note starts; default `threshold`.
        begin_note: MIDI pitch of the first column.
        min_frames: drop notes shorter than this many frames.

    Returns:
        `(n_notes,)` structured array of `NOTE_DTYPE`, sorted by start then pitch; a note over frames `[a, b)` starts
        at `a / frames_per_second` and ends at `b / frames_per_second`.
    """
    frame = np.asarray(frame)
    num_frames = frame.shape[0]
    onset_threshold = threshold if onset_threshold is None else onset_threshold
    pitches, starts, ends, velocities = [], [], [], []
    for column in range(frame.shape[1]):
        active = frame[:, column] >= threshold
        if onset is None:
            trigger = active
        else:
            trigger = np.asarray(onset)[:, column] >= onset_threshold
            active = active | trigger
        begins = np.flatnonzero(trigger & ~np.concatenate([[False], trigger[:-1]]))
        if len(begins) == 0:
            continue
        # first inactive frame at or after each index (num_frames where none)
        inactive = np.where(active, num_frames, np.arange(num_frames))
        next_inactive = np.minimum.accumulate(inactive[::-1])[::-1]
        stops = np.minimum(next_inactive[begins], np.append(begins[1:], num_frames))
        long_enough = stops - begins >= min_frames
        begins, stops = begins[long_enough], stops[long_enough]
        pitches.append(np.full(len(begins), begin_note + column))
        starts.append(begins / frames_per_second)
        ends.append(stops / frames_per_second)
        if velocity is None:
            velocities.append(np.full(len(begins), 100))
        else:
            velocities.append(np.clip(np.rint(np.asarray(velocity)[begins, column] * 127), 1, 127))
    if not pitches:
        return _empty_notes()
    return _build_notes(*(np.concatenate(values) for values in (pitches, starts, ends, velocities)))
