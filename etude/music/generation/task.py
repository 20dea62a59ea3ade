"""Generation: a note model writes pieces, from scratch or continuing MIDI primers (seed 002's LSTM, `NoteLSTM`).

    routine.set_task(Generation(tile_notes=64))
    etude infer runs/<id> --num 4 --length 200 --temperature 0.9 --top-p 0.95 --seed 1 --output out/   # out/piece-000.mid ...
    etude infer runs/<id> primer.mid --num 2 --seconds 30 --output out/ --render                       # out/primer-000.mid + .wav

Inference: each primer's notes (all non-drum tracks merged, as in training) start `--num` pieces that continue them;
with no primer, `--num` pieces start from the begin token. All pieces of one command are sampled in one batch from
one generator seeded by `--seed` (`etude.music.generation.sampling`), so the same command (same primers in the same order)
writes the same files; `predictions.jsonl` records every setting with each piece. A primer that is not MIDI or has no
notes is one line, skipped, and `etude infer` exits with status 2.

Evaluation (`etude evaluate`): the NLL per note of the model on the split's tiles beside a unigram sampler and a
Markov chain fitted on the training tiles in the same pass (same notes, same nats: `etude.music.generation.likelihood`);
then `evaluation_pieces` pieces of `evaluation_notes` notes from the model, the unigram sampler and the Markov chain,
with the test pieces' openings as the ceiling, judged by `etude.music.generation.evaluation.judge_generated`.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from ...errors import ConfigError, DataFileError
from ...tasks.base import Evaluation, EvaluationContext, InferenceContext, InferenceOption, InputKind, Outcome, Task

if TYPE_CHECKING:
    import numpy as np

    from ...model import Model

__all__ = ['Generation']

SCRATCH = 'from scratch'
DRAWN = 'LSTM, times drawn'
HISTOGRAMS = ('pitch', 'step', 'duration', 'interval', 'pitch_class_transition')


def _whole(minimum: int) -> Any:
    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum:
            raise argparse.ArgumentTypeError(f'must be a whole number of at least {minimum}, got {text!r}')
        return value
    return convert


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float('nan')
    if not value > 0 or value == float('inf'):
        raise argparse.ArgumentTypeError(f'must be a positive number, got {text!r}')
    return value


def _probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float('nan')
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f'must be in (0, 1], got {text!r}')
    return value


@dataclass(kw_only=True)
class Generation(Task):
    """tile_notes: the notes per training tile (how the dataset was cut); evaluation_pieces / evaluation_notes: how
    many pieces of how many notes `etude evaluate` generates from the model and from each baseline."""

    kind: ClassVar[str] = 'generation'
    inputs: ClassVar[InputKind] = InputKind('MIDI primers', extensions=('.mid', '.midi'), required=False)
    writes_files: ClassVar[bool] = True
    options: ClassVar[tuple[InferenceOption, ...]] = (
        InferenceOption('--num', 'generators: pieces per primer, or from scratch without one (default 1)', type=_whole(1), default=1, metavar='N'),
        InferenceOption('--length', 'generators: notes to generate after the primer (default 200)', type=_whole(1), default=200, metavar='L'),
        InferenceOption('--seconds', 'generators: generate this many seconds of music instead of --length notes', type=_positive, metavar='S'),
        InferenceOption('--temperature', 'generators: divides the pitch logits; below 1 safer, above 1 wilder (default 1)', type=_positive,
                        default=1.0, metavar='T'),
        InferenceOption('--top-k', 'generators: draw among the K most likely pitches only (default 0: all)', type=_whole(0), default=0, metavar='K'),
        InferenceOption('--top-p', 'generators: nucleus sampling, the most likely pitches of total probability P (default 1)', type=_probability,
                        default=1.0, metavar='P'),
        InferenceOption('--seed', 'generators: seed of the draws; the same seed writes the same pieces (default 0)', type=int, default=0, metavar='S'),
        InferenceOption('--draw-times', "generators: draw each step and duration from the model's calibration table instead of taking "
                        'its prediction as it is (seed 002)', is_switch=True, default=False),
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
                                draw_times=bool(options.get('draw_times')))

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
        pieces = sample_notes(model, settings, primers)  # type: ignore[arg-type]
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

    # -- evaluation ---------------------------------------------------------------------------------------------

    def evaluate(self, context: EvaluationContext) -> Evaluation:
        import numpy as np

        from .baselines import MarkovNotes, UnigramNotes
        from .evaluation import CEILING, judge_generated
        from .likelihood import NoteLikelihood
        from .sampling import SamplingSettings, sample_notes
        from .tiles import tiles_from_windows

        tiles = tiles_from_windows(context.stored_dataset())
        parts = {name: tiles.subset(indices) for name, indices in context.indices.items()}
        evaluated = parts[context.split]
        figures, _, _ = context.evaluation_pass(tiles.torch_dataset(), context.indices[context.split], [NoteLikelihood()], keep=False)
        unigram = UnigramNotes.fit(parts['train'].notes, parts['train'].weights())
        markov = MarkovNotes.fit(parts['train'].notes, parts['train'].weights())
        concentration = markov.fit_concentration(parts['validation'].notes, parts['validation'].weights())
        nll = {'LSTM': figures, DRAWN: figures, 'unigram': unigram.nll_terms(evaluated.notes, evaluated.weights()),
               'Markov': markov.nll_terms(evaluated.notes, evaluated.weights())}

        count, length = self.evaluation_pieces, self.evaluation_notes
        generated = sample_notes(context.model, SamplingSettings(count=count, length_notes=length, seed=0))  # type: ignore[arg-type]
        drawn = sample_notes(context.model, SamplingSettings(count=count, length_notes=length, seed=0, draw_times=True))  # type: ignore[arg-type]
        candidates = {'LSTM': generated, DRAWN: drawn, 'unigram': unigram.sample(count, length, np.random.default_rng(0)),
                      'Markov': markov.sample(count, length, np.random.default_rng(1))}
        pieces = {name: part.piece_sequences() for name, part in parts.items()}
        judged = judge_generated(candidates, train=pieces['train'], validation=pieces['validation'], test=pieces[context.split])
        rows = {name: _flat(judged, name, nll.get(name, {}), context.split) for name in [*candidates, CEILING]}
        metrics = rows.pop('LSTM')
        runs = np.asarray(judged['memorisation_runs']['LSTM'])
        predictions = [{'piece': index, 'notes': int(len(piece)), 'longest_copied_run': int(runs[index]),
                        'pitch_range': int(piece[:, 0].max() - piece[:, 0].min())} for index, piece in enumerate(generated)]
        notes = [
            'NLL per note is in nats: -log P(pitch) - log P(step bin) - log P(duration bin) on the same notes for every model; the LSTM\'s '
            'step and duration are read as Gaussians in log(seconds + 0.01) with the spread it measured in training, and their bins\' '
            f'masses scored (the Markov chain\'s concentration, chosen on validation: {concentration:g}).',
            'JSD: Jensen–Shannon divergence in bits (0 identical, 1 disjoint), jsd_<histogram> against the training pieces, '
            f'jsd_<histogram>_vs_{context.split} against the {context.split} pieces; bins: '
            + '; '.join(f'{name}: {description}' for name, description in judged['bins'].items()) + '.',
            'Relative measures (Yang & Lerch 2020), against the training pieces: overlap area (1 best) and KL divergence (nats, 0 best) of '
            'the set\'s intra-set distance density with its inter-set density, for pitch-class histogram, pitch range, mean inter-onset '
            'interval and notes per 10 s.',
            f'Memorisation: the longest run of consecutive notes (pitch, step bin, duration bin; pitch_only_: pitches alone) a piece shares with '
            f'a training piece; {count} pieces of {length} notes per generator ({DRAWN}: the same LSTM, its steps and durations drawn from '
            f'its calibration tables, --draw-times); {CEILING}: the first {judged["notes_per_piece"]} notes of each '
            f'{context.split} piece.',
            *_where_not_better(metrics, rows),
        ]
        return Evaluation(split=context.split, metrics=metrics, baselines=rows, predictions=predictions, notes=notes,
                          details={'pieces': {'LSTM': generated[:4], DRAWN: drawn[:4], 'Markov': candidates['Markov'][:4],
                                              CEILING: pieces[context.split][:4]},
                                   'runs': {name: judged['memorisation_runs'][name] for name in judged['memorisation_runs']}},
                          record={'generation': {key: value for key, value in judged.items() if key != 'memorisation_runs'}, 'nll': nll})

    def figures(self, evaluation: Evaluation, folder: Path) -> dict[str, Path]:
        from .figures import copied_runs_figure, piano_rolls

        pieces = {name: [piece[:200] for piece in value] for name, value in evaluation.details.get('pieces', {}).items()}
        drawn = {}
        if pieces:
            drawn['Piano rolls: generated pieces (LSTM, Markov chain) beside test pieces, first 20 s'] = piano_rolls(pieces, folder / 'piano_rolls.png')
        if evaluation.details.get('runs'):
            drawn['Longest run of notes copied from a training piece, per piece'] = copied_runs_figure(evaluation.details['runs'],
                                                                                                      folder / 'copied_runs.png')
        return drawn


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
    return note_columns(midi_to_notes(path), ('pitch', 'step', 'duration'))


def _flat(judged: dict[str, Any], name: str, nll: dict[str, float], split: str) -> dict[str, float]:
    """One candidate's figures as flat names for the report's table."""
    row: dict[str, float] = {key: float(value) for key, value in nll.items() if key != 'loss'}
    divergences = judged['jensen_shannon_bits'][name]
    for histogram in HISTOGRAMS:
        row[f'jsd_{histogram}'] = divergences['train'][histogram]
        row[f'jsd_{histogram}_vs_{split}'] = divergences[split][histogram] if split in divergences else float('nan')
    for feature, values in judged['relative'][name].items():
        row[f'{feature}_overlap'] = values['overlap_area']
        row[f'{feature}_kl'] = values['kl_divergence']
    row.update(judged['memorisation'][name])
    return row


def _where_not_better(model: dict[str, float], baselines: dict[str, dict[str, float]]) -> list[str]:
    """Sentences naming each measure where a baseline does better than the LSTM (lower, or higher for overlaps)."""
    import math

    sentences = []
    for name, row in baselines.items():
        if name not in ('unigram', 'Markov'):
            continue
        worse = [key for key in model if key in row and not math.isnan(row[key]) and not math.isnan(model[key])
                 and not key.startswith(('longest_run', 'pitch_only', 'share_copying'))
                 and (row[key] > model[key] if key.endswith('_overlap') else row[key] < model[key])]
        if worse:
            sentences.append(f'The {name} baseline does better than the LSTM on: {", ".join(worse)}.')
    return sentences
