"""Piano transcription: audio to notes (onsets, offsets, velocities), scored with mir_eval (seed 001, after Kong et al. 2021).

Renders Bach chorales from music21's corpus with FluidSynth on the acoustic grand piano (seeded random velocities),
split by piece, or reads MAESTRO v3 (`dataset=maestro`, its own split); trains PianoTranscriber on segments whose
targets are computed from the note lists on the fly. The task reports mir_eval's note-onset, onset+offset,
onset+offset+velocity and frame F1 on the held-out pieces, decoded as whole pieces from overlapping segments, beside a
transcriber that learns nothing (spectral flux and spectral peaks). With the chorales it also scores the same test
pieces rendered with a second General MIDI soundfont (test.other_soundfont_*), to show what a change of piano costs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

import numpy as np

from etude import ConfigError, Range, Routine
from etude.data import SPLIT_NAMES, split_by_groups
from etude.music.transcription import (
    BASIC_PITCH,
    OTHER_SOUNDFONT,
    DecodingSettings,
    FrontEnd,
    PianoTranscriber,
    Recording,
    Transcription,
    maestro_recordings,
    rendered_chorales,
)


@dataclass(kw_only=True)
class PianoTranscription(PianoTranscriber.Parameters):
    dataset: Literal['chorales', 'maestro'] = 'chorales'
    """chorales: Bach chorales rendered here with FluidSynth; maestro: MAESTRO v3 in maestro_directory."""
    data_directory: str = 'data/transcription'
    """Where the chorales are exported and rendered (once)."""
    maestro_directory: str = 'data/maestro-v3.0.0'
    """MAESTRO v3's folder (holding maestro-v3.0.0.csv), for dataset=maestro."""
    chorales: Annotated[int, Range(3)] = 100
    """How many chorales to render (music21 has 350 distinct ones; one fails to convert)."""
    soundfont: str = ''
    """The soundfont of the training renders; empty: FluidR3 GM (Debian's fluid-soundfont-gm)."""
    other_soundfont: str = '/usr/share/sounds/sf2/TimGM6mb.sf2'
    """A second General MIDI soundfont the test pieces are also rendered with; empty: none."""
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


DEFAULTS = PianoTranscription(batch_size=8, learning_rate=3e-3, lr_schedule='cosine', num_of_epochs=30, patience=6, dataset_split=(0.8, 0.1, 0.1),
                              pitch_shift_semitones=2, noise_probability=0.3,
                              monitor='validation_onset_f1', monitor_mode='max', gradient_clip=3.0)
TESTING = {'chorales': 8, 'num_of_epochs': 1, 'dataset_split': (0.5, 0.25, 0.25), 'channels': (4,), 'acoustic_units': 16, 'gru_units': 8,
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
    name = parameters.dataset if parameters.dataset == 'maestro' else f'chorales-{parameters.chorales}'
    routine.set_dataset(dataset, split=split, name=name, metadata={'pieces': {group: [piece.name for piece in members] for group, members in
                                                                              recordings.items()}})
    routine.set_task(task)
    routine.set_model(PianoTranscriber(parameters))


def pieces(parameters: PianoTranscription, progress: bool = False) -> dict[str, list[Recording]]:
    """The recordings of each group: MAESTRO's own split, or chorales rendered here and split by piece, with the test
    pieces rendered again with the other soundfont."""
    if parameters.dataset == 'maestro':
        recordings = maestro_recordings(parameters.maestro_directory)
        return {part: [recording for recording in recordings if recording.split == part] for part in SPLIT_NAMES}
    chorales = rendered_chorales(parameters.data_directory, count=parameters.chorales, soundfont=parameters.soundfont or None, seed=parameters.seed,
                                 progress=progress)
    split = split_by_groups(np.arange(len(chorales)), parameters.dataset_split, parameters.seed)
    groups = {part: [chorales[index] for index in split[part]] for part in SPLIT_NAMES}
    if not groups['test'] or not groups['validation']:
        raise ConfigError(f'{len(chorales)} chorales leave no validation or test piece with dataset_split {list(parameters.dataset_split)}; '
                          'render more (chorales=...)')
    if parameters.other_soundfont:
        renders = rendered_chorales(parameters.data_directory, count=len(groups['test']), names=[f'bach/{piece.name}' for piece in groups['test']],
                                    soundfont=parameters.other_soundfont, seed=parameters.seed, progress=progress)
        by_name = {piece.name: piece for piece in renders}
        groups[OTHER_SOUNDFONT] = [by_name[piece.name] for piece in groups['test']]
    return groups


def report(summary: dict[str, Any]) -> str:
    """The test onset F1 of held-out pieces beside the baseline's (and the other soundfont's, when rendered)."""
    test, baseline = summary['test'], summary['baselines']['spectral flux']
    both = ', '.join(f"{label} {test[f'{kind}_key_f1']:.3f} / {test[f'{kind}_pedal_f1']:.3f}"
                     for kind, label in (('onset_offset', 'onset+offset'), ('onset_offset_velocity', '+velocity'), ('frame', 'frame')))
    line = (f"test note-onset F1 {test['onset_f1']:.3f} ({both}, offsets as key releases / extended by the pedal) on held-out pieces; "
            f"spectral-flux baseline {baseline['onset_f1']:.3f}")
    peer = summary['baselines'].get(BASIC_PITCH)
    if peer:
        line += f"; basic-pitch {peer['onset_f1']:.3f}"
    other = test.get(f'{OTHER_SOUNDFONT}_onset_f1')
    if other is not None and np.isfinite(other):
        line += f"; the same pieces rendered with another soundfont: {other:.3f}"
    return line

