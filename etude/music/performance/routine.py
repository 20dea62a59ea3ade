"""Expressive performance: play a score (MusicXML) as a pianist would, note by note (seed 000).

Trains a bidirectional LSTM (`model=lstm`) or a hierarchical attention network after VirtuosoNet (`model=han`) to
predict, for each score note, its velocity, its timing against the tempo curve, its articulation, the sustain pedal and
the tempo curve itself. `dataset=nasap` learns from real pianists: (n)ASAP's match files (install it with `etude data
install nasap`, or `--archive PATH` from a local copy), split by piece, stratified by composer, judged against every
performance of the held-out pieces and against the pianists' agreement with each other. Offline, by default, the
pairs are synthetic: music21's Bach chorales played by etude's rule performer (`rule_performer`), which proves the
pipeline, not musicality. Any folder of MusicXML scores with MIDI performances works too (`dataset=path/to/pairs`,
`pair_by=folder` for ASAP's layout). Reports each feature's test correlation and MAE beside deadpan, a marks-only rule
performer and the training pianists' mean, computed in the same run on the same held-out pieces.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import torch
from torch.utils.data import RandomSampler

from etude import AT_LEAST_ONE, Range, Routine
from etude.data import SequenceCache, StoredDataset, match_performances, score_performance_pairs, split_items
from etude.music.performance import (
    PERFORMANCE_TARGETS,
    ExpressivePerformance,
    MatchSequences,
    PerformanceHAN,
    PerformanceLSTM,
    PerformanceSequences,
    TrainingMeans,
    export_rule_performances,
)

FEATURES = ('velocity', 'timing', 'articulation', 'tempo', 'pedal')


@dataclass(kw_only=True)
class ExpressivePerformanceParameters(PerformanceHAN.Parameters):
    model: Literal['lstm', 'han'] = 'han'
    """lstm: the bidirectional LSTM baseline; han: the hierarchical attention network with its autoregressive decoder."""
    layers: Annotated[int, AT_LEAST_ONE] = 2
    """Stacked layers of the LSTM model (the HAN has one per level)."""
    dataset: str = 'rule-performances'
    """rule-performances (synthetic, generated here); nasap ((n)ASAP's match files in data_directory/nasap, installed on first
    use); or a folder of MusicXML scores with MIDI performances."""
    pair_by: Literal['stem', 'folder'] = 'stem'
    """How performances find their score in a folder dataset: the same file stem, or the folder's only score (ASAP)."""
    data_directory: str = 'data'
    """Where the synthetic pairs, (n)ASAP and the feature cache live."""
    number_of_pieces: Annotated[int, Range(0)] = 0
    """Pieces: the chorales the rule performer plays (0: 120); of (n)ASAP's 217, how many are kept, in proportion to each
    composer's share, before the split (0: all)."""
    sequence_length: Annotated[int, AT_LEAST_ONE] = 64
    """Notes per training window (windows do not overlap, so every test note is scored once, the last window aside)."""
    tempo_window_beats: Annotated[float, Range(0, exclusive_minimum=True)] = 2.0
    """Quarter notes either side of an onset that judge where it should be (the tempo curve's smoothing)."""
    windows_per_epoch: Annotated[int, Range(0)] = 8000
    """An epoch trains on at most this many windows, drawn afresh each epoch (0: every window once); the chorales hold fewer."""


DEFAULTS = ExpressivePerformanceParameters(batch_size=16, dataset_split=(0.7, 0.15, 0.15), learning_rate=2e-3, num_of_epochs=30, patience=6,
                                           gradient_clip=1.0, lr_schedule='plateau', lr_gamma=0.3, lr_patience=2)
TESTING = {'number_of_pieces': 8, 'dataset_split': (0.5, 0.25, 0.25), 'num_of_epochs': 2, 'batch_size': 8, 'hidden_size': 16, 'sequence_length': 32}
PROJECT = 'etude-expressive-performance'


