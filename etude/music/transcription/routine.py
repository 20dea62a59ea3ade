"""Piano transcription: audio to notes (onsets, offsets, velocities), scored with mir_eval (seed 001, after Kong et al. 2021).

Renders Bach chorales from music21's corpus with FluidSynth on the acoustic grand piano (seeded random velocities),
split by piece, or reads MAESTRO v3 (`dataset=maestro`, its own split); trains PianoTranscriber on segments whose
targets are computed from the note lists on the fly, and reports mir_eval's note-onset, onset+offset,
onset+offset+velocity and frame F1 on the held-out pieces, decoded as whole pieces from overlapping segments, beside a
transcriber that learns nothing (spectral flux and spectral peaks). With the chorales it also scores the same test
pieces rendered with a second General MIDI soundfont (test.other_soundfont_*), to show what a change of piano costs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from etude import ConfigError, Metric, Routine
from etude.music.transcription import (
    DecodingSettings,
    FrontEnd,
    NoteMetrics,
    PianoTranscriber,
    Recording,
    SegmentDataset,
    Transcription,
    average_scores,
    maestro_recordings,
    planned_starts,
    rendered_chorales,
    score_piece,
    segment_starts,
    transcribe_baseline,
)

OTHER_SOUNDFONT = 'other_soundfont'  # the task's name for the test pieces rendered with the second soundfont
OTHER_SOUNDFONT_PREFIX = f'{OTHER_SOUNDFONT}_'


@dataclass(kw_only=True)
class PianoTranscription(PianoTranscriber.Parameters):
    dataset: Literal['chorales', 'maestro'] = 'chorales'
    """chorales: Bach chorales rendered here with FluidSynth; maestro: MAESTRO v3 in maestro_directory."""
    data_directory: str = 'data/transcription'
    """Where the chorales are exported and rendered (once)."""
    maestro_directory: str = 'data/maestro-v3.0.0'
    """MAESTRO v3's folder (holding maestro-v3.0.0.csv), for dataset=maestro."""
    chorales: int = 100
    """How many chorales to render (music21 has 350 distinct ones; one fails to convert)."""
    soundfont: str = ''
    """The soundfont of the training renders; empty: FluidR3 GM (Debian's fluid-soundfont-gm)."""
    other_soundfont: str = '/usr/share/sounds/sf2/TimGM6mb.sf2'
    """A second General MIDI soundfont the test pieces are also rendered with; empty: none."""
    segment_seconds: float = 4.0
    """Length of the segments the model trains on and transcribes in."""
    training_hop_seconds: float = 4.0
    """Hop between training segments (the evaluation hop follows segment_overlap)."""
    onset_threshold: float = 0.3
    """Decoding: a peak of the onset output above this starts a note."""
    offset_threshold: float = 0.3
    """Decoding: a peak of the offset output above this ends one."""
    frame_threshold: float = 0.3
    """Decoding: a note also ends where its frame output falls below this."""
    segment_overlap: float = 0.5
    """Decoding: the share of each segment that overlaps the next."""

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


def _pieces(parameters: PianoTranscription) -> tuple[list[Recording], dict[str, list[int]]]:
    """The recordings and the piece indices of each split."""
    if parameters.dataset == 'maestro':
        recordings = maestro_recordings(parameters.maestro_directory)
        split = {part: [i for i, recording in enumerate(recordings) if recording.split == part] for part in ('train', 'validation', 'test')}
        return recordings, split
    recordings = rendered_chorales(parameters.data_directory, count=parameters.chorales, soundfont=parameters.soundfont or None, seed=parameters.seed)
    order = np.random.default_rng(parameters.seed).permutation(len(recordings)).tolist()
    train_share, validation_share, _ = parameters.dataset_split
    cut_train = round(len(order) * train_share / sum(parameters.dataset_split))
    cut_validation = cut_train + max(1, round(len(order) * validation_share / sum(parameters.dataset_split)))
    if cut_validation >= len(order):
        raise ConfigError(f'{len(order)} chorales leave no test piece with dataset_split {list(parameters.dataset_split)}; render more (chorales=...)')
    return recordings, {'train': sorted(order[:cut_train]), 'validation': sorted(order[cut_train:cut_validation]), 'test': sorted(order[cut_validation:])}


