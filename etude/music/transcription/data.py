"""Recordings with their note lists, cut into training segments whose targets are computed on the fly.

Stored piano-roll targets for all of MAESTRO would take about 25 GB, so nothing is stored here: a `Recording` is an
audio file and its notes (a few hundred kilobytes even for a long piece), and `SegmentDataset` reads each segment's
samples from the file (soundfile seeks, so a long recording is never loaded whole) and computes that segment's
targets from the notes with `piano_roll_targets`. Memory is the note lists plus one batch.

Two sources give recordings:

- `rendered_chorales`: Bach chorales from music21's corpus, with seeded random velocities written into the MIDI,
  rendered with FluidSynth on the acoustic grand piano: offline, and split by piece (every file is one piece);
- `maestro_recordings`: MAESTRO v3 (or any folder laid out like it: a CSV with `audio_filename`, `midi_filename`
  and `split` columns), with its own split.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ...data.audio import audio_info, read_audio
from ...data.midi import NOTE_DTYPE, midi_to_notes, piano_roll_targets, read_midi
from ...errors import ConfigError, DataFileError, DatasetError
from .offsets import OFFSET_CONVENTIONS, OffsetConvention, check_convention, extend_by_pedal, sustain_events
from .settings import BEGIN_NOTE, NUM_PITCHES, FrontEnd

__all__ = ['Recording', 'SegmentDataset', 'clean_notes', 'maestro_recordings', 'rendered_chorales', 'segment_starts', 'velocity_chorales']


@dataclass(frozen=True)
class Recording:
    """One piece: its audio and MIDI files, its notes (`NOTE_DTYPE`, seconds from the file's start), duration and split.

    `notes` end at the keys' releases, as written; `pedal_notes` are the same notes with offsets extended by the
    sustain pedal (`offsets.extend_by_pedal`), or None where that changes nothing (no pedal in the MIDI, as in every
    chorale render), so a pedal-free piece holds one note list. Both are cleaned of unisons the same way (`clean_notes`).
    """

    audio: Path
    midi: Path
    notes: np.ndarray
    duration: float
    split: str | None = None
    pedal_notes: np.ndarray | None = None

    @property
    def name(self) -> str:
        return self.audio.stem

    def notes_for(self, convention: OffsetConvention) -> np.ndarray:
        """The notes with offsets under `convention`: `'key'` as written, `'pedal'` extended by the sustain pedal."""
        return self.pedal_notes if convention == 'pedal' and self.pedal_notes is not None else self.notes

    @property
    def truths(self) -> dict[OffsetConvention, np.ndarray]:
        """convention → its notes, for scoring under both (the same array twice where the pedal changes nothing)."""
        return {convention: self.notes_for(convention) for convention in OFFSET_CONVENTIONS}

    @classmethod
    def read(cls, audio: str | os.PathLike[str], midi: str | os.PathLike[str], split: str | None = None) -> Recording:
        """The recording of an audio file and its MIDI file: the notes as a piano plays them (`clean_notes`), with their
        key releases and, where the MIDI holds sustain-pedal events that lengthen any, extended by the pedal."""
        parsed = read_midi(midi)
        written = midi_to_notes(parsed)
        if not len(written):
            raise DataFileError(f'{midi}: MIDI file contains no notes outside drum tracks')
        notes = clean_notes(written)
        extended = extend_by_pedal(written, sustain_events(parsed))
        pedal_notes = None if np.array_equal(extended['end'], written['end']) else clean_notes(extended)
        return cls(Path(audio), Path(midi), notes, audio_info(audio).duration, split, pedal_notes)


def clean_notes(notes: np.ndarray) -> np.ndarray:
    """Notes as a piano can play them: one key sounds once at a time.

    A chorale's voices meet in unisons, two notes of one pitch at once, which are heard (and can be transcribed) as one:
    of notes sharing a pitch and start the longest is kept, and a note still sounding when its key is struck again
    ends there. Pitches outside the piano's 88 keys are dropped.
    """
    notes = notes[(notes['pitch'] >= BEGIN_NOTE) & (notes['pitch'] < BEGIN_NOTE + NUM_PITCHES)]
    notes = notes[np.lexsort((-notes['end'], notes['start'], notes['pitch']))]
    same_pitch_previous = np.concatenate([[False], notes['pitch'][1:] == notes['pitch'][:-1]])
    same_start_previous = np.concatenate([[False], np.isclose(notes['start'][1:], notes['start'][:-1], atol=1e-4)])
    notes = notes[~(same_pitch_previous & same_start_previous)]
    same_pitch_next = np.append(notes['pitch'][1:] == notes['pitch'][:-1], False)
    next_start = np.append(notes['start'][1:], np.inf)
    cleaned = np.zeros(len(notes), dtype=NOTE_DTYPE)
    for field in ('pitch', 'start', 'velocity'):
        cleaned[field] = notes[field]
    cleaned['end'] = np.where(same_pitch_next, np.minimum(notes['end'], next_start), notes['end'])
    cleaned = cleaned[np.lexsort((cleaned['pitch'], cleaned['start']))]
    cleaned['duration'] = cleaned['end'] - cleaned['start']
    cleaned['step'] = np.diff(cleaned['start'], prepend=0.0)
    return cleaned


def segment_starts(duration: float, segment_seconds: float, hop_seconds: float) -> list[float]:
    """Start times of segments covering `[0, duration)`, every `hop_seconds` (the last one may run past the end)."""
    if not segment_seconds > 0 or not hop_seconds > 0:
        raise ConfigError(f'segment and hop lengths must be positive, got {segment_seconds} and {hop_seconds} seconds')
    count = max(1, int(np.ceil(max(duration - segment_seconds, 0.0) / hop_seconds - 1e-9)) + 1)
    return [round(index * hop_seconds, 6) for index in range(count)]


class SegmentDataset(Dataset[tuple[torch.Tensor, dict[str, torch.Tensor]]]):
    """Fixed-length segments of recordings: `(waveform (samples,), targets)` with targets computed from the notes.

    Targets (float32 `(frames, 88)`, frames = `front_end.frames(samples)`): `frame`, `onset` (the binary onset roll,
    a mask for the velocity loss), `onset_regression` and `offset_regression` (Kong's triangles, J =
    `front_end.regression_width` frames), `velocity` (velocity / 127 on onset frames); and per segment `piece`
    (int64, the recording's index) and `start` (float64, seconds), which the note metrics use to join segments back
    into pieces.

    Args:
        recordings: the pieces, by index (a list, or a mapping when only some pieces of a numbering are read).
        segments: `(recording index, start seconds)` of every item, e.g. from `segment_starts`.
        front_end: sample rate, frame rate and segment length.
        offset_convention: which notes' offsets and frames the targets draw: `'pedal'`, extended by the sustain
            pedal (Onsets and Frames' and Kong's, whose published figures use it), or `'key'`, the releases as written.
    """

    def __init__(self, recordings: Sequence[Recording] | Mapping[int, Recording], segments: Sequence[tuple[int, float]], front_end: FrontEnd, *,
                 offset_convention: OffsetConvention = 'pedal') -> None:
        self.offset_convention = check_convention(offset_convention)
        self.recordings: Mapping[int, Recording] = dict(enumerate(recordings)) if isinstance(recordings, Sequence) else dict(recordings)
        self.segments = list(segments)
        self.front_end = front_end
        self.num_samples = front_end.segment_samples
        self.num_frames = front_end.frames(self.num_samples)
        # where the recordings lie, recorded in exports (etude evaluate looks for the data there)
        self.directory = next(iter(self.recordings.values())).audio.parent if self.recordings else None

    def __len__(self) -> int:
        return len(self.segments)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        piece, start = self.segments[index]
        recording = self.recordings[piece]
        audio = np.zeros(self.num_samples, dtype=np.float32)
        if start < recording.duration:
            clip, _ = read_audio(recording.audio, sample_rate=self.front_end.sample_rate, offset_seconds=start,
                                 duration_seconds=self.front_end.segment_seconds)
            audio[:min(len(clip), self.num_samples)] = clip[:self.num_samples]
        return torch.from_numpy(audio), self.targets(piece, start)

    def targets(self, piece: int, start: float) -> dict[str, torch.Tensor]:
        """The targets of recording `piece`'s segment starting at `start` seconds, from the notes that overlap it (their
        offsets under `offset_convention`)."""
        notes = self.recordings[piece].notes_for(self.offset_convention)
        end = start + self.front_end.segment_seconds
        inside = notes[(notes['end'] > start) & (notes['start'] < end + 1.0)].copy()
        inside['start'] -= start
        inside['end'] -= start
        rolls = piano_roll_targets(inside, frames_per_second=self.front_end.frames_per_second, num_frames=self.num_frames,
                                   begin_note=BEGIN_NOTE, num_pitches=NUM_PITCHES, regression_width=self.front_end.regression_width)
        keys = ('frame', 'onset', 'onset_regression', 'offset_regression', 'velocity')
        targets = {key: torch.from_numpy(rolls[key]) for key in keys}
        targets['piece'] = torch.tensor(piece, dtype=torch.int64)
        targets['start'] = torch.tensor(start, dtype=torch.float64)
        return targets


def _velocity_midi(source: Path, target: Path, seed: int) -> None:
    """`source` with every note's velocity drawn uniformly from 30-110 (seeded by the file name): music21's exports
    play every note at one velocity, which would leave the velocity head nothing to learn."""
    import pretty_midi

    midi = pretty_midi.PrettyMIDI(str(source))
    generator = np.random.default_rng([seed, int(hashlib.sha256(source.stem.encode()).hexdigest()[:8], 16)])
    for instrument in midi.instruments:
        for note in instrument.notes:
            note.velocity = int(generator.integers(30, 111))
    midi.write(str(target))


def velocity_chorales(directory: str | os.PathLike[str], *, count: int, seed: int = 0, names: Sequence[str] | None = None) -> list[Path]:
    """The first `count` Bach chorales (or `names`) as MIDI files with seeded random velocities (`_velocity_midi`),
    written once into `directory/chorales-velocity-<settings hash>/`."""
    from ...data.generators import export_chorales

    root = Path(directory)
    sources = export_chorales(root / 'chorales-midi', limit=None if names else count, names=names)
    settings = json.dumps({'sources': [path.stem for path in sources], 'seed': seed, 'version': 1})
    velocity_folder = root / f'chorales-velocity-{hashlib.sha256(settings.encode()).hexdigest()[:8]}'
    velocity_folder.mkdir(parents=True, exist_ok=True)
    rewritten = []
    for path in sources:
        target = velocity_folder / path.name
        if not target.is_file():
            partial = target.with_suffix('.partial.mid')
            _velocity_midi(path, partial, seed)
            partial.replace(target)
        rewritten.append(target)
    return rewritten


def rendered_chorales(directory: str | os.PathLike[str], *, count: int, soundfont: str | os.PathLike[str] | None = None,
                      seed: int = 0, names: Sequence[str] | None = None, progress: bool = False) -> list[Recording]:
    """The first `count` Bach chorales (or `names`), with random velocities, rendered with FluidSynth as piano.

    Written once into `directory/<soundfont stem>-<settings hash>/` (`<bwv>.wav` beside `<bwv>.mid`) and read from
    there afterwards. The notes are the rendered MIDI's, cleaned of unisons (`clean_notes`). (The routine renders
    each chorale on a piano of its own instead: `many_pianos.rendered_pieces`.)
    """
    from ...data.generators import find_soundfont, render_pairs

    font = find_soundfont(soundfont)
    rewritten = velocity_chorales(directory, count=count, seed=seed, names=names)
    pairs = render_pairs(rewritten, Path(directory) / f'{font.stem}-{rewritten[0].parent.name.rsplit("-", 1)[1]}', soundfont=font, progress=progress)
    return [Recording.read(audio, midi) for audio, midi in pairs]


def maestro_recordings(root: str | os.PathLike[str], table: str = 'maestro-v3.0.0.csv') -> list[Recording]:
    """MAESTRO v3 (or a folder laid out like it) as recordings with its own split, notes read from each MIDI file.

    Each recording holds its notes under both offset conventions: key releases as the MIDI has them, and extended by the
    sustain pedal (`Recording.read`).
    """
    from ...data.dataset_layouts import metadata_table

    definition = metadata_table(Path(root), table, companion_columns={'midi': 'midi_filename'}, split_column='split')
    recordings = []
    for item in definition.items:
        audio, midi = definition.root / item.path, definition.root / item.companions['midi']
        recordings.append(Recording.read(audio, midi, item.split))
    if not recordings:
        raise DatasetError(f'{Path(root) / table} lists no recordings')
    return recordings
