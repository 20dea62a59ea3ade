"""`report.html`: one self-contained page (figures embedded as data URIs, no scripts, no links out) to mail around.

matplotlib is imported here only, with the Agg canvas bound to each figure (no pyplot, no display, no global
state), so a results run works on a headless machine and `import etude.listening.results` stays cheap.
"""

from __future__ import annotations

import base64
import html
import io
from collections import defaultdict
from pathlib import Path
from typing import Any

from ..atomic_files import write_bytes_atomic, write_text_atomic

__all__ = ['no_listener_kept', 'write_report']

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 62rem; margin: 2rem auto; padding: 0 1rem; color: #1d1d1f; }
table { border-collapse: collapse; margin: 1rem 0; font-size: 0.92rem; }
th, td { padding: 0.3rem 0.7rem; border-bottom: 1px solid #ddd; text-align: right; }
th:first-child, td:first-child, td.name { text-align: left; }
.significant { font-weight: 600; }
img { max-width: 100%; }
.note { color: #5f6368; font-size: 0.9rem; }
"""


def _figure_png(summary: dict[str, Any], rows: list[dict[str, Any]]) -> bytes:
    """Box plots of each condition's ratings with the mean and its 95% interval; stacked bars of A/B answers."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 4.5), dpi=110, layout='constrained')
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    if summary['test']['kind'] == 'ab':
        pairs = summary['preferences']
        labels = [f"{pair['first']}\nvs {pair['second']}" for pair in pairs]
        first = [pair['first_preferred'] for pair in pairs]
        ties = [pair['no_preference'] for pair in pairs]
        second = [pair['second_preferred'] for pair in pairs]
        positions = range(len(pairs))
        axes.barh(positions, first, color='#2b59c3', label='first preferred')
        axes.barh(positions, ties, left=first, color='#c8c8c8', label='no preference')
        axes.barh(positions, second, left=[a + b for a, b in zip(first, ties, strict=True)], color='#e8833a', label='second preferred')
        axes.set_yticks(list(positions), labels)
        axes.set_xlabel('answers')
        axes.legend(loc='lower right', fontsize='small')
    else:
        names = [row['condition'] for row in summary['conditions']]
        values: dict[str, list[float]] = defaultdict(list)
        for row in rows:
            if not row['excluded']:
                values[row['condition']].append(row['value'])
        axes.boxplot([values[name] for name in names], tick_labels=names, showfliers=True)
        means = [row['mean'] for row in summary['conditions']]
        errors = [[row['mean'] - row['ci_low'] if row['ci_low'] is not None else 0 for row in summary['conditions']],
                  [row['ci_high'] - row['mean'] if row['ci_high'] is not None else 0 for row in summary['conditions']]]
        axes.errorbar(range(1, len(names) + 1), means, yerr=errors, fmt='D', color='#b00020', markersize=5, capsize=4, label='mean, 95% CI')
        low, high = summary['test']['scale']
        axes.set_ylim(low - 0.04 * (high - low), high + 0.04 * (high - low))
        axes.set_ylabel('rating')
        axes.legend(loc='lower left', fontsize='small')
        axes.tick_params(axis='x', labelrotation=20)
    axes.set_title(summary['test']['title'])
    buffer = io.BytesIO()
    figure.savefig(buffer, format='png')
    return buffer.getvalue()


def _number(value: Any, digits: int = 2) -> str:
    if value is None:
        return '–'
    if isinstance(value, float):
        return f'{value:.3g}' if abs(value) < 0.01 and value != 0 else f'{value:.{digits}f}'
    return html.escape(str(value))


def _table(headers: list[str], rows: list[list[Any]], highlight: list[bool] | None = None) -> str:
    head = ''.join(f'<th>{html.escape(header)}</th>' for header in headers)
    body = []
    for index, row in enumerate(rows):
        css = ' class="significant"' if highlight and highlight[index] else ''
        cells = ''.join(f'<td class="name">{html.escape(str(cell))}</td>' if isinstance(cell, str) else f'<td>{_number(cell)}</td>' for cell in row)
        body.append(f'<tr{css}>{cells}</tr>')
    return f'<table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def _sections(summary: dict[str, Any]) -> list[str]:
    listeners = summary['listeners']
    parts = [f"<p>{listeners['total']} listeners, {listeners['completed']} of them completed all {summary['test']['pages']} pages; "
             f"{summary['ratings']} ratings analysed.</p>"]
    if summary['screening']['applied']:
        parts.append(f"<h2>Post-screening</h2><p class=\"note\">{html.escape(summary['screening']['rule'])}.</p>")
        if listeners['excluded']:
            parts.append(_table(['listener', 'excluded because'], [[row['listener'], '; '.join(row['reasons'])] for row in listeners['excluded']]))
        else:
            parts.append('<p>No listener was excluded.</p>')
    if summary['conditions']:
        parts.append('<h2>Ratings per condition</h2>')
        parts.append(_table(
            ['condition', 'n', 'mean', '95% CI low', '95% CI high', 'median', 'first quartile', 'third quartile'],
            [[row['condition'], row['count'], row['mean'], row['ci_low'], row['ci_high'], row['median'], row['first_quartile'], row['third_quartile']]
             for row in summary['conditions']],
        ))
    if summary['friedman']:
        test = summary['friedman']
        parts.append(f"<h2>Friedman test</h2><p>χ²({len(test['conditions']) - 1}) = {test['statistic']:.2f}, p = {_number(test['p_value'], 4)}, "
                     f"on {test['blocks']} listener × item blocks that rated every condition.</p>")
    if summary['pairwise']:
        parts.append('<h2>Pairwise Wilcoxon signed-rank tests</h2><p class="note">Paired by listener and item, two-sided; '
                     'p-values Holm-corrected over all pairs; rows in bold are significant at 5% after correction.</p>')
        parts.append(_table(
            ['first', 'second', 'pairs', 'median difference', 'W', 'p', 'p (Holm)'],
            [[row['first'], row['second'], row['pairs'], row['median_difference'], row['statistic'], row['p_value'], row['p_holm']]
             for row in summary['pairwise']],
            [row['p_holm'] < 0.05 for row in summary['pairwise']],
        ))
    if summary['preferences']:
        parts.append('<h2>Preferences</h2><p class="note">Share of the decisive answers preferring the first condition, with its exact '
                     '(Clopper-Pearson) 95% interval; two-sided binomial test against 50%, Holm-corrected over the pairs.</p>')
        parts.append(_table(
            ['first', 'second', 'first preferred', 'second preferred', 'no preference', 'share', 'CI low', 'CI high', 'p', 'p (Holm)'],
            [[row['first'], row['second'], row['first_preferred'], row['second_preferred'], row['no_preference'], row['share'], row['ci_low'],
              row['ci_high'], row['p_value'], row['p_holm']] for row in summary['preferences']],
            [row['p_holm'] is not None and row['p_holm'] < 0.05 for row in summary['preferences']],
        ))
    return parts


def write_report(directory: Path, summary: dict[str, Any], rows: list[dict[str, Any]]) -> list[Path]:
    """Write `figure.png` (when there are ratings to draw) and `report.html` into `directory`; returns their paths.

    When post-screening kept no listener there is nothing to draw: the page says so, and an older figure is removed
    so that it cannot pass for this analysis.
    """
    title = html.escape(summary['test']['title'])
    written: list[Path] = []
    if summary['conditions'] or summary['preferences']:
        png = _figure_png(summary, rows)
        written.append(write_bytes_atomic(directory / 'figure.png', png))
        image = f'<img alt="ratings per condition" src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">'
    else:
        (directory / 'figure.png').unlink(missing_ok=True)
        image = f'<p class="significant">{html.escape(no_listener_kept(summary) or "No ratings to analyse.")}</p>'
    page = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}: results</title><style>{STYLE}</style></head><body>'
        f"<h1>{title}</h1><p class=\"note\">{html.escape(summary['test']['kind'].upper())} test {html.escape(summary['test']['test_id'])}</p>"
        + image
        + ''.join(_sections(summary))
        + '</body></html>\n'
    )
    return [*written, write_text_atomic(directory / 'report.html', page)]


def no_listener_kept(summary: dict[str, Any], test_directory: str | Path | None = None) -> str | None:
    """The line to show when post-screening excluded every listener who rated (None when someone was kept)."""
    listeners = summary['listeners']
    if not summary['screening']['applied'] or listeners['included'] > 0 or not listeners['total']:
        return None
    command = f'etude listen results {test_directory} --no-screening' if test_directory is not None else 'etude listen results TEST_DIR --no-screening'
    return f"No listener passed post-screening ({len(listeners['excluded'])} excluded); see every listener with: {command}"
