"""The figures of a run's evaluation, written as PNG files: confusion matrix, regression scatter and errors, learning curves.

matplotlib is imported inside the functions, so `import etude.figures` costs nothing until a figure is
drawn. Figures are built on matplotlib's object API (`matplotlib.figure.Figure`, rendered by the Agg canvas) rather
than pyplot: no display is needed, no global backend is switched under a user's notebook, and no figure is left
registered in pyplot's global list. Each file is written atomically, so a report never embeds half a PNG.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .atomic_files import write_atomic

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    'confusion_matrix_figure', 'draw_confusion_matrix', 'draw_learning_curves', 'draw_regression', 'learning_curves_figure', 'new_figure',
    'regression_figure', 'regression_figures', 'save_figure',
]

DPI = 100


def new_figure(width: float, height: float) -> Figure:
    """A figure of `width` × `height` inches drawn by the Agg canvas, independent of pyplot."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=DPI, layout='constrained')


def save_figure(figure: Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_atomic(path, lambda file: figure.savefig(file, format='png'))


def confusion_matrix_figure(matrix: Any, class_names: Sequence[str], path: str | Path, *, title: str = 'Confusion matrix') -> Path:
    """Write `draw_confusion_matrix` as a PNG at `path`; returns the path written."""
    return save_figure(draw_confusion_matrix(matrix, class_names, title=title), path)


def draw_confusion_matrix(matrix: Any, class_names: Sequence[str], *, title: str = 'Confusion matrix') -> Figure:
    """The confusion matrix `(classes, classes)` of counts (rows: true class, columns: predicted) as a Figure.

    Each cell shows its count; its colour is the count divided by its row's total (the recall of that true class),
    so a rare class's errors are as visible as a common one's.
    """
    counts = np.asarray(matrix, dtype=np.float64)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1] or counts.shape[0] != len(class_names):
        raise ValueError(f'a confusion matrix for {len(class_names)} classes must be ({len(class_names)}, {len(class_names)}), got {counts.shape}')
    totals = counts.sum(axis=1, keepdims=True)
    rates = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    classes = len(class_names)
    side = min(4.0 + 0.45 * classes, 16.0)
    figure = new_figure(side + 1.2, side)
    axes = figure.add_subplot()
    image = axes.imshow(rates, cmap='Blues', vmin=0.0, vmax=1.0)
    figure.colorbar(image, ax=axes, label='fraction of the true class', shrink=0.8)
    crowded = classes * max(len(str(name)) for name in class_names) > 40  # long names side by side would overlap
    axes.set_xticks(range(classes), labels=[str(name) for name in class_names], rotation=45 if crowded else 0, ha='right' if crowded else 'center')
    axes.set_yticks(range(classes), labels=[str(name) for name in class_names])
    axes.set_xlabel('predicted')
    axes.set_ylabel('true')
    total = counts.sum()
    accuracy = np.trace(counts) / total if total else float('nan')
    axes.set_title(f'{title} (accuracy {accuracy:.1%}, n = {int(total)})')
    if classes <= 30:  # beyond that the numbers no longer fit their cells
        font_size = 10 if classes <= 12 else 7
        for row in range(classes):
            for column in range(classes):
                colour = 'white' if rates[row, column] > 0.5 else 'black'
                axes.text(column, row, f'{counts[row, column]:.0f}', ha='center', va='center', color=colour, fontsize=font_size)
    return figure


def regression_figure(predicted: Any, true: Any, path: str | Path, *, name: str, unit: str = '') -> Path:
    """Write `draw_regression` as a PNG at `path`; returns the path written."""
    return save_figure(draw_regression(predicted, true, name=name, unit=unit), path)


