"""`etude listen ...` as a user types it: one-line errors with exit status 2, nothing heavy imported to answer -h."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT
from test_listening_design import make_folders

from etude.cli import main


def test_command_imports_nothing_heavy() -> None:
    check = ("import sys, etude.listening.command\n"
             "heavy = sorted(name for name in ('numpy', 'scipy', 'starlette', 'uvicorn', 'matplotlib', 'torch', 'soundfile') if name in sys.modules)\n"
             "assert not heavy, heavy")
    result = subprocess.run([sys.executable, '-c', check], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 0, result.stderr


def test_create_then_usage_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folders = make_folders(tmp_path / 'sources', {'modelA': 0.01, 'modelB': 0.1}, items=2, seconds=0.5)
    test = tmp_path / 'test'
    arguments = ['listen', 'create', str(test), '--kind', 'mushra', '--reference', str(folders['refs']),
                 '--condition', f"modelA={folders['modelA']}", '--condition', f"modelB={folders['modelB']}", '--anchors', '3.5', '--seed', '4']
    assert main(arguments) == 0
    out = capsys.readouterr().out
    assert 'mushra test with 2 items, 4 conditions (modelA, modelB, hidden_reference, anchor_3500hz)' in out
    assert f'etude listen serve {test}' in out
    plan = json.loads((test / 'plan.json').read_text())
    assert plan['seed'] == 4 and plan['must_play_all'] is True

    (folders['modelB'] / 'item1.wav').unlink()
    failing = [
        (['listen'], 'etude listen from-run|create|serve|results|demo'),
        (['listen', 'create', str(tmp_path / 'new'), '--condition', 'a=b'], 'required: --kind'),
        (['listen', 'create', str(tmp_path / 'new'), '--kind', 'mos', '--condition', 'modelA'], 'NAME=FOLDER'),
        (['listen', 'create', str(tmp_path / 'new'), '--kind', 'mos', '--condition', f"a={folders['modelA']}", '--condition', f"a={folders['refs']}"], 'twice'),
        (['listen', 'create', str(tmp_path / 'new'), '--kind', 'mushra', '--reference', str(folders['refs']),
          '--condition', f"modelB={folders['modelB']}"], "'item1'"),
        (['listen', 'create', str(tmp_path / 'new'), '--kind', 'mushra', '--reference', str(folders['refs']), '--condition', f"modelA={folders['modelA']}",
          '--anchors', 'low'], '--anchors'),
        (['listen', 'create', str(test), '--kind', 'mos', '--condition', f"modelA={folders['modelA']}"], 'not an empty folder'),
        (['listen', 'serve', str(tmp_path / 'nothing')], 'is not a listening test'),
        (['listen', 'serve', str(test), '--token', 'short'], 'access token'),
        (['listen', 'results', str(test)], 'no ratings yet'),
        (['listen', 'demo', str(test)], 'not an empty folder'),
    ]
    for argv, expected in failing:
        assert exit_status(argv) == 2, argv
        error = capsys.readouterr().err
        assert error.startswith('error: ') and error.count('\n') == 1 and expected in error, (argv, error)
    assert not (tmp_path / 'new').exists()


def exit_status(argv: list[str]) -> int:
    """main's status, or argparse's exit status for a usage error."""
    try:
        return main(argv)
    except SystemExit as exit:
        return int(exit.code or 0)


@pytest.mark.slow
def test_serve_prints_the_url_with_its_token_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    import re
    import signal

    import httpx

    folders = make_folders(tmp_path / 'sources', {'modelA': 0.01}, items=1, seconds=0.3)
    assert main(['listen', 'create', str(tmp_path / 'test'), '--kind', 'mos', '--condition', f"modelA={folders['modelA']}"]) == 0
    token = 'a-lab-token-0123456789'
    process = subprocess.Popen([sys.executable, '-m', 'etude', 'listen', 'serve', str(tmp_path / 'test'), '--port', '0', '--token', token],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert process.stdout is not None
        match = re.search(r'at (http://127\.0\.0\.1:\d+)/\?token=(\S+)$', process.stdout.readline().strip())
        assert match and match.group(2) == token
        with httpx.Client(base_url=match.group(1), timeout=10) as client:
            assert client.get('/api/test').status_code == 403
            assert client.get(f'/api/test?token={token}').json()['kind'] == 'mos'
    finally:
        process.send_signal(signal.SIGINT)
        out, error = process.communicate(timeout=30)
    assert process.returncode == 0 and 'stopped; every submitted page is in' in out and error == ''
