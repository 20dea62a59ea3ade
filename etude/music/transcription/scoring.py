"""Note and frame scores of a transcription with mir_eval, the field's own implementation, per piece and averaged.

- `onset`: a note matches a reference note of the same pitch whose onset is within 50 ms;
- `onset_offset`: also the offset within 20 % of the reference note's duration or 50 ms, whichever is more;
- `onset_offset_velocity`: also the velocity (mir_eval's rescaled velocity within 0.1);
- `frame`: per 10 ms frame, the keys sounding (the notes drawn as a piano roll), mir_eval.multipitch.

Each piece is scored against its ground truth under both offset conventions (`offsets.py`): `key`, the notes ending
at the keys' releases as written, and `pedal`, extended by the sustain pedal (Onsets and Frames' and Kong et al.'s
published figures use it). Onsets do not depend on the convention, so the onset figures have one name
(`onset_precision`, `onset_recall`, `onset_f1`); every figure that looks at offsets or frames carries its convention
after its kind: `onset_offset_key_f1`, `onset_offset_pedal_f1`, `onset_offset_velocity_key_f1`, `frame_pedal_f1`, ...
(`figure_name`). Where a piece holds no pedal (every chorale render) the two truths are one and so are their figures.
`note_scores` and `frame_scores` score against one truth and name the figures without a convention.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from .offsets import OFFSET_CONVENTIONS, OffsetConvention

__all__ = ['FIGURES', 'MEASURES', 'NOTE_KINDS', 'OFFSET_KINDS', 'average_scores', 'figure_name', 'frame_scores', 'named_by_convention', 'note_scores',
           'score_piece', 'truths_by_convention']

OFFSET_KINDS = ('onset_offset', 'onset_offset_velocity', 'frame')
"""The kinds of figure that look at offsets or frames, so are computed under each convention."""
MEASURES = ('precision', 'recall', 'f1')
NOTE_KINDS = ('onset', 'onset_offset', 'onset_offset_velocity')


def figure_name(kind: str, measure: str, convention: OffsetConvention | None = None) -> str:
    """`onset_f1`; `onset_offset_pedal_f1`: the kind, the convention for the kinds in `OFFSET_KINDS`, the measure."""
    if kind in OFFSET_KINDS:
        if convention is None:
            raise ValueError(f'{kind} figures are named with their offset convention')
        return f'{kind}_{convention}_{measure}'
    return f'{kind}_{measure}'


FIGURES = (*(figure_name('onset', measure) for measure in MEASURES),
           *(figure_name(kind, measure, convention) for kind in OFFSET_KINDS for convention in OFFSET_CONVENTIONS for measure in MEASURES))
"""Every figure `score_piece` gives, as `summary.json` names it."""


def _intervals_pitches(notes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    intervals = np.stack([notes['start'], np.maximum(notes['end'], notes['start'] + 1e-3)], axis=1).reshape(-1, 2).astype(np.float64)
    return intervals, 440.0 * 2.0 ** ((notes['pitch'].astype(np.float64) - 69) / 12)


def note_scores(reference: np.ndarray, estimate: np.ndarray) -> dict[str, float]:
    """Onset, onset+offset and onset+offset+velocity precision / recall / F1 of two note arrays (`NOTE_DTYPE`)."""
    import mir_eval

    if len(reference) == 0 or len(estimate) == 0:
        empty = 1.0 if len(reference) == len(estimate) else 0.0
        return {f'{kind}_{measure}': empty for kind in NOTE_KINDS for measure in MEASURES}
    reference_intervals, reference_pitches = _intervals_pitches(reference)
    estimate_intervals, estimate_pitches = _intervals_pitches(estimate)
    figures: dict[str, float] = {}
    for kind, offset_ratio in (('onset', None), ('onset_offset', 0.2)):
        precision, recall, f1, _ = mir_eval.transcription.precision_recall_f1_overlap(
            reference_intervals, reference_pitches, estimate_intervals, estimate_pitches, onset_tolerance=0.05, offset_ratio=offset_ratio,
            offset_min_tolerance=0.05)
        figures.update({f'{kind}_precision': precision, f'{kind}_recall': recall, f'{kind}_f1': f1})
    precision, recall, f1, _ = mir_eval.transcription_velocity.precision_recall_f1_overlap(
        reference_intervals, reference_pitches, reference['velocity'].astype(np.float64), estimate_intervals, estimate_pitches,
        estimate['velocity'].astype(np.float64), onset_tolerance=0.05, offset_ratio=0.2, offset_min_tolerance=0.05, velocity_tolerance=0.1)
    figures.update({'onset_offset_velocity_precision': precision, 'onset_offset_velocity_recall': recall, 'onset_offset_velocity_f1': f1})
    return {key: float(value) for key, value in figures.items()}


def _roll(notes: np.ndarray, num_frames: int, frames_per_second: float) -> np.ndarray:
    """`(num_frames, 128)` bool: a note from s to e sounds in frames [round(s fps), max(round(e fps), that + 1))."""
    roll = np.zeros((num_frames, 128), dtype=bool)
    begins = np.rint(notes['start'] * frames_per_second).astype(np.int64)
    ends = np.maximum(np.rint(notes['end'] * frames_per_second).astype(np.int64), begins + 1)
    for pitch, begin, end in zip(notes['pitch'].tolist(), begins.tolist(), ends.tolist(), strict=True):
        roll[max(begin, 0):max(end, 0), pitch] = True
    return roll


def frame_scores(reference: np.ndarray, estimate: np.ndarray, frames_per_second: float = 100.0) -> dict[str, float]:
    """Frame-level precision / recall / F1 (mir_eval.multipitch) of the two transcriptions drawn as piano rolls."""
    import mir_eval

    ends = [notes['end'].max() for notes in (reference, estimate) if len(notes)]
    num_frames = int(np.ceil(max(ends, default=0.0) * frames_per_second)) + 1
    times = np.arange(num_frames) / frames_per_second
    rolls = [_roll(notes, num_frames, frames_per_second) for notes in (reference, estimate)]
    if not rolls[0].any() or not rolls[1].any():
        empty = 1.0 if rolls[0].any() == rolls[1].any() else 0.0
        return {'frame_precision': empty, 'frame_recall': empty, 'frame_f1': empty}
    frequencies = 440.0 * 2.0 ** ((np.arange(128) - 69) / 12)
    reference_frequencies, estimate_frequencies = ([frequencies[np.flatnonzero(row)] for row in roll] for roll in rolls)
    scores = mir_eval.multipitch.evaluate(times, reference_frequencies, times, estimate_frequencies)
    precision, recall = float(scores['Precision']), float(scores['Recall'])
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {'frame_precision': precision, 'frame_recall': recall, 'frame_f1': f1}


def truths_by_convention(reference: np.ndarray | Mapping[OffsetConvention, np.ndarray]) -> dict[OffsetConvention, np.ndarray]:
    """convention → ground-truth notes: a mapping as given (`Recording.truths`), or one note array, which is then the
    truth under both (notes without pedal)."""
    if isinstance(reference, np.ndarray):
        return dict.fromkeys(OFFSET_CONVENTIONS, reference)
    return {convention: reference[convention] for convention in OFFSET_CONVENTIONS}


def named_by_convention(figures: Mapping[OffsetConvention, Mapping[str, float]]) -> dict[str, float]:
    """`FIGURES` from each convention's unnamed figures (`note_scores` and `frame_scores` against that truth): the
    onset figures from `key`'s (onsets are the same under both), the others under each convention's name."""
    named = {figure_name('onset', measure): figures['key'][f'onset_{measure}'] for measure in MEASURES}
    for convention in OFFSET_CONVENTIONS:
        named.update({figure_name(kind, measure, convention): figures[convention][f'{kind}_{measure}'] for kind in OFFSET_KINDS for measure in MEASURES})
    return named


def score_piece(reference: np.ndarray | Mapping[OffsetConvention, np.ndarray], estimate: np.ndarray, frames_per_second: float = 100.0) -> dict[str, float]:
    """Every figure of `FIGURES` for one piece: its estimated notes against the truth under each offset convention.

    Args:
        reference: convention → notes (`Recording.truths`), or one note array for a piece without pedal.
        estimate: the transcribed notes.
    """
    truths = truths_by_convention(reference)
    figures: dict[OffsetConvention, dict[str, float]] = {}
    for convention, truth in truths.items():
        same = next((figures[done] for done in figures if truths[done] is truth or np.array_equal(truths[done], truth)), None)
        figures[convention] = same if same is not None else {**note_scores(truth, estimate), **frame_scores(truth, estimate, frames_per_second)}
    return named_by_convention(figures)


def average_scores(pieces: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """The mean of each figure over pieces (each piece counts once, as in the MAESTRO papers)."""
    if not pieces:
        return {figure: float('nan') for figure in FIGURES}
    return {figure: float(np.mean([piece[figure] for piece in pieces])) for figure in FIGURES}
