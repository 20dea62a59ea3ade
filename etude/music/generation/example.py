"""A tiny run of the generation kind, for its conformance suite (`etude.tasks.testing.check_task(Generation)`).

Eight short pieces written here as MIDI (a melody stepping through C major over a held bass, eighth notes and
quarters), cut into tiles of 16 notes, and a NoteLSTM of 16 units trained for two epochs: a second's work.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...tasks.testing import TaskExample

if TYPE_CHECKING:
    from ...training.routine import Routine
    from .task import Generation

__all__ = ['generation_example']

SCALE = (60, 62, 64, 65, 67, 69, 71, 72)


def generation_example(folder: Path, kind: type[Generation]) -> TaskExample:
    """The pieces as `piece-N.mid` in `folder/midi`, the first of them also the primer inference continues."""
    import numpy as np

    from ...data.midi import notes_to_midi

    midi = folder / 'midi'
    midi.mkdir(parents=True, exist_ok=True)
    generator = np.random.default_rng(0)
    for number in range(8):
        degree, rows = 3, []
        for _ in range(40):
            degree = int(np.clip(degree + generator.integers(-2, 3), 0, len(SCALE) - 1))
            step = float(generator.choice([0.25, 0.5]))
            rows.append((SCALE[degree], step, step * 0.9))
            if len(rows) % 8 == 1:
                rows.append((SCALE[degree] - 24, 0.0, 2.0))  # a bass note under the melody's note
        notes_to_midi(np.array(rows, dtype=np.float32), midi / f'piece-{number}.mid')

    def build(routine: Routine, parameters: Any) -> None:
        from ...data.dataset_layouts import midi_collection
        from ...data.sequences import NoteSequences, SequenceCache
        from .model import NoteLSTM
        from .tiles import tiles_from_windows

        definition = midi_collection(midi, group_by='file', name='example-pieces')
        stored = SequenceCache(definition, NoteSequences(sequence_length=15, hop=16), cache_root=folder / 'cache', workers=1, progress=False).load()
        tiles = tiles_from_windows(stored)
        routine.set_dataset(tiles.torch_dataset(), groups=tiles.pieces, name=stored.name, metadata={'directory': str(Path(stored.directory).resolve())})
        routine.set_task(kind(tile_notes=16, evaluation_pieces=4, evaluation_notes=24))
        routine.set_model(NoteLSTM(parameters))

    from .model import NoteLSTM

    defaults = NoteLSTM.Parameters(num_rnn_layers=1, hidden_size=16, embedding_size=8, pitch_hidden_size=16, batch_size=4, num_of_epochs=2,
                                   dataset_split=(0.5, 0.25, 0.25), learning_rate=3e-3, monitor='validation_nll_per_note')
    return TaskExample(defaults, build, inputs=[str(midi / 'piece-0.mid')], options={'num': 2, 'length': 12})


VOICES = ((72, 76, 79, 77), (64, 67, 67, 65), (55, 60, 59, 57), (48, 43, 47, 41))


def metrical_example(folder: Path, kind: type[Any]) -> TaskExample:
    """Eight four-voice pieces in 4/4 (`piece-N.mid`: a soprano of quarters and eighths over held chords), cut into tiles
    of 32 tokens, and a TokenLSTM of 16 units trained for two epochs; the first piece is also the primer."""
    import numpy as np
    import symusic

    midi = folder / 'midi'
    midi.mkdir(parents=True, exist_ok=True)
    generator = np.random.default_rng(0)
    for number in range(8):
        score: Any = symusic.Score(4)  # symusic's stubs miss most attributes
        score.time_signatures.append(symusic.TimeSignature(0, 4, 4))
        for voice, pitches in enumerate(VOICES):
            track: Any = symusic.Track(name=f'voice {voice}')
            time = 0
            for bar in range(4):
                pitch = pitches[(bar + number) % 4]
                for _ in range(4) if voice == 0 else range(2):
                    length = 4 if voice == 0 else 8
                    track.notes.append(symusic.Note(time, length, int(pitch + (generator.integers(0, 3) * 2 if voice == 0 else 0)), 80))
                    time += length
            score.tracks.append(track)
        score.dump_midi(str(midi / f'piece-{number}.mid'))

    def build(routine: Routine, parameters: Any) -> None:
        from ...data.dataset_layouts import midi_collection
        from ...data.sequences import SequenceCache
        from .token_data import TokenSequences, token_tiles
        from .token_model import TokenLSTM
        from .tokens import Representation

        representation = Representation()
        definition = midi_collection(midi, group_by='file', name='example-token-pieces')
        stored = SequenceCache(definition, TokenSequences(representation, 32), cache_root=folder / 'cache', workers=1, progress=False).load()
        tiles = token_tiles(stored)
        routine.set_dataset(tiles.torch_dataset(), groups=tiles.pieces, name=stored.name, metadata={'directory': str(Path(stored.directory).resolve())})
        routine.set_task(kind(representation=representation.to_dict(), tile_tokens=32, evaluation_pieces=3, evaluation_notes=24))
        parameters = routine.update_parameters(parameters, {'vocabulary_size': representation.vocabulary_size}, source='the representation')
        routine.set_model(TokenLSTM(parameters))

    from .token_model import TokenLSTM

    defaults = TokenLSTM.Parameters(token_layers=1, token_hidden_size=16, token_embedding_size=8, batch_size=4, num_of_epochs=2,
                                    dataset_split=(0.5, 0.25, 0.25), learning_rate=3e-3, monitor='validation_nll_per_note')
    return TaskExample(defaults, build, inputs=[str(midi / 'piece-0.mid')], options={'num': 2, 'length': 12})
