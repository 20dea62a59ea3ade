"""Note generation: sampling from a note model, counting baselines, tiles of pieces and the measures of a generated set.

    from etude.generation import SamplingSettings, sample_notes, MarkovNotes, UnigramNotes, judge_generated

The likelihood that puts a network and the baselines in one unit is `etude.models.note_likelihood`. Names load on
first use (PEP 562), so importing `etude.generation` costs nothing; torch, scipy and matplotlib load where used.
"""

from typing import TYPE_CHECKING

from ..lazy import lazy_names

if TYPE_CHECKING:
    from .baselines import MarkovNotes, UnigramNotes, decode_tokens, encode_notes
    from .evaluation import excerpts, judge_generated
    from .figures import copied_runs_figure, piano_rolls
    from .listening import write_listening_sets
    from .measures import histogram_divergences, histograms, jensen_shannon_bits, longest_copied_runs, memorisation, piece_features, relative_measures
    from .sampling import SamplingSettings, filter_logits, sample_notes, sample_notes_naive
    from .tiles import NoteTiles, tiles_from_windows

_SOURCES = {
    **dict.fromkeys(['MarkovNotes', 'UnigramNotes', 'decode_tokens', 'encode_notes'], '.baselines'),
    **dict.fromkeys(['excerpts', 'judge_generated'], '.evaluation'),
    **dict.fromkeys(['copied_runs_figure', 'piano_rolls'], '.figures'),
    'write_listening_sets': '.listening',
    **dict.fromkeys(['histogram_divergences', 'histograms', 'jensen_shannon_bits', 'longest_copied_runs', 'memorisation', 'piece_features',
                     'relative_measures'], '.measures'),
    **dict.fromkeys(['SamplingSettings', 'filter_logits', 'sample_notes', 'sample_notes_naive'], '.sampling'),
    **dict.fromkeys(['NoteTiles', 'tiles_from_windows'], '.tiles'),
}

__all__ = ['MarkovNotes', 'NoteTiles', 'SamplingSettings', 'UnigramNotes', 'copied_runs_figure', 'decode_tokens', 'encode_notes', 'excerpts',
           'filter_logits', 'histogram_divergences', 'histograms', 'jensen_shannon_bits', 'judge_generated', 'longest_copied_runs', 'memorisation',
           'piano_rolls', 'piece_features', 'relative_measures', 'sample_notes', 'sample_notes_naive', 'tiles_from_windows', 'write_listening_sets']


__getattr__, __dir__ = lazy_names(__name__, _SOURCES, __all__)
