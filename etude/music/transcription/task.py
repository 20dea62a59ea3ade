"""Piano transcription: audio of any length → notes, written as MIDI (and, with --render, re-synthesised with FluidSynth).

    routine.set_task(Transcription(onset_threshold=0.3, ..., pieces={'train': [[audio, midi], ...], 'test': [...]}))
    dataset, split = task.segment_dataset(recordings, model.front_end(...), training_hop_seconds=4.0)   # what the routine trains on
    etude infer run/best.pt recording.wav --output out/ --render     # out/recording.mid, out/recording.wav (re-synthesis)

The task records the run's pieces (`pieces.py`: audio + MIDI paths per group, one numbering) and owns what is done
with them: the segments a run trains and is scored on, the note metrics (`NoteMetrics`: each piece decoded whole from
its segments as `transcribe` decodes a file, scored with mir_eval), the spectral-flux baseline on the same pieces, and
a listening test of the originals beside re-syntheses. `etude evaluate` rebuilds a split's segments from the record
and runs the same pass with the same metrics, so its figures are the run's by construction.

Inference reads each file in overlapping segments and decodes them as they come (`streaming.py`), so a file of any
length takes the memory of one batch and its notes. The decoding thresholds are the task's settings, recorded in the
export; `--onset-threshold`, `--offset-threshold` and `--frame-threshold` override them for one call.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, cast

from ...argument_types import open_probability
from ...errors import ConfigError, DataFileError, EtudeError
from ...tasks.audio import AUDIO_INPUTS
from ...tasks.base import Evaluation, InferenceContext, InferenceOption, InputKind, ListeningSet, Outcome, Task
from .pieces import GROUPS, OTHER_SOUNDFONT, PREFIXES, readable_groups, split_of
from .protocol import FrameTranscriber

if TYPE_CHECKING:
    from ...metrics import Metric
    from ...model import Model
    from ...tasks.context import EvaluationContext
    from ...tasks.testing import TaskExample
    from ...training.routine_data import SplitView
    from .data import Recording, SegmentDataset
    from .offsets import OffsetConvention
    from .settings import FrontEnd

__all__ = ['OTHER_SOUNDFONT', 'EmptyTranscription', 'Transcription']


class EmptyTranscription(UserWarning):
    """A file was transcribed to no notes at all: its MIDI file is empty (the message names the file)."""


def _render_path(folder: Path, stem: str, source: str) -> Path:
    """Where `--render` writes a source's re-synthesis: named like the source (and written at its rate), so `etude listen
    create` pairs originals and re-syntheses by name, but never over the source itself, when --output is its own folder."""
    target = folder / f'{stem}.wav'
    return folder / f'{stem}.render.wav' if target.resolve() == Path(source).resolve() else target


@dataclass(kw_only=True)
class Transcription(Task):
    """Decoding settings (see `etude.music.transcription.settings.DecodingSettings`), the segment length, and the pieces of
    each split as `[audio path, MIDI path]` pairs for `etude evaluate`."""

    kind: ClassVar[str] = 'transcription'
    model_protocol: ClassVar[type | None] = FrameTranscriber
    listening_reference: ClassVar[str | None] = 'recording'
    inputs: ClassVar[InputKind] = AUDIO_INPUTS
    writes_files: ClassVar[bool] = True
    options: ClassVar[tuple[InferenceOption, ...]] = (
        InferenceOption('--onset-threshold', 'transcribers: onset peaks above this start notes (default: the export\'s)', type=open_probability, metavar='P'),
        InferenceOption('--offset-threshold', 'transcribers: offset peaks above this end notes (default: the export\'s)', type=open_probability, metavar='P'),
        InferenceOption('--frame-threshold', 'transcribers: notes end where the frame output falls below this (default: the export\'s)',
                        type=open_probability, metavar='P'),
        InferenceOption('--render', 'write a FluidSynth re-synthesis of each output MIDI file beside it', is_switch=True, default=False),
    )

    onset_threshold: float = 0.3
    offset_threshold: float = 0.3
    frame_threshold: float = 0.3
    segment_overlap: float = 0.5
    segment_seconds: float = 4.0
    offset_convention: OffsetConvention = 'pedal'
    """Which offsets the model learns (its targets' offsets and frames): 'pedal', extended by the sustain pedal, as the
    field's published figures use, or 'key', the releases as written. Scoring uses both (`scoring.py`)."""
    peer: bool = True
    """Score basic-pitch beside the model when it is installed (`peer.py`); recorded with the run's baselines."""
    pieces: dict[str, list[list[str]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.offset_convention, str) and self.offset_convention.startswith('key releases'):
            self.offset_convention = 'key'  # exports before the setting recorded this text: they learned key releases
        super().__post_init__()

    def check(self) -> None:
        from .offsets import check_convention

        check_convention(self.offset_convention, 'transcription task: offset_convention')
        self.pieces = readable_groups(self.pieces)  # an earlier export's other_soundfont is the held-out piano's group
        self.decoding()  # the thresholds' own checks
        if not self.segment_seconds > 0:
            raise ConfigError(f'transcription task: segment_seconds must be positive, got {self.segment_seconds}')
        for group, pairs in self.pieces.items():
            if group not in GROUPS:
                raise ConfigError(f'transcription task: pieces has a group {group!r}; the groups are {", ".join(GROUPS)}')
            if any(len(pair) != 2 for pair in pairs):
                raise ConfigError(f'transcription task: the {group} pieces must be [audio, midi] pairs')

    def decoding(self, options: dict[str, Any] | None = None) -> Any:
        """The `DecodingSettings`, with any thresholds given to `etude infer`."""
        from .settings import DecodingSettings

        given = {key: value for key, value in (options or {}).items() if key.endswith('_threshold') and value is not None}
        values = {'onset_threshold': self.onset_threshold, 'offset_threshold': self.offset_threshold, 'frame_threshold': self.frame_threshold,
                  'segment_overlap': self.segment_overlap, **given}
        return DecodingSettings(**values)

    @classmethod
    def example(cls, folder: Path) -> TaskExample:
        """A tiny run of this kind, for `etude.tasks.testing.check_task` (see `example.py`)."""
        from .example import transcription_example

        return transcription_example(folder, cls)

    # -- the run's pieces --------------------------------------------------------------------------------------

    def recordings(self, groups: Sequence[str]) -> dict[str, list[Recording]]:
        """The recorded pieces of `groups` read again (notes from the MIDI files, durations from the audio), kept for
        this task's later calls; a ConfigError names a piece that is no longer where the run recorded it."""
        from .data import Recording

        cache: dict[str, list[Recording]] = self.__dict__.setdefault('_recordings', {})
        for group in groups:
            if group not in cache:
                try:
                    cache[group] = [Recording.read(audio, midi) for audio, midi in self.pieces.get(group, [])]
                except EtudeError as error:
                    raise ConfigError(f'cannot read the {group} pieces the run recorded ({error}); they must still be where they were') from None
        return {group: cache[group] for group in groups}

    def segment_dataset(self, recordings: Mapping[str, Sequence[Recording]], front_end: FrontEnd, *,
                        training_hop_seconds: float | None = None) -> tuple[SegmentDataset, dict[str, list[int]]]:
        """The segments of `recordings` (group → pieces, as `pieces` records them) and the routine's split of them."""
        from .pieces import numbered, segment_dataset

        self.__dict__.setdefault('_recordings', {}).update({group: list(members) for group, members in recordings.items()})
        return segment_dataset(recordings, numbered(self.pieces), front_end, overlap=self.segment_overlap, training_hop_seconds=training_hop_seconds,
                               offset_convention=self.offset_convention)

    # -- inference ----------------------------------------------------------------------------------------------

    def infer(self, model: Model, sources: Sequence[str], context: InferenceContext) -> Iterator[Outcome]:
        from .streaming import transcribe

        settings = self.decoding(context.options)
        for source in sources:
            began = time.perf_counter()
            try:
                notes, duration = transcribe(cast(FrameTranscriber, model), source, settings=settings, segment_seconds=self.segment_seconds,
                                             batch_size=min(context.batch_size, 16), device=context.device)
            except DataFileError as error:
                yield Outcome(source, error=str(error))
                continue
            result = {'notes': int(len(notes)), 'duration': round(duration, 3), 'seconds': round(time.perf_counter() - began, 3)}
            if not len(notes):
                warnings.warn(f'{source}: no notes found, so its MIDI file is empty (is it piano? lower --onset-threshold to hear quieter notes)',
                              EmptyTranscription, stacklevel=2)
            yield Outcome(source, result=result, artefacts={'notes': notes})

    def export_onnx(self, model: Model, path: Path) -> None:
        """The network from the power spectrogram on (`onnx_network.py` says why the STFT stays outside)."""
        from .model import PianoTranscriber
        from .onnx_network import export_transcriber

        if not isinstance(model, PianoTranscriber):
            raise ConfigError(f'ONNX exports of transcription models are of PianoTranscriber, not {type(model).__name__}')
        export_transcriber(model, path, self.segment_seconds)

    def onnx_model(self, session: Any, metadata: Mapping[str, Any]) -> Any:
        from .onnx_network import OnnxTranscriber

        return OnnxTranscriber(session, metadata['hyperparameters'])

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

    # -- training and evaluation ------------------------------------------------------------------------------

    def metrics(self, model: Model) -> list[Metric]:
        """mir_eval's note and frame figures of the validation and test pieces, each decoded whole from its segments
        (`NoteMetrics`), each further test group apart under its prefix (`pieces.PREFIXES`: the held-out performances, the
        held-out piano), and each head's loss."""
        from .metrics import NoteMetrics
        from .model import HeadLosses
        from .pieces import numbered

        front_end = cast(FrameTranscriber, model).front_end(self.segment_seconds)
        numbers = numbered(self.pieces)
        metrics: list[Metric] = []
        for groups, prefix in ((('validation', 'test'), ''), *(((group,), prefix) for group, prefix in PREFIXES.items())):
            read = self.recordings([group for group in groups if self.pieces.get(group)])
            pieces = {number: recording for group, members in read.items() for number, recording in zip(numbers[group], members, strict=True)}
            if pieces:
                metrics.append(NoteMetrics({number: piece.truths for number, piece in pieces.items()},
                                           {number: piece.duration for number, piece in pieces.items()},
                                           {number: piece.name for number, piece in pieces.items()}, front_end, self.decoding(), prefix=prefix))
        return [*metrics, HeadLosses()]

    def baselines(self, data: SplitView, split: str) -> dict[str, dict[str, float]]:
        """Two transcribers beside the model on each of `split`'s groups, scored by the same mir_eval calls and named as
        the model's figures are (the other groups' prefixed as in `metrics`): one that learns nothing (spectral flux
        onsets, pitches from spectral peaks), and the peer basic-pitch (its shipped ONNX model, `peer.py`) when
        `peer` is set and it is installed. Neither is fitted, so the train split plays no part."""
        import warnings
        from collections.abc import Callable
        from functools import partial

        import numpy as np

        from .baseline import transcribe_baseline
        from .peer import BASIC_PITCH, BASIC_PITCH_INSTALL, basic_pitch_available, basic_pitch_notes, load_basic_pitch
        from .scoring import average_scores, score_piece

        groups = [group for group in GROUPS if group != 'train' and split_of(group) == split and self.pieces.get(group)]
        if not groups:
            return {}
        transcribers: dict[str, Callable[[Path], np.ndarray]] = {'spectral flux': transcribe_baseline}
        if self.peer and basic_pitch_available():
            transcribers[BASIC_PITCH] = partial(basic_pitch_notes, model=load_basic_pitch(threads=None))
        elif self.peer:
            warnings.warn(f'the peer basic-pitch is not installed, so the run records no peer ({BASIC_PITCH_INSTALL})', stacklevel=2)
        figures: dict[str, dict[str, float]] = {}
        for name, transcriber in transcribers.items():
            for group in groups:
                prefix = '' if group == split else PREFIXES[group]
                scores = average_scores([score_piece(piece.truths, transcriber(piece.audio)) for piece in self.recordings([group])[group]])
                figures.setdefault(name, {}).update({f'{prefix}{key}': value for key, value in scores.items()})
        return figures

    def evaluation_data(self, context: EvaluationContext) -> SplitView:
        """The segments `transcribe` cuts from the split's pieces (and the further test groups', for the test split)."""
        import numpy as np

        groups = [group for group in GROUPS if group != 'train' and split_of(group) == context.split and self.pieces.get(group)]
        if not groups:
            raise ConfigError(f'the transcription task of {context.checkpoint} records no {context.split} pieces; evaluate another split')
        dataset, split = self.segment_dataset(self.recordings(groups), cast(FrameTranscriber, context.model).front_end(self.segment_seconds))
        return context.split_view(dataset, {name: np.asarray(indices, dtype=np.int64) for name, indices in split.items()})

    def describe(self, evaluation: Evaluation, context: EvaluationContext, data: SplitView, kept: list[Any], metrics: Sequence[Metric]) -> None:
        """One row per piece with its figures, the worst pieces by onset F1, and three pieces' notes for piano rolls."""
        from .metrics import NoteMetrics

        shown: list[tuple[str, Any, Any]] = []
        for metric in metrics:
            if not isinstance(metric, NoteMetrics):
                continue
            group = next((name for name, prefix in PREFIXES.items() if prefix == metric.prefix), evaluation.split)
            truths = {name: metric.truths[number][self.offset_convention] for number, name in metric.names.items()}
            for name, figures in metric.pieces.items():
                evaluation.predictions.append({'piece': name, 'group': group, 'notes': int(len(metric.estimates[name])),
                                               'true_notes': int(len(truths[name])), **{key: round(value, 4) for key, value in figures.items()}})
                if not metric.prefix and len(shown) < 3:
                    shown.append((name, truths[name], metric.estimates[name]))
        worst = sorted((row for row in evaluation.predictions if row['group'] == evaluation.split), key=lambda row: row['onset_f1'])[:5]
        evaluation.details['shown'] = shown
        learned = 'extended by the sustain pedal' if self.offset_convention == 'pedal' else 'key releases as written'
        evaluation.notes.extend([f'Offsets: the model learned offsets {learned}; figures named *_key_* score against key releases, *_pedal_* '
                                 'against offsets extended by the sustain pedal (the two agree where a piece has no pedal); onsets within 50 ms, '
                                 'offsets within 20 % of the note or 50 ms (mir_eval); figures are means over pieces.',
                                 'Worst pieces by note-onset F1: ' + ', '.join(f"{row['piece']} ({row['onset_f1']:.3f})" for row in worst) + '.'])

    def figures(self, evaluation: Evaluation, folder: Path) -> dict[str, Path]:
        from .figures import piano_roll_figure

        shown = evaluation.details.get('shown', [])
        return {f'piano roll of {name}, first 15 s (grey: truth, red: transcribed)': piano_roll_figure(truth, estimate, folder / f'piano_roll_{index}.png',
                                                                                                       title=name)
                for index, (name, truth, estimate) in enumerate(shown)}

    # -- listening ----------------------------------------------------------------------------------------------

    def listening_set(self, context: EvaluationContext, folder: Path, *, pieces: int, seconds: float, seed: int) -> ListeningSet:
        """The first `seconds` of `pieces` test recordings (the reference), and the same excerpts re-synthesised from the
        model's transcription and from the spectral-flux baseline's, with the recordings' own soundfont: MUSHRA."""
        import numpy as np

        from ...data.audio import audio_info, read_audio, write_audio
        from ...data.generators import render_midi
        from ...data.midi import notes_to_midi
        from .baseline import transcribe_baseline
        from .streaming import transcribe

        test = self.recordings(['test'])['test'] if self.pieces.get('test') else []
        if len(test) < pieces:
            raise ConfigError(f'the run recorded {len(test)} test pieces; ask for at most that many (--pieces {len(test)})')
        folders = {name: folder / name for name in ('reference', 'model', 'spectral-flux')}
        for path in folders.values():
            path.mkdir(parents=True, exist_ok=True)
        for piece in test[:pieces]:
            rate = audio_info(piece.audio).sample_rate
            audio, _ = read_audio(piece.audio, sample_rate=rate, duration_seconds=seconds)
            write_audio(folders['reference'] / f'{piece.name}.wav', audio, rate)
            transcribed, _ = transcribe(cast(FrameTranscriber, context.model), piece.audio, settings=self.decoding(), segment_seconds=self.segment_seconds,
                                        device=context.device)
            for name, notes in (('model', transcribed), ('spectral-flux', transcribe_baseline(piece.audio))):
                kept = notes[notes['start'] < seconds]
                midi = folders[name] / f'{piece.name}.mid'
                notes_to_midi(kept, midi)
                if len(kept):
                    render_midi(midi, midi.with_suffix('.wav'), sample_rate=rate)
                else:  # a transcription of nothing sounds as silence
                    write_audio(midi.with_suffix('.wav'), np.zeros(len(audio), dtype=np.float32), rate)
        return ListeningSet({'model': folders['model'], 'spectral-flux': folders['spectral-flux']}, reference=folders['reference'],
                            title='Piano transcription: how close is each re-synthesis to the recording?', default_kind='mushra')


