"""One self-contained HTML page per evaluated run: config, data, learning curves, test metrics beside baselines, figures.

The page must survive being mailed, attached to a paper's supplement or opened years later from an archive, so it
references nothing: figures are embedded as base64 `data:` URIs, the style sheet is inline, and there is no script.
Every value comes from plain mappings (`config.yaml`, `summary.json`, `metrics.jsonl` as read), and every piece of
text is escaped, since class names, file names and configs are user data. The same inputs give the same bytes.
"""

from __future__ import annotations

import base64
import html
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..atomic_files import write_text_atomic
from ..version import __version__

__all__ = ['write_report']

IMAGE_TYPES = {b'\x89PNG\r\n\x1a\n': 'image/png', b'\xff\xd8\xff': 'image/jpeg'}

STYLE = '''
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 2rem auto; max-width: 72rem; padding: 0 1rem; color: #1d1d1f; }
h1 { font-size: 1.6rem; margin-bottom: 0.2rem; } h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid #ddd; }
p.subtitle { color: #555; margin-top: 0; }
table { border-collapse: collapse; margin: 0.5rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #ddd; padding: 0.25rem 0.6rem; text-align: left; vertical-align: top; }
th { background: #f4f4f6; } td.number { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1rem 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.9rem; } footer { margin-top: 3rem; color: #888; font-size: 0.8rem; }
'''


def write_report(
    path: str | Path,
    *,
    title: str,
    subtitle: str | None = None,
    run: Mapping[str, Any] | None = None,
    config: Mapping[str, Any] | None = None,
    dataset: Mapping[str, Any] | None = None,
    split_sizes: Mapping[str, int] | None = None,
    learning_curves: str | Path | None = None,
    test_metrics: Mapping[str, Any] | None = None,
    recorded: Mapping[str, Any] | None = None,
    baselines: Mapping[str, Mapping[str, Any]] | None = None,
    figures: Mapping[str, str | Path] | None = None,
    notes: Sequence[str] = (),
    warnings: Sequence[str] = (),
) -> Path:
    """Write `report.html` at `path` and return the path. Sections without data are left out.

    Results come first (run, test metrics, learning curves, figures), then what produced them (dataset, config).

    run: facts about the run (id, best epoch, wall time, commit) as a key/value table.
    config: the resolved hyperparameters (`config.yaml`); nested mappings are flattened to `outer.inner` keys.
    dataset: name, fingerprint, size and whatever else identifies the data (`summary.json`'s dataset entry).
    split_sizes: items per split, e.g. `{'train': 800, 'validation': 100, 'test': 100}`, shown with their shares.
    learning_curves: the PNG `figures.learning_curves_figure` drew from `metrics.jsonl`.
    test_metrics: the model's metrics on the evaluated split, by name.
    recorded: the same metrics as the run recorded them when it trained (summary.json), in a column beside the
        recomputed ones, so a reader sees at a glance that they agree (and where they do not).
    baselines: each baseline's metrics by baseline name, e.g. `{'majority class': {'accuracy': 0.1}}`, in columns
        beside the model's; a metric a baseline lacks is shown as '–'.
    figures: the task's own figures, caption → PNG (or JPEG) path, in the order given.
    notes: sentences that say how the figures were computed (bins, conventions, units), under the metrics.
    warnings: what the reader must know before trusting the page (damaged records that were left out).
    """
    sections = [f'<h1>{_text(title)}</h1>']
    if subtitle:
        sections.append(f'<p class="subtitle">{_text(subtitle)}</p>')
    if warnings:
        sections.append(_section('Warnings', '<ul>' + ''.join(f'<li>{_text(line)}</li>' for line in warnings) + '</ul>'))
    if run:
        sections.append(_section('Run', _key_value_table(run)))
    if test_metrics or baselines:
        explained = ''.join(f'<p>{_text(line)}</p>' for line in notes)
        sections.append(_section('Test metrics', _metrics_table(test_metrics or {}, baselines or {}, recorded or {}) + explained))
    if learning_curves is not None:
        sections.append(_section('Learning curves', _figure(learning_curves, 'training and validation per epoch')))
    if figures:
        sections.append(_section('Figures', '\n'.join(_figure(figure_path, caption) for caption, figure_path in figures.items())))
    if dataset or split_sizes:
        body = _key_value_table(dataset) if dataset else ''
        sections.append(_section('Dataset', body + (_split_table(split_sizes) if split_sizes else '')))
    if config:
        sections.append(_section('Configuration', _key_value_table(config)))
    page = '\n'.join([
        '<!DOCTYPE html>',
        '<html lang="en">',
        '<head>',
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<title>{_text(title)}</title>',
        f'<style>{STYLE}</style>',
        '</head>',
        '<body>',
        *sections,
        f'<footer>Written by etude {_text(__version__)}.</footer>',
        '</body>',
        '</html>',
        '',
    ])
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_text_atomic(path, page)


