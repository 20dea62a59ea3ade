"""Music generation (seed 002): a note model writes pieces, judged against its corpus and counting baselines.

    from etude.music.generation import Generation, NoteLSTM, SamplingSettings, sample_notes, MarkovNotes, judge_generated

- `model`: `NoteLSTM`, seed 002's LSTM over pitch, step and duration; `likelihood`: `NoteLikelihood`, which puts the
  network and the counting baselines in one unit (nats per note);
- `tiles`: pieces cut into training tiles; `sampling`: drawing pieces from a model; `baselines`: unigram and Markov;
- `measures` and `evaluation`: what a generated set is judged by; `figures`, `listening`;
- `task` (`Generation`), `routine` (`etude train music_generation`).

Names load on first use (PEP 562), so importing this package costs nothing; torch, scipy and matplotlib load where used.
"""

from typing import TYPE_CHECKING

from ...lazy import lazy_names

if TYPE_CHECKING:
    from .baselines import MarkovNotes, UnigramNotes, decode_tokens, encode_notes
    from .evaluation import excerpts, judge_generated
    from .figures import copied_runs_figure, piano_rolls
    from .likelihood import NoteLikelihood
    from .measures import histogram_divergences, histograms, jensen_shannon_bits, longest_copied_runs, memorisation, piece_features, relative_measures
    from .model import NoteLSTM
    from .sampling import SamplingSettings, filter_logits, sample_notes, sample_notes_naive
    from .task import Generation
    from .tiles import NoteTiles, tiles_from_windows

_SOURCES = {
    **dict.fromkeys(['MarkovNotes', 'UnigramNotes', 'decode_tokens', 'encode_notes'], '.baselines'),
    **dict.fromkeys(['excerpts', 'judge_generated'], '.evaluation'),
    **dict.fromkeys(['copied_runs_figure', 'piano_rolls'], '.figures'),
    'NoteLikelihood': '.likelihood',
    'NoteLSTM': '.model',
    'Generation': '.task',
    **dict.fromkeys(['histogram_divergences', 'histograms', 'jensen_shannon_bits', 'longest_copied_runs', 'memorisation', 'piece_features',
                     'relative_measures'], '.measures'),
    **dict.fromkeys(['SamplingSettings', 'filter_logits', 'sample_notes', 'sample_notes_naive'], '.sampling'),
    **dict.fromkeys(['NoteTiles', 'tiles_from_windows'], '.tiles'),
}

__all__ = ['Generation', 'MarkovNotes', 'NoteLSTM', 'NoteLikelihood', 'NoteTiles', 'SamplingSettings', 'UnigramNotes', 'copied_runs_figure',
           'decode_tokens', 'encode_notes', 'excerpts', 'filter_logits', 'histogram_divergences', 'histograms', 'jensen_shannon_bits',
           'judge_generated', 'longest_copied_runs', 'memorisation', 'piano_rolls', 'piece_features', 'relative_measures', 'sample_notes',
           'sample_notes_naive', 'tiles_from_windows']


__getattr__, __dir__ = lazy_names(__name__, _SOURCES, __all__)
