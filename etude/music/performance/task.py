"""Expressive performance: a score (MusicXML) → a MIDI performance of it, as a model plays it.

    routine.set_task(ExpressivePerformance(sequence_length=64, deadpan_velocity=0.55, deadpan_beat_seconds=0.62))
    etude infer runs/<id>/checkpoints/best.pt score.musicxml --output played/ [--render]

For each score, `etude infer` writes `<stem>.mid` (the model's performance), `<stem>.deadpan.mid` (the same score at
one tempo and one loudness, for comparison) and, with `--render`, both as FluidSynth WAVs. Repeats are played as
written out, every part is played, pickups keep their place; grace notes are played just before their beat (short,
at their note's loudness), and an element the performer cannot play as marked (a trill, a tremolo, an arpeggio
sign) is played as plain notes with a warning naming it. A file that is not a readable score is one line, and the
other files are still played.

Evaluation recomputes the per-feature correlation and MAE on a split with the deadpan and marks-only rule baselines
beside them (`etude.music.performance.baselines`), and draws tempo curves and velocity contours of a few pieces.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from ...errors import ConfigError, DataFileError
from ...tasks.base import Evaluation, EvaluationContext, InferenceContext, InferenceOption, InputKind, Outcome, Task

if TYPE_CHECKING:
    import numpy as np
    import torch

    from ...model import Model

__all__ = ['ExpressivePerformance', 'UnsupportedScoreElement', 'play_score', 'predict_piece']

# music21 expression and articulation classes this performer plays as plain notes
_UNPLAYED = ('Trill', 'Mordent', 'InvertedMordent', 'Turn', 'InvertedTurn', 'Tremolo', 'TremoloSpanner', 'ArpeggioMark', 'ArpeggioMarkSpanner',
             'Glissando', 'Schleifer', 'Shake')
GRACE_SECONDS = 0.06  # a grace note is played this long, just before its beat


class UnsupportedScoreElement(UserWarning):
    """A score holds something the performer plays without its meaning (an ornament, a tremolo): the message names it."""


def predict_piece(model: Model, features: np.ndarray, sequence_length: int, device: torch.device) -> np.ndarray:
    """`(n, 4)` performance features of a whole piece from `(n, 15)` score features: windows of `sequence_length`
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
        predicted = model(torch.from_numpy(windows).to(device)).double().cpu().numpy()
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


