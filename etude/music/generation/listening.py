"""Pieces for a listening test: the LSTM's, the Markov chain's and test excerpts, rendered, under the same names.

    write_listening_sets('runs/<id>', 'sets/', pieces=6, seconds=20)
    # sets/lstm/piece-000.{mid,wav}, sets/markov/piece-000.{mid,wav}, sets/test/piece-000.{mid,wav}, ...
    etude listen create listening/ --kind mos --condition lstm=sets/lstm --condition markov=sets/markov \
        --condition test=sets/test --trim

`etude listen create` pairs files across folders by name, so each folder holds `piece-000` ... `piece-<n-1>`; MOS
(or A/B) suits generation, where no reference exists. `--trim` cuts each item's three renders to the shortest, since
the pieces end at different moments.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ['write_listening_sets']


def write_listening_sets(run: str | os.PathLike[str], folder: str | os.PathLike[str], *, pieces: int = 6, seconds: float = 20.0, seed: int = 0,
                         temperature: float = 1.0, render: bool = True, data: str | os.PathLike[str] | None = None,
                         **render_options: Any) -> dict[str, Path]:
    """Write `pieces` pieces of `seconds` from the run's best model, from its Markov chain (fitted on the run's training
    split) and from the starts of its test pieces into `folder/{lstm,markov,test}/piece-NNN.mid` (+ `.wav` with
    `render`, through `etude.data.generators.fluidsynth_render.render_midi` and `render_options`). Returns the three
    folders by name."""
    import json

    from ...data.midi import notes_to_midi
    from ...data.store import read_dataset
    from ...errors import ConfigError
    from ...export import load_model
    from .baselines import MarkovNotes
    from .sampling import SamplingSettings, sample_notes
    from .tiles import tiles_from_windows

    run_folder = Path(run)
    if not (run_folder / 'split.json').is_file() or not (run_folder / 'checkpoints' / 'best.pt').is_file():
        raise ConfigError(f'{run_folder} is not a finished run folder (split.json and checkpoints/best.pt); pass runs/<id>')
    model = load_model(run_folder / 'checkpoints' / 'best.pt')
    export = model.export_info
    directory = Path(data) if data is not None else Path((export.get('dataset') or {})['directory'])
    tiles = tiles_from_windows(read_dataset(directory))
    split = json.loads((run_folder / 'split.json').read_text(encoding='utf-8'))
    parts = {name: tiles.subset(np.asarray(split.get(name, {}).get('indices', []), dtype=np.int64)) for name in ('train', 'validation', 'test')}
    markov = MarkovNotes.fit(parts['train'].notes, parts['train'].weights())
    markov.fit_concentration(parts['validation'].notes, parts['validation'].weights())
    sets = {
        'lstm': sample_notes(model, SamplingSettings(count=pieces, length_notes=None, length_seconds=seconds, temperature=temperature, seed=seed)),  # type: ignore[arg-type]
        'markov': [_cut(piece, seconds) for piece in markov.sample(pieces, 40 * int(seconds) + 40, np.random.default_rng(seed))],
        'test': [_cut(piece, seconds) for piece in parts['test'].piece_sequences()[:pieces]],
    }
    written = {}
    for name, notes in sets.items():
        target = Path(folder) / name
        target.mkdir(parents=True, exist_ok=True)
        for index, piece in enumerate(notes):
            midi_path = target / f'piece-{index:03d}.mid'
            notes_to_midi(piece, midi_path)
            if render:
                from ...data.generators.fluidsynth_render import render_midi

                render_midi(midi_path, midi_path.with_suffix('.wav'), **render_options)
        written[name] = target
    return written


def _cut(piece: np.ndarray, seconds: float) -> np.ndarray:
    """The notes of `piece` whose onsets fall within its first `seconds`."""
    onsets = np.cumsum(piece[:, 1]) - piece[0, 1]
    return piece[onsets < seconds]
