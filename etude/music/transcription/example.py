"""A tiny run of the transcription kind, for its conformance suite (`etude.tasks.testing.check_task(Transcription)`).

Five three-second pieces of decaying sine tones (one per note, at the note's pitch, as loud as its velocity), written
as WAV files beside their MIDI files: three train, one validates, one tests (and is the inference input). A
PianoTranscriber of 16 acoustic units and 8 GRU units trains on one-second segments for two epochs: a few seconds.
No FluidSynth is needed, so the suite runs wherever etude does.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...tasks.testing import TaskExample

if TYPE_CHECKING:
    import numpy as np

    from ...training.routine import Routine
    from .task import Transcription

__all__ = ['transcription_example']

SAMPLE_RATE = 16_000


def _tones(notes: np.ndarray, seconds: float) -> np.ndarray:
    """`(samples,)` float32: each note a sine at its pitch that decays over its length."""
    import numpy as np

    audio = np.zeros(round(seconds * SAMPLE_RATE), dtype=np.float64)
    for note in notes:
        begin, end = round(note['start'] * SAMPLE_RATE), min(round(note['end'] * SAMPLE_RATE), len(audio))
        time = np.arange(end - begin) / SAMPLE_RATE
        frequency = 440.0 * 2 ** ((int(note['pitch']) - 69) / 12)
        audio[begin:end] += note['velocity'] / 127 * 0.2 * np.sin(2 * np.pi * frequency * time) * np.exp(-3 * time)
    return audio.astype(np.float32)


def transcription_example(folder: Path, kind: type[Transcription]) -> TaskExample:
    """The pieces as `piece-N.wav` + `piece-N.mid` in `folder/pieces`."""
    import numpy as np

    from ...data.audio import write_audio
    from ...data.midi import NOTE_DTYPE, notes_to_midi

    pieces = folder / 'pieces'
    pieces.mkdir(parents=True, exist_ok=True)
    generator = np.random.default_rng(0)
    paths = []
    for number in range(5):
        starts = np.arange(0.1, 2.6, 0.25)
        notes = np.zeros(len(starts), dtype=NOTE_DTYPE)
        notes['pitch'] = generator.integers(55, 80, len(starts))
        notes['start'], notes['duration'] = starts, 0.2
        notes['end'] = starts + 0.2
        notes['velocity'] = generator.integers(60, 110, len(starts))
        notes['step'] = np.diff(starts, prepend=0.0)
        midi, audio = pieces / f'piece-{number}.mid', pieces / f'piece-{number}.wav'
        notes_to_midi(notes, midi)
        write_audio(audio, _tones(notes, 3.0), SAMPLE_RATE)
        paths.append([str(audio), str(midi)])

    def build(routine: Routine, parameters: Any) -> None:
        from .data import Recording
        from .model import PianoTranscriber

        groups = {'train': paths[:3], 'validation': paths[3:4], 'test': paths[4:]}
        task = kind(segment_seconds=1.0, pieces=groups)
        model = PianoTranscriber(parameters)
        recordings = {group: [Recording.read(audio, midi) for audio, midi in pairs] for group, pairs in groups.items()}
        dataset, split = task.segment_dataset(recordings, model.front_end(1.0), training_hop_seconds=1.0)
        routine.set_dataset(dataset, split=split, name='example-tones')
        routine.set_task(task)
        routine.set_model(model)

    from .model import PianoTranscriber

    defaults = PianoTranscriber.Parameters(n_mels=64, channels=(4,), acoustic_units=16, gru_units=8, batch_size=4, num_of_epochs=2,
                                           learning_rate=3e-3, monitor='validation_onset_f1', monitor_mode='max')
    return TaskExample(defaults, build, inputs=[paths[4][0]])
