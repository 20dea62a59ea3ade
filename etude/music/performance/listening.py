"""The stimuli of a listening test of an expressive-performance run: held-out scores as the model plays them, beside
deadpan and a performance the data holds, paired by piece.

    etude listen from-run runs/<id> listening/<id> [--pieces 4] [--seconds 15] [--kind mushra|ab|mos]

Each condition plays the same excerpt of the score (its first quarter notes, as many as fill the requested seconds at
the deadpan tempo), rendered with FluidSynth's piano; `etude listen` normalises every stimulus to one loudness
(-23 LUFS) and tells listeners nothing of which stimulus is which. Two kinds of data:

- match files ((n)ASAP, `MatchSequences`): per held-out score, one pianist's performance (the reference: their own
  notes and pedal, as recorded, cut to the excerpt), the model and deadpan. A MUSHRA test by default: the pianist
  is the reference the other two are rated against (and hidden among them); `--kind ab` puts the model against
  deadpan, `--kind mos` rates all three.
- MusicXML + MIDI pairs (the synthetic chorales): also the marks-only rule performer, and the data's own
  performance (synthetic offline: tell the listeners), a MOS test by default.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ...errors import ConfigError, DataFileError
from ...tasks.base import ListeningSet

if TYPE_CHECKING:
    from ...tasks.context import EvaluationContext
    from .protocol import ScorePerformer
    from .task import ExpressivePerformance

__all__ = ['CONDITIONS', 'score_path_for', 'write_performances']

CONDITIONS = ('model', 'deadpan', 'rule', 'performance')
_TITLE = 'Expressive performance: how human does each version sound?'


def score_path_for(raw_root: Path, performance: str, pair_by: str) -> Path:
    """The score of a performance in a `score_performance_pairs` folder: the same stem, or the folder's only score."""
    from ...data.definitions import SCORE_EXTENSIONS

    path = raw_root / performance
    if pair_by == 'stem':
        for extension in SCORE_EXTENSIONS:
            if path.with_suffix(extension).is_file():
                return path.with_suffix(extension)
    else:
        scores = sorted(candidate for extension in SCORE_EXTENSIONS for candidate in path.parent.glob(f'*{extension}'))
        if len(scores) == 1:
            return scores[0]
    raise DataFileError(f'{path}: its score is not beside it any more; etude listen needs the raw pairs the run read')


def _write(versions: dict[str, tuple[np.ndarray, np.ndarray | None]], folder: Path, name: str, start_seconds: float) -> None:
    """Each version's notes (and pedal) moved to begin after the same silence, written as MIDI and rendered by one piano."""
    from ...data.generators.fluidsynth_render import render_midi
    from .codec import performance_to_midi

    for condition, (notes, pedal) in versions.items():
        notes = notes.copy()
        offset = notes['start'].min() - start_seconds  # every version starts after the same silence
        notes['start'], notes['end'] = notes['start'] - offset, notes['end'] - offset
        moved = None if pedal is None else np.stack([np.maximum(pedal[:, 0] - offset, 0.0), pedal[:, 1]], axis=1)
        midi_path = folder / condition / f'{name}.mid'
        midi_path.parent.mkdir(parents=True, exist_ok=True)
        performance_to_midi(notes, midi_path, pedal=moved)
        render_midi(midi_path, midi_path.with_suffix('.wav'), sample_rate=44_100, piano_only=True)


def _excerpt_of_pianist(match: Path, score: Path, beats: float) -> tuple[np.ndarray, np.ndarray]:
    """The pianist's notes (every note they played, wrong or added ones too) and pedal from the first score onset to
    the last played note of the score's first `beats` quarter notes."""
    from .scored_match import read_scored_match

    scored = read_scored_match(match, score)
    onsets = scored.score['onset_beats']
    inside = (onsets < onsets.min() + beats) & (scored.score_to_performance >= 0)
    if not inside.any():
        raise DataFileError(f'{match}: the pianist plays none of the first {beats:g} quarter notes of the score')
    played = scored.performance[scored.score_to_performance[inside]]
    first, last = float(played['start'].min()), float(played['start'].max())
    notes = scored.performance[(scored.performance['start'] >= first - 0.05) & (scored.performance['start'] <= last)]
    pedal = scored.pedal[(scored.pedal[:, 0] >= first) & (scored.pedal[:, 0] <= float(notes['end'].max()))] if len(scored.pedal) else scored.pedal
    before = scored.pedal[scored.pedal[:, 0] < first] if len(scored.pedal) else scored.pedal
    if len(before):  # the pedal as it stood when the excerpt begins
        pedal = np.concatenate([[[first, before[-1, 1]]], pedal])
    return notes, pedal


