"""The stimuli of a listening test of an expressive-performance run: held-out scores as the model plays them, beside
the deadpan and marks-only rule performances and the performance the data holds, paired by piece.

    etude listen from-run runs/<id> listening/<id> [--pieces 4] [--seconds 15] [--kind mos|mushra|ab]

Each condition plays the same excerpt of the score (its first quarter notes, as many as fill the requested seconds at
the deadpan tempo), rendered with FluidSynth's piano; `etude listen` normalises every stimulus to one loudness, so
loudness does not decide the ratings. The 'performance' condition is the data's own performance, the reference a
MUSHRA test compares against (synthetic for the offline rule-performance data: tell listeners so).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ...errors import ConfigError
from ...tasks.base import ListeningSet

if TYPE_CHECKING:
    from ...tasks.context import EvaluationContext
    from .protocol import ScorePerformer
    from .task import ExpressivePerformance

__all__ = ['CONDITIONS', 'write_performances']

CONDITIONS = ('model', 'deadpan', 'rule', 'performance')


def write_performances(model: ScorePerformer, task: ExpressivePerformance, context: EvaluationContext, folder: Path, *, pieces: int,
                       beats: float) -> ListeningSet:
    """Render the first `pieces` held-out pieces of the run in the four conditions into `folder/<condition>/<piece>.wav`."""
    from ...data.generators.fluidsynth_render import render_midi
    from ...data.midi import midi_to_notes
    from ...data.score import read_score
    from .alignment import align_score_to_performance
    from .baselines import score_path_for
    from .codec import encode_performance, performance_to_midi, render_performance
    from .play import play_score
    from .rule_performer import RulePerformer

    stored = context.stored_dataset()
    files = list(dict.fromkeys(stored.metadata['files'][index] for index in context.indices['test']))
    if len(files) < pieces:
        raise ConfigError(f'the run has {len(files)} held-out pieces; ask for at most that many (--pieces {len(files)})')
    raw_root = Path(stored.metadata['raw_root'])
    folders = {name: folder / name for name in CONDITIONS}
    for path in folders.values():
        path.mkdir(parents=True, exist_ok=True)
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
        versions = {'model': played['notes'][:len(score)][excerpt], 'deadpan': played['deadpan'][:len(score)][excerpt], 'rule': rule[excerpt],
                    'performance': human}
        for name, notes in versions.items():
            notes = notes.copy()
            offset = notes['start'].min() - task.start_seconds  # every version starts after the same silence
            notes['start'], notes['end'] = notes['start'] - offset, notes['end'] - offset
            midi_path = folders[name] / f'{Path(file).stem}.mid'
            performance_to_midi(notes, midi_path)
            render_midi(midi_path, midi_path.with_suffix('.wav'), sample_rate=44_100, piano_only=True)
    return ListeningSet({name: folders[name] for name in CONDITIONS if name != 'performance'}, reference=folders['performance'],
                        title='Expressive performance: how human does each version sound?', default_kind='mos')
