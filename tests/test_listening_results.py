"""`etude listen results` on panels that took the test through the server: every figure recomputed here from results.csv."""

from __future__ import annotations

import asyncio
import csv
import json
from collections import defaultdict
from html.parser import HTMLParser
from itertools import combinations
from pathlib import Path

import httpx
import numpy as np
import pytest
from scipy import stats
from test_listening_design import make_folders

from etude.cli import main
from etude.listening.design import create_test
from etude.listening.plan import ListeningPlan, load_plan
from etude.listening.server import create_app
from etude.listening.simulate import listen, running_server
from etude.listening.stats import holm

MEANS = {'modelA': 75, 'modelB': 45, 'hidden_reference': 100, 'anchor_7000hz': 35, 'anchor_3500hz': 15}


def take_test(directory: Path, listeners: list[tuple[dict[str, float] | None, str | None]], seed: int = 0) -> None:
    """Each listener rates `condition → mean` plus noise within ±8% of the scale (MUSHRA/MOS), or always prefers one condition (A/B)."""
    plan = load_plan(directory)
    generator = np.random.default_rng(seed)

    low, high, noise = plan.scale.minimum, plan.scale.maximum, (plan.scale.maximum - plan.scale.minimum) / 25

    def rater(means: dict[str, float]):  # noqa: ANN202
        def rate(identifier: str) -> int:
            noisy = means[plan.stimuli[identifier].condition] + np.clip(generator.normal(0, noise), -2 * noise, 2 * noise)
            return int(np.clip(round(noisy), low, high))

        return rate

    def chooser(preferred: str | None):  # noqa: ANN202
        return lambda shown: next((identifier for identifier in shown if plan.stimuli[identifier].condition == preferred), 'none')

    async def panel(url: str) -> None:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            for means, preferred in listeners:
                await listen(client, rate=rater(means) if means else None, choose=chooser(preferred), fetch_audio=False)

    with running_server(create_app(directory)) as url:
        asyncio.run(panel(url))


@pytest.fixture(scope='module')
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_folders(tmp_path_factory.mktemp('listening') / 'sources', {'modelA': 0.01, 'modelB': 0.1}, items=4, seconds=0.5)


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline='') as file:
        return list(csv.DictReader(file))


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.references: list[str] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attributes: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.references += [value or '' for name, value in attributes if name in ('src', 'href')]