def write_pianist_versions(model: ScorePerformer, task: ExpressivePerformance, context: EvaluationContext, folder: Path, *, pieces: int,
                           beats: float, seed: int) -> ListeningSet:
    """Match-file data: per held-out score, one pianist's performance (the reference), the model and deadpan."""
    from .play import play_score

    stored = context.stored_dataset()
    raw_root = Path(stored.metadata['raw_root'])
    by_score: dict[str, list[str]] = {}
    for row in context.indices['test']:
        file = stored.metadata['files'][row]
        by_score.setdefault(str(Path(file).parent), [])
        if file not in by_score[str(Path(file).parent)]:
            by_score[str(Path(file).parent)].append(file)
    if len(by_score) < pieces:
        raise ConfigError(f'the run has {len(by_score)} held-out scores; ask for at most that many (--pieces {len(by_score)})')
    rng = np.random.default_rng(seed)
    for score_folder in sorted(by_score)[:pieces]:
        performances = sorted(by_score[score_folder])
        pianist = performances[int(rng.integers(len(performances)))]
        score_path = raw_root / score_folder / 'xml_score.musicxml'
        played = play_score(model, score_path, task, context.device)
        score = played['score']
        excerpt = score['onset_beats'] < score['onset_beats'].min() + beats
        end = float(played['notes'][:len(score)][excerpt]['end'].max())
        pedal = played['pedal'][played['pedal'][:, 0] <= end] if len(played['pedal']) else played['pedal']
        versions = {'model': (played['notes'][:len(score)][excerpt], pedal), 'deadpan': (played['deadpan'][:len(score)][excerpt], None),
                    'performance': _excerpt_of_pianist(raw_root / pianist, score_path, beats)}
        _write(versions, folder, score_folder.replace('/', '_'), task.start_seconds)
    return ListeningSet({name: folder / name for name in ('model', 'deadpan')}, reference=folder / 'performance', title=_TITLE,
                        default_kind='mushra')


def write_performances(model: ScorePerformer, task: ExpressivePerformance, context: EvaluationContext, folder: Path, *, pieces: int,
                       beats: float, seed: int = 0) -> ListeningSet:
    """Render `pieces` held-out pieces of the run into `folder/<condition>/<piece>.wav` (see the module docstring)."""
    from ...data.midi import midi_to_notes
    from ...data.score import read_score
    from .alignment import align_score_to_performance
    from .codec import encode_performance, render_performance
    from .play import play_score
    from .rule_performer import RulePerformer

    stored = context.stored_dataset()
    if (stored.metadata.get('source') or {}).get('kind') == 'match_sequences':
        return write_pianist_versions(model, task, context, folder, pieces=pieces, beats=beats, seed=seed)
    files = list(dict.fromkeys(stored.metadata['files'][index] for index in context.indices['test']))
    if len(files) < pieces:
        raise ConfigError(f'the run has {len(files)} held-out pieces; ask for at most that many (--pieces {len(files)})')
    raw_root = Path(stored.metadata['raw_root'])
    for file in files[:pieces]:
        score_path = score_path_for(raw_root, file, task.pair_by)
        played = play_score(model, score_path, task, context.device)
        score = played['score']
        excerpt = score['onset_beats'] < score['onset_beats'].min() + beats
        rule, _ = render_performance(score, RulePerformer(marks_only=True, beat_seconds=task.deadpan_beat_seconds).play(score),
                                     start_seconds=task.start_seconds)
        expanded = read_score(score_path, expand_repeats=task.expand_repeats)
        performance = midi_to_notes(raw_root / file)
        encoded = encode_performance(expanded, performance, align_score_to_performance(expanded, performance).score_to_performance)
        human, _ = render_performance(expanded, encoded.targets, start_seconds=task.start_seconds)
        human = human[(expanded['onset_beats'] < expanded['onset_beats'].min() + beats) & (encoded.targets['matched'] == 1)]
        _write({'model': (played['notes'][:len(score)][excerpt], None), 'deadpan': (played['deadpan'][:len(score)][excerpt], None),
                'rule': (rule[excerpt], None), 'performance': (human, None)}, folder, Path(file).stem, task.start_seconds)
    return ListeningSet({name: folder / name for name in CONDITIONS if name != 'performance'}, reference=folder / 'performance',
                        title=_TITLE, default_kind='mos')
