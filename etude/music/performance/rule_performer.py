"""A rule-based pianist: synthetic, honestly labelled performances of real scores, for offline work.

Real aligned performances (ASAP, the Vienna 4x22 corpus) need a download. Offline, etude plays music21's Bach
chorales itself with a few rules from the performance-research literature (Friberg and Sundberg's KTH rules in
spirit, not in detail), so there is structure to learn and a known answer to check against:

- dynamics from the marks (the level in effect; mezzo-forte without one), accents louder;
- phrases end at fermatas (every four bars where a score has none): within a phrase, the tempo is fastest and the
  sound loudest in the middle (an arch), and the last three beats slow down (phrase-final ritardando), the fermata
  itself is held longer;
- the melody (the top part) leads: louder and a little early; downbeats a little louder than weak beats;
- articulation from the marks: staccato short, tenuto full, legato otherwise;
- seeded randomness in velocity and timing, so two performances of one score differ as two takes do.

The performances are written as MIDI beside the score's MusicXML, so `score_performance_pairs` and
`PerformanceSequences` read them like a real corpus. They prove the pipeline, not musicality: a model trained on
them learns these rules, and nothing about how pianists play.

    export_rule_performances('data/rule-performances', limit=120, seed=0)
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ...errors import ConfigError

__all__ = ['RulePerformer', 'export_rule_performances']

SYNTHETIC_NOTE = 'SYNTHETIC.md'


@dataclass(frozen=True)
class RulePerformer:
    """The rules' strengths. `marks_only=True` plays only what is written (dynamics, articulations, fermatas) at one
    tempo: the 'marks-only rule performer' that a learnt model should beat.

    Attributes:
        beat_seconds: the base quarter-note period (0.6 s, 100 bpm).
        tempo_arch: how much faster the middle of a phrase is than its ends (a fraction of the period).
        ritardando: how much longer the last three beats of a phrase grow, at the end (a fraction of the period).
        loudness_arch: velocity added at the middle of a phrase over its ends.
        melody_lead_seconds: how early the top part plays; melody_velocity: how much louder.
        metric_accent: velocity added on a downbeat (scaled by the metrical weight).
        velocity_noise, timing_noise_seconds: standard deviations of the take-to-take randomness.
        marks_only: play only the marks.
    """

    beat_seconds: float = 0.6
    tempo_arch: float = 0.12
    ritardando: float = 0.4
    loudness_arch: float = 18.0
    melody_lead_seconds: float = 0.025
    melody_velocity: float = 10.0
    metric_accent: float = 8.0
    velocity_noise: float = 2.0
    timing_noise_seconds: float = 0.006
    marks_only: bool = False

    def play(self, score: np.ndarray, seed: int = 0) -> dict[str, np.ndarray]:
        """Performance features (`etude.music.performance.codec.PERFORMANCE_FEATURES` but `matched`) of a `read_score` array:
        `render_performance(score, features)` turns them into notes."""
        from ...data.score import ARTICULATIONS
        from .codec import beat_index

        rng = np.random.default_rng(seed)
        onsets, count = score['onset_beats'], len(score)
        first, beats = beat_index(onsets)
        mark = lambda name: ((score['articulations'] >> ARTICULATIONS.index(name)) & 1).astype(bool)  # noqa: E731
        fermata, staccato, tenuto, accent = mark('fermata'), mark('staccato'), mark('tenuto'), mark('accent') | mark('strong_accent')
        level = np.where(np.isnan(score['dynamic_level']), 0.55, score['dynamic_level']).astype(np.float64)
        velocity = 20.0 + 90.0 * level + 12.0 * accent
        ratio = np.where(staccato, np.log2(0.45), np.where(tenuto, 0.0, np.log2(0.88)))
        deviation = np.zeros(count)
        beat_count = int(beats.max()) + 1
        period = np.full(beat_count, self.beat_seconds)
        position, to_end = self._phrase_position(score, first, beat_count)
        fermata_beats = np.unique(beats[fermata])
        period[fermata_beats] *= 1.3  # a held fermata, in the score's time
        if not self.marks_only:
            period *= 1.0 + self.tempo_arch * ((2.0 * position - 1.0) ** 2 - 0.5)
            period *= 1.0 + self.ritardando * np.clip(1.0 - to_end / 3.0, 0.0, 1.0) ** 2
            top = score['part'] == score['part'].min()
            velocity += self.loudness_arch * (np.sin(np.pi * position[beats]) - 0.5)
            velocity += self.melody_velocity * top + self.metric_accent * (np.nan_to_num(score['beat_strength'], nan=0.25) - 0.5)
            deviation -= self.melody_lead_seconds * top
            velocity += rng.normal(0.0, self.velocity_noise, count)
            deviation += rng.normal(0.0, self.timing_noise_seconds, count)
            ratio += rng.normal(0.0, 0.05, count)
        return {'velocity': (np.clip(np.rint(velocity), 1, 127) / 127.0).astype(np.float32), 'onset_deviation': deviation.astype(np.float32),
                'log_duration_ratio': ratio.astype(np.float32), 'beat_seconds': period[beats].astype(np.float32)}

    @staticmethod
    def _phrase_position(score: np.ndarray, first: float, beat_count: int) -> tuple[np.ndarray, np.ndarray]:
        """Per beat, its position 0-1 within its phrase and the beats left to the phrase's end. Phrases end after a
        fermata's beat, or every four bars (16 quarter notes) where the score has no fermata."""
        from ...data.score import ARTICULATIONS
        from .codec import beat_index

        fermata = ((score['articulations'] >> ARTICULATIONS.index('fermata')) & 1).astype(bool)
        _, beats = beat_index(score['onset_beats'])
        ends = np.unique(beats[fermata]) if fermata.any() else np.arange(15, beat_count, 16)
        ends = np.union1d(ends, [beat_count - 1])
        starts = np.concatenate([[0], ends[:-1] + 1])
        position, to_end = np.zeros(beat_count), np.zeros(beat_count)
        for start, end in zip(starts, ends, strict=True):
            span = np.arange(start, end + 1)
            position[span] = (span - start) / max(end - start, 1)
            to_end[span] = end - span
        return position, to_end


