"""Tagging: one clip of audio → the tags that apply to it (any number of them), each with its probability.

    routine.set_task(Tagging(tags=['low', 'mid', 'high'], threshold=0.5))
    etude infer runs/<id>/checkpoints/best.pt clip.wav --threshold 0.3

A task kind of its own, written as a user of etude writes one: a subclass of `etude.tasks.Task` (here of the audio
half that classification and regression share, which reads and prepares clips as the training data was made),
registered by this package's entry point (`etude.tasks`), and checked with `etude.tasks.check_task(Tagging)`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch

from etude import ConfigError, Metric
from etude.tasks import AudioTask, InferenceOption, TaskExample, open_probability

from .data import TAGS


class TagF1(Metric):
    """Micro-averaged F1 over every (clip, tag) decision, and the share of clips whose tags are all right."""

    def __init__(self, threshold: float = 0.5) -> None:
        self.threshold = threshold
        self.counts = torch.zeros(4, dtype=torch.float64)  # true positives, false positives, false negatives, exact clips
        self.clips = torch.zeros((), dtype=torch.float64)

    def update(self, predictions: Any, targets: Any) -> None:
        guessed, true = torch.sigmoid(predictions.detach().float()).cpu() > self.threshold, targets.cpu() > 0.5
        self.counts += torch.tensor([(guessed & true).sum(), (guessed & ~true).sum(), (~guessed & true).sum(), (guessed == true).all(dim=1).sum()],
                                    dtype=torch.float64)
        self.clips += len(true)

    def merge(self, other: TagF1) -> None:
        self.counts, self.clips = self.counts + other.counts, self.clips + other.clips

    def compute(self) -> dict[str, float]:
        found, wrong, missed, exact = self.counts.tolist()
        f1 = 2 * found / (2 * found + wrong + missed) if found + wrong + missed else float('nan')
        return {'tag_f1': f1, 'exact_clips': exact / float(self.clips) if float(self.clips) else float('nan')}


@dataclass(kw_only=True)
class Tagging(AudioTask):
    """tags: the tag of each output, in order; threshold: the probability above which a tag is given."""

    kind: ClassVar[str] = 'tagging'
    options: ClassVar[tuple[InferenceOption, ...]] = (
        InferenceOption('--threshold', 'taggers: give a tag above this probability (default: the export\'s)', type=open_probability, metavar='P'),
    )

    tags: list[str] = field(default_factory=lambda: list(TAGS))
    threshold: float = 0.5

    def check(self) -> None:
        super().check()
        if not self.tags or len(set(self.tags)) != len(self.tags):
            raise ConfigError(f'a tagging task needs distinct tag names, got {self.tags}')
        if not 0 < self.threshold < 1:
            raise ConfigError(f'a tagging task\'s threshold must be between 0 and 1, got {self.threshold}')

    def decode(self, outputs: torch.Tensor, context: Any) -> list[dict[str, Any]]:
        threshold = (context.options.get('threshold') if context is not None else None) or self.threshold
        probabilities = torch.sigmoid(outputs.detach().float()).cpu()
        return [{'tags': [tag for tag, value in zip(self.tags, row, strict=True) if value > threshold],
                 'probabilities': {tag: round(float(value), 4) for tag, value in zip(self.tags, row, strict=True)}} for row in probabilities]

    def columns(self) -> list[tuple[str, str]]:
        return [('tags', 'tags')]

    def metrics(self, model: Any = None) -> list[Metric]:
        return [TagF1(self.threshold)]

    def baseline(self, train_targets: Any, evaluated_targets: Any) -> tuple[str, dict[str, float]]:
        """Every clip given the tags that most training clips have."""
        import numpy as np

        common = (np.asarray(train_targets).mean(axis=0) > 0.5).astype(np.float32)
        guesses = torch.from_numpy(np.where(common > 0, 10.0, -10.0).astype(np.float32)).expand(len(evaluated_targets), -1)
        metric = TagF1(self.threshold)
        metric.update(guesses, torch.as_tensor(np.asarray(evaluated_targets)))
        return 'commonest tags', metric.compute()

    def truth(self, target: torch.Tensor) -> dict[str, Any]:
        return {'tags': [tag for tag, value in zip(self.tags, target.tolist(), strict=True) if value > 0.5]}

    @classmethod
    def example(cls, folder: Path) -> TaskExample:
        """Forty clips, two epochs of a small TagNet, two clips written as WAV files for inference."""
        from etude.data import generate_dataset, read_dataset, write_audio

        from .data import ClipSampler, ClipSettings
        from .model import TagNet

        directory = folder / 'clips'
        if not directory.exists():
            generate_dataset(ClipSampler(ClipSettings(clips=40)), directory, seed=0, progress=False)
        stored = read_dataset(directory)
        inputs = []
        for index in range(2):
            write_audio(folder / f'clip-{index}.wav', stored.inputs[index], 8000)
            inputs.append(str(folder / f'clip-{index}.wav'))

        def build(routine: Any, parameters: Any) -> None:
            routine.set_dataset(read_dataset(directory), targets='tags')
            routine.set_task(cls(tags=list(TAGS), representation={'kind': 'waveform', 'sample_rate': 8000, 'normalise': 'none'}, num_samples=2048))
            routine.set_model(TagNet(parameters))

        defaults = TagNet.Parameters(channels=8, batch_size=8, num_of_epochs=2, dataset_split=(0.5, 0.25, 0.25))
        return TaskExample(defaults, build, inputs=inputs)
