"""`etude listen results`: the ratings as `results.csv`, their statistics as `summary.json`, and `report.html`.

`results.csv` holds one row per rating, as stored (an A/B page gives two rows: 1 for the preferred stimulus and
0 for the other, 0.5 each for no preference), with an `excluded` column from post-screening. The statistics are
computed on the listeners post-screening keeps (MUSHRA) or on everyone (MOS, A/B); `summary.json` says who was
excluded and why. Results can be computed while the test is still being served.
"""

from __future__ import annotations

import csv
import io
import os
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..atomic_files import write_json_atomic, write_text_atomic
from .plan import ListeningPlan, ListeningTestError, anchor_condition, load_plan
from .stats import describe, friedman, pairwise_wilcoxon, post_screen, preferences
from .storage import DATABASE_FILE, read_rows

__all__ = ['CSV_COLUMNS', 'Results', 'summarise', 'write_results']

CSV_COLUMNS = ('listener', 'position', 'item', 'condition', 'stimulus', 'value', 'shown_position', 'play_count', 'reference_plays',
               'seconds_on_page', 'submitted', 'browser', 'excluded')
LOW_ANCHOR = anchor_condition(3500)


@dataclass(frozen=True)
class Results:
    """What `write_results` wrote: the summary (as in summary.json) and the files."""

    summary: dict[str, Any]
    files: tuple[Path, ...]
    directory: Path | None = None  # the test's folder, named in the advice to analyse it unscreened

    def describe(self) -> str:
        """A few lines for the terminal: listeners, per-condition means, the omnibus test, the files."""
        summary = self.summary
        listeners = summary['listeners']
        lines = [f"{summary['test']['kind']} test {summary['test']['title']!r}: {listeners['total']} listeners "
                 f"({listeners['completed']} completed), {len(listeners['excluded'])} excluded by post-screening"]
        if summary['conditions']:
            lines.append(f"{'condition':<24} {'n':>5} {'mean':>7}  {'95% CI':<16} {'median':>7}")
            for row in summary['conditions']:
                interval = f"[{row['ci_low']:.2f}, {row['ci_high']:.2f}]" if row['ci_low'] is not None else '-'
                lines.append(f"{row['condition']:<24} {row['count']:>5} {row['mean']:>7.2f}  {interval:<16} {row['median']:>7.2f}")
        if summary.get('friedman'):
            test = summary['friedman']
            lines.append(f"Friedman chi2({len(test['conditions']) - 1}) = {test['statistic']:.2f}, p = {test['p_value']:.3g} on {test['blocks']} blocks")
        for row in summary.get('preferences', []):
            share = f"{100 * row['share']:.0f}%" if row['share'] is not None else '-'
            p_value = f"{row['p_value']:.3g}" if row['p_value'] is not None else '-'
            lines.append(f"{row['first']} preferred to {row['second']} in {share} of {row['first_preferred'] + row['second_preferred']} "
                         f"decisive answers ({row['no_preference']} no preference), binomial p = {p_value}")
        lines.append('wrote ' + ', '.join(str(path) for path in self.files))
        from .report import no_listener_kept

        warning = no_listener_kept(summary, self.directory)
        if warning is not None:
            lines.append('warning: ' + warning[0].lower() + warning[1:])
        return '\n'.join(lines)


def summarise(plan: ListeningPlan, rows: list[dict[str, Any]], *, screening: bool = True) -> dict[str, Any]:
    """The statistics of a test's rows (from `storage.read_rows`), as summary.json holds them.

    Rows of excluded listeners get `excluded = True` in place.
    """
    pages_done: dict[str, set[int]] = defaultdict(set)
    for row in rows:
        pages_done[row['listener']].add(row['position'])
    verdicts: dict[str, list[str]] = {}
    screened = screening and plan.kind == 'mushra'
    if screened:
        anchor = LOW_ANCHOR if LOW_ANCHOR in plan.conditions else None
        verdicts = post_screen(((row['listener'], row['item'], row['condition'], row['value']) for row in rows), anchor=anchor)
    excluded = {listener: reasons for listener, reasons in verdicts.items() if reasons}
    for row in rows:
        row['excluded'] = row['listener'] in excluded
    kept = [row for row in rows if not row['excluded']]
    summary: dict[str, Any] = {
        'test': {'title': plan.title, 'kind': plan.kind, 'test_id': plan.test_id, 'items': list(plan.items),
                 'conditions': list(plan.conditions), 'pages': len(plan.pages), 'scale': [plan.scale.minimum, plan.scale.maximum]},
        'listeners': {
            'total': len(pages_done),
            'completed': sum(1 for done in pages_done.values() if len(done) == len(plan.pages)),
            'included': len(pages_done) - len(excluded),
            'excluded': [{'listener': listener, 'reasons': reasons} for listener, reasons in excluded.items()],
        },
        'screening': {'applied': screened, 'rule': 'BS.1534-3: hidden reference below 90, or the 3.5 kHz anchor above 90, on more than 15% of items'
                      if screened else None},
        'ratings': len(kept),
        'conditions': [],
        'pairwise': [],
        'friedman': None,
        'preferences': [],
    }
    if plan.kind == 'ab':
        summary['preferences'] = [asdict(row) for row in preferences(_choices(plan, kept))]
        return summary
    by_condition: dict[str, list[float]] = defaultdict(list)
    blocks: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
    for row in kept:
        by_condition[row['condition']].append(row['value'])
        blocks[(row['listener'], row['item'])][row['condition']] = row['value']
    conditions = [name for name in plan.conditions if by_condition[name]]
    summary['conditions'] = [{'condition': name, **asdict(describe(by_condition[name]))} for name in conditions]
    summary['pairwise'] = [asdict(test) for test in pairwise_wilcoxon(blocks, conditions)]
    omnibus = friedman(blocks, conditions)
    summary['friedman'] = asdict(omnibus) if omnibus else None
    return summary


def _choices(plan: ListeningPlan, rows: list[dict[str, Any]]) -> list[tuple[str, str, str | None]]:
    """(first condition, second condition, preferred or None) per A/B page, the pair in the plan's condition order."""
    pages: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        pages[(row['listener'], row['position'])].append(row)
    choices = []
    for page_rows in pages.values():
        first, second = sorted(page_rows, key=lambda row: plan.conditions.index(row['condition']))
        preferred = first['condition'] if first['value'] == 1 else second['condition'] if second['value'] == 1 else None
        choices.append((first['condition'], second['condition'], preferred))
    return choices


def _csv(rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, extrasaction='ignore', lineterminator='\n')
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def write_results(directory: str | os.PathLike[str], *, output: str | os.PathLike[str] | None = None, screening: bool = True) -> Results:
    """Analyse the test in `directory` and write `results.csv`, `summary.json`, `report.html` (and the figure).

    Args:
        directory: a test folder with ratings.
        output: where to write; default `directory/results`.
        screening: apply BS.1534 post-screening (MUSHRA).

    Raises:
        ListeningTestError: no test, or no ratings yet.
    """
    from .report import write_report

    plan = load_plan(directory)
    rows = read_rows(Path(directory) / DATABASE_FILE)
    if not rows:
        raise ListeningTestError(f'{directory} has no ratings yet; serve it with etude listen serve {directory} and collect some first')
    summary = summarise(plan, rows, screening=screening)
    target = Path(output) if output is not None else Path(directory) / 'results'
    target.mkdir(parents=True, exist_ok=True)
    files = [write_text_atomic(target / 'results.csv', _csv(rows)), write_json_atomic(target / 'summary.json', summary)]
    files.extend(write_report(target, summary, rows))
    return Results(summary, tuple(files), Path(directory))

