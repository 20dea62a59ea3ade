"""MetricalGeneration: a token model writes pieces in a metrical representation (REMI with voices, via miditok).

    routine.set_task(MetricalGeneration(representation=Representation().to_dict(), tile_tokens=256))
    etude infer runs/<id> --num 4 --length 200 --temperature 0.9 --seed 1 --output out/     # out/piece-000.mid: 4 voices, bars

The representation is the task's setting, so the export alone rebuilds the tokenizer: `etude infer` encodes MIDI
primers with it, samples tokens (`token_sampling.sample_tokens`) and writes MIDI with the time signature, a marker at
every bar and one track per voice (`tokens.Representation.write_midi`). Training and evaluation: the NLL per token and
per note of the model on a split's tiles (`metrics`), beside a unigram and the best Markov chain over the same tokens,
fitted once on the training tiles (`baselines`); at the end of a split, `evaluation_pieces` pieces of
`evaluation_notes` notes from the model, the baselines and the training pieces judged by the measures of
`metrical_measures` against the split's pieces (`on_split_end`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, cast

from ...errors import ConfigError, DataFileError
from ...tasks.base import Evaluation, InferenceContext, InferenceOption, InputKind, ListeningSet, Outcome, Task
from .protocol import TokenModel
from .task import SCRATCH, Generation, piece_names

if TYPE_CHECKING:
    import numpy as np
    import torch

    from ...metrics import Metric
    from ...model import Model
    from ...tasks.context import EvaluationContext
    from ...tasks.testing import TaskExample
    from ...training.routine_data import SplitView
    from .token_data import TokenTiles
    from .tokens import Representation

__all__ = ['MetricalGeneration']

CEILING = 'test excerpts'
TRAINING = 'train excerpts'



def _representation_class() -> type[Representation]:
    """The token representation, imported when first used: it brings numpy and miditok, which `etude train -h` must not."""
    from .tokens import Representation
    return Representation


@dataclass(kw_only=True)
class MetricalGeneration(Task):
    """representation: `tokens.Representation.to_dict()`; tile_tokens: tokens per training tile; evaluation_pieces /
    evaluation_notes: how many pieces of how many notes a split's end samples and judges."""

    kind: ClassVar[str] = 'metrical_generation'
    model_protocol: ClassVar[type | None] = TokenModel
    inputs: ClassVar[InputKind] = InputKind('MIDI primers', extensions=('.mid', '.midi'), required=False)
    writes_files: ClassVar[bool] = True
    options: ClassVar[tuple[InferenceOption, ...]] = tuple(option for option in Generation.options if option.flag != '--draw-times')

    representation: dict[str, Any] = field(default_factory=lambda: _representation_class()().to_dict())
    tile_tokens: int = 256
    evaluation_pieces: int = 32
    evaluation_notes: int = 200

    def check(self) -> None:
        _representation_class().from_dict(self.representation)
        for name in ('tile_tokens', 'evaluation_pieces', 'evaluation_notes'):
            if getattr(self, name) < 2:
                raise ConfigError(f'a generation task needs {name} of at least 2, got {getattr(self, name)}')

    @property
    def tokens(self) -> Representation:
        return _representation_class().from_dict(self.representation)

    # -- inference ----------------------------------------------------------------------------------------------

    def sampling_settings(self, options: Mapping[str, Any]) -> Any:
        return Generation.sampling_settings(cast(Generation, self), {**options, 'draw_times': False})

    def check_options(self, options: Mapping[str, Any]) -> None:
        self.sampling_settings(options)

    def infer(self, model: Model, sources: Sequence[str], context: InferenceContext) -> Iterator[Outcome]:
        import dataclasses

        import numpy as np

        from .token_sampling import sample_tokens

        settings, representation = self.sampling_settings(context.options), self.tokens
        if not context.options.get('weights') and hasattr(model, 'lstm') and next(model.parameters()).device.type == 'cpu':
            # int8 keeps the default run's figures (generation README) and samples faster on the CPU: the default there
            settings = dataclasses.replace(settings, weights='int8')
        primers, used, positions = [], [], []
        for position, source in enumerate(sources):
            try:
                primers.append(read_token_primer(source, representation))
                used.append(source)
                positions.append(position)
            except DataFileError as error:
                yield Outcome(source, error=str(error))
        if sources and not used:
            return
        pieces = sample_tokens(cast('Any', model), representation, settings, primers)
        names = piece_names(sources, settings.count)
        origins = [(source, position, index) for source, position in (zip(used, positions, strict=True) if used else [(SCRATCH, 0)])
                   for index in range(settings.count)]
        pitch = np.array(sorted(representation.token_values('Pitch')))
        for batch_index, (piece, (source, position, index)) in enumerate(zip(pieces, origins, strict=True)):
            notes = representation.voiced_notes(piece)
            quarters = float((notes[:, 1] + notes[:, 2]).max()) if len(notes) else 0.0
            primer_notes = int(np.isin(primers[used.index(source)], pitch).sum()) if source != SCRATCH else 0
            result = {'name': names[position][index], 'notes': len(notes), 'tokens': len(piece), 'primer_notes': primer_notes,
                      'seconds': round(quarters * 0.5, 3), 'bars': int((np.asarray(piece) == representation.tokenizer().vocab['Bar_None']).sum()),
                      'piece_in_batch': batch_index, 'primers': list(used), 'checkpoint': context.checkpoint, **settings.to_dict()}
            yield Outcome(source, result=result, name=names[position][index], artefacts={'tokens': piece})

    def write(self, outcome: Outcome, folder: Path, context: InferenceContext) -> list[Path]:
        written = [self.tokens.write_midi(outcome.artefacts['tokens'], folder / f'{outcome.stem}.mid')]
        if context.options.get('render'):
            from ...data.generators.fluidsynth_render import render_midi

            written.append(render_midi(written[0], folder / f'{outcome.stem}.wav'))
        return written

    def planned_files(self, sources: Sequence[str], folder: Path, options: Mapping[str, Any]) -> list[tuple[str, list[Path]]]:
        return Generation.planned_files(cast(Generation, self), sources, folder, options)

    def columns(self) -> list[tuple[str, str]]:
        return [('name', 'piece'), ('notes', 'notes'), ('bars', 'bars'), ('seconds', 'seconds')]

    @classmethod
    def example(cls, folder: Path) -> TaskExample:
        from .example import metrical_example

        return metrical_example(folder, cls)

    # -- training and evaluation ------------------------------------------------------------------------------

    def metrics(self, model: Model) -> list[Metric]:
        """NLL per token and per note in nats (`likelihood.TokenLikelihood`)."""
        from .likelihood import TokenLikelihood

        return [TokenLikelihood(sorted(self.tokens.token_values('Pitch')))]

    def baselines(self, data: SplitView, split: str) -> dict[str, dict[str, float]]:
        """The unigram and the Markov chain over the same tokens (order and β chosen on validation), scored on
        `split`'s tokens and judged on `evaluation_pieces` pieces of theirs; beside them the training pieces' and the
        split's own openings of the same length, judged alike (the floor and the ceiling of the measures)."""
        import numpy as np

        from .sampling import SamplingSettings
        from .token_baselines import fit_token_baselines

        parts, representation = self._parts(data), self.tokens
        unigram, markov = fit_token_baselines(parts['train'], parts['validation'], representation.vocabulary_size)
        pitch = np.array(sorted(representation.token_values('Pitch')))
        settings = SamplingSettings(count=self.evaluation_pieces, length_notes=self.evaluation_notes, seed=1)
        references = self._references(parts, split)
        figures = {}
        for name, chain in (('unigram', unigram), ('markov', markov)):
            pieces = [representation.voiced_notes(piece) for piece in chain.sample(representation, settings)]
            figures[name] = {**chain.nll_terms(parts[split], pitch), **self._judged(pieces, references)}
        figures['markov'] |= {'order': float(markov.order), 'concentration': markov.concentration}
        figures[TRAINING] = self._judged(references['train'][:max(self.evaluation_pieces, len(references['evaluated']))], references, copies=False)
        figures[CEILING] = self._judged(references['evaluated'], references, copies=False)
        return figures

    def on_split_end(self, model: Model, split: str, data: SplitView, metrics: Sequence[Metric], device: torch.device) -> dict[str, float]:
        """`evaluation_pieces` pieces of `evaluation_notes` notes from the model (seed 0), judged as the baselines are."""
        return self._judged(self._sampled(model), self._references(self._parts(data), split))

    def evaluation_data(self, context: EvaluationContext) -> SplitView:
        from .token_data import token_tiles

        return context.split_view(token_tiles(context.stored_dataset()).torch_dataset())

    def describe(self, evaluation: Evaluation, context: EvaluationContext, data: SplitView, kept: list[Any], metrics: Sequence[Metric]) -> None:
        """One row per sampled piece, and the pieces the piano rolls draw (the model, the Markov chain, test pieces)."""
        import numpy as np

        from .sampling import SamplingSettings
        from .token_baselines import fit_token_baselines

        parts, representation = self._parts(data), self.tokens
        pieces = self._sampled(context.model)
        evaluation.predictions.extend({'piece': index, 'notes': len(piece), 'pitch_range': float(np.ptp(piece[:, 0])) if len(piece) else 0.0}
                                      for index, piece in enumerate(pieces))
        _, markov = fit_token_baselines(parts['train'], parts['validation'], representation.vocabulary_size)
        shown = markov.sample(representation, SamplingSettings(count=4, length_notes=self.evaluation_notes, seed=1))
        evaluation.details['pieces'] = {'model': pieces[:4], 'Markov': [representation.voiced_notes(piece) for piece in shown],
                                        CEILING: self._references(parts, evaluation.split)['evaluated'][:4]}
        evaluation.notes.append('Figures of the model beside the unigram and the Markov chain over the same tokens, and the training and '
                                f'{evaluation.split} pieces\' openings of {self.evaluation_notes} notes (etude.music.generation.metrical_measures).')

    def figures(self, evaluation: Evaluation, folder: Path) -> dict[str, Path]:
        from .figures import piano_rolls

        if not evaluation.details.get('pieces'):
            return {}
        caption = 'Piano rolls: the model, the Markov chain and test pieces, first 20 s (a colour per voice, a grey line per bar)'
        return {caption: piano_rolls(evaluation.details['pieces'], folder / 'piano_rolls.png')}

    def _parts(self, data: SplitView) -> dict[str, TokenTiles]:
        from .token_data import token_tiles

        tiles = token_tiles(data.stored())
        return {name: tiles.subset(indices) for name, indices in data.indices.items()}

    def _references(self, parts: dict[str, TokenTiles], split: str) -> dict[str, list[np.ndarray]]:
        """As voiced notes: 'train' and 'evaluated' (`split`'s) pieces, each cut to its first `evaluation_notes` notes,
        and 'copies', the whole training pieces (for the longest copied run)."""
        representation = self.tokens
        whole = {name: [representation.voiced_notes(piece) for piece in parts[name].piece_sequences()] for name in {'train', split}}
        return {'copies': whole['train'], 'train': [piece[:self.evaluation_notes] for piece in whole['train']],
                'evaluated': [piece[:self.evaluation_notes] for piece in whole[split]]}

    @staticmethod
    def _judged(pieces: list[np.ndarray], references: dict[str, list[np.ndarray]], *, copies: bool = True) -> dict[str, float]:
        """`metrical_measures.metrical_figures` of `pieces` against the evaluated split's openings."""
        from .metrical_measures import metrical_figures

        return metrical_figures(pieces, references['evaluated'], references['copies'] if copies else None)

    def _sampled(self, model: Model) -> list[np.ndarray]:
        """The model's judged pieces as voiced notes: always the same draw (seed 0), so training and `etude evaluate` agree."""
        from .sampling import SamplingSettings
        from .token_sampling import sample_tokens

        representation = self.tokens
        pieces = sample_tokens(cast('Any', model), representation, SamplingSettings(count=self.evaluation_pieces, length_notes=self.evaluation_notes, seed=0))
        return [representation.voiced_notes(piece) for piece in pieces]

    # -- listening ----------------------------------------------------------------------------------------------

    def listening_set(self, context: EvaluationContext, folder: Path, *, pieces: int, seconds: float, seed: int) -> ListeningSet:
        """`pieces` pieces of about `seconds` from the model and from the run's Markov chain, and as many test pieces'
        openings, rendered with FluidSynth under the same names (`piece-000` ...); no reference: MOS or A/B."""
        from ...data.generators.fluidsynth_render import render_midi
        from .sampling import SamplingSettings
        from .token_baselines import fit_token_baselines
        from .token_sampling import sample_tokens

        representation = self.tokens
        parts = self._parts(self.evaluation_data(context))
        test = parts['test'].piece_sequences()
        if len(test) < pieces:
            raise ConfigError(f'the run has {len(test)} test pieces; ask for at most that many (--pieces {len(test)})')
        settings = SamplingSettings(count=pieces, length_notes=None, length_seconds=seconds, seed=seed)
        _, markov = fit_token_baselines(parts['train'], parts['validation'], representation.vocabulary_size)
        sets = {'model': sample_tokens(cast('Any', context.model), representation, settings), 'markov': markov.sample(representation, settings),
                'test': [opening(piece, representation, seconds) for piece in test[:pieces]]}
        conditions = {}
        for name, written in sets.items():
            target = folder / name
            target.mkdir(parents=True, exist_ok=True)
            for index, piece in enumerate(written):
                midi = representation.write_midi(piece, target / f'piece-{index:03d}.mid')
                render_midi(midi, midi.with_suffix('.wav'))
            conditions[name] = target
        return ListeningSet(conditions, title='Generated chorales: how musical is each excerpt?', default_kind='mos')


def opening(piece: np.ndarray, representation: Representation, seconds: float) -> np.ndarray:
    """The tokens of `piece` before the first bar that starts at or after `seconds` (120 quarter notes a minute)."""
    from .token_sampling import Grammar

    grammar, elapsed, bar_quarters, bars = Grammar(representation), 0.0, 4.0, 0
    for index, token in enumerate(piece.tolist()):
        if grammar.is_bar[token]:
            if bars:
                elapsed += bar_quarters
                if elapsed * 0.5 >= seconds:
                    return piece[:index]
            bars += 1
        elif grammar.bar_quarters[token] > 0:
            bar_quarters = float(grammar.bar_quarters[token])
    return piece


def read_token_primer(source: str, representation: Representation) -> np.ndarray:
    """A primer's token ids; a DataFileError naming the file when it is not MIDI or has no notes in range."""
    path = Path(source)
    if not path.is_file():
        raise DataFileError(f'{source}: no such file')
    if path.suffix.lower() not in ('.mid', '.midi'):
        raise DataFileError(f'{source}: not a MIDI file (.mid, .midi); a primer is a MIDI file whose notes the pieces continue')
    return representation.encode_file(path)