def test_mushra_results_match_independent_computation(tmp_path: Path, sources: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    directory = tmp_path / 'test'
    create_test(directory, kind='mushra', reference=sources['refs'], conditions={'modelA': sources['modelA'], 'modelB': sources['modelB']}, seed=1)
    careless = {**MEANS, 'hidden_reference': 70}  # misses the hidden reference on every item: excluded
    deaf = {**MEANS, 'anchor_3500hz': 100}  # hears nothing wrong with the anchor: excluded
    take_test(directory, [(MEANS, None)] * 6 + [(careless, None), (deaf, None)])
    assert main(['listen', 'results', str(directory)]) == 0
    printed = capsys.readouterr().out
    assert '8 listeners (8 completed), 2 excluded' in printed and 'Friedman' in printed
    results = directory / 'results'
    summary = json.loads((results / 'summary.json').read_text())
    rows = read_csv(results / 'results.csv')
    assert len(rows) == 8 * 4 * 5, 'one row per rating'
    excluded = {row['listener'] for row in rows if row['excluded'] == 'True'}
    assert len(excluded) == 2 and {entry['listener'] for entry in summary['listeners']['excluded']} == excluded
    reasons = sorted(reason for entry in summary['listeners']['excluded'] for reason in entry['reasons'])
    assert reasons == ['rated the 3.5 kHz anchor above 90 on 4 of 4 items (100% > 15%)', 'rated the hidden reference below 90 on 4 of 4 items (100% > 15%)']
    kept = [row for row in rows if row['listener'] not in excluded]
    values: dict[str, list[float]] = defaultdict(list)
    blocks: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
    for row in kept:
        values[row['condition']].append(float(row['value']))
        blocks[(row['listener'], row['item'])][row['condition']] = float(row['value'])
    conditions = list(MEANS)
    assert [entry['condition'] for entry in summary['conditions']] == conditions
    for entry in summary['conditions']:
        data = np.array(values[entry['condition']])
        low, high = stats.t.interval(0.95, data.size - 1, loc=data.mean(), scale=stats.sem(data))
        assert entry['count'] == data.size == 24
        assert (entry['mean'], entry['ci_low'], entry['ci_high'], entry['median']) == pytest.approx((data.mean(), low, high, np.median(data)))
        assert (entry['first_quartile'], entry['third_quartile']) == pytest.approx(tuple(np.percentile(data, [25, 75])))
        assert abs(entry['mean'] - MEANS[entry['condition']]) < 4
    keys = sorted(blocks)
    expected = [stats.wilcoxon([blocks[key][first] for key in keys], [blocks[key][second] for key in keys]).pvalue
                for first, second in combinations(conditions, 2)]
    assert [(entry['first'], entry['second']) for entry in summary['pairwise']] == list(combinations(conditions, 2))
    assert [entry['p_value'] for entry in summary['pairwise']] == pytest.approx(expected)
    assert [entry['p_holm'] for entry in summary['pairwise']] == pytest.approx(holm(expected))
    omnibus = stats.friedmanchisquare(*([blocks[key][name] for key in keys] for name in conditions))
    assert (summary['friedman']['statistic'], summary['friedman']['p_value']) == pytest.approx((omnibus.statistic, omnibus.pvalue))
    assert summary['friedman']['blocks'] == 24
    page = (results / 'report.html').read_text()
    parser = _Tags()
    parser.feed(page)
    assert 'script' not in parser.tags and 'link' not in parser.tags
    assert parser.references and all(reference.startswith('data:image/png;base64,') for reference in parser.references), 'self-contained'
    assert 'Post-screening' in page and 'Friedman' in page and 'Wilcoxon' in page
    assert (results / 'figure.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


def test_ab_results_binomial_from_the_answers(tmp_path: Path, sources: dict[str, Path]) -> None:
    directory = tmp_path / 'ab'
    plan: ListeningPlan = create_test(directory, kind='ab', conditions={'human': sources['refs'], 'modelA': sources['modelA']}, seed=2)
    take_test(directory, [(None, 'modelA')] * 3 + [(None, 'human')] + [(None, None)])
    assert main(['listen', 'results', str(directory), '--output', str(tmp_path / 'out')]) == 0
    summary = json.loads((tmp_path / 'out' / 'summary.json').read_text())
    (preference,) = summary['preferences']
    items = len(plan.items)
    assert (preference['first'], preference['second']) == ('human', 'modelA')
    assert (preference['first_preferred'], preference['second_preferred'], preference['no_preference']) == (items, 3 * items, items)
    assert preference['share'] == 0.25
    assert preference['p_value'] == pytest.approx(stats.binomtest(items, 4 * items).pvalue)
    rows = read_csv(tmp_path / 'out' / 'results.csv')
    assert len(rows) == 5 * items * 2 and {row['value'] for row in rows} == {'0.0', '0.5', '1.0'}
    assert summary['conditions'] == [] and summary['screening']['applied'] is False


def test_mos_results_and_no_ratings(tmp_path: Path, sources: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    directory = tmp_path / 'mos'
    create_test(directory, kind='mos', conditions={'modelA': sources['modelA'], 'modelB': sources['modelB']})
    assert main(['listen', 'results', str(directory)]) == 2
    assert capsys.readouterr().err.strip().count('\n') == 0
    take_test(directory, [({'modelA': 4.4, 'modelB': 2.2}, None)] * 3)
    assert main(['listen', 'results', str(directory)]) == 0
    summary = json.loads((directory / 'results' / 'summary.json').read_text())
    means = {entry['condition']: entry['mean'] for entry in summary['conditions']}
    rows = read_csv(directory / 'results' / 'results.csv')
    assert {row['value'] for row in rows} <= {'1.0', '2.0', '3.0', '4.0', '5.0'}
    for condition, mean in means.items():
        assert mean == pytest.approx(np.mean([float(row['value']) for row in rows if row['condition'] == condition]))
    assert summary['friedman'] is None and len(summary['pairwise']) == 1
