"""A score played by a performer: windows of score features through the model, rendered as notes, deadpan beside it.

    played = play_score(model, 'score.musicxml', task, device)   # {'notes', 'deadpan', 'score', 'predicted', 'warnings', ...}

Repeats are played as written out, every part is played, pickups keep their place; grace notes are played just before
their beat (short, at their note's loudness), and an element the performer cannot play as marked (a trill, a tremolo,
an arpeggio sign) is played as plain notes with a warning naming it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...errors import DataFileError

if TYPE_CHECKING:
    import numpy as np
    import torch

    from .protocol import ScorePerformer
    from .task import ExpressivePerformance

__all__ = ['GRACE_SECONDS', 'UnsupportedScoreElement', 'play_score', 'predict_piece']

# music21 expression and articulation classes this performer plays as plain notes
_UNPLAYED = ('Trill', 'Mordent', 'InvertedMordent', 'Turn', 'InvertedTurn', 'Tremolo', 'TremoloSpanner', 'ArpeggioMark', 'ArpeggioMarkSpanner',
             'Glissando', 'Schleifer', 'Shake')
GRACE_SECONDS = 0.06  # a grace note is played this long, just before its beat


class UnsupportedScoreElement(UserWarning):
    """A score holds something the performer plays without its meaning (an ornament, a tremolo): the message names it."""


def predict_piece(model: ScorePerformer, features: np.ndarray, sequence_length: int, device: torch.device) -> np.ndarray:
    """`(n, 5)` performance features of a whole piece from `(n, 17)` score features: windows of `sequence_length`
    notes every half window (and one ending on the last note), predictions averaged where windows overlap."""
    import numpy as np
    import torch

    count = len(features)
    hop = max(sequence_length // 2, 1)
    starts = list(range(0, max(count - sequence_length, 0) + 1, hop))
    if count > sequence_length and starts[-1] + sequence_length < count:
        starts.append(count - sequence_length)
    windows = np.zeros((len(starts), sequence_length, features.shape[1]), dtype=np.float32)
    for row, start in enumerate(starts):
        part = features[start:start + sequence_length]
        windows[row, :len(part)] = part
    model.eval()
    with torch.no_grad():
        predicted = model.perform(torch.from_numpy(windows).to(device)).double().cpu().numpy()
    sums, counts = np.zeros((count, predicted.shape[-1])), np.zeros((count, 1))
    for row, start in enumerate(starts):
        stop = min(start + sequence_length, count)
        sums[start:stop] += predicted[row, :stop - start]
        counts[start:stop] += 1
    return sums / counts


def _unplayed_elements(parsed: Any) -> list[str]:
    found = set()
    for element in parsed.recurse():
        for mark in [*getattr(element, 'expressions', ()), *getattr(element, 'articulations', ())]:
            if type(mark).__name__ in _UNPLAYED:
                found.add(type(mark).__name__)
        if type(element).__name__ in _UNPLAYED:
            found.add(type(element).__name__)
    return sorted(found)


def play_score(model: ScorePerformer, path: str | Path, task: ExpressivePerformance, device: torch.device) -> dict[str, Any]:
    """The model's performance and the deadpan one of a score file: {'score', 'notes', 'pedal', 'deadpan', 'predicted',
    'warnings'} (note arrays in score order, grace notes appended at the end; `pedal` the sustain pedal's `(k, 2)`
    events `(seconds, value)` that the model's per-note pedal plays as, `codec.sustain_pedal_events`). The deadpan
    plays at the score's tempo marks (the task's `deadpan_beat_seconds` where there are none), one velocity, no pedal.

    Raises:
        DataFileError: the file is not a readable score.
    """
    import numpy as np

    from ...data.score import _parse, read_score
    from .codec import deadpan_targets, render_performance, score_features

    parsed = _parse(Path(path))
    notices = [f'{path}: {name} is played as plain notes (etude does not perform it)' for name in _unplayed_elements(parsed)]
    if task.expand_repeats:
        try:
            parsed = parsed.expandRepeats()
        except Exception as error:  # music21's RepeatExpander raises its own and generic errors on ill-formed repeats
            notices.append(f'{path}: its repeats cannot be written out ({type(error).__name__}), so they are played once')
    score_all = read_score(parsed, include_grace=True)
    grace = score_all['duration_beats'] <= 0
    score = score_all[~grace]
    if not len(score):
        raise DataFileError(f'{path}: the score has only grace notes')
    predicted = predict_piece(model, score_features(score), task.sequence_length, device)
    from .models.common import PREDICTED

    notes, pedal = render_performance(score, {name: predicted[:, index].astype(np.float32) for index, name in enumerate(PREDICTED)},
                                      start_seconds=task.start_seconds)
    deadpan, _ = render_performance(score, deadpan_targets(score, velocity=task.deadpan_velocity, beat_seconds=task.deadpan_beat_seconds),
                                    start_seconds=task.start_seconds)
    if grace.any():  # just before the first score note at or after each grace note's onset, as loud as it
        notes, deadpan = (_with_grace(rendered, score, score_all[grace]) for rendered in (notes, deadpan))
    return {'score': score, 'notes': notes, 'pedal': pedal, 'deadpan': deadpan, 'predicted': predicted, 'warnings': notices,
            'grace_notes': int(grace.sum())}


def _with_grace(rendered: np.ndarray, score: np.ndarray, grace: np.ndarray) -> np.ndarray:
    import numpy as np

    following = np.clip(np.searchsorted(score['onset_beats'], grace['onset_beats'] - 1e-9), 0, len(score) - 1)
    added = np.zeros(len(grace), dtype=rendered.dtype)
    added['pitch'] = grace['pitch']
    added['start'] = np.maximum(rendered['start'][following] - GRACE_SECONDS, 0.0)
    added['duration'] = GRACE_SECONDS
    added['end'] = added['start'] + GRACE_SECONDS
    added['velocity'] = rendered['velocity'][following]
    return np.concatenate([rendered, added])
