"""Music generation: a model that continues or invents pieces, in bars and voices (default) or note by note (seed 002).

`model=lstm` (the default): `TokenLSTM` over miditok's REMI tokens with voice tokens (`tokens.Representation`), trained
by teacher forcing on tiles of `tile_tokens` tokens, beside a unigram and the best Markov chain over the same tokens;
the task is `MetricalGeneration`; `model=transformer` trains `TokenTransformer` (RoPE) on the same tokens instead.
`model=seed`: seed 002's `NoteLSTM` over (pitch, step, duration) on tiles of `tile_notes` notes, beside its unigram and
first-order Markov chain (`Generation`), exactly as before. Data: the Bach
chorales that ship with music21, exported as MIDI once, offline; or `dataset=maestro-v3-midi` / `classical-music-midi`
when installed; split by piece. `etude infer` samples pieces from the export; `etude evaluate` reports the same figures.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from etude import NON_NEGATIVE, Range
from etude.music.generation import Generation, MetricalGeneration, NoteLSTM, Representation, TokenLSTM, TokenTransformer

if TYPE_CHECKING:
    from etude import Routine
    from etude.music.generation import NoteTiles

CHORALES: Literal['bach-chorales'] = 'bach-chorales'
TOKEN_UNITS = 'nats per token (and per note: the tokens\' sum over the Pitch tokens), over the REMI tokens of etude.music.generation.tokens'
NLL_UNITS = 'nats per note: -log P(pitch) - log P(step bin) - log P(duration bin), bins of etude.music.generation.likelihood.TIME_EDGES'


@dataclass(kw_only=True)
class MusicGeneration(NoteLSTM.Parameters, TokenLSTM.Parameters, TokenTransformer.Parameters):
    model: Literal['lstm', 'transformer', 'seed'] = 'lstm'
    """lstm: the LSTM over metrical tokens (token_* sizes); transformer: a RoPE Transformer over them (transformer_*);
    seed: seed 002's note LSTM (num_rnn_layers, hidden_size, ...)."""
    dataset: Literal['bach-chorales', 'maestro-v3-midi', 'classical-music-midi'] = CHORALES
    """bach-chorales (music21's, offline), or an installed MIDI collection (maestro-v3-midi is installed on first use)."""
    data_directory: str = 'data'
    """Where MIDI files are exported or installed, and note tiles cached (data_directory/cache)."""
    chorale_limit: Annotated[int, NON_NEGATIVE] = 0
    """Use only the first this many chorales (0: all 349 that music21 converts)."""
    tile_notes: Annotated[int, Range(2)] = 64
    """model=seed: notes per training sequence (pieces are cut into tiles of this many consecutive notes)."""
    tile_tokens: Annotated[int, Range(2)] = 256
    """model=lstm: tokens per training tile."""
    grid: Literal[1, 2, 3, 4, 6, 8, 12] = 4
    """model=lstm: positions per quarter note (4: 16ths; 12 also holds triplets)."""
    voices: Annotated[int, Range(0, 16)] = 4
    """model=lstm: voice tokens for the first this many tracks (0: one stream, no voices)."""


DEFAULTS = MusicGeneration(num_rnn_layers=2, hidden_size=256, embedding_size=130, pitch_hidden_size=300, batch_size=8, learning_rate=3e-3,
                           num_of_epochs=20, lr_schedule='cosine', patience=5, gradient_clip=1.0, dataset_split=(0.8, 0.1, 0.1),
                           monitor='validation_nll_per_note', step_weight=1.0, duration_weight=1.0, time_loss='log')
TESTING = {'chorale_limit': 24, 'num_of_epochs': 2, 'num_rnn_layers': 1, 'hidden_size': 32, 'embedding_size': 16, 'pitch_hidden_size': 32,
           'tile_notes': 32, 'batch_size': 16, 'token_hidden_size': 32, 'token_layers': 1, 'token_embedding_size': 16, 'tile_tokens': 64,
           'transformer_width': 32, 'transformer_layers': 1}
PROJECT = 'etude-music-generation'


