"""Piano transcription: audio to notes (onsets, offsets, velocities), scored with mir_eval (seed 001, after Kong et al. 2021).

By default renders Bach chorales from music21's corpus (seeded random velocities) and excerpts of (n)ASAP's human
performances (with their pedal) with FluidSynth, each piece on a piano drawn for it (soundfont, program, reverb and
chorus; `many_pianos.py`), split by piece; `dataset=chorales` leaves the performances out, `dataset=maestro` reads
MAESTRO v3 (its own split). Trains PianoTranscriber on segments whose targets are computed from the note lists on the
fly. The task reports mir_eval's note-onset, onset+offset, onset+offset+velocity and frame F1 on the held-out pieces,
decoded as whole pieces from overlapping segments, beside a transcriber that learns nothing (spectral flux and
spectral peaks): the test chorales (test.*), the test performances (test.performances_*), and both again on a piano
no training piece is played on (test.held_out_piano_*, test.held_out_piano_performances_*).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np

from etude import ConfigError, Range, Routine
from etude.data import SPLIT_NAMES
from etude.music.transcription import (
    BASIC_PITCH,
    HELD_OUT_PIANO,
    HELD_OUT_PIANO_PERFORMANCES,
    PREFIXES,
    TEST_PERFORMANCES,
    DecodingSettings,
    FrontEnd,
    PianoTranscriber,
    Recording,
    Transcription,
    maestro_recordings,
)


@dataclass(kw_only=True)
class PianoTranscription(PianoTranscriber.Parameters):
    dataset: Literal['chorales+performances', 'chorales', 'maestro'] = 'chorales+performances'
    """chorales+performances: Bach chorales and (n)ASAP performance excerpts rendered here on many pianos; chorales: the
    chorales alone (offline, nothing to install); maestro: MAESTRO v3 in maestro_directory."""
    data_directory: str = 'data/transcription'
    """Where the chorales and excerpts are exported and rendered (once, cached by content)."""
    nasap_directory: str = 'data/nasap'
    """(n)ASAP's folder (holding metadata.csv), where `etude data install nasap` puts it."""
    performances_per_piece: Annotated[int, Range(1)] = 1
    """(n)ASAP performances rendered per piece (drawn with the seed)."""
    excerpt_seconds: Annotated[float, Range(0)] = 7.5
    """Seconds of each performance rendered, from a start drawn with the seed (0: the whole performance)."""
    maestro_directory: str = 'data/maestro-v3.0.0'
    """MAESTRO v3's folder (holding maestro-v3.0.0.csv), for dataset=maestro."""
    chorales: Annotated[int, Range(3)] = 70
    """How many chorales to render (music21 has 350 distinct ones; one fails to convert)."""
    segment_seconds: Annotated[float, Range(0.5)] = 4.0
    """Length of the segments the model trains on and transcribes in."""
    training_hop_seconds: Annotated[float, Range(0, exclusive_minimum=True)] = 4.0
    """Hop between training segments (the evaluation hop follows segment_overlap)."""
    onset_threshold: Annotated[float, Range(0, 1, exclusive_minimum=True, exclusive_maximum=True)] = 0.3
    """Decoding: a peak of the onset output above this starts a note."""
    offset_threshold: Annotated[float, Range(0, 1, exclusive_minimum=True, exclusive_maximum=True)] = 0.3
    """Decoding: a peak of the offset output above this ends one."""
    frame_threshold: Annotated[float, Range(0, 1, exclusive_minimum=True, exclusive_maximum=True)] = 0.3
    """Decoding: a note also ends where its frame output falls below this."""
    segment_overlap: Annotated[float, Range(0, 1, exclusive_maximum=True)] = 0.5
    """Decoding: the share of each segment that overlaps the next."""
    offset_convention: Literal['key', 'pedal'] = 'pedal'
    """The offsets the model learns: pedal, extended by the sustain pedal (as Onsets and Frames' and Kong's published
    figures use), or key, the releases as written. Both are scored."""
    peer: bool = True
    """Score the peer basic-pitch (its shipped ONNX model) on the same pieces, when it is installed."""

    @property
    def decoding(self) -> DecodingSettings:
        return DecodingSettings(onset_threshold=self.onset_threshold, offset_threshold=self.offset_threshold,
                                frame_threshold=self.frame_threshold, segment_overlap=self.segment_overlap)

    @property
    def front_end(self) -> FrontEnd:
        return FrontEnd(sample_rate=self.sample_rate, n_fft=self.n_fft, hop_length=self.hop_length, n_mels=self.n_mels, f_min=self.f_min,
                        f_max=self.f_max, segment_seconds=self.segment_seconds)


