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

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np

from etude import AT_LEAST_ONE, Metric, Range, Routine
from etude.data import SequenceCache, read_score, score_performance_pairs
from etude.music.performance import (
    PERFORMANCE_TARGETS,
    ExpressivePerformance,
    PerformanceHAN,
    PerformanceLSTM,
    PerformanceSequences,
    baselines_mean,
    deadpan_predictions,
    export_rule_performances,
    rule_predictions,
    score_path_for,
    score_window_metrics,
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
TESTING = {'number_of_pieces': 12, 'num_of_epochs': 2, 'batch_size': 8, 'hidden_size': 16, 'sequence_length': 32}
PROJECT = 'etude-expressive-performance'


def build(routine: Routine, parameters: ExpressivePerformanceParameters) -> Sequence[Metric] | None:
    """Pairs → windows of features → the chosen model, with the deadpan and rule baselines on the test pieces."""
    if parameters.dataset == 'rule-performances':
        root = Path(parameters.data_directory) / f'rule-performances-{parameters.number_of_pieces}-seed{parameters.seed}'
        export_rule_performances(root, limit=parameters.number_of_pieces, seed=parameters.seed)
    else:
        root = Path(parameters.dataset)
    definition = score_performance_pairs(root, pair_by=parameters.pair_by, on_error='skip')
    settings = PerformanceSequences(sequence_length=parameters.sequence_length, hop=parameters.sequence_length,
                                    tempo_window_beats=parameters.tempo_window_beats)
    stored = SequenceCache(definition, settings, cache_root=Path(parameters.data_directory) / 'cache', on_error='skip', progress=False).load()
    routine.set_dataset(stored, targets={name: name for name in PERFORMANCE_TARGETS})

    names = ('velocity', 'onset_deviation', 'log_duration_ratio', 'beat_seconds', 'matched', 'note_mask')
    train = {name: np.asarray(stored.labels[name])[routine.split['train']] for name in names}
    test_rows = routine.split['test']
    test = {name: np.asarray(stored.labels[name])[test_rows] for name in names}
    deadpan = deadpan_predictions(train, test['velocity'].shape)
    routine.set_task(ExpressivePerformance(sequence_length=parameters.sequence_length, deadpan_velocity=float(deadpan[0, 0, 0]),
                                           deadpan_beat_seconds=float(deadpan[0, 0, 3]), pair_by=parameters.pair_by))
    routine.add_baseline('deadpan', score_window_metrics(deadpan, test))
    files = [stored.metadata['files'][row] for row in test_rows]
    starts = [stored.metadata['window_starts'][row] for row in test_rows]
    raw_root = Path(stored.metadata['raw_root'])
    rule = rule_predictions(files, starts, parameters.sequence_length, lambda file: read_score(score_path_for(raw_root, file, parameters.pair_by),
                                                                                              expand_repeats=True), beat_seconds=baselines_mean(train))
    routine.add_baseline('rule', score_window_metrics(rule, test))

    values = parameters.to_dict()
    if parameters.model == 'lstm':
        routine.set_model(PerformanceLSTM(PerformanceLSTM.Parameters.from_dict(values, source='the routine', ignore_unknown=True)))
    else:
        routine.set_model(PerformanceHAN(PerformanceHAN.Parameters.from_dict(values, source='the routine', ignore_unknown=True)))
    return None


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