def build(routine: Routine, parameters: ExpressivePerformanceParameters) -> None:
    """Pairs → windows of features → the task (per-feature r and MAE, piece by piece; the baselines) → the chosen model."""
    stored = performance_windows(parameters, routine.verbose)
    train_size = len(split_items(stored, parameters.dataset_split, parameters.seed)['train'])
    sampler = RandomSampler(range(train_size), num_samples=min(parameters.windows_per_epoch or train_size, train_size), generator=torch.Generator())
    routine.set_dataset(stored, targets={name: name for name in PERFORMANCE_TARGETS}, sampler=sampler)
    train = routine.split['train']  # the deadpan rendering plays at the training notes' mean velocity and tempo, as the deadpan baseline does
    means = TrainingMeans({name: stored.labels[name][train] for name in PERFORMANCE_TARGETS}).means
    routine.set_task(ExpressivePerformance(sequence_length=parameters.sequence_length, deadpan_velocity=means['velocity'],
                                           deadpan_beat_seconds=means['beat_seconds'], pair_by=parameters.pair_by))
    values = parameters.to_dict()
    if parameters.model == 'lstm':
        routine.set_model(PerformanceLSTM(PerformanceLSTM.Parameters.from_dict(values, source='the routine', ignore_unknown=True)))
    else:
        routine.set_model(PerformanceHAN(PerformanceHAN.Parameters.from_dict(values, source='the routine', ignore_unknown=True)))


def performance_windows(parameters: ExpressivePerformanceParameters, verbose: bool) -> StoredDataset:
    """The dataset's windows, built once into data_directory/cache: (n)ASAP's match files, the rule performer's chorales
    (generated first), or a folder of MusicXML + MIDI pairs."""
    data, pieces = Path(parameters.data_directory), parameters.number_of_pieces
    if parameters.dataset == 'nasap':
        definition = match_performances(nasap_folder(data, verbose), fractions=parameters.dataset_split, seed=parameters.seed,
                                        pieces=pieces or None)
        settings: MatchSequences | PerformanceSequences = MatchSequences(sequence_length=parameters.sequence_length, hop=parameters.sequence_length,
                                                                         tempo_window_beats=parameters.tempo_window_beats)
    else:
        chorales = pieces or 120
        root = data / f'rule-performances-{chorales}-seed{parameters.seed}' if parameters.dataset == 'rule-performances' else Path(parameters.dataset)
        if parameters.dataset == 'rule-performances':
            export_rule_performances(root, limit=chorales, seed=parameters.seed, progress=verbose)
        definition = score_performance_pairs(root, pair_by=parameters.pair_by, on_error='skip')
        settings = PerformanceSequences(sequence_length=parameters.sequence_length, hop=parameters.sequence_length,
                                        tempo_window_beats=parameters.tempo_window_beats)
    return SequenceCache(definition, settings, cache_root=data / 'cache', on_error='skip', progress=verbose).load()


def nasap_folder(data: Path, verbose: bool) -> Path:
    """data/nasap, installed from its repository's archive on first use (a one-line error, naming --archive, offline)."""
    from etude import DatasetError, DownloadError
    from etude.data import install_dataset

    if (data / 'nasap').is_dir():
        return data / 'nasap'
    try:
        return install_dataset('nasap', data, progress=verbose)
    except DownloadError as error:
        raise DatasetError(f'{error}; on a machine without that network, install a copy: etude data install nasap --dir {data} '
                           '--archive PATH') from None


def report(summary: dict[str, Any]) -> str:
    """One line per feature: the model's test r / MAE against every held-out performance, piece by piece, beside the
    baselines'; then the same on the pieces with three or more performances, beside the pianists' agreement with each
    other (the windows' pooled figures where a run has no piece figures)."""
    test, baselines = summary['test'], summary.get('baselines', {})
    blocks = [('piece_', f'per piece, against every performance ({test.get("pieces", 0):.0f} pieces):', ('deadpan', 'rule', 'training_mean')),
              ('agreed_piece_', f'on the {test.get("agreed_pieces", 0):.0f} pieces played three or more times, beside the pianists\' agreement:',
               ('deadpan', 'rule', 'training_mean', 'human'))]
    if f'piece_{FEATURES[0]}_correlation' not in test:
        blocks = [('', 'over the test windows:', ('deadpan', 'rule', 'training_mean'))]
    lines = []
    for prefix, title, names in blocks:
        if f'{prefix}{FEATURES[0]}_correlation' not in test:
            continue
        lines.append(title)
        for feature in FEATURES:
            row = [f'{feature}: r {test[f"{prefix}{feature}_correlation"]:.3f} MAE {test[f"{prefix}{feature}_mae"]:.3f}']
            for name in names:
                figures = baselines.get(name, {})
                key = f'piece_{feature}' if name == 'human' else f'{prefix}{feature}'
                if f'{key}_correlation' in figures:
                    row.append(f'{name} r {figures[f"{key}_correlation"]:.3f} MAE {figures[f"{key}_mae"]:.3f}')
            lines.append('; '.join(row))
    return '\n'.join(lines)
