"""Expressive performance (seed 000): a score (MusicXML) played as a pianist would, note by note.

    from etude.music.performance import ExpressivePerformance, PerformanceHAN, PerformanceSequences, render_performance

- `codec`: score features, performance features and their inverse (`encode_performance`, `render_performance`), the
  tempo curve (`local_tempo`);
- `alignment`: which performed note plays each score note;
- `sequences`: windows of aligned pairs as a dataset (`PerformanceSequences`, for `etude.data.SequenceCache`);
- `rule_performer`: a performer that plays the marks of a score by rule (the offline data, and a baseline);
- `models`: `PerformanceHAN` (VirtuosoNet's design) and `PerformanceLSTM`;
- `baselines`: deadpan and marks-only rule predictions and the per-feature figures of a performance;
- `figures`, `listening`, `task` (`ExpressivePerformance`), `routine` (`etude train expressive_performance`).

Names load on first use, so `etude -h` (which reads every task kind) needs no numpy.
"""

from typing import TYPE_CHECKING

from ...lazy import lazy_names

if TYPE_CHECKING:
    from .alignment import Alignment, align_score_to_performance
    from .baselines import baselines_mean, deadpan_predictions, rule_predictions, score_path_for, score_window_metrics
    from .codec import (
        PERFORMANCE_FEATURES,
        SCORE_FEATURES,
        EncodedPerformance,
        deadpan_targets,
        encode_performance,
        local_tempo,
        performance_to_midi,
        read_pedal,
        render_performance,
        score_features,
    )
    from .figures import draw_performance_curves
    from .listening import write_performances
    from .models.common import PerformanceMetrics
    from .models.han import PerformanceHAN
    from .models.lstm import PerformanceLSTM
    from .play import UnsupportedScoreElement, play_score, predict_piece
    from .rule_performer import RulePerformer, export_rule_performances
    from .sequences import PERFORMANCE_TARGETS, PerformanceSequences
    from .task import ExpressivePerformance

_SOURCES = {
    **dict.fromkeys(['Alignment', 'align_score_to_performance'], '.alignment'),
    **dict.fromkeys(['baselines_mean', 'deadpan_predictions', 'rule_predictions', 'score_path_for', 'score_window_metrics',
           'write_performances'], '.baselines'),
    **dict.fromkeys(['PERFORMANCE_FEATURES', 'SCORE_FEATURES', 'EncodedPerformance', 'deadpan_targets', 'encode_performance', 'local_tempo',
                     'performance_to_midi', 'read_pedal', 'render_performance', 'score_features'], '.codec'),
    'draw_performance_curves': '.figures',
    'write_performances': '.listening',
    'PerformanceMetrics': '.models.common',
    'PerformanceHAN': '.models.han',
    'PerformanceLSTM': '.models.lstm',
    **dict.fromkeys(['RulePerformer', 'export_rule_performances'], '.rule_performer'),
    **dict.fromkeys(['PERFORMANCE_TARGETS', 'PerformanceSequences'], '.sequences'),
    **dict.fromkeys(['UnsupportedScoreElement', 'play_score', 'predict_piece'], '.play'),
    'ExpressivePerformance': '.task',
}

__all__ = ['Alignment', 'EncodedPerformance', 'ExpressivePerformance', 'PERFORMANCE_FEATURES', 'PERFORMANCE_TARGETS', 'PerformanceHAN',
           'PerformanceLSTM', 'PerformanceMetrics', 'PerformanceSequences', 'RulePerformer', 'SCORE_FEATURES', 'UnsupportedScoreElement',
           'align_score_to_performance', 'baselines_mean', 'deadpan_predictions', 'deadpan_targets',
           'draw_performance_curves', 'encode_performance', 'export_rule_performances', 'local_tempo', 'performance_to_midi', 'play_score',
           'predict_piece', 'read_pedal', 'render_performance', 'rule_predictions', 'score_features', 'score_path_for', 'score_window_metrics',
           'write_performances']


__getattr__, __dir__ = lazy_names(__name__, _SOURCES, __all__)