def draw_regression(predicted: Any, true: Any, *, name: str, unit: str = '') -> Figure:
    """Predicted vs true (with the identity line) beside the histogram of errors, for one regression target.

    `predicted` and `true` are `(items,)` values of the target `name` in `unit`.
    """
    predictions, targets = np.asarray(predicted, dtype=np.float64).ravel(), np.asarray(true, dtype=np.float64).ravel()
    if predictions.shape != targets.shape or predictions.size == 0:
        raise ValueError(f'{name}: predicted and true values must be non-empty and of one length, got {predictions.shape} and {targets.shape}')
    errors = predictions - targets
    suffix = f' ({unit})' if unit else ''
    figure = new_figure(10.0, 4.5)
    scatter, histogram = figure.subplots(1, 2)
    scatter.scatter(targets, predictions, s=10, alpha=0.6, edgecolors='none')
    low, high = float(min(targets.min(), predictions.min())), float(max(targets.max(), predictions.max()))
    scatter.plot([low, high], [low, high], color='black', linewidth=1, linestyle='--', label='prediction = truth')
    scatter.set_xlabel(f'true {name}{suffix}')
    scatter.set_ylabel(f'predicted {name}{suffix}')
    scatter.set_title(f'{name}: predicted vs true')
    scatter.legend(loc='upper left')
    histogram.hist(errors, bins=min(50, max(10, int(math.sqrt(errors.size)))), color='tab:orange', alpha=0.8)
    histogram.axvline(0.0, color='black', linewidth=1)
    histogram.set_xlabel(f'error: predicted - true{suffix}')
    histogram.set_ylabel('items')
    _whole_numbers(histogram.yaxis)  # items are counted
    histogram.set_title(f'MAE {np.abs(errors).mean():.4g}, RMSE {np.sqrt((errors ** 2).mean()):.4g}, bias {errors.mean():+.4g}')
    return figure


def regression_figures(predicted: Any, true: Any, directory: str | Path, *, names: Sequence[str],
                       units: Mapping[str, str] | None = None) -> dict[str, Path]:
    """`regression_figure` for every column of `(items, targets)` arrays, as `DIRECTORY/regression_<name>.png`.

    Returns the path of each target's figure by name, in the order of `names`.
    """
    predictions, targets = np.asarray(predicted, dtype=np.float64), np.asarray(true, dtype=np.float64)
    predictions, targets = predictions.reshape(len(predictions), -1), targets.reshape(len(targets), -1)
    if predictions.shape != targets.shape or predictions.shape[1] != len(names):
        raise ValueError(f'{len(names)} target names need (items, {len(names)}) predictions and truths, got {predictions.shape} and {targets.shape}')
    units = units or {}
    return {
        name: regression_figure(predictions[:, column], targets[:, column], Path(directory) / f'regression_{name}.png', name=name, unit=units.get(name, ''))
        for column, name in enumerate(names)
    }


def learning_curves_figure(records: Sequence[Mapping[str, Any]], path: str | Path, *, title: str = 'Learning curves') -> Path:
    """Write `draw_learning_curves` as a PNG at `path`; returns the path written."""
    return save_figure(draw_learning_curves(records, title=title), path)


def draw_learning_curves(records: Sequence[Mapping[str, Any]], *, title: str = 'Learning curves') -> Figure:
    """Training and validation loss per epoch, and one panel per validation metric, from `metrics.jsonl` records.

    A record holds `epoch`, `training_loss`, `validation_loss` and optionally a `validation_metrics` dict; missing or
    non-numeric values are gaps, not errors, so a run stopped mid-way still draws.
    """
    ordered = sorted(records, key=lambda record: record.get('epoch', 0))
    epochs = [record.get('epoch') for record in ordered]
    metric_names = sorted({name for record in ordered for name, value in (record.get('validation_metrics') or {}).items() if _number(value) is not None})
    metric_names = [name for name in metric_names if name != 'loss']
    panels = 1 + len(metric_names)
    columns = min(panels, 3)
    rows = math.ceil(panels / columns)
    figure = new_figure(4.5 * columns, 3.5 * rows)
    figure.suptitle(title)
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    losses = axes[0]
    for key, label in (('training_loss', 'training'), ('validation_loss', 'validation')):
        values = [_number(record.get(key)) for record in ordered]
        if any(value is not None for value in values):
            losses.plot(epochs, [math.nan if value is None else value for value in values], marker='o', markersize=3, label=label)
    losses.set_xlabel('epoch')
    losses.set_ylabel('loss')
    _whole_epochs(losses)
    losses.set_title('loss')
    if losses.has_data():
        losses.legend()
    for panel, name in zip(axes[1:], metric_names, strict=False):
        values = [_number((record.get('validation_metrics') or {}).get(name)) for record in ordered]
        panel.plot(epochs, [math.nan if value is None else value for value in values], marker='o', markersize=3, color='tab:green')
        panel.set_xlabel('epoch')
        panel.set_title(f'validation {name}')
        _whole_epochs(panel)
    for unused in axes[panels:]:
        unused.set_visible(False)
    return figure


def _whole_epochs(axes: Any) -> None:
    """Epochs are counted: ticks at whole numbers only (matplotlib would tick a short run at 1.0, 1.2, 1.4, ...)."""
    _whole_numbers(axes.xaxis)


def _whole_numbers(axis: Any) -> None:
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))


def _number(value: Any) -> float | None:
    """A finite float, or None for anything that cannot be drawn (None, text, NaN, a nested value)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None
