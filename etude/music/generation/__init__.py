"""Music generation: a model writes pieces, judged against its corpus and counting baselines.

    from etude.music.generation import MetricalGeneration, Representation, TokenLSTM, sample_tokens, metrical_figures
    from etude.music.generation import Generation, NoteLSTM, SamplingSettings, sample_notes, MarkovNotes, judge_generated

- the default: `tokens` (`Representation`, miditok's REMI with voice tokens), `token_data` (tiles of tokens),
  `token_model` (`TokenLSTM`), `fused` (`FusedLSTM`, one LSTM step into reused buffers), `token_sampling`,
  `token_baselines` (unigram and Markov chains over the same tokens), `metrical_measures` (issue 23's measures),
  `metrical_task` (`MetricalGeneration`);
- seed 002:
  `model`: `NoteLSTM`, seed 002's LSTM over pitch, step and duration; `likelihood`: `NoteLikelihood`, which puts the
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
    from .fused import FusedLSTM
    from .likelihood import NoteLikelihood, TokenLikelihood
    from .measures import histogram_divergences, histograms, jensen_shannon_bits, longest_copied_runs, memorisation, piece_features, relative_measures
    from .metrical_measures import metrical_figures, metrical_histograms
    from .metrical_task import MetricalGeneration
    from .model import NoteLSTM
    from .sampling import SamplingSettings, filter_logits, sample_notes, sample_notes_naive
    from .task import Generation
    from .tiles import NoteTiles, tiles_from_windows
    from .token_baselines import TokenNgram, fit_token_baselines
    from .token_data import TokenSequences, TokenTiles, token_tiles
    from .token_model import TokenLSTM
    from .token_sampling import sample_tokens, sample_tokens_naive
    from .tokens import Representation
    from .transformer import TokenTransformer

_SOURCES = {
    **dict.fromkeys(['MarkovNotes', 'UnigramNotes', 'decode_tokens', 'encode_notes'], '.baselines'),
    **dict.fromkeys(['excerpts', 'judge_generated'], '.evaluation'),
    **dict.fromkeys(['copied_runs_figure', 'piano_rolls'], '.figures'),
    'NoteLikelihood': '.likelihood',
    'TokenLikelihood': '.likelihood',
    'FusedLSTM': '.fused',
    **dict.fromkeys(['metrical_figures', 'metrical_histograms'], '.metrical_measures'),
    'MetricalGeneration': '.metrical_task',
    **dict.fromkeys(['TokenNgram', 'fit_token_baselines'], '.token_baselines'),
    **dict.fromkeys(['TokenSequences', 'TokenTiles', 'token_tiles'], '.token_data'),
    'TokenLSTM': '.token_model',
    **dict.fromkeys(['sample_tokens', 'sample_tokens_naive'], '.token_sampling'),
    'Representation': '.tokens',
    'TokenTransformer': '.transformer',
    'NoteLSTM': '.model',
    'Generation': '.task',
    **dict.fromkeys(['histogram_divergences', 'histograms', 'jensen_shannon_bits', 'longest_copied_runs', 'memorisation', 'piece_features',
                     'relative_measures'], '.measures'),
    **dict.fromkeys(['SamplingSettings', 'filter_logits', 'sample_notes', 'sample_notes_naive'], '.sampling'),
    **dict.fromkeys(['NoteTiles', 'tiles_from_windows'], '.tiles'),
}

__all__ = ['FusedLSTM', 'Generation', 'MetricalGeneration', 'Representation', 'TokenLSTM', 'TokenLikelihood', 'TokenNgram', 'TokenSequences',
           'TokenTiles', 'TokenTransformer', 'fit_token_baselines', 'metrical_figures', 'metrical_histograms', 'sample_tokens',
           'sample_tokens_naive', 'token_tiles',
           'MarkovNotes', 'NoteLSTM', 'NoteLikelihood', 'NoteTiles', 'SamplingSettings', 'UnigramNotes', 'copied_runs_figure',
           'decode_tokens', 'encode_notes', 'excerpts', 'filter_logits', 'histogram_divergences', 'histograms', 'jensen_shannon_bits',
           'judge_generated', 'longest_copied_runs', 'memorisation', 'piano_rolls', 'piece_features', 'relative_measures', 'sample_notes',
           'sample_notes_naive', 'tiles_from_windows']


__getattr__, __dir__ = lazy_names(__name__, _SOURCES, __all__)
