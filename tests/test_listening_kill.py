"""SIGKILL the `etude listen serve` process while listeners post: every acknowledged page survives, and they carry on."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import ROOT
from test_listening_design import make_folders

from etude.listening.design import create_test
from etude.listening.simulate import ListenerRun, listen

LISTENERS = 6
ITEMS = 12


def start_server(directory: Path) -> tuple[subprocess.Popen[str], str]:
    environment = {**os.environ, 'PYTHONPATH': str(ROOT)}
    process = subprocess.Popen([sys.executable, '-m', 'etude', 'listen', 'serve', str(directory), '--port', '0'],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment)
    assert process.stdout is not None
    line = process.stdout.readline()
    match = re.search(r'at (http://127\.0\.0\.1:\d+)/$', line.strip())
    assert match, (line, process.stderr.read() if process.poll() is not None else '')  # type: ignore[union-attr]
    return process, match.group(1)


def post_until_refused(url: str, listener: str, acknowledged: dict[tuple[str, int], dict[str, Any]], lock: threading.Lock) -> None:
    """Answer pages as fast as the server takes them; stop at the first failure (the server is gone)."""
    with httpx.Client(base_url=url, timeout=5) as client:
        try:
            for position in range(ITEMS):
                page = client.get(f'/api/listeners/{listener}/pages/{position}').json()
                playable = [*page['stimuli'], page['reference']]
                ratings = {identifier: (position * 13 + index * 29 + len(listener)) % 101 for index, identifier in enumerate(page['stimuli'])}
                body = {'listener': listener, 'ratings': ratings, 'play_counts': dict.fromkeys(playable, 1), 'seconds_on_page': 3.0}
                if client.post(f'/api/listeners/{listener}/pages/{position}', json=body).status_code == 200:
                    with lock:
                        acknowledged[(listener, position)] = body
        except httpx.HTTPError:
            return


def stored_pages(directory: Path) -> dict[tuple[str, int], dict[str, float]]:
    with sqlite3.connect(directory / 'ratings.sqlite') as connection:
        rows = connection.execute('SELECT listener, position, stimulus, value FROM ratings').fetchall()
    pages: dict[tuple[str, int], dict[str, float]] = {}
    for listener, position, stimulus, value in rows:
        pages.setdefault((listener, position), {})[stimulus] = value
    return pages


@pytest.mark.slow
def test_sigkill_while_posting_loses_no_acknowledged_page(tmp_path: Path) -> None:
    folders = make_folders(tmp_path / 'sources', {'modelA': 0.02, 'modelB': 0.2}, items=ITEMS, seconds=0.2)
    directory = tmp_path / 'test'
    create_test(directory, kind='mushra', reference=folders['refs'], conditions={'modelA': folders['modelA'], 'modelB': folders['modelB']})
    process, url = start_server(directory)
    try:
        with httpx.Client(base_url=url, timeout=5) as client:
            listeners = [client.post('/api/listeners', json={}).json()['listener'] for _ in range(LISTENERS)]
        acknowledged: dict[tuple[str, int], dict[str, Any]] = {}
        lock = threading.Lock()
        threads = [threading.Thread(target=post_until_refused, args=(url, listener, acknowledged, lock)) for listener in listeners]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 60
        while len(acknowledged) < LISTENERS * ITEMS // 3 and time.monotonic() < deadline:
            time.sleep(0.002)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        for thread in threads:
            thread.join(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == -signal.SIGKILL
    with lock:
        acknowledged_then = dict(acknowledged)
    assert LISTENERS * ITEMS // 3 <= len(acknowledged_then) < LISTENERS * ITEMS, 'killed while pages were being posted'
    stored = stored_pages(directory)
    for key, body in acknowledged_then.items():
        assert stored.get(key) == {identifier: float(value) for identifier, value in body['ratings'].items()}, f'acknowledged page {key} lost'
    assert all(len(ratings) == 5 for ratings in stored.values()), 'no page is half stored'

    process, url = start_server(directory)
    try:
        async def carry_on() -> list[ListenerRun]:
            async with httpx.AsyncClient(base_url=url, timeout=30) as client:
                return list(await asyncio.gather(*(listen(client, listener=listener, rate=lambda identifier: 42) for listener in listeners)))

        runs = asyncio.run(carry_on())
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
    assert process.returncode == 0, 'Ctrl-C stops the server cleanly'
    final = stored_pages(directory)
    assert set(final) == {(listener, position) for listener in listeners for position in range(ITEMS)}, 'everyone finished, each page once'
    for key, body in acknowledged_then.items():
        assert final[key] == {identifier: float(value) for identifier, value in body['ratings'].items()}
    resumed = sum(len(run.bodies) for run in runs)
    assert resumed == LISTENERS * ITEMS - len(stored), 'each listener continued at their first missing page'
    with sqlite3.connect(directory / 'ratings.sqlite') as connection:
        assert connection.execute('PRAGMA journal_mode').fetchone()[0] == 'wal'
        assert connection.execute('SELECT COUNT(*) FROM ratings').fetchone()[0] == LISTENERS * ITEMS * 5
