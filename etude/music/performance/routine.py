"""Expressive performance: play a score (MusicXML) as a pianist would, note by note (seed 000).

Trains a bidirectional LSTM (`model=lstm`) or a hierarchical attention network after VirtuosoNet (`model=han`) to
predict, for each score note, its velocity, its timing against the tempo curve, its articulation and the tempo curve
itself. Offline the pairs are synthetic: music21's Bach chorales played by etude's rule performer
(`etude.music.performance.rule_performer`), which proves the pipeline, not musicality. Any folder of MusicXML scores
with MIDI performances works instead (`dataset=path/to/pairs`, `pair_by=folder` for ASAP's layout). Reports each
feature's test correlation and MAE beside a deadpan performance and a marks-only rule performer, computed in the
same run on the same held-out pieces.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np

from etude import AT_LEAST_ONE, Range, Routine
from etude.data import SequenceCache, score_performance_pairs
from etude.music.performance import (
    PERFORMANCE_TARGETS,
    ExpressivePerformance,
    PerformanceHAN,
    PerformanceLSTM,
    PerformanceSequences,
    deadpan_predictions,
    export_rule_performances,
)

FEATURES = ('velocity', 'timing', 'articulation', 'tempo')


@dataclass(kw_only=True)
class ExpressivePerformanceParameters(PerformanceHAN.Parameters):
    model: Literal['lstm', 'han'] = 'han'
    """lstm: the bidirectional LSTM baseline; han: the hierarchical attention network with its autoregressive decoder."""
    layers: Annotated[int, AT_LEAST_ONE] = 2
    """Stacked layers of the LSTM model (the HAN has one per level)."""
    dataset: str = 'rule-performances'
    """rule-performances (synthetic, generated here), or a folder of MusicXML scores with MIDI performances."""
    pair_by: Literal['stem', 'folder'] = 'stem'
    """How performances find their score in a folder dataset: the same file stem, or the folder's only score (ASAP)."""
    data_directory: str = 'data'
    """Where the synthetic pairs and the feature cache are written."""
    number_of_pieces: Annotated[int, AT_LEAST_ONE] = 120
    """Chorales the rule performer plays (each a split group)."""
    sequence_length: Annotated[int, AT_LEAST_ONE] = 64
    """Notes per training window (windows do not overlap, so every test note is scored once, the last window aside)."""
    tempo_window_beats: Annotated[float, Range(0, exclusive_minimum=True)] = 2.0
    """Quarter notes either side of an onset that judge where it should be (the tempo curve's smoothing)."""


DEFAULTS = ExpressivePerformanceParameters(batch_size=16, dataset_split=(0.7, 0.15, 0.15), learning_rate=2e-3, num_of_epochs=30, patience=6,
                                           gradient_clip=1.0)
TESTING = {'number_of_pieces': 8, 'dataset_split': (0.5, 0.25, 0.25), 'num_of_epochs': 2, 'batch_size': 8, 'hidden_size': 16, 'sequence_length': 32}
PROJECT = 'etude-expressive-performance'


def build(routine: Routine, parameters: ExpressivePerformanceParameters) -> None:
    """Pairs → windows of features → the task (per-feature r and MAE, the deadpan and rule baselines) → the chosen model."""
    if parameters.dataset == 'rule-performances':
        root = Path(parameters.data_directory) / f'rule-performances-{parameters.number_of_pieces}-seed{parameters.seed}'
        export_rule_performances(root, limit=parameters.number_of_pieces, seed=parameters.seed, progress=routine.verbose)
    else:
        root = Path(parameters.dataset)
    definition = score_performance_pairs(root, pair_by=parameters.pair_by, on_error='skip')
    settings = PerformanceSequences(sequence_length=parameters.sequence_length, hop=parameters.sequence_length,
                                    tempo_window_beats=parameters.tempo_window_beats)
    stored = SequenceCache(definition, settings, cache_root=Path(parameters.data_directory) / 'cache', on_error='skip',
                           progress=routine.verbose).load()
    routine.set_dataset(stored, targets={name: name for name in PERFORMANCE_TARGETS})
    # the deadpan rendering plays at the training notes' mean velocity and tempo, as the deadpan baseline does
    train = {name: np.asarray(stored.labels[name])[routine.split['train']] for name in ('velocity', 'beat_seconds', 'matched', 'note_mask')}
    velocity, _, _, beat_seconds = deadpan_predictions(train, (1, 1))[0, 0]
    routine.set_task(ExpressivePerformance(sequence_length=parameters.sequence_length, deadpan_velocity=float(velocity),
                                           deadpan_beat_seconds=float(beat_seconds), pair_by=parameters.pair_by))
    values = parameters.to_dict()
    if parameters.model == 'lstm':
        routine.set_model(PerformanceLSTM(PerformanceLSTM.Parameters.from_dict(values, source='the routine', ignore_unknown=True)))
    else:
        routine.set_model(PerformanceHAN(PerformanceHAN.Parameters.from_dict(values, source='the routine', ignore_unknown=True)))


def report(summary: dict[str, Any]) -> str:
    """One line per feature: the model's test correlation / MAE against deadpan and the rule performer."""
    test, baselines = summary['test'], summary.get('baselines', {})
    lines = []
    for feature in FEATURES:
        row = [f'{feature}: r {test[f"{feature}_correlation"]:.3f} MAE {test[f"{feature}_mae"]:.3f}']
        for name in ('deadpan', 'rule'):
            if name in baselines:
                row.append(f'{name} r {baselines[name][f"{feature}_correlation"]:.3f} MAE {baselines[name][f"{feature}_mae"]:.3f}')
        lines.append('; '.join(row))
    return '\n'.join(lines)