def _text(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _section(heading: str, body: str) -> str:
    return f'<section>\n<h2>{_text(heading)}</h2>\n{body}\n</section>'


def _format(value: Any, digits: int = 6) -> str:
    """Plain text of a value from YAML or JSON: floats to `digits` significant digits, lists compactly."""
    if value is None:
        return '–'
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, float):
        return f'{value:.{digits}g}' if math.isfinite(value) else str(value)
    if isinstance(value, (list, tuple)):
        return '[' + ', '.join(_format(item, digits) for item in value) + ']'
    if isinstance(value, Mapping):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _flatten(values: Mapping[str, Any], prefix: str = '') -> Iterable[tuple[str, Any]]:
    for key, value in values.items():
        name = f'{prefix}{key}'
        if isinstance(value, Mapping) and value:
            yield from _flatten(value, f'{name}.')
        else:
            yield name, value


def _cell(value: Any, digits: int = 6, *, column_of_numbers: bool = True) -> str:
    """A table cell; numbers (and a missing value among them) right-aligned where a column holds numbers to compare."""
    css = ' class="number"' if column_of_numbers and (_is_number(value) or value is None) else ''
    return f'<td{css}>{_text(_format(value, digits))}</td>'


def _key_value_table(values: Mapping[str, Any]) -> str:
    """Facts by name, each value left-aligned beside its name (a lone number right-aligned in a column made wide by
    a path reads as belonging to nothing)."""
    rows = [f'<tr><th>{_text(name)}</th>{_cell(value, column_of_numbers=False)}</tr>' for name, value in _flatten(values)]
    return '<table>\n' + '\n'.join(rows) + '\n</table>'


def _metrics_table(metrics: Mapping[str, Any], baselines: Mapping[str, Mapping[str, Any]], recorded: Mapping[str, Any]) -> str:
    names = list(metrics) + [name for baseline in baselines.values() for name in baseline if name not in metrics]
    names = list(dict.fromkeys(names))
    columns = ([('recorded by the run', recorded)] if recorded else []) + list(baselines.items())
    header = '<tr><th>metric</th><th>model</th>' + ''.join(f'<th>{_text(title)}</th>' for title, _ in columns) + '</tr>'
    rows = [
        f'<tr><th>{_text(name)}</th>{_cell(metrics.get(name), 4)}' + ''.join(_cell(values.get(name), 4) for _, values in columns) + '</tr>'
        for name in names
    ]
    return '<table>\n' + '\n'.join([header, *rows]) + '\n</table>'


def _split_table(split_sizes: Mapping[str, int]) -> str:
    total = sum(split_sizes.values())
    rows = [
        f'<tr><th>{_text(split)}</th>{_cell(size)}<td class="number">{_text(f"{size / total:.1%}" if total else "–")}</td></tr>'
        for split, size in split_sizes.items()
    ]
    return '<table>\n<tr><th>split</th><th>items</th><th>share</th></tr>\n' + '\n'.join(rows) + '\n</table>'


def _figure(path: str | Path, caption: str) -> str:
    """An `<img>` whose source is the file's bytes as a data URI, so the page needs nothing beside it."""
    data = Path(path).read_bytes()
    media_type = next((kind for signature, kind in IMAGE_TYPES.items() if data.startswith(signature)), None)
    if media_type is None:
        raise ValueError(f'{path} is not a PNG or JPEG image, so it cannot be embedded in the report')
    source = f'data:{media_type};base64,{base64.b64encode(data).decode("ascii")}'
    return f'<figure>\n<img src="{source}" alt="{_text(caption)}">\n<figcaption>{_text(caption)}</figcaption>\n</figure>'
