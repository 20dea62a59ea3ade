"""Note offsets under the field's two conventions: as written (the key's release) and extended by the sustain pedal.

A pianist releases a key while the sustain pedal (MIDI controller 64) is down and the string sounds on until the pedal
lifts. Onsets and Frames (Hawthorne et al. 2018, and on MAESTRO, 2019) and Kong et al. (2021) train and score with
offsets extended that way: a note released while the pedal is down (value 64 or more) sounds until the pedal lifts, or
until its key is struck again, whichever comes first. Transkun (Yan & Duan) reports figures under both conventions.

- `'key'`: the note ends where the MIDI's note-off is (the key's release), as written;
- `'pedal'`: extended by the sustain pedal as above.

partitura (kept for performance MIDI) computes exactly this sounding offset (`adjust_note_offsets_with_sustain`, its
performance parts' `sound_off`), so it is used here rather than written again; its test is `value > threshold`, so
threshold 63 is the field's "64 or more". partitura takes seconds to import, so it is imported only for a file that
holds pedal events: chorale renders have none and never pay for it. A pedal still down at the file's last event
holds its notes until a second after the later of the last pedal event and the last release (partitura's end).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, cast, get_args

import numpy as np

from ...errors import ConfigError

if TYPE_CHECKING:
    import pretty_midi

__all__ = ['OFFSET_CONVENTIONS', 'PEDAL_DOWN', 'SUSTAIN_PEDAL', 'OffsetConvention', 'check_convention', 'extend_by_pedal', 'sustain_events']

OffsetConvention = Literal['key', 'pedal']
"""Which offsets a note has: `'key'`, its key's release as written; `'pedal'`, extended by the sustain pedal."""
OFFSET_CONVENTIONS: tuple[OffsetConvention, ...] = get_args(OffsetConvention)
SUSTAIN_PEDAL = 64
"""The sustain pedal's MIDI controller number."""
PEDAL_DOWN = 64
"""A sustain-pedal value from which the pedal is down (the MIDI convention, and Onsets and Frames' and Kong's)."""


def check_convention(value: object, where: str = 'offset_convention') -> OffsetConvention:
    """`value` as an `OffsetConvention`; a ConfigError naming `where` and the conventions otherwise."""
    if value not in OFFSET_CONVENTIONS:
        raise ConfigError(f"{where} must be 'key' (note-offs as written) or 'pedal' (extended by the sustain pedal), got {value!r}")
    return cast(OffsetConvention, value)


def sustain_events(midi: pretty_midi.PrettyMIDI) -> np.ndarray:
    """The sustain pedal's events of a parsed MIDI file, `(events, 2)` float64 rows of `(seconds, value 0-127)` in time
    order; every non-drum track's, since a piano performance is one instrument whichever track holds its pedal."""
    events = [(change.time, change.value) for track in midi.instruments if not track.is_drum for change in track.control_changes
              if change.number == SUSTAIN_PEDAL]
    rows = np.asarray(events, dtype=np.float64).reshape(-1, 2)
    return rows[np.argsort(rows[:, 0], kind='stable')]


def extend_by_pedal(notes: np.ndarray, pedal: np.ndarray) -> np.ndarray:
    """`notes` (`NOTE_DTYPE`) with each end extended by the sustain pedal: a note released while the pedal is down
    (value >= `PEDAL_DOWN`) ends where the pedal lifts, or where its key is struck again if that is sooner; never
    before its own release.

    Args:
        notes: `(n,)` notes as written, seconds.
        pedal: `(events, 2)` `(seconds, value)` rows, `sustain_events`' output.

    Returns:
        `(n,)` a copy, in the same order, with `end` and `duration` changed; unchanged when there is no pedal.
    """
    extended = notes.copy()
    if not len(pedal) or not len(notes):
        return extended
    from partitura.performance import adjust_note_offsets_with_sustain

    rows = [{'note_on': start, 'note_off': end, 'midi_pitch': pitch}
            for start, end, pitch in zip(notes['start'].tolist(), notes['end'].tolist(), notes['pitch'].tolist(), strict=True)]
    controls = [{'number': SUSTAIN_PEDAL, 'time': time, 'value': value} for time, value in pedal.tolist()]
    adjust_note_offsets_with_sustain(rows, controls, threshold=PEDAL_DOWN - 1)  # partitura's test is value > threshold
    extended['end'] = [row['sound_off'] for row in rows]
    extended['duration'] = extended['end'] - extended['start']
    return extended
