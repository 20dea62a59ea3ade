"""A listening test of an expressive-performance run, in one command: held-out scores as the model plays them, beside
the deadpan and marks-only rule performances and the performance the data holds, paired by piece, loudness-matched.

    python -m etude.listening.performance runs/<id> listening/<id> [--pieces 4] [--beats 24]
    etude listen serve listening/<id>          # listeners rate each piece's four versions on one page (MOS, 0-100)
    etude listen results listening/<id>

Each condition plays the same excerpt of the score (its first `--beats` quarter notes), rendered with FluidSynth's
piano and normalised to -23 LUFS, so loudness does not decide the ratings. The 'performance' condition is the data's
own performance (synthetic for the offline rule-performance data: say so to listeners).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from ...errors import EtudeError
from ...listening.plan import ListeningPlan

__all__ = ['build_performance_test', 'main']

CONDITIONS = ('model', 'deadpan', 'rule', 'performance')


def build_performance_test(run: str | Path, test_directory: str | Path, *, pieces: int = 4, beats: float = 24.0, data: str | Path | None = None,
                           seed: int = 0) -> ListeningPlan:
    """Render the first `pieces` held-out pieces of a run in the four conditions and create a MOS test of them."""
    import yaml

    from ...data.generators.fluidsynth_render import render_midi
    from ...data.midi import midi_to_notes
    from ...data.score import read_score
    from .alignment import align_score_to_performance
    from ...data.store import read_dataset
    from ...export import load_export, load_model
    from ...listening.design import create_test
    from ...training.run_directory import RunDirectory
    from . import score_path_for
    from .codec import encode_performance, performance_to_midi, render_performance
    from .rule_performer import RulePerformer
    from .task import ExpressivePerformance, play_score

    run_directory = RunDirectory(Path(run))
    checkpoint = run_directory.path / 'checkpoints' / 'best.pt'
    if not checkpoint.is_file():
        raise EtudeError(f'{run}: no checkpoints/best.pt; give the folder of a finished expressive-performance run')
    export = load_export(checkpoint)
    if (export.get('task') or {}).get('kind') != 'expressive_performance':
        raise EtudeError(f'{checkpoint} is not an expressive-performance model; give a run of the expressive_performance routine')
    task = ExpressivePerformance.from_dict(export['task'])
    model = load_model(checkpoint)
    config = yaml.safe_load((run_directory.path / 'config.yaml').read_text()) or {}
    stored = read_dataset(Path(data) if data is not None else Path(config.get('data_directory', 'data')) / 'cache' / export['dataset']['name'])
    split = run_directory.read_split()
    if split is None:
        raise EtudeError(f'{run}: no split.json, so the held-out pieces are unknown')
    files = list(dict.fromkeys(stored.metadata['files'][index] for index in split['test']))[:pieces]
    raw_root = Path(stored.metadata['raw_root'])
    device = next(model.parameters()).device
    with tempfile.TemporaryDirectory(prefix='etude-performance-test-') as scratch:
        folders = {name: Path(scratch) / name for name in CONDITIONS}
        for folder in folders.values():
            folder.mkdir()
        for file in files:
            score_path = score_path_for(raw_root, file, task.pair_by)
            played = play_score(model, score_path, task, device)
            score = played['score']
            excerpt = score['onset_beats'] < score['onset_beats'].min() + beats
            rule_features = RulePerformer(marks_only=True, beat_seconds=task.deadpan_beat_seconds).play(score)
            rule, _ = render_performance(score, rule_features, start_seconds=task.start_seconds)
            performance = midi_to_notes(raw_root / file)
            expanded = read_score(score_path, expand_repeats=task.expand_repeats)
            alignment = align_score_to_performance(expanded, performance)
            encoded = encode_performance(expanded, performance, alignment.score_to_performance)
            human, _ = render_performance(expanded, encoded.targets, start_seconds=task.start_seconds)
            human = human[(expanded['onset_beats'] < expanded['onset_beats'].min() + beats) & (encoded.targets['matched'] == 1)]
            versions = {'model': played['notes'][:len(score)][excerpt], 'deadpan': played['deadpan'][:len(score)][excerpt],
                        'rule': rule[excerpt], 'performance': human}
            stem = Path(file).stem
            for name, notes in versions.items():
                notes = notes.copy()
                offset = notes['start'].min() - task.start_seconds  # every version starts after the same silence
                notes['start'], notes['end'] = notes['start'] - offset, notes['end'] - offset
                midi_path = folders[name] / f'{stem}.mid'
                performance_to_midi(notes, midi_path)
                render_midi(midi_path, midi_path.with_suffix('.wav'), sample_rate=44_100, piano_only=True)
        return create_test(test_directory, kind='mos', conditions={name: str(folder) for name, folder in folders.items()}, loudness_lufs=-23.0,
                           trim_to_shortest=True, multi_stimulus=True, title='Expressive performance: how human does each version sound?',
                           seed=seed)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog='python -m etude.listening.performance', description=__doc__.split('\n\n')[0])
    parser.add_argument('run', metavar='RUN', help='runs/<id> of an expressive_performance run')
    parser.add_argument('test_dir', metavar='TEST_DIR', help='a new (or empty) folder for the test')
    parser.add_argument('--pieces', type=int, default=4, help='held-out pieces (default 4)')
    parser.add_argument('--beats', type=float, default=24.0, help='quarter notes of each piece played (default 24)')
    parser.add_argument('--data', help="the run's stored dataset (default <data_directory>/cache/<name> from its config)")
    parser.add_argument('--seed', type=int, default=0, help="base of the listeners' random orders")
    arguments = parser.parse_args(argv)
    try:
        plan = build_performance_test(arguments.run, arguments.test_dir, pieces=arguments.pieces, beats=arguments.beats, data=arguments.data,
                                      seed=arguments.seed)
    except EtudeError as error:
        print(f'error: {error}', file=sys.stderr)
        return 2
    print(f'created a MOS test of {len(plan.pages)} pages in {arguments.test_dir}; run: etude listen serve {arguments.test_dir}')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
