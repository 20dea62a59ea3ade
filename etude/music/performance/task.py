"""Expressive performance: a score (MusicXML) → a MIDI performance of it, as a model plays it.

    routine.set_task(ExpressivePerformance(sequence_length=64, deadpan_velocity=0.55, deadpan_beat_seconds=0.62))
    etude infer runs/<id>/checkpoints/best.pt score.musicxml --output played/ [--render]

For each score, `etude infer` writes `<stem>.mid` (the model's performance), `<stem>.deadpan.mid` (the same score at
one tempo and one loudness, for comparison) and, with `--render`, both as FluidSynth WAVs. Repeats are played as
written out, every part is played, pickups keep their place; grace notes are played just before their beat (short,
at their note's loudness), and an element the performer cannot play as marked (a trill, a tremolo, an arpeggio
sign) is played as plain notes with a warning naming it. A file that is not a readable score is one line, and the
other files are still played.

Training and evaluation judge each feature (velocity, timing, articulation, tempo, pedal) by its correlation and MAE
on matched notes over the split's windows (`PerformanceMetrics`); at the end of the test split, the model plays every
held-out performance's score whole and is judged against each performance, averaged per piece (`agreement.py`). The
baselines (deadpan, the marks-only rule performer, the training pianists' mean: `baselines.py`) are judged both ways,
fitted once on the train split, and the pianists' agreement with each other is the reference. `etude evaluate` draws
tempo curves and velocity contours of a few pieces, and `etude listen from-run` builds a test of held-out pieces as
the model and deadpan play them beside a pianist's performance (`listening.py`).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, cast

from ...errors import ConfigError, DataFileError
from ...tasks.base import Evaluation, InferenceContext, InferenceOption, InputKind, ListeningSet, Outcome, Task
from .play import UnsupportedScoreElement, play_score
from .protocol import ScorePerformer

if TYPE_CHECKING:
    import torch

    from ...metrics import Metric
    from ...model import Model
    from ...tasks.context import EvaluationContext
    from ...tasks.testing import TaskExample
    from ...training.routine_data import SplitView

__all__ = ['ExpressivePerformance']

LABELS = ('velocity', 'onset_deviation', 'log_duration_ratio', 'beat_seconds', 'sustain', 'matched', 'note_mask')  # what the metrics read


def _render_switch(text: str) -> bool:
    return str(text).lower() not in ('', '0', 'false', 'no')


@dataclass(kw_only=True)
class ExpressivePerformance(Task):
    """sequence_length: notes per window the model was trained on; deadpan_velocity (0-1) and deadpan_beat_seconds:
    the training data's means, which the deadpan rendering plays at; start_seconds: silence before the first beat."""

    kind: ClassVar[str] = 'expressive_performance'
    model_protocol: ClassVar[type | None] = ScorePerformer
    listening_reference: ClassVar[str | None] = 'performance'
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
                played = play_score(cast(ScorePerformer, model), source, self, context.device)
            except DataFileError as error:
                yield Outcome(source=source, error=str(error))
                continue
            for notice in played['warnings']:
                warnings.warn(notice, UnsupportedScoreElement, stacklevel=2)
            notes = played['notes']
            result = {'notes': int(len(notes)), 'grace_notes': played['grace_notes'], 'seconds': round(float(notes['end'].max()), 3),
                      'mean_velocity': round(float(notes['velocity'].mean()), 1),
                      'mean_tempo_qpm': round(float(60.0 / np.mean(played['predicted'][:, 3])), 1), 'warnings': played['warnings']}
            yield Outcome(source=source, result=result, artefacts={'notes': notes, 'pedal': played['pedal'], 'deadpan': played['deadpan']})

    def write(self, outcome: Outcome, folder: Path, context: InferenceContext) -> list[Path]:
        from .codec import performance_to_midi

        written = []
        for suffix, key in (('', 'notes'), ('.deadpan', 'deadpan')):
            path = folder / f'{outcome.stem}{suffix}.mid'
            performance_to_midi(outcome.artefacts[key], path, pedal=outcome.artefacts.get('pedal') if key == 'notes' else None)
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

    @classmethod
    def example(cls, folder: Path) -> TaskExample:
        """A tiny run of this kind, for `etude.tasks.testing.check_task` (see `example.py`)."""
        from .example import performance_example

        return performance_example(folder, cls)

    # -- training and evaluation ------------------------------------------------------------------------------

    keeps_outputs: ClassVar[bool] = True

    def metrics(self, model: Model) -> list[Metric]:
        """Per feature (velocity, timing, articulation, tempo, pedal): Pearson r and MAE over the split's windows'
        notes, pooled (what training monitors)."""
        from .models.common import PerformanceMetrics

        return [PerformanceMetrics()]

    def baselines(self, data: SplitView, split: str) -> dict[str, dict[str, float]]:
        """Deadpan, the marks-only rule performer and the training pianists' mean (`baselines.py`), fitted on the train
        split, each judged as the model is: over `split`'s windows and against every performance piece by piece
        (`piece_*` figures; `agreed_piece_*` on the pieces `human` is measured on); and `human`, each pianist against
        the others of the same score (`agreement.py`)."""
        import numpy as np

        from .agreement import human_agreement, judged
        from .baselines import TrainingMeans, baseline_performers, score_window_metrics
        from .codec import SCORE_FEATURES
        from .pieces import performances_of, windows_of

        stored = data.stored()
        train_rows = np.asarray(data.indices['train'])
        tempo = np.asarray(stored.inputs[train_rows][..., SCORE_FEATURES.index('tempo_qpm')]) if len(train_rows) else np.zeros((0, 1))
        means = TrainingMeans({name: data.labels(name, 'train') for name in LABELS}, tempo)
        rows = np.asarray(data.indices[split])
        performances = performances_of(stored, rows)
        files = [stored.metadata['files'][row] for row in rows]
        starts = [stored.metadata['window_starts'][row] for row in rows]
        labels = {name: data.labels(name, split) for name in LABELS}
        result: dict[str, dict[str, float]] = {}
        for name, perform in baseline_performers(means).items():
            whole = {performance.file: perform(performance) for performance in performances}
            result[name] = {**score_window_metrics(windows_of(whole, files, starts, self.sequence_length), labels),
                            **judged(performances, whole)}
        agreement = human_agreement(performances)
        if agreement:
            result['human'] = agreement
        return result

    def on_split_end(self, model: Model, split: str, data: SplitView, metrics: Sequence[Metric], device: torch.device) -> dict[str, float]:
        """On the test split, the model judged against every held-out performance, piece by piece (`piece_*` figures,
        as `agreement.piece_figures` computes them): each performance's score played whole, as `etude infer` plays a
        score (overlapping windows, `play.predict_piece`); `agreed_piece_*` on the pieces the pianists' agreement is measured
        on. The validation passes skip it (early stopping needs only
        the windows' figures)."""
        if split != 'test':
            return {}
        from .agreement import judged
        from .pieces import performances_of
        from .play import predict_piece

        performances = performances_of(data.stored(), data.indices[split])
        performer = cast(ScorePerformer, model)
        predictions = {performance.file: predict_piece(performer, performance.features, self.sequence_length, device)
                       for performance in performances}
        return judged(performances, predictions)

    def describe(self, evaluation: Evaluation, context: EvaluationContext, data: SplitView, kept: list[Any], metrics: Sequence[Metric]) -> None:
        """One row per window (its file, start and matched notes) and what the tempo and velocity figures draw."""
        import numpy as np

        stored = data.stored()
        indices = np.asarray(data.indices[evaluation.split])
        labels = {name: data.labels(name, evaluation.split) for name in LABELS}
        files = [stored.metadata['files'][index] for index in indices]
        starts = [stored.metadata['window_starts'][index] for index in indices]
        predictions = [np.asarray(batch[0]) for batch in kept]
        predicted = np.concatenate(predictions) if predictions else np.zeros((0, 1, 5))
        evaluation.predictions.extend({'file': file, 'window_start': int(start), 'matched_notes': int(labels['matched'][row].sum())}
                                      for row, (file, start) in enumerate(zip(files, starts, strict=True)))
        evaluation.details.update({'predicted': predicted, 'labels': labels, 'files': files, 'indices': indices, 'stored': stored})
        evaluation.notes.append('MAE units: velocity in MIDI steps, timing and tempo in ms, articulation in log2 duration ratio; '
                                'a constant prediction has correlation 0.')

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
            target = np.stack([labels[name][row] for name in LABELS[:5]], axis=1)[real]
            pieces.append({'name': Path(file).stem, 'onsets': onsets, 'predicted': predicted[row][real], 'target': target,
                           'matched': labels['matched'][row][real]})
        return {'tempo curves and velocity contours, model against performance': draw_performance_curves(pieces, folder / 'performance_curves.png')}

    # -- listening ----------------------------------------------------------------------------------------------

    def listening_set(self, context: EvaluationContext, folder: Path, *, pieces: int, seconds: float, seed: int) -> ListeningSet:
        """The first `seconds` (at the deadpan tempo) of `pieces` held-out scores as the model and deadpan play them,
        beside a pianist's performance of each (the reference; `listening.py`), each rendered with one piano."""
        from .listening import write_performances

        return write_performances(cast(ScorePerformer, context.model), self, context, folder, pieces=pieces, beats=seconds / self.deadpan_beat_seconds,
                                  seed=seed)
