"""A tiny run of the expressive-performance kind, for its conformance suite (`check_task(ExpressivePerformance)`).

Four Bach chorales from music21's corpus (offline) played by the rule performer, windows of 32 notes, and a
PerformanceLSTM of 8 units trained for two epochs; the first chorale's score is the inference input.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...tasks.testing import TaskExample

if TYPE_CHECKING:
    from ...training.routine import Routine
    from .task import ExpressivePerformance

__all__ = ['performance_example']


def performance_example(folder: Path, kind: type[ExpressivePerformance]) -> TaskExample:
    """The pairs (`<bwv>.musicxml` beside `<bwv>.mid`) in `folder/pairs`."""
    from .rule_performer import export_rule_performances

    pairs = folder / 'pairs'
    performances = export_rule_performances(pairs, limit=4, seed=0)

    def build(routine: Routine, parameters: Any) -> None:
        from ...data.dataset_layouts import score_performance_pairs
        from ...data.sequences import SequenceCache
        from .models.lstm import PerformanceLSTM
        from .sequences import PERFORMANCE_TARGETS, PerformanceSequences

        definition = score_performance_pairs(pairs, pair_by='stem', on_error='skip')
        stored = SequenceCache(definition, PerformanceSequences(sequence_length=32, hop=32), cache_root=folder / 'cache', on_error='skip', workers=1,
                               progress=False).load()
        routine.set_dataset(stored, targets={name: name for name in PERFORMANCE_TARGETS})
        routine.set_task(kind(sequence_length=32))
        routine.set_model(PerformanceLSTM(parameters))

    from .models.lstm import PerformanceLSTM

    defaults = PerformanceLSTM.Parameters(hidden_size=8, layers=1, batch_size=4, num_of_epochs=2, dataset_split=(0.5, 0.25, 0.25), learning_rate=3e-3)
    return TaskExample(defaults, build, inputs=[str(performances[0].with_suffix('.musicxml'))])