def export_rule_performances(directory: str | os.PathLike[str], *, limit: int = 120, seed: int = 0, performer: RulePerformer | None = None,
                             workers: int = 1, progress: bool = False) -> list[Path]:
    """Write `limit` chorales as `<bwv>.musicxml` and the rule performer's `<bwv>.mid` beside it, plus SYNTHETIC.md.

    Deterministic for a seed (each piece's randomness is drawn from the seed and its index); files already present
    are kept. The chorales' MusicXML comes from `export_chorales` (music21's corpus, offline).

    Args:
        progress: show a bar while chorales are exported and performed (n of N).

    Returns:
        The performance MIDI files.
    """
    from ...data.audio import atomic_path
    from ...data.generators.chorales import chorale_names, export_chorales
    from ...data.score import read_score
    from .codec import performance_to_midi, render_performance

    if limit < 1:
        raise ConfigError(f'export_rule_performances needs limit >= 1, got {limit}')
    performer = performer or RulePerformer()
    root = Path(directory)
    scores = root / '.scores'
    export_chorales(scores, names=chorale_names(limit), write_musicxml=True, workers=workers, progress=progress)
    written = []
    for index, xml in enumerate(tqdm(sorted(scores.glob('*.musicxml'), key=lambda path: path.name), desc='performing', unit='score',
                                     disable=None if progress else True)):
        target_xml, target_midi = root / xml.name, (root / xml.name).with_suffix('.mid')
        if not target_midi.exists():
            score = read_score(xml, expand_repeats=True)
            notes, _ = render_performance(score, performer.play(score, seed=seed * 100_003 + index), start_seconds=0.5)
            performance_to_midi(notes, target_midi)
        if not target_xml.exists():
            shutil.copyfile(xml, target_xml)
        written.append(target_midi)
    note = {'synthetic': True, 'performer': asdict(performer), 'seed': seed, 'pieces': len(written),
            'what': 'Bach chorales from music21 played by etude.music.performance.rule_performer: not human performances'}
    with atomic_path(root / SYNTHETIC_NOTE) as temporary:
        temporary.write_text('# Synthetic performances\n\nThese MIDI files were played by a rule-based performer, not by people: '
                             'they prove a pipeline, not musicality.\n\n```json\n' + json.dumps(note, indent=2) + '\n```\n')
    return written
