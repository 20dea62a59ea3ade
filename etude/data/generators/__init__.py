"""Real local data for offline work and tests: spoken digits, Bach chorales, and audio rendered from MIDI.

Each generator writes files in the layout of a public dataset (FSDD, a MIDI corpus, MAESTRO-style audio/MIDI pairs)
so a routine's `--testing` run and the test suite read them with the same code as the real dataset, without a
download. They run real programs (espeak-ng, FluidSynth) and raise `MissingDependencyError` naming the Debian
package when one is missing. music21 and pretty_midi are imported only when a generator runs.
"""

from .chorales import chorale_names, export_chorales
from .fluidsynth_render import find_soundfont, render_midi, render_pairs
from .spoken_digits import (
    DEFAULT_VOICES,
    DIGIT_WORDS,
    FSDD_PATTERN,
    generate_spoken_digits,
    speaker_name,
    spoken_digit_folder,
)

__all__ = [
    'DEFAULT_VOICES',
    'DIGIT_WORDS',
    'FSDD_PATTERN',
    'chorale_names',
    'export_chorales',
    'find_soundfont',
    'generate_spoken_digits',
    'render_midi',
    'render_pairs',
    'speaker_name',
    'spoken_digit_folder',
]
