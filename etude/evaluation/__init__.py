"""Evaluation: a run's metrics recomputed on a split, with baselines, task figures and reports (`etude evaluate`), and
runs side by side (`etude compare`). Seed 000's third module, beside data and models. The metrics themselves are a
contract the Routine and the models share, so they live in `etude.metrics` (`from etude import Classification`).

    from etude.evaluation import evaluate_run
    evaluation = evaluate_run('runs/<id>', split='test')       # Evaluation(metrics, baselines, predictions, ...)

Names load on first use (PEP 562): `etude -h` imports only the command modules, which need no torch.
"""

from typing import TYPE_CHECKING

from ..lazy import lazy_names

if TYPE_CHECKING:
    from ..figures import confusion_matrix_figure, learning_curves_figure, regression_figure, regression_figures
    from .compare_command import RunRecord, compare_table, read_run
    from .evaluate import Evaluation, RunFiles, evaluate_run, locate_run
    from .report import write_report

_SOURCES = {
    **dict.fromkeys(['RunRecord', 'compare_table', 'read_run'], '.compare_command'),
    **dict.fromkeys(['Evaluation', 'RunFiles', 'evaluate_run', 'locate_run'], '.evaluate'),
    **dict.fromkeys(['confusion_matrix_figure', 'learning_curves_figure', 'regression_figure', 'regression_figures'], '..figures'),
    'write_report': '.report',
}

__all__ = [
    'Evaluation', 'RunFiles', 'RunRecord', 'compare_table', 'confusion_matrix_figure', 'evaluate_run', 'learning_curves_figure', 'locate_run', 'read_run',
    'regression_figure', 'regression_figures', 'write_report',
]


__getattr__, __dir__ = lazy_names(__name__, _SOURCES, __all__)
