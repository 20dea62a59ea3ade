"""Piano transcription (seed 001): audio of any length to MIDI notes (onsets, offsets, velocities), after Kong et al. (2021).

The parts are plain functions and small classes, each in its own module, so the routine, `etude infer` and the
benchmarks share them:

- `data`: rendered Bach chorales (FluidSynth) and MAESTRO as recordings with note lists, cut into segments whose
  piano-roll targets are computed on the fly from the notes;
- `offsets`: note offsets as written (key releases) and extended by the sustain pedal, the two conventions the
  targets may follow and the scores report;
- `decoding`: frame outputs to notes (onset peak picking with Kong's regression refinement), and whole files
  transcribed in overlapping segments stitched without duplicated notes;
- `scoring`: note and frame precision / recall / F1 with mir_eval, per piece and averaged;
- `baseline`: a transcriber that learns nothing (spectral flux onsets, pitches from spectral peaks);
- `peer`: basic-pitch, Spotify's transcriber, run from its shipped ONNX model as a peer scored by the same calls;
- `model`: `PianoTranscriber`; `task`: `Transcription`; `routine`: `etude train piano_transcription`.

Nothing heavy is imported here; each module imports torch or mir_eval itself.
"""

from typing import TYPE_CHECKING

from ...lazy import lazy_names

if TYPE_CHECKING:
    from .baseline import transcribe_baseline
    from .data import Recording, SegmentDataset, clean_notes, maestro_recordings, rendered_chorales, segment_starts
    from .decoding import NoteStream, decode_notes, planned_starts
    from .many_pianos import PieceSources, rendered_pieces
    from .metrics import NoteMetrics
    from .model import PianoTranscriber
    from .offsets import OFFSET_CONVENTIONS, OffsetConvention, extend_by_pedal
    from .peer import BASIC_PITCH, basic_pitch_available, basic_pitch_notes
    from .pieces import GROUPS, HELD_OUT_PIANO, HELD_OUT_PIANO_PERFORMANCES, OTHER_SOUNDFONT, PREFIXES, TEST_PERFORMANCES
    from .scoring import average_scores, note_scores, score_piece
    from .settings import DecodingSettings, FrontEnd
    from .streaming import transcribe
    from .task import Transcription

_SOURCES = {
    'transcribe_baseline': '.baseline',
    **dict.fromkeys(['Recording', 'SegmentDataset', 'clean_notes', 'maestro_recordings', 'rendered_chorales', 'segment_starts'], '.data'),
    **dict.fromkeys(['NoteStream', 'decode_notes', 'planned_starts'], '.decoding'),
    **dict.fromkeys(['PieceSources', 'rendered_pieces'], '.many_pianos'),
    'NoteMetrics': '.metrics',
    'PianoTranscriber': '.model',
    **dict.fromkeys(['BASIC_PITCH', 'basic_pitch_available', 'basic_pitch_notes'], '.peer'),
    **dict.fromkeys(['OFFSET_CONVENTIONS', 'OffsetConvention', 'extend_by_pedal'], '.offsets'),
    **dict.fromkeys(['GROUPS', 'HELD_OUT_PIANO', 'HELD_OUT_PIANO_PERFORMANCES', 'OTHER_SOUNDFONT', 'PREFIXES', 'TEST_PERFORMANCES'], '.pieces'),
    'Transcription': '.task',
    **dict.fromkeys(['average_scores', 'note_scores', 'score_piece'], '.scoring'),
    **dict.fromkeys(['DecodingSettings', 'FrontEnd'], '.settings'),
    'transcribe': '.streaming',
}

__all__ = ['BASIC_PITCH', 'GROUPS', 'HELD_OUT_PIANO', 'HELD_OUT_PIANO_PERFORMANCES', 'OFFSET_CONVENTIONS', 'OTHER_SOUNDFONT', 'PREFIXES',
           'TEST_PERFORMANCES', 'DecodingSettings', 'FrontEnd', 'NoteMetrics', 'NoteStream', 'OffsetConvention', 'PianoTranscriber', 'PieceSources',
           'Recording', 'SegmentDataset', 'Transcription', 'average_scores', 'basic_pitch_available', 'basic_pitch_notes', 'clean_notes',
           'decode_notes', 'extend_by_pedal', 'maestro_recordings', 'note_scores', 'planned_starts', 'rendered_chorales', 'rendered_pieces',
           'score_piece', 'segment_starts', 'transcribe', 'transcribe_baseline']


__getattr__, __dir__ = lazy_names(__name__, _SOURCES, __all__)
