"""(n)ASAP's human performances for transcription: split by piece as the expressive-performance routine splits them,
and cut to seeded excerpts with the pedal state carried in.

(n)ASAP's performance MIDI files (metadata.csv's `midi_performance`) are pianists playing on a Disklavier: rubato,
voicing, dynamics and the sustain pedal. The pieces (composer/title) are split with `match_performances` — a
composer-stratified split by piece — with the expressive-performance routine's fractions (`NASAP_SPLIT`, its
`DEFAULTS.dataset_split`) and the run's seed, so the pieces that routine holds out are held out here too.

Rendering every performance whole would be hours of audio, beyond a CPU run's budget, so each kept performance is cut
to an excerpt of `seconds`, its start drawn with the seed. The excerpt is a MIDI file of its own, written once
(named by a hash of the source's bytes and the cut): notes starting inside the window are kept, a note still held at
the window's end is released there; notes struck before the window are left out (their sound would have no onset to
learn); every controller's last value before the window (the sustain, sostenuto and soft pedals) is set at its start,
so the pedal is down where the pianist held it; and the sustain pedal is lifted at its end.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ['NASAP_SPLIT', 'Performance', 'excerpt_start', 'nasap_performances', 'performance_excerpt']

NASAP_SPLIT = (0.7, 0.15, 0.15)
"""The expressive-performance routine's `DEFAULTS.dataset_split` (a test checks they agree; the two tasks may not import
each other)."""
EXCERPT_VERSION = 1


@dataclass(frozen=True)
class Performance:
    """One performance MIDI file of (n)ASAP, its piece (composer/title) and the piece's split."""

    midi: Path
    piece: str
    split: str

    @property
    def name(self) -> str:
        """A file stem naming the piece and performer (performers' file names repeat across pieces)."""
        return f'{self.piece}-{self.midi.stem}'.replace('/', '-').replace(' ', '_')


def nasap_performances(root: str | os.PathLike[str], *, seed: int, per_piece: int) -> list[Performance]:
    """`per_piece` performances of every (n)ASAP piece (drawn with `seed`; all when a piece has fewer), with each
    piece's split: `match_performances`' with `NASAP_SPLIT` and `seed`, as the expressive-performance routine draws it."""
    from ...data.dataset_layouts import match_performances

    definition = match_performances(Path(root), fractions=NASAP_SPLIT, seed=seed)
    by_piece: dict[str, list[Performance]] = {}
    for item in definition.items:
        midi = definition.root / item.companions['performance']
        if item.split is None or item.group is None:
            continue
        by_piece.setdefault(item.group, []).append(Performance(midi, item.group, item.split))
    generator = np.random.default_rng(seed)
    chosen: list[Performance] = []
    for piece in sorted(by_piece):
        members = sorted({performance.midi: performance for performance in by_piece[piece]}.values(), key=lambda performance: str(performance.midi))
        order = generator.permutation(len(members))[:per_piece]
        chosen.extend(members[index] for index in sorted(order))
    return chosen


def excerpt_start(performance: Performance, end_time: float, *, seconds: float, seed: int) -> float:
    """Where `performance`'s excerpt starts (seconds, ms-rounded): uniform over the starts that fit, seeded by `seed` and
    the performance's name; 0 when the excerpt is the whole performance."""
    if not 0 < seconds < end_time:
        return 0.0
    generator = np.random.default_rng([seed, int(hashlib.sha256(performance.name.encode()).hexdigest()[:8], 16)])
    return round(float(generator.uniform(0.0, end_time - seconds)), 3)


def performance_excerpt(performance: Performance, directory: str | os.PathLike[str], *, seconds: float, seed: int) -> Path:
    """The excerpt MIDI file of `performance` (written once under `directory`): `seconds` from a start drawn with
    `seed` and the performance's name, the pedals carried in; `seconds` <= 0, or longer than the piece: the whole file."""
    import pretty_midi

    source = performance.midi.read_bytes()
    midi = pretty_midi.PrettyMIDI(str(performance.midi))
    end_time = float(midi.get_end_time())
    start = excerpt_start(performance, end_time, seconds=seconds, seed=seed)
    stop = start + seconds if 0 < seconds < end_time else end_time + 1.0
    key = hashlib.sha256(source + f'{start}/{stop}/{EXCERPT_VERSION}'.encode()).hexdigest()[:12]
    target = Path(directory) / f'{performance.name}-{key}.mid'
    if target.is_file():
        return target
    excerpt = pretty_midi.PrettyMIDI(initial_tempo=120.0)
    for instrument in midi.instruments:
        if instrument.is_drum:
            continue
        kept = pretty_midi.Instrument(program=instrument.program, name=instrument.name)
        kept.notes = [pretty_midi.Note(note.velocity, note.pitch, note.start - start, min(note.end, stop) - start)
                      for note in instrument.notes if start <= note.start < stop and min(note.end, stop) > note.start]
        last: dict[int, int] = {}
        for change in sorted(instrument.control_changes, key=lambda change: change.time):
            if change.time < start:
                last[change.number] = change.value
        kept.control_changes = [pretty_midi.ControlChange(number, value, 0.0) for number, value in sorted(last.items())]
        kept.control_changes += [pretty_midi.ControlChange(change.number, change.value, change.time - start)
                                 for change in instrument.control_changes if start <= change.time < stop]
        kept.control_changes.append(pretty_midi.ControlChange(64, 0, stop - start if stop <= end_time else end_time - start))
        excerpt.instruments.append(kept)
    from ...data.audio import atomic_path

    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as partial:
        excerpt.write(str(partial))
    return target