def play_score(model: Model, path: str | Path, task: ExpressivePerformance, device: torch.device) -> dict[str, Any]:
    """The model's performance and the deadpan one of a score file: {'score', 'notes', 'deadpan', 'predicted',
    'warnings'} (note arrays in score order, grace notes appended at the end).

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
    names = ('velocity', 'onset_deviation', 'log_duration_ratio', 'beat_seconds')
    notes, _ = render_performance(score, {name: predicted[:, index].astype(np.float32) for index, name in enumerate(names)},
                                  start_seconds=task.start_seconds)
    deadpan, _ = render_performance(score, deadpan_targets(score, velocity=task.deadpan_velocity, beat_seconds=task.deadpan_beat_seconds),
                                    start_seconds=task.start_seconds)
    if grace.any():  # just before the first score note at or after each grace note's onset, as loud as it
        notes, deadpan = (_with_grace(rendered, score, score_all[grace]) for rendered in (notes, deadpan))
    return {'score': score, 'notes': notes, 'deadpan': deadpan, 'predicted': predicted, 'warnings': notices, 'grace_notes': int(grace.sum())}


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


def _render_switch(text: str) -> bool:
    return str(text).lower() not in ('', '0', 'false', 'no')


@dataclass(kw_only=True)
class ExpressivePerformance(Task):
    """sequence_length: notes per window the model was trained on; deadpan_velocity (0-1) and deadpan_beat_seconds:
    the training data's means, which the deadpan rendering plays at; start_seconds: silence before the first beat."""

    kind: ClassVar[str] = 'expressive_performance'
    inputs: ClassVar[InputKind] = InputKind('MusicXML scores', extensions=('.musicxml', '.xml', '.mxl'))
    writes_files: ClassVar[bool] = True
    options: ClassVar[tuple[InferenceOption, ...]] = (
        InferenceOption('--render', help='also render each MIDI file to a WAV with FluidSynth', is_switch=True, default=False),
    )

    sequence_length: int = 64
    deadpan_velocity: float = 0.55
    deadpan_beat_seconds: float = 0.6
    start_seconds: float = 0.5
    expand_repeats: bool = True
    pair_by: str = 'stem'

    def check(self) -> None:
        if self.sequence_length < 1:
            raise ConfigError(f'sequence_length must be a positive number of notes, got {self.sequence_length}')
        if not 0 < self.deadpan_velocity <= 1 or not self.deadpan_beat_seconds > 0:
            raise ConfigError('deadpan_velocity must be in (0, 1] and deadpan_beat_seconds positive')

    def infer(self, model: Model, sources: Sequence[str], context: InferenceContext) -> Iterator[Outcome]:
        import numpy as np

        for source in sources:
            try:
                played = play_score(model, source, self, context.device)
            except DataFileError as error:
                yield Outcome(source=source, error=str(error))
                continue
            for notice in played['warnings']:
                warnings.warn(notice, UnsupportedScoreElement, stacklevel=2)
            notes = played['notes']
            result = {'notes': int(len(notes)), 'grace_notes': played['grace_notes'], 'seconds': round(float(notes['end'].max()), 3),
                      'mean_velocity': round(float(notes['velocity'].mean()), 1),
                      'mean_tempo_qpm': round(float(60.0 / np.mean(played['predicted'][:, 3])), 1), 'warnings': played['warnings']}
            yield Outcome(source=source, result=result, artefacts={'notes': notes, 'deadpan': played['deadpan']})

    def write(self, outcome: Outcome, folder: Path, context: InferenceContext) -> list[Path]:
        from .codec import performance_to_midi

        written = []
        for suffix, key in (('', 'notes'), ('.deadpan', 'deadpan')):
            path = folder / f'{outcome.stem}{suffix}.mid'
            performance_to_midi(outcome.artefacts[key], path)
            written.append(path)
        if _render_switch(context.options.get('render', False)):
            from ...data.generators.fluidsynth_render import render_midi

            written += [render_midi(path, path.with_suffix('.wav'), sample_rate=44_100, piano_only=True) for path in list(written)]
        return written

    def planned_files(self, sources: Sequence[str], folder: Path, options: Mapping[str, Any]) -> list[tuple[str, list[Path]]]:
        extensions = ('.mid', '.wav') if _render_switch(options.get('render', False)) else ('.mid',)
        return [(source, [folder / f'{Path(source).stem}{suffix}{extension}' for extension in extensions for suffix in ('', '.deadpan')])
                for source in sources]

    def columns(self) -> list[tuple[str, str]]:
        return [('notes', 'notes'), ('seconds', 'seconds'), ('mean_velocity', 'mean velocity'), ('mean_tempo_qpm', 'tempo (qpm)')]

    def evaluate(self, context: EvaluationContext) -> Evaluation:
        import numpy as np

        from . import baselines_mean, deadpan_predictions, rule_predictions, score_path_for, score_window_metrics
        from .models.common import PerformanceMetrics

        stored = context.stored_dataset()
        indices = np.asarray(context.indices[context.split])
        figures, kept, _ = context.evaluation_pass(context.torch_dataset(), indices, [PerformanceMetrics()], keep=True)
        names = ('velocity', 'onset_deviation', 'log_duration_ratio', 'beat_seconds', 'matched', 'note_mask')
        labels = {name: np.asarray(stored.labels[name])[indices] for name in names}
        train = {name: np.asarray(stored.labels[name])[np.asarray(context.indices['train'])] for name in names}
        files = [stored.metadata['files'][index] for index in indices]
        starts = [stored.metadata['window_starts'][index] for index in indices]
        raw_root = Path(stored.metadata['raw_root'])
        baselines = {'deadpan': score_window_metrics(deadpan_predictions(train, labels['velocity'].shape), labels)}
        try:
            from ...data.score import read_score

            rule = rule_predictions(files, starts, labels['velocity'].shape[1],
                                    lambda file: read_score(score_path_for(raw_root, file, self.pair_by), expand_repeats=self.expand_repeats),
                                    beat_seconds=float(baselines_mean(train)))
            baselines['rule'] = score_window_metrics(rule, labels)
        except DataFileError as error:
            warnings.warn(f'the rule baseline is left out: {error}', stacklevel=2)
        predictions = [np.asarray(batch[0]) for batch in kept]
        predicted = np.concatenate(predictions) if predictions else np.zeros((0, 1, 4))
        rows = [{'file': file, 'window_start': int(start), 'matched_notes': int(labels['matched'][row].sum())}
                for row, (file, start) in enumerate(zip(files, starts, strict=True))]
        return Evaluation(split=context.split, metrics=figures, baselines=baselines, predictions=rows,
                          details={'predicted': predicted, 'labels': labels, 'files': files, 'indices': indices, 'stored': stored},
                          notes=['MAE units: velocity in MIDI steps, timing and tempo in ms, articulation in log2 duration ratio; '
                                 'a constant prediction has correlation 0.'])

    def figures(self, evaluation: Evaluation, folder: Path) -> dict[str, Path]:
        import numpy as np

        from . import draw_performance_curves

        details = evaluation.details
        predicted, labels, files = details['predicted'], details['labels'], details['files']
        if not len(predicted):
            return {}
        pieces: list[dict[str, Any]] = []
        seen: set[str] = set()
        for row, file in enumerate(files):
            if file in seen or len(pieces) == 3:
                continue
            seen.add(file)
            real = labels['note_mask'][row] == 1
            onsets = np.cumsum(np.asarray(details['stored'].inputs[int(details['indices'][row])])[:, 2])[real]
            target = np.stack([labels[name][row] for name in ('velocity', 'onset_deviation', 'log_duration_ratio', 'beat_seconds')], axis=1)[real]
            pieces.append({'name': Path(file).stem, 'onsets': onsets, 'predicted': predicted[row][real], 'target': target,
                           'matched': labels['matched'][row][real]})
        return {'tempo curves and velocity contours, model against performance': draw_performance_curves(pieces, folder / 'performance_curves.png')}
