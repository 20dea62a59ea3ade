"""Expressive performance (seed 000): a score (MusicXML) played as a pianist would, note by note.

    from etude.music.performance import ExpressivePerformance, PerformanceHAN, MatchSequences, render_performance

- `codec`: score features, performance features and their inverse (`encode_performance`, `render_performance`), the
  tempo curve (`local_tempo`), the sustain pedal per note;
- `alignment`: which performed note plays each score note; `scored_match`: a match file's hand-made alignment on its
  MusicXML score's features ((n)ASAP);
- `sequences`: windows of aligned pairs as a dataset (`PerformanceSequences` for MusicXML + MIDI, `MatchSequences`
  for match files, both for `etude.data.SequenceCache`); `pieces`: whole performances back from their windows;
- `rule_performer`: a performer that plays the marks of a score by rule (the offline data, and a baseline);
- `models`: `PerformanceHAN` (VirtuosoNet's design) and `PerformanceLSTM`;
- `baselines` (deadpan, marks-only rule, training mean) and `agreement` (every performance of a held-out piece,
  and the pianists against each other);
- `figures`, `listening`, `task` (`ExpressivePerformance`), `routine` (`etude train expressive_performance`).

Names load on first use, so `etude -h` (which reads every task kind) needs no numpy.
"""

from typing import TYPE_CHECKING

from ...lazy import lazy_names

if TYPE_CHECKING:
    from .agreement import human_agreement, piece_figures
    from .alignment import Alignment, align_score_to_performance
    from .baselines import TrainingMeans, baseline_performers, pseudo_score, score_window_metrics
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
    from .pieces import PerformedPiece, performances_of
    from .play import UnsupportedScoreElement, play_score, predict_piece
    from .rule_performer import RulePerformer, export_rule_performances
    from .scored_match import ScoredMatch, read_scored_match
    from .sequences import PERFORMANCE_TARGETS, MatchSequences, PerformanceSequences
    from .task import ExpressivePerformance

_SOURCES = {
    **dict.fromkeys(['human_agreement', 'piece_figures'], '.agreement'),
    **dict.fromkeys(['Alignment', 'align_score_to_performance'], '.alignment'),
    **dict.fromkeys(['TrainingMeans', 'baseline_performers', 'pseudo_score', 'score_window_metrics'], '.baselines'),
    **dict.fromkeys(['PERFORMANCE_FEATURES', 'SCORE_FEATURES', 'EncodedPerformance', 'deadpan_targets', 'encode_performance', 'local_tempo',
                     'performance_to_midi', 'read_pedal', 'render_performance', 'score_features'], '.codec'),
    'draw_performance_curves': '.figures',
    'write_performances': '.listening',
    'PerformanceMetrics': '.models.common',
    'PerformanceHAN': '.models.han',
    'PerformanceLSTM': '.models.lstm',
    **dict.fromkeys(['PerformedPiece', 'performances_of'], '.pieces'),
    **dict.fromkeys(['RulePerformer', 'export_rule_performances'], '.rule_performer'),
    **dict.fromkeys(['ScoredMatch', 'read_scored_match'], '.scored_match'),
    **dict.fromkeys(['PERFORMANCE_TARGETS', 'MatchSequences', 'PerformanceSequences'], '.sequences'),
    **dict.fromkeys(['UnsupportedScoreElement', 'play_score', 'predict_piece'], '.play'),
    'ExpressivePerformance': '.task',
}

__all__ = ['Alignment', 'EncodedPerformance', 'ExpressivePerformance', 'MatchSequences', 'PERFORMANCE_FEATURES', 'PERFORMANCE_TARGETS',
           'PerformanceHAN', 'PerformanceLSTM', 'PerformanceMetrics', 'PerformanceSequences', 'PerformedPiece', 'RulePerformer',
           'SCORE_FEATURES', 'ScoredMatch', 'TrainingMeans', 'UnsupportedScoreElement', 'align_score_to_performance', 'baseline_performers',
           'deadpan_targets', 'draw_performance_curves', 'encode_performance', 'export_rule_performances', 'human_agreement',
           'local_tempo', 'performance_to_midi', 'performances_of', 'piece_figures', 'play_score', 'predict_piece', 'pseudo_score',
           'read_pedal', 'read_scored_match', 'render_performance', 'score_features', 'score_window_metrics', 'write_performances']


__getattr__, __dir__ = lazy_names(__name__, _SOURCES, __all__)