def build(routine: Routine, parameters: PianoTranscription) -> Sequence[Metric]:
    """Pieces → segments with targets on the fly → PianoTranscriber; note metrics on whole pieces; the baseline."""
    recordings, pieces = _pieces(parameters)
    front_end, decoding = parameters.front_end, parameters.decoding
    other: dict[int, int] = {}  # index of a test piece rendered with the other soundfont -> the original's index
    if parameters.dataset == 'chorales' and parameters.other_soundfont:
        test_names = [recordings[i].audio.stem for i in pieces['test']]
        renders = rendered_chorales(parameters.data_directory, count=len(test_names), names=[f'bach/{name}' for name in test_names],
                                    soundfont=parameters.other_soundfont, seed=parameters.seed)
        by_name = {recording.name: recording for recording in renders}
        for index in pieces['test']:
            other[len(recordings)] = index
            recordings.append(by_name[recordings[index].name])
    segments: dict[str, list[int]] = {'train': [], 'validation': [], 'test': []}
    items: list[tuple[int, float]] = []
    for part, indices in (*pieces.items(), ('test', list(other))):
        for index in indices:
            # evaluation segments are the ones transcribe cuts (whole frames apart), so the figures are etude evaluate's
            starts = (segment_starts(recordings[index].duration, parameters.segment_seconds, parameters.training_hop_seconds) if part == 'train'
                      else planned_starts(recordings[index].duration, front_end, parameters.segment_overlap))
            for start in starts:
                segments[part].append(len(items))
                items.append((index, start))
    dataset = SegmentDataset(recordings, items, front_end)
    name = parameters.dataset if parameters.dataset == 'maestro' else f'chorales-{parameters.chorales}'
    names = {part: [recordings[i].name for i in indices] for part, indices in pieces.items()}
    routine.set_dataset(dataset, split=segments, name=name, metadata={'pieces': names})
    recorded = {part: [[str(recordings[i].audio.resolve()), str(recordings[i].midi.resolve())] for i in indices] for part, indices in pieces.items()}
    if other:
        recorded[OTHER_SOUNDFONT] = [[str(recordings[i].audio.resolve()), str(recordings[i].midi.resolve())] for i in other]
    routine.set_task(Transcription(**decoding.to_dict(), segment_seconds=parameters.segment_seconds, pieces=recorded))

    # the baseline: a transcriber that learns nothing, on the same test pieces, scored by the same code
    baseline = [score_piece(recordings[i].notes, transcribe_baseline(recordings[i].audio)) for i in pieces['test']]
    routine.add_baseline('spectral flux', average_scores(baseline))
    routine.set_model(PianoTranscriber(parameters))

    def note_metrics(indices: Sequence[int], prefix: str = '') -> NoteMetrics:
        return NoteMetrics({i: recordings[i].notes for i in indices}, {i: recordings[i].duration for i in indices},
                           {i: recordings[i].name for i in indices}, front_end, decoding, prefix=prefix)

    metrics = [note_metrics([*pieces['validation'], *pieces['test']])]
    if other:
        metrics.append(note_metrics(list(other), OTHER_SOUNDFONT_PREFIX))
    return metrics


def report(summary: dict[str, Any]) -> str:
    """The test onset F1 of held-out pieces beside the baseline's (and the other soundfont's, when rendered)."""
    test, baseline = summary['test'], summary['baselines']['spectral flux']
    line = (f"test note-onset F1 {test['onset_f1']:.3f} (onset+offset {test['onset_offset_f1']:.3f}, +velocity {test['onset_offset_velocity_f1']:.3f}, "
            f"frame {test['frame_f1']:.3f}) on held-out pieces; spectral-flux baseline {baseline['onset_f1']:.3f}")
    other = test.get(f'{OTHER_SOUNDFONT_PREFIX}onset_f1')
    if other is not None and np.isfinite(other):
        line += f"; the same pieces rendered with another soundfont: {other:.3f}"
    return line

