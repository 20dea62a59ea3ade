"""Piano transcription: audio of any length → notes, written as MIDI (and, with --render, re-synthesised with FluidSynth).

    routine.set_task(Transcription(onset_threshold=0.3, ..., pieces={'test': [[audio, midi], ...]}))
    etude infer run/best.pt recording.wav --output out/ --render     # out/recording.mid, out/recording.wav (re-synthesis)

Inference reads each file in overlapping segments and decodes them as they come (`etude.music.transcription.transcribe`),
so a file of any length takes the memory of one batch and its notes. The decoding thresholds are the task's settings,
recorded in the export; `--onset-threshold`, `--offset-threshold` and `--frame-threshold` override them for one call.

Evaluation transcribes the split's whole pieces (recorded in the task as audio + MIDI paths) from the export alone,
scores them with mir_eval (`etude.music.transcription.scoring`), recomputes the spectral-flux baseline on the same pieces,
lists the worst pieces and draws piano rolls of prediction against truth.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from ...errors import CheckpointError, ConfigError, DataFileError, EtudeError
from ...tasks.audio import AUDIO_INPUTS
from ...tasks.base import Evaluation, EvaluationContext, InferenceContext, InferenceOption, InputKind, Outcome, Task

if TYPE_CHECKING:
    from ...model import Model

__all__ = ['Transcription']

OTHER_SOUNDFONT = 'other_soundfont'  # the split name of the test pieces rendered with a second soundfont


def _render_path(folder: Path, stem: str, source: str) -> Path:
    """Where `--render` writes a source's re-synthesis: named like the source (and written at its rate), so `etude listen
    create` pairs originals and re-syntheses by name, but never over the source itself, when --output is its own folder."""
    target = folder / f'{stem}.wav'
    return folder / f'{stem}.render.wav' if target.resolve() == Path(source).resolve() else target


def _threshold(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f'must be a number between 0 and 1, got {text!r}')
    return value


@dataclass(kw_only=True)
class Transcription(Task):
    """Decoding settings (see `etude.music.transcription.settings.DecodingSettings`), the segment length, and the pieces of
    each split as `[audio path, MIDI path]` pairs for `etude evaluate`."""

    kind: ClassVar[str] = 'transcription'
    inputs: ClassVar[InputKind] = AUDIO_INPUTS
    writes_files: ClassVar[bool] = True
    options: ClassVar[tuple[InferenceOption, ...]] = (
        InferenceOption('--onset-threshold', 'transcribers: onset peaks above this start notes (default: the export\'s)', type=_threshold, metavar='P'),
        InferenceOption('--offset-threshold', 'transcribers: offset peaks above this end notes (default: the export\'s)', type=_threshold, metavar='P'),
        InferenceOption('--frame-threshold', 'transcribers: notes end where the frame output falls below this (default: the export\'s)',
                        type=_threshold, metavar='P'),
        InferenceOption('--render', 'write a FluidSynth re-synthesis of each output MIDI file beside it', is_switch=True, default=False),
    )

    onset_threshold: float = 0.3
    offset_threshold: float = 0.3
    frame_threshold: float = 0.3
    segment_overlap: float = 0.5
    segment_seconds: float = 4.0
    offset_convention: str = 'key releases: ground-truth notes are not extended by the sustain pedal'
    pieces: dict[str, list[list[str]]] = field(default_factory=dict)

    def check(self) -> None:
        self.decoding()  # the thresholds' own checks
        if not self.segment_seconds > 0:
            raise ConfigError(f'transcription task: segment_seconds must be positive, got {self.segment_seconds}')
        for split, pairs in self.pieces.items():
            if any(len(pair) != 2 for pair in pairs):
                raise ConfigError(f'transcription task: the {split} pieces must be [audio, midi] pairs')

    def decoding(self, options: dict[str, Any] | None = None) -> Any:
        """The `DecodingSettings`, with any thresholds given to `etude infer`."""
        from .settings import DecodingSettings

        given = {key: value for key, value in (options or {}).items() if key.endswith('_threshold') and value is not None}
        values = {'onset_threshold': self.onset_threshold, 'offset_threshold': self.offset_threshold, 'frame_threshold': self.frame_threshold,
                  'segment_overlap': self.segment_overlap, **given}
        return DecodingSettings(**values)

    @staticmethod
    def _check_model(model: Model) -> None:
        from .model import PianoTranscriber

        if not isinstance(model, PianoTranscriber):
            raise CheckpointError(f'a transcription export holds a {type(model).__name__}, not a PianoTranscriber; the export is inconsistent, retrain it')

    # -- inference ----------------------------------------------------------------------------------------------

    def infer(self, model: Model, sources: Sequence[str], context: InferenceContext) -> Iterator[Outcome]:
        from .transcribe import transcribe

        self._check_model(model)
        settings = self.decoding(context.options)
        for source in sources:
            began = time.perf_counter()
            try:
                notes, duration = transcribe(model, source, settings=settings, segment_seconds=self.segment_seconds,
                                             batch_size=min(context.batch_size, 16), device=context.device)
            except DataFileError as error:
                yield Outcome(source, error=str(error))
                continue
            result = {'notes': int(len(notes)), 'duration': round(duration, 3), 'seconds': round(time.perf_counter() - began, 3)}
            yield Outcome(source, result=result, artefacts={'notes': notes})

    def write(self, outcome: Outcome, folder: Path, context: InferenceContext) -> list[Path]:
        from ...data.midi import notes_to_midi

        midi = folder / f'{outcome.stem}.mid'
        notes_to_midi(outcome.artefacts['notes'], midi)
        written = [midi]
        if context.options.get('render') and len(outcome.artefacts['notes']):
            from ...data.audio import audio_info
            from ...data.generators import render_midi

            target = _render_path(folder, outcome.stem, outcome.source)
            written.append(render_midi(midi, target, sample_rate=audio_info(outcome.source).sample_rate))
        return written

    def planned_files(self, sources: Sequence[str], folder: Path, options: Mapping[str, Any]) -> list[tuple[str, list[Path]]]:
        return [(source, [folder / f'{Path(source).stem}.mid', *([_render_path(folder, Path(source).stem, source)] if options.get('render') else [])])
                for source in sources]

    def columns(self) -> list[tuple[str, str]]:
        return [('notes', 'notes'), ('duration', 'seconds of audio'), ('seconds', 'seconds taken')]

    # -- evaluation ---------------------------------------------------------------------------------------------

    def evaluate(self, context: EvaluationContext) -> Evaluation:
        from ...data.midi import midi_to_notes
        from .baseline import transcribe_baseline
        from .data import clean_notes
        from .scoring import average_scores, score_piece
        from .transcribe import transcribe

        self._check_model(context.model)
        pairs = self.pieces.get(context.split)
        if not pairs:
            raise ConfigError(f'the transcription task of {context.checkpoint} records no {context.split} pieces; evaluate another split')
        settings = self.decoding()
        metrics: dict[str, float] = {}
        rows: list[dict[str, Any]] = []
        shown: list[tuple[str, Any, Any]] = []
        baseline_scores = []
        for group in (context.split, OTHER_SOUNDFONT if context.split == 'test' else None):
            if group is None or not self.pieces.get(group):
                continue
            scores = []
            for audio, midi in self.pieces[group]:
                try:
                    truth = clean_notes(midi_to_notes(midi))
                    estimate, duration = transcribe(context.model, audio, settings=settings, segment_seconds=self.segment_seconds,
                                                    batch_size=min(context.batch_size, 16), device=context.device)
                except EtudeError as error:
                    raise ConfigError(f'cannot evaluate {audio}: {error}; the pieces the run recorded must still be where they were') from None
                figures = score_piece(truth, estimate)
                scores.append(figures)
                rows.append({'piece': Path(audio).stem, 'group': group, 'file': audio, 'duration': round(duration, 3), 'notes': int(len(estimate)),
                             'true_notes': int(len(truth)), **{key: round(value, 4) for key, value in figures.items()}})
                if group == context.split:
                    baseline_scores.append(score_piece(truth, transcribe_baseline(audio)))
                    if len(shown) < 3:
                        shown.append((Path(audio).stem, truth, estimate))
            prefix = '' if group == context.split else f'{OTHER_SOUNDFONT}_'
            metrics.update({prefix + key: value for key, value in average_scores(scores).items()})
        worst = sorted((row for row in rows if row['group'] == context.split), key=lambda row: row['onset_f1'])[:5]
        notes = [f'Offsets: {self.offset_convention}; onsets within 50 ms, offsets within 20 % of the note or 50 ms (mir_eval); '
                 'figures are means over pieces.',
                 'Worst pieces by note-onset F1: ' + ', '.join(f"{row['piece']} ({row['onset_f1']:.3f})" for row in worst) + '.']
        return Evaluation(context.split, metrics, {'spectral flux': average_scores(baseline_scores)}, rows, details={'shown': shown}, notes=notes)

    def figures(self, evaluation: Evaluation, folder: Path) -> dict[str, Path]:
        from .figures import piano_roll_figure

        shown = evaluation.details.get('shown', [])
        return {f'piano roll of {name}, first 15 s (grey: truth, red: transcribed)': piano_roll_figure(truth, estimate, folder / f'piano_roll_{index}.png',
                                                                                                       title=name)
                for index, (name, truth, estimate) in enumerate(shown)}
