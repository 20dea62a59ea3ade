"""`etude listen` on inputs that cannot give a test or a result: one line, nothing half-made."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_listening_design import make_folders
from test_listening_results import MEANS, take_test

from etude.cli import main
from etude.listening.design import create_test


@pytest.fixture(scope='module')
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_folders(tmp_path_factory.mktemp('listening-failures') / 'sources', {'modelA': 0.01}, items=2, seconds=0.5)


@pytest.mark.parametrize('loudness', ['nan', 'inf', '-inf', '20', '-100'])
def test_a_loudness_target_that_is_not_a_loudness_is_refused_before_anything_is_written(
        loudness: str, sources: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    test = tmp_path / 'test'
    status = main(['listen', 'create', str(test), '--kind', 'mos', '--condition', f"modelA={sources['modelA']}", f'--loudness={loudness}'])
    error = capsys.readouterr().err
    assert status == 2
    assert error.startswith(f'error: --loudness {float(loudness)} LUFS is not a loudness') and error.count('\n') == 1, error
    assert 'from -70 to 0 LUFS' in error
    assert not test.exists(), 'nothing was written'


def test_when_screening_excludes_every_listener_the_results_are_written_and_say_how_to_see_them(
        sources: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    test = tmp_path / 'test'
    create_test(test, kind='mushra', reference=sources['refs'], conditions={'modelA': sources['modelA']}, seed=3)
    careless = {**MEANS, 'hidden_reference': 40}  # every listener misses the hidden reference: all excluded
    take_test(test, [(careless, None)] * 3)
    assert main(['listen', 'results', str(test)]) == 0
    captured = capsys.readouterr()
    assert f'no listener passed post-screening (3 excluded); see every listener with: etude listen results {test} --no-screening' in captured.out
    results = test / 'results'
    summary = json.loads((results / 'summary.json').read_text())
    assert summary['listeners']['included'] == 0 and summary['conditions'] == [] and summary['ratings'] == 0
    assert (results / 'results.csv').read_text().count('\n') == 1 + 3 * 2 * 4, 'every rating is kept, marked excluded'
    assert 'No listener passed post-screening' in (results / 'report.html').read_text()
    assert not (results / 'figure.png').exists(), 'no empty figure'
    assert main(['listen', 'results', str(test), '--no-screening']) == 0
    assert len(json.loads((results / 'summary.json').read_text())['conditions']) == 4
    assert (results / 'figure.png').is_file()