DEFAULTS = PianoTranscription(batch_size=8, learning_rate=3e-3, lr_schedule='cosine', num_of_epochs=20, patience=6, dataset_split=(0.8, 0.1, 0.1),
                              pitch_shift_semitones=2, noise_probability=0.3, reverb_probability=0.3, equalizer_probability=0.3,
                              monitor='validation_onset_f1', monitor_mode='max', gradient_clip=3.0)
TESTING = {'dataset': 'chorales', 'chorales': 8, 'num_of_epochs': 1, 'dataset_split': (0.5, 0.25, 0.25), 'channels': (4,), 'acoustic_units': 16, 'gru_units': 8,
           'segment_seconds': 2.0, 'training_hop_seconds': 2.0}
PROJECT = 'etude-piano-transcription'


def build(routine: Routine, parameters: PianoTranscription) -> None:
    """Pieces → the task (their record, note metrics, the baseline) → segments with targets on the fly → PianoTranscriber."""
    recordings = pieces(parameters, progress=routine.verbose)
    task = Transcription(**parameters.decoding.to_dict(), segment_seconds=parameters.segment_seconds, offset_convention=parameters.offset_convention,
                         peer=parameters.peer,
                         pieces={group: [[str(piece.audio.resolve()), str(piece.midi.resolve())] for piece in members]
                                 for group, members in recordings.items() if members})
    dataset, split = task.segment_dataset(recordings, parameters.front_end, training_hop_seconds=parameters.training_hop_seconds)
    name = parameters.dataset if parameters.dataset == 'maestro' else f'{parameters.dataset}-{parameters.chorales}'
    routine.set_dataset(dataset, split=split, name=name, metadata={'pieces': {group: [piece.name for piece in members] for group, members in
                                                                              recordings.items()}})
    routine.set_task(task)
    routine.set_model(PianoTranscriber(parameters))


def pieces(parameters: PianoTranscription, progress: bool = False) -> dict[str, list[Recording]]:
    """The recordings of each group: MAESTRO's own split, or chorales (and (n)ASAP excerpts) rendered here on drawn
    pianos and split by piece, with the test pieces rendered again on the held-out piano (`many_pianos.py`)."""
    from etude.music.transcription import PieceSources, rendered_pieces

    if parameters.dataset == 'maestro':
        recordings = maestro_recordings(parameters.maestro_directory)
        return {part: [recording for recording in recordings if recording.split == part] for part in SPLIT_NAMES}
    nasap = None
    if parameters.dataset == 'chorales+performances':
        nasap = Path(parameters.nasap_directory)
        if not (nasap / 'metadata.csv').is_file():
            raise ConfigError(f'(n)ASAP is not installed at {nasap} (no metadata.csv): install it with `etude data install nasap` '
                              '(or pass nasap_directory=...), or train on the chorales alone with dataset=chorales')
    sources = PieceSources(chorales=parameters.chorales, dataset_split=parameters.dataset_split, seed=parameters.seed, nasap_directory=nasap,
                           performances_per_piece=parameters.performances_per_piece, excerpt_seconds=parameters.excerpt_seconds,
                           sample_rate=parameters.sample_rate)
    return rendered_pieces(parameters.data_directory, sources, progress=progress)


def report(summary: dict[str, Any]) -> str:
    """The test onset F1 of held-out pieces beside the baseline's (and the performances' and held-out piano's, when rendered)."""
    test, baseline = summary['test'], summary['baselines']['spectral flux']
    both = ', '.join(f"{label} {test[f'{kind}_key_f1']:.3f} / {test[f'{kind}_pedal_f1']:.3f}"
                     for kind, label in (('onset_offset', 'onset+offset'), ('onset_offset_velocity', '+velocity'), ('frame', 'frame')))
    line = (f"test note-onset F1 {test['onset_f1']:.3f} ({both}, offsets as key releases / extended by the pedal) on held-out pieces; "
            f"spectral-flux baseline {baseline['onset_f1']:.3f}")
    peer = summary['baselines'].get(BASIC_PITCH)
    if peer:
        line += f"; basic-pitch {peer['onset_f1']:.3f}"
    for prefix, what in ((PREFIXES[TEST_PERFORMANCES], 'held-out (n)ASAP performances'), (PREFIXES[HELD_OUT_PIANO], 'the test chorales on the held-out piano'),
                         (PREFIXES[HELD_OUT_PIANO_PERFORMANCES], 'the performances on the held-out piano')):
        figure = test.get(f'{prefix}onset_f1')
        if figure is not None and np.isfinite(figure):
            line += f"; {what}: {figure:.3f}"
    return line

