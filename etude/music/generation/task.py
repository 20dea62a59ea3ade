"""Generation: a note model writes pieces, from scratch or continuing MIDI primers (seed 002's LSTM, `NoteLSTM`).

    routine.set_task(Generation(tile_notes=64))
    etude infer runs/<id> --num 4 --length 200 --temperature 0.9 --top-p 0.95 --seed 1 --output out/   # out/piece-000.mid ...
    etude infer runs/<id> primer.mid --num 2 --seconds 30 --output out/ --render                       # out/primer-000.mid + .wav

Inference: each primer's notes (all non-drum tracks merged, as in training) start `--num` pieces that continue them;
with no primer, `--num` pieces start from the begin token. All pieces of one command are sampled in one batch from
one generator seeded by `--seed` (`etude.music.generation.sampling`), so the same command (same primers in the same order)
writes the same files; `predictions.jsonl` records every setting with each piece. A primer that is not MIDI or has no
notes is one line, skipped, and `etude infer` exits with status 2.

Training and evaluation: the NLL per note of the model on a split's tiles (`metrics`), beside a unigram sampler and a
Markov chain fitted once on the training tiles (`baselines`: same notes, same nats, `likelihood.py`); and at the end of
a split, `evaluation_pieces` pieces of `evaluation_notes` notes from the model, judged as the baselines' samples are,
with the split's own pieces as the ceiling (`on_split_end`, `evaluation.judge_generated`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, cast

from ...argument_types import positive_number, probability, whole_number
from ...errors import ConfigError, DataFileError
from ...tasks.base import Evaluation, InferenceContext, InferenceOption, InputKind, ListeningSet, Outcome, Task
from .protocol import NoteModel

if TYPE_CHECKING:
    import numpy as np
    import torch

    from ...metrics import Metric
    from ...model import Model
    from ...tasks.context import EvaluationContext
    from ...tasks.testing import TaskExample
    from ...training.routine_data import SplitView
    from .tiles import NoteTiles

__all__ = ['Generation', 'weight_precision']


def weight_precision(text: str) -> str:
    """`--weights`: fp32, bf16 or int8 (`SamplingSettings.weights`)."""
    import argparse

    if text not in ('fp32', 'bf16', 'int8'):
        raise argparse.ArgumentTypeError(f'must be fp32, bf16 or int8, got {text!r}')
    return text

SCRATCH = 'from scratch'


@dataclass(kw_only=True)
class Generation(Task):
    """tile_notes: the notes per training tile (how the dataset was cut); evaluation_pieces / evaluation_notes: how
    many pieces of how many notes `etude evaluate` generates from the model and from each baseline."""

    kind: ClassVar[str] = 'generation'
    model_protocol: ClassVar[type | None] = NoteModel
    inputs: ClassVar[InputKind] = InputKind('MIDI primers', extensions=('.mid', '.midi'), required=False)
    writes_files: ClassVar[bool] = True
    options: ClassVar[tuple[InferenceOption, ...]] = (
        InferenceOption('--num', 'generators: pieces per primer, or from scratch without one (default 1)', type=whole_number(1), default=1, metavar='N'),
        InferenceOption('--length', 'generators: notes to generate after the primer (default 200)', type=whole_number(1), default=200, metavar='L'),
        InferenceOption('--seconds', 'generators: generate this many seconds of music instead of --length notes', type=positive_number, metavar='S'),
        InferenceOption('--temperature', 'generators: divides the pitch logits; below 1 safer, above 1 wilder (default 1)', type=positive_number,
                        default=1.0, metavar='T'),
        InferenceOption('--top-k', 'generators: draw among the K most likely pitches only (default 0: all)', type=whole_number(0), default=0, metavar='K'),
        InferenceOption('--top-p', 'generators: nucleus sampling, the most likely pitches of total probability P (default 1)', type=probability,
                        default=1.0, metavar='P'),
        InferenceOption('--seed', 'generators: seed of the draws; the same seed writes the same pieces (default 0)', type=int, default=0, metavar='S'),
        InferenceOption('--draw-times', "generators: draw each step and duration from the model's calibration table instead of taking "
                        'its prediction as it is (seed 002)', is_switch=True, default=False),
        InferenceOption('--weights', "generators: the LSTM's weights while sampling, fp32, bf16 or int8 (per-row scales, CPU only; "
                        'default: int8 for the token LSTM on the CPU, else fp32)', type=weight_precision, metavar='W'),
        InferenceOption('--render', 'also render each MIDI file to a WAV with FluidSynth', is_switch=True, default=False),
    )

    tile_notes: int = 64
    evaluation_pieces: int = 32
    evaluation_notes: int = 200

    def check(self) -> None:
        for name in ('tile_notes', 'evaluation_pieces', 'evaluation_notes'):
            if getattr(self, name) < 2:
                raise ConfigError(f'a generation task needs {name} of at least 2, got {getattr(self, name)}')

    # -- inference ----------------------------------------------------------------------------------------------

    def sampling_settings(self, options: Mapping[str, Any]) -> Any:
        from .sampling import SamplingSettings

        seconds = options.get('seconds')
        return SamplingSettings(count=int(options.get('num') or 1), length_notes=None if seconds else int(options.get('length') or 200),
                                length_seconds=float(seconds) if seconds else None, temperature=float(options.get('temperature', 1.0)),
                                top_k=int(options.get('top_k') or 0), top_p=float(options.get('top_p', 1.0)), seed=int(options.get('seed') or 0),
                                draw_times=bool(options.get('draw_times')), weights=str(options.get('weights') or 'fp32'))

    def check_options(self, options: Mapping[str, Any]) -> None:
        self.sampling_settings(options)  # a ConfigError for values no sampler takes (the flags' own checks come first)

    def infer(self, model: Model, sources: Sequence[str], context: InferenceContext) -> Iterator[Outcome]:
        from .sampling import sample_notes

        settings = self.sampling_settings(context.options)
        primers, used, positions = [], [], []
        for position, source in enumerate(sources):
            try:
                primers.append(read_primer(source))
                used.append(source)
                positions.append(position)
            except DataFileError as error:
                yield Outcome(source, error=str(error))
        if sources and not used:
            return
        pieces = sample_notes(cast(NoteModel, model), settings, primers)
        names = piece_names(sources, settings.count)  # as planned_files named them, whichever primers were readable
        origins = [(source, position, index) for source, position in (zip(used, positions, strict=True) if used else [(SCRATCH, 0)])
                   for index in range(settings.count)]
        for batch_index, (piece, (source, position, index)) in enumerate(zip(pieces, origins, strict=True)):
            name = names[position][index]
            primer_notes = len(primers[used.index(source)]) if source != SCRATCH else 0
            seconds = float(piece[1:, 1].sum() + piece[-1, 2]) if len(piece) else 0.0
            result = {
                'name': name, 'notes': len(piece), 'primer_notes': primer_notes, 'seconds': round(seconds, 3),
                'piece_in_batch': batch_index, 'primers': list(used), 'checkpoint': context.checkpoint, **settings.to_dict(),
            }
            yield Outcome(source, result=result, name=name, artefacts={'notes': piece})

    def write(self, outcome: Outcome, folder: Path, context: InferenceContext) -> list[Path]:
        from ...data.midi import notes_to_midi

        midi_path = folder / f'{outcome.stem}.mid'
        notes_to_midi(outcome.artefacts['notes'], midi_path)
        written = [midi_path]
        if context.options.get('render'):
            from ...data.generators.fluidsynth_render import render_midi

            written.append(render_midi(midi_path, folder / f'{outcome.stem}.wav'))
        return written

    def planned_files(self, sources: Sequence[str], folder: Path, options: Mapping[str, Any]) -> list[tuple[str, list[Path]]]:
        suffixes = ('.mid', '.wav') if options.get('render') else ('.mid',)
        count = self.sampling_settings(options).count
        return [(source, [folder / f'{name}{suffix}' for name in names for suffix in suffixes])
                for source, names in zip(sources or [''], piece_names(sources, count), strict=True)]

    def columns(self) -> list[tuple[str, str]]:
        return [('name', 'piece'), ('notes', 'notes'), ('seconds', 'seconds')]

    @classmethod
    def example(cls, folder: Path) -> TaskExample:
        """A tiny run of this kind, for `etude.tasks.testing.check_task` (see `example.py`)."""
        from .example import generation_example

        return generation_example(folder, cls)

    # -- training and evaluation ------------------------------------------------------------------------------

    def metrics(self, model: Model) -> list[Metric]:
        """NLL per note in nats (pitch + step bin + duration bin), the unit the counting baselines share."""
        from .likelihood import NoteLikelihood

        return [NoteLikelihood()]

    def baselines(self, data: SplitView, split: str) -> dict[str, dict[str, float]]:
        """The unigram sampler and the Markov chain, fitted on the training tiles, scored on `split`'s notes (NLL) and
        judged on `evaluation_pieces` pieces of theirs; beside them the split's own pieces, cut to the same length:
        the ceiling a generator can reach on the judged measures."""
        import numpy as np

        from .baselines import fit_baselines
        from .evaluation import CEILING, flat_figures

        parts = self._parts(data)
        unigram, markov = fit_baselines(parts['train'], parts['validation'])
        count, length = self.evaluation_pieces, self.evaluation_notes
        samples = {'unigram': unigram.sample(count, length, np.random.default_rng(0)), 'markov': markov.sample(count, length, np.random.default_rng(1))}
        judged = self._judged(samples, parts, split)
        scored = parts[split]
        references = self._metrical_references(data, split)
        ceiling = list(references['evaluated'])
        return {'unigram': {**unigram.nll_terms(scored.notes, scored.weights()), **flat_figures(judged, 'unigram'),
                            **self._metrical(samples['unigram'], references)},
                'markov': {**markov.nll_terms(scored.notes, scored.weights()), 'concentration': markov.concentration, **flat_figures(judged, 'markov'),
                           **self._metrical(samples['markov'], references)},
                CEILING: {**flat_figures(judged, CEILING), **self._metrical(ceiling, references, voiced=True, copies=False)}}

    def on_split_end(self, model: Model, split: str, data: SplitView, metrics: Sequence[Metric], device: torch.device) -> dict[str, float]:
        """`evaluation_pieces` pieces of `evaluation_notes` notes sampled from the model, judged as the baselines are:
        the Jensen-Shannon divergences of their histograms from the training and `split` pieces, Yang & Lerch's
        relative measures and the longest run copied from a training piece."""
        from .evaluation import flat_figures

        pieces = self._sampled(model)
        judged = self._judged({'model': pieces}, self._parts(data), split)
        return {**flat_figures(judged, 'model'), **self._metrical(pieces, self._metrical_references(data, split))}

    def evaluation_data(self, context: EvaluationContext) -> SplitView:
        from .tiles import tiles_from_windows

        return context.split_view(tiles_from_windows(context.stored_dataset()).torch_dataset())

    def describe(self, evaluation: Evaluation, context: EvaluationContext, data: SplitView, kept: list[Any], metrics: Sequence[Metric]) -> None:
        """One row per sampled piece (its length, pitch range and longest copied run), the pieces and runs the figures
        draw, and the notes on units and bins."""
        import numpy as np

        from .baselines import fit_baselines
        from .evaluation import CEILING, excerpts, report_notes
        from .measures import longest_copied_runs

        parts = self._parts(data)
        pieces = self._sampled(context.model)
        train = parts['train'].piece_sequences()
        runs = longest_copied_runs(pieces, train)
        evaluation.predictions.extend({'piece': index, 'notes': int(len(piece)), 'longest_copied_run': int(runs[index]),
                                       'pitch_range': int(piece[:, 0].max() - piece[:, 0].min())} for index, piece in enumerate(pieces))
        _, markov = fit_baselines(parts['train'], parts['validation'])  # to draw its pieces beside the model's
        shown = {'model': pieces[:4], 'Markov': markov.sample(4, self.evaluation_notes, np.random.default_rng(1)),
                 CEILING: excerpts(parts[evaluation.split].piece_sequences(), self.evaluation_notes)[:4]}
        evaluation.details.update({'pieces': shown, 'runs': {'model': runs.tolist(), CEILING: longest_copied_runs(shown[CEILING], train).tolist()}})
        judged = self._judged({'model': pieces}, parts, evaluation.split)
        evaluation.record['generation'] = {key: value for key, value in judged.items() if key != 'memorisation_runs'}
        evaluation.notes.extend(report_notes(judged, evaluation.metrics, evaluation.baselines, evaluation.split, self.evaluation_pieces,
                                             self.evaluation_notes))

    def figures(self, evaluation: Evaluation, folder: Path) -> dict[str, Path]:
        from .figures import copied_runs_figure, piano_rolls

        drawn = {}
        if evaluation.details.get('pieces'):
            pieces = {name: [piece[:200] for piece in value] for name, value in evaluation.details['pieces'].items()}
            caption = 'Piano rolls: generated pieces (the model, the Markov chain) beside test pieces, first 20 s'
            drawn[caption] = piano_rolls(pieces, folder / 'piano_rolls.png')
        if evaluation.details.get('runs'):
            drawn['Longest run of notes copied from a training piece, per piece'] = copied_runs_figure(evaluation.details['runs'], folder / 'copied_runs.png')
        return drawn

    def _metrical_references(self, data: SplitView, split: str) -> dict[str, list[np.ndarray]]:
        """The training and `split` pieces read again from their MIDI files as voiced notes, with their voices and
        time signatures (`tokens.score_notes`): 'evaluated', cut to `evaluation_notes` notes each, and 'copies', whole."""
        import symusic

        from .tokens import score_notes

        stored = data.stored()
        root, files = Path(stored.metadata['raw_root']), stored.metadata['files']
        pieces = {name: list(dict.fromkeys(files[index] for index in data.indices[name])) for name in ('train', split)}
        read = {name: [score_notes(symusic.Score(str(root / path))) for path in paths] for name, paths in pieces.items()}
        return {'copies': read['train'], 'evaluated': [piece[:self.evaluation_notes] for piece in read[split]]}

    @staticmethod
    def _metrical(pieces: list[np.ndarray], references: dict[str, list[np.ndarray]], *, voiced: bool = False, copies: bool = True) -> dict[str, float]:
        """Issue 23's measures (`metrical_measures`) of `pieces` (seed 002's notes, or voiced notes) against the evaluated
        split's pieces, named `metrical_<figure>` beside the seed's own figures."""
        from .metrical_measures import metrical_figures
        from .tokens import voiced_from_seconds

        voiced_pieces = pieces if voiced else [voiced_from_seconds(piece) for piece in pieces]
        figures = metrical_figures(voiced_pieces, references['evaluated'], references['copies'] if copies else None)
        return {f'metrical_{name}': value for name, value in figures.items()}

    def _parts(self, data: SplitView) -> dict[str, NoteTiles]:
        from .tiles import tiles_from_windows

        tiles = tiles_from_windows(data.stored())
        return {name: tiles.subset(indices) for name, indices in data.indices.items()}

    @staticmethod
    def _judged(candidates: dict[str, list[np.ndarray]], parts: dict[str, NoteTiles], split: str) -> dict[str, Any]:
        """`judge_generated` of `candidates` against the training and validation pieces and `split`'s."""
        from .evaluation import judge_generated

        return judge_generated(candidates, train=parts['train'].piece_sequences(), validation=parts['validation'].piece_sequences(),
                               test=parts[split].piece_sequences())

    def _sampled(self, model: Model) -> list[np.ndarray]:
        """The pieces the model is judged by: always the same draw (seed 0), so training and `etude evaluate` agree."""
        from .sampling import SamplingSettings, sample_notes

        return sample_notes(cast('NoteModel', model), SamplingSettings(count=self.evaluation_pieces, length_notes=self.evaluation_notes, seed=0))

    # -- listening ----------------------------------------------------------------------------------------------

    def listening_set(self, context: EvaluationContext, folder: Path, *, pieces: int, seconds: float, seed: int) -> ListeningSet:
        """`pieces` pieces of about `seconds` from the model and from the Markov chain, and as many test pieces' openings,
        rendered with FluidSynth under the same names (`piece-000` ...); no reference: MOS or A/B."""
        import numpy as np

        from ...data.generators.fluidsynth_render import render_midi
        from ...data.midi import notes_to_midi
        from .baselines import fit_baselines
        from .sampling import SamplingSettings, sample_notes

        parts = self._parts(self.evaluation_data(context))
        _, markov = fit_baselines(parts['train'], parts['validation'])
        test = parts['test'].piece_sequences()
        if len(test) < pieces:
            raise ConfigError(f'the run has {len(test)} test pieces; ask for at most that many (--pieces {len(test)})')
        sets = {
            'model': sample_notes(cast('NoteModel', context.model), SamplingSettings(count=pieces, length_notes=None, length_seconds=seconds, seed=seed)),
            'markov': [_opening(piece, seconds) for piece in markov.sample(pieces, 40 * int(seconds) + 40, np.random.default_rng(seed))],
            'test': [_opening(piece, seconds) for piece in test[:pieces]],
        }
        conditions = {}
        for name, pieces_of_set in sets.items():
            target = folder / name
            target.mkdir(parents=True, exist_ok=True)
            for index, piece in enumerate(pieces_of_set):
                midi = target / f'piece-{index:03d}.mid'
                notes_to_midi(piece, midi)
                render_midi(midi, midi.with_suffix('.wav'))
            conditions[name] = target
        return ListeningSet(conditions, title='Generated music: how musical is each excerpt?', default_kind='mos')