def midi_folder(parameters: MusicGeneration, progress: bool = False) -> Path:
    """The folder of MIDI files: the chorales exported once (per limit), or the installed collection."""
    data = Path(parameters.data_directory)
    if parameters.dataset == CHORALES:
        from etude.data import export_chorales

        limit = parameters.chorale_limit or None
        barred = parameters.model != 'seed'  # the metrical representation needs the pickups' bars completed
        name = f'{CHORALES}-barred' if barred else CHORALES
        folder = data / (name if limit is None else f'{name}-first-{limit}')
        export_chorales(folder, limit=limit, pad_pickup=barred, workers=1 if limit is not None and limit <= 8 else min(os.cpu_count() or 1, 4),
                        progress=progress)
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


def token_tiles(parameters: MusicGeneration, *, verbose: bool = False) -> tuple[Any, dict[str, Any]]:
    """The dataset's token tiles (cached in data_directory/cache) and the stored dataset's summary."""
    from etude.data import SequenceCache, midi_collection
    from etude.music.generation import TokenSequences, token_tiles

    folder = midi_folder(parameters, progress=verbose and sys.stderr.isatty())
    definition = midi_collection(folder, group_by='file', on_error='skip', name=f'{folder.name}-tokens')
    settings = TokenSequences(Representation(grid=parameters.grid, voices=parameters.voices), parameters.tile_tokens)
    stored = SequenceCache(definition, settings, cache_root=Path(parameters.data_directory) / 'cache', on_error='skip', progress=verbose).load()
    return token_tiles(stored), {**stored.summary(), 'directory': str(Path(stored.directory).resolve()), 'midi_folder': str(folder.resolve())}


def build(routine: Routine, parameters: MusicGeneration) -> None:
    """Tiles split by piece; the task (NLL, the unigram and Markov baselines, judged samples); the model."""
    if parameters.model == 'seed':
        tiles, dataset = note_tiles(parameters, verbose=routine.verbose)
        routine.set_dataset(tiles.torch_dataset(), groups=tiles.pieces, name=dataset['name'], metadata=dataset)
        routine.set_task(Generation(tile_notes=parameters.tile_notes))
        scored = {name: int(tiles.subset(indices).weights().sum()) for name, indices in routine.split.items()}
        routine.add_to_summary({'nll_units': NLL_UNITS, 'scored_notes': scored})
        routine.set_model(NoteLSTM(parameters))
        return
    tokens, dataset = token_tiles(parameters, verbose=routine.verbose)
    representation = Representation(grid=parameters.grid, voices=parameters.voices)
    routine.set_dataset(tokens.torch_dataset(), groups=tokens.pieces, name=dataset['name'], metadata=dataset)
    routine.set_task(MetricalGeneration(representation=representation.to_dict(), tile_tokens=parameters.tile_tokens))
    scored = {name: int(tokens.subset(indices).weights().sum()) for name, indices in routine.split.items()}
    routine.add_to_summary({'nll_units': TOKEN_UNITS, 'scored_tokens': scored})
    parameters = routine.update_parameters(parameters, {'vocabulary_size': representation.vocabulary_size}, source='the representation')
    routine.set_model(TokenTransformer(parameters) if parameters.model == 'transformer' else TokenLSTM(parameters))


def report(summary: dict[str, Any]) -> str:
    if 'nll_per_token' in summary['test']:
        model, markov = summary['test'], summary['baselines']['markov']
        verdict = 'below' if model['nll_per_token'] < markov['nll_per_token'] else 'NOT below'
        jsd = [key for key in model if key.startswith('jsd_')]
        beaten = sum(model[key] < markov[key] for key in jsd)
        return (f'test NLL {model["nll_per_token"]:.3f} nats/token ({verdict} the Markov chain\'s {markov["nll_per_token"]:.3f}); '
                f'JSDs below the chain\'s on {beaten} of {len(jsd)}; in-key share {model["in_key_share"]:.3f}; '
                f'longest copied run {model["longest_copied_run"]:.0f} notes')
    model, baselines = summary['test']['nll_per_note'], summary['baselines']
    verdict = 'below' if model < baselines['markov']['nll_per_note'] else 'NOT below'
    return (f'test NLL {model:.3f} nats/note ({verdict} the Markov chain\'s {baselines["markov"]["nll_per_note"]:.3f}; '
            f'unigram {baselines["unigram"]["nll_per_note"]:.3f})')
