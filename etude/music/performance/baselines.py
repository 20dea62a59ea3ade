"""Judging expressive performances: the deadpan and marks-only baselines and the per-feature figures of a performance.

The models' figures come from `PerformanceMetrics` (`models/common.py`) over the test windows; the
two baselines are run through the same metric on the same windows, so every number compares like with like:

    deadpan   one tempo (the training notes' mean beat period), one velocity (their mean), every note on time and
              at its written length: what a score sounds like played by a sequencer
    rule      `RulePerformer(marks_only=True)`: the dynamics, articulations and fermatas of the score, nothing else
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

__all__ = ['baselines_mean', 'deadpan_predictions', 'rule_predictions', 'score_path_for', 'score_window_metrics']

LabelArrays = Mapping[str, np.ndarray]


def score_window_metrics(predictions: np.ndarray, labels: LabelArrays) -> dict[str, float]:
    """`PerformanceMetrics` of `(windows, notes, 4)` predictions against the stored labels of the same windows."""
    import torch

    from .models.common import PerformanceMetrics

    metric = PerformanceMetrics()
    metric.update(torch.as_tensor(predictions, dtype=torch.float64), {name: torch.as_tensor(np.asarray(values), dtype=torch.float64)
                                                                      for name, values in labels.items()})
    return metric.compute()


def deadpan_predictions(train_labels: LabelArrays, shape: tuple[int, int]) -> np.ndarray:
    """`(windows, notes, 4)` deadpan features: the training notes' mean velocity (matched notes) and beat period (all)."""
    matched, real = np.asarray(train_labels['matched']) == 1, np.asarray(train_labels['note_mask']) == 1
    velocity = float(np.asarray(train_labels['velocity'])[matched].mean())
    beat_seconds = float(np.asarray(train_labels['beat_seconds'])[real].mean())
    predictions = np.zeros((*shape, 4), dtype=np.float32)
    predictions[..., 0], predictions[..., 3] = velocity, beat_seconds
    return predictions


def rule_predictions(files: Sequence[str], starts: Sequence[int], length: int, score_of: Callable[[str], np.ndarray],
                     beat_seconds: float) -> np.ndarray:
    """`(windows, length, 4)` features of the marks-only rule performer for windows `(file, start)`, each piece's
    score read once by `score_of(file)` (a `read_score` array); its base tempo is `beat_seconds`."""
    from .rule_performer import RulePerformer

    performer = RulePerformer(marks_only=True, beat_seconds=beat_seconds)
    played: dict[str, np.ndarray] = {}
    predictions = np.zeros((len(files), length, 4), dtype=np.float32)
    for row, (file, start) in enumerate(zip(files, starts, strict=True)):
        if file not in played:
            features = performer.play(score_of(file))
            played[file] = np.stack([features[name] for name in ('velocity', 'onset_deviation', 'log_duration_ratio', 'beat_seconds')], axis=1)
        window = played[file][start:start + length]
        predictions[row, :len(window)] = window
    return predictions


def score_path_for(raw_root: Path, performance: str, pair_by: str) -> Path:
    """The score of a performance in a `score_performance_pairs` folder: the same stem, or the folder's only score."""
    from ...data.definitions import SCORE_EXTENSIONS
    from ...errors import DataFileError

    path = raw_root / performance
    if pair_by == 'stem':
        for extension in SCORE_EXTENSIONS:
            if path.with_suffix(extension).is_file():
                return path.with_suffix(extension)
    else:
        scores = sorted(candidate for extension in SCORE_EXTENSIONS for candidate in path.parent.glob(f'*{extension}'))
        if len(scores) == 1:
            return scores[0]
    raise DataFileError(f'{path}: its score is not beside it any more; etude evaluate needs the raw pairs the run read')


def baselines_mean(train: dict[str, np.ndarray]) -> float:
    """The training notes' mean beat period: the tempo of the deadpan and rule baselines."""
    import numpy as np

    return float(np.asarray(train['beat_seconds'])[np.asarray(train['note_mask']) == 1].mean())