def _opening(piece: np.ndarray, seconds: float) -> np.ndarray:
    """The notes of `piece` whose onsets fall within its first `seconds`."""
    import numpy as np

    onsets = np.cumsum(piece[:, 1]) - piece[0, 1]
    return piece[onsets < seconds]


def piece_names(sources: Sequence[str], count: int) -> list[list[str]]:
    """The names (file stems) of the `count` pieces made from each primer, in order, or of those made from scratch when
    there is none: `<primer stem>-000`, `-001`, ... (`piece-000`, ...); a name taken by an earlier piece (two primers of
    one name in different folders) gets the piece's position appended."""
    taken: set[str] = set()
    names: list[list[str]] = []
    for source in sources or [SCRATCH]:
        stem = 'piece' if source == SCRATCH else Path(source).stem
        names.append([])
        for index in range(count):
            name = f'{stem}-{index:03d}'
            while name in taken:
                name = f'{name}-{len(taken)}'
            taken.add(name)
            names[-1].append(name)
    return names


def read_primer(source: str) -> np.ndarray:
    """A primer's notes `(n, 3)` (pitch, step, duration), all non-drum tracks merged as in training; a DataFileError
    naming the file when it is not MIDI or has no notes."""
    from ...data.midi import midi_to_notes, note_columns

    path = Path(source)
    if not path.is_file():
        raise DataFileError(f'{source}: no such file')
    if path.suffix.lower() not in ('.mid', '.midi'):
        raise DataFileError(f'{source}: not a MIDI file (.mid, .midi); a primer is a MIDI file whose notes the pieces continue')
    try:
        notes = midi_to_notes(path)
    except DataFileError as error:
        if 'only drum notes' in str(error):
            raise DataFileError(f'{source}: holds only drum tracks, and a primer needs pitched notes to continue (drums are left out, as in '
                                'training); give a MIDI file with a melodic track') from None
        raise
    return note_columns(notes, ('pitch', 'step', 'duration'))
