"""Music generation: an LSTM over pitch, step and duration that continues or invents pieces (seed 002).

Trains `NoteLSTM` by teacher forcing on MIDI pieces cut into tiles of `tile_notes` consecutive notes (default: the Bach
chorales that ship with music21, exported as MIDI once, offline; or `dataset=maestro-v3-midi` / `classical-music-midi`
when installed), split by piece. Reports the test negative log-likelihood per note (nats: pitch + step bin + duration
bin, see etude.music.generation.likelihood) beside a unigram sampler and a first-order Markov chain fitted on the training
pieces in the same run, on the same notes, and judges pieces sampled from each against the test pieces (the task's
`on_split_end`). `etude infer` samples pieces from the export; `etude evaluate` reports the same figures.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from etude import NON_NEGATIVE, Range
from etude.music.generation import Generation, NoteLSTM

if TYPE_CHECKING:
    from etude import Routine
    from etude.music.generation import NoteTiles

CHORALES: Literal['bach-chorales'] = 'bach-chorales'
NLL_UNITS = 'nats per note: -log P(pitch) - log P(step bin) - log P(duration bin), bins of etude.music.generation.likelihood.TIME_EDGES'


@dataclass(kw_only=True)
class MusicGeneration(NoteLSTM.Parameters):
    dataset: Literal['bach-chorales', 'maestro-v3-midi', 'classical-music-midi'] = CHORALES
    """bach-chorales (music21's, offline), or an installed MIDI collection (maestro-v3-midi is installed on first use)."""
    data_directory: str = 'data'
    """Where MIDI files are exported or installed, and note tiles cached (data_directory/cache)."""
    chorale_limit: Annotated[int, NON_NEGATIVE] = 0
    """Use only the first this many chorales (0: all 349 that music21 converts)."""
    tile_notes: Annotated[int, Range(2)] = 64
    """Notes per training sequence: pieces are cut into tiles of this many consecutive notes."""


DEFAULTS = MusicGeneration(num_rnn_layers=2, hidden_size=256, embedding_size=130, pitch_hidden_size=300, batch_size=8, learning_rate=3e-3,
                           num_of_epochs=20, lr_schedule='cosine', patience=5, gradient_clip=1.0, dataset_split=(0.8, 0.1, 0.1),
                           monitor='validation_nll_per_note', step_weight=1.0, duration_weight=1.0, time_loss='log')
TESTING = {'chorale_limit': 24, 'num_of_epochs': 2, 'num_rnn_layers': 1, 'hidden_size': 32, 'embedding_size': 16, 'pitch_hidden_size': 32,
           'tile_notes': 32, 'batch_size': 16}
PROJECT = 'etude-music-generation'


def midi_folder(parameters: MusicGeneration, progress: bool = False) -> Path:
    """The folder of MIDI files: the chorales exported once (per limit), or the installed collection."""
    data = Path(parameters.data_directory)
    if parameters.dataset == CHORALES:
        from etude.data import export_chorales

        limit = parameters.chorale_limit or None
        folder = data / (CHORALES if limit is None else f'{CHORALES}-first-{limit}')
        export_chorales(folder, limit=limit, workers=1 if limit is not None and limit <= 8 else min(os.cpu_count() or 1, 4), progress=progress)
        return folder
    folder = data / parameters.dataset
    if not folder.is_dir():
        from etude.data import install_dataset

        folder = install_dataset(parameters.dataset, data, progress=progress)
    return folder


def note_tiles(parameters: MusicGeneration, *, verbose: bool = False) -> tuple[NoteTiles, dict[str, Any]]:
    """The dataset's tiles (cached in data_directory/cache) and the stored dataset's summary."""
    from etude.data import NoteSequences, SequenceCache, midi_collection
    from etude.music.generation import tiles_from_windows

    folder = midi_folder(parameters, progress=verbose and sys.stderr.isatty())
    definition = midi_collection(folder, group_by='file', on_error='skip', name=folder.name)
    settings = NoteSequences(sequence_length=parameters.tile_notes - 1, hop=parameters.tile_notes)
    stored = SequenceCache(definition, settings, cache_root=Path(parameters.data_directory) / 'cache', on_error='skip', progress=verbose).load()
    return tiles_from_windows(stored), {**stored.summary(), 'directory': str(Path(stored.directory).resolve()), 'midi_folder': str(folder.resolve())}


def build(routine: Routine, parameters: MusicGeneration) -> None:
    """Tiles split by piece; the task (NLL per note, the unigram and Markov baselines, judged samples); the LSTM."""
    tiles, dataset = note_tiles(parameters, verbose=routine.verbose)
    routine.set_dataset(tiles.torch_dataset(), groups=tiles.pieces, name=dataset['name'], metadata=dataset)
    routine.set_task(Generation(tile_notes=parameters.tile_notes))
    scored = {name: int(tiles.subset(indices).weights().sum()) for name, indices in routine.split.items()}
    routine.add_to_summary({'nll_units': NLL_UNITS, 'scored_notes': scored})
    routine.set_model(NoteLSTM(parameters))


def report(summary: dict[str, Any]) -> str:
    model, baselines = summary['test']['nll_per_note'], summary['baselines']
    verdict = 'below' if model < baselines['markov']['nll_per_note'] else 'NOT below'
    return (f'test NLL {model:.3f} nats/note ({verdict} the Markov chain\'s {baselines["markov"]["nll_per_note"]:.3f}; '
            f'unigram {baselines["unigram"]["nll_per_note"]:.3f})')
