"""Load on the listening-test server: 50 simulated listeners taking a MUSHRA test at once, over loopback only.

    python benchmarks/listening_load.py                      # 50 listeners × 10 pages × 5 ratings = 2,500 ratings
    python benchmarks/listening_load.py --think 1            # each listener spends 0-2 s on a page
    python benchmarks/listening_load.py --listeners 100 --items 20 --no-audio

The server is the real `etude listen serve` process (uvicorn; SQLite in WAL mode, one transaction per page, each
synced to disk before its answer by group commit); the listeners are asyncio tasks in this process, each on its own keep-alive
connection doing what the page does: create a listener, then per page fetch the page, download its stimuli and post
the ratings, by default with no pause between (the worst case: real listeners spend tens of seconds on a page, and
fifty clients that never pause keep every request queued behind the others). Afterwards the database is read back:
every rating sent must be there once, with its value.

Baseline, in the same run against the same server: as many requests that only read (the listener's progress,
`GET /api/listeners/{id}`), by as many concurrent clients with the same pauses, so the ratio says what a durable
write costs over a request that writes nothing. Client and server share the machine's cores, so the figures are an upper bound on latency.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from json import dumps
from pathlib import Path
from typing import Any

import h11
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from etude.listening.design import create_test  # noqa: E402
from etude.listening.simulate import ListenerRun, listen  # noqa: E402

RATE = 16_000
TIMEOUT_SECONDS = 300


def make_sources(root: Path, items: int, seconds: float) -> dict[str, Path]:
    generator = np.random.default_rng(0)
    import soundfile

    folders = {name: root / name for name in ('refs', 'modelA', 'modelB')}
    for folder in folders.values():
        folder.mkdir(parents=True)
    for index in range(items):
        clean = 0.2 * generator.standard_normal(round(seconds * RATE))
        for name, noise in (('refs', 0.0), ('modelA', 0.01), ('modelB', 0.1)):
            soundfile.write(folders[name] / f'item{index:02d}.wav', (clean + noise * generator.standard_normal(clean.size)).clip(-1, 1), RATE)
    return folders


def start_server(directory: Path) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen([sys.executable, '-m', 'etude', 'listen', 'serve', str(directory), '--port', '0'], stdout=subprocess.PIPE, text=True,
                               env={**os.environ, 'PYTHONPATH': os.pathsep.join(filter(None, (str(ROOT), os.environ.get('PYTHONPATH'))))})
    assert process.stdout is not None
    match = re.search(r'at (http://127\.0\.0\.1:\d+)/', process.stdout.readline())
    if match is None:
        process.kill()
        raise SystemExit('the server did not start')
    return process, match.group(1)


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values) * 1000, q))


class _Response:
    def __init__(self, status_code: int, body: bytes) -> None:
        self.status_code = status_code
        self.content = body

    def json(self) -> Any:
        return json.loads(self.content)

    def raise_for_status(self) -> _Response:
        if self.status_code >= 400:
            raise RuntimeError(f'HTTP {self.status_code}: {self.content[:200]!r}')
        return self


class LeanClient:
    """One keep-alive HTTP/1.1 connection per listener, as a browser tab holds, spoken with h11 over asyncio streams.

    The duck-typed subset of httpx.AsyncClient that `simulate.listen` uses. httpx costs about 3 ms of CPU per
    request with 50 connections open in one process (its pool), which on two cores starves the server being
    measured; h11 (the HTTP/1.1 state machine uvicorn and httpx both use) costs a tenth of that.
    """

    def __init__(self, url: str) -> None:
        match = re.fullmatch(r'http://([^:/]+):(\d+)', url)
        assert match is not None
        self.host, self.port = match.group(1), int(match.group(2))
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self.connection: h11.Connection | None = None

    async def request(self, method: str, path: str, body: bytes = b'') -> _Response:
        if self.streams is None or self.connection is None:
            self.streams = await asyncio.open_connection(self.host, self.port)
            self.streams[1].get_extra_info('socket').setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.connection = h11.Connection(h11.CLIENT)
        reader, writer = self.streams
        headers = [('host', f'{self.host}:{self.port}'), ('content-length', str(len(body)))]
        if body:
            headers.append(('content-type', 'application/json'))
        writer.write(self.connection.send(h11.Request(method=method, target=path, headers=headers))
                     + self.connection.send(h11.Data(data=body)) + self.connection.send(h11.EndOfMessage()))
        status, chunks = 0, []
        while True:
            event = self.connection.next_event()
            if event is h11.NEED_DATA:
                self.connection.receive_data(await reader.read(1 << 16))
            elif isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                break
        self.connection.start_next_cycle()
        return _Response(status, b''.join(chunks))

    async def get(self, path: str) -> _Response:
        return await self.request('GET', path)

    async def post(self, path: str, json: Any) -> _Response:
        return await self.request('POST', path, dumps(json).encode())

    async def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()


async def run_load(url: str, listeners: int, fetch_audio: bool, think: float) -> tuple[list[ListenerRun], float]:
    generator = np.random.default_rng(1)

    def rater(index: int):  # noqa: ANN202
        return lambda identifier: (int(identifier[:4], 16) + 7 * index) % 101

    def pause() -> float:
        return float(generator.uniform(0, 2 * think))

    async def one(index: int) -> ListenerRun:
        client = LeanClient(url)
        try:
            return await listen(client, rate=rater(index), fetch_audio=fetch_audio, pause=pause if think else None)  # type: ignore[arg-type]
        finally:
            await client.close()

    started = time.perf_counter()
    runs = await asyncio.gather(*(one(index) for index in range(listeners)))
    return list(runs), time.perf_counter() - started


async def run_baseline(url: str, listener_ids: list[str], requests_each: int, think: float) -> tuple[list[float], float]:
    latencies: list[float] = []
    generator = np.random.default_rng(2)

    async def reader(listener: str) -> None:
        client = LeanClient(url)
        try:
            for _ in range(requests_each):
                if think:
                    await asyncio.sleep(float(generator.uniform(0, 2 * think)))
                started = time.perf_counter()
                (await client.get(f'/api/listeners/{listener}')).raise_for_status()
                latencies.append(time.perf_counter() - started)
        finally:
            await client.close()

    started = time.perf_counter()
    await asyncio.gather(*(reader(listener) for listener in listener_ids))
    return latencies, time.perf_counter() - started


def verify(directory: Path, runs: list[ListenerRun]) -> tuple[int, int]:
    """(ratings stored, ratings sent); raises if any rating sent is missing, changed or stored twice."""
    with sqlite3.connect(directory / 'ratings.sqlite') as connection:
        rows = connection.execute('SELECT listener, position, stimulus, value FROM ratings').fetchall()
    stored = {(listener, position, stimulus): value for listener, position, stimulus, value in rows}
    if len(stored) != len(rows):
        raise SystemExit('duplicated ratings in the database')
    sent = {(run.listener, position, identifier): float(value) for run in runs for position, body in run.bodies.items()
            for identifier, value in body['ratings'].items()}
    if stored != sent:
        raise SystemExit(f'database and submissions differ: {len(set(sent) - set(stored))} lost, {len(set(stored) - set(sent))} unexpected')
    if any(status != 200 for run in runs for status in run.statuses.values()):
        raise SystemExit('some page was not accepted on its first submission')
    return len(stored), len(sent)


def machine() -> str:
    lines = Path('/proc/cpuinfo').read_text().splitlines() if Path('/proc/cpuinfo').exists() else []
    model = next((line.split(':', 1)[1].strip() for line in lines if line.startswith('model name')), platform.processor())
    return f'{model}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()} {platform.release()}'


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--listeners', type=int, default=50)
    parser.add_argument('--items', type=int, default=10, help='pages per listener (5 ratings each)')
    parser.add_argument('--seconds', type=float, default=0.5, help='length of each stimulus')
    parser.add_argument('--no-audio', action='store_true', help='do not download the stimuli')
    parser.add_argument('--think', type=float, default=0.0, help='mean seconds a listener spends on a page (uniform 0..2×; default 0: no pause)')
    args = parser.parse_args()
    signal.alarm(TIMEOUT_SECONDS)  # bounded: the whole benchmark stops after five minutes whatever happens
    with tempfile.TemporaryDirectory(prefix='etude-listening-load-') as temporary:
        root = Path(temporary)
        folders = make_sources(root / 'sources', args.items, args.seconds)
        directory = root / 'test'
        create_test(directory, kind='mushra', reference=folders['refs'], conditions={'modelA': folders['modelA'], 'modelB': folders['modelB']}, seed=0)
        process, url = start_server(directory)
        try:
            runs, load_seconds = asyncio.run(run_load(url, args.listeners, not args.no_audio, args.think))
            posts = [latency for run in runs for latency in run.post_seconds]
            reads, read_seconds = asyncio.run(run_baseline(url, [run.listener for run in runs], args.items, args.think))
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=30)
        stored, sent = verify(directory, runs)
    requests = sum(run.requests for run in runs)
    print(f'Machine: {machine()}')
    pace = f'{args.think:g} s on a page on average' if args.think else 'no pause between requests'
    print(f'{args.listeners} listeners × {args.items} pages × 5 ratings at once, {pace}; stimuli {"not " if args.no_audio else ""}downloaded; '
          f'{stored} ratings stored of {sent} sent (none lost, none duplicated)\n')
    print('| requests | wall s | req/s | rating posts | post p50 ms | post p99 ms | post max ms | read p99 ms (baseline) | post p99 / read p99 |')
    print('|---|---|---|---|---|---|---|---|---|')
    print(f'| {requests} | {load_seconds:.2f} | {requests / load_seconds:.0f} | {len(posts)} | {percentile(posts, 50):.1f} | {percentile(posts, 99):.1f} | '
          f'{max(posts) * 1000:.1f} | {percentile(reads, 99):.1f} | {percentile(posts, 99) / percentile(reads, 99):.2f} |')
    print(f'\nbaseline: {len(reads)} progress reads by {len(runs)} concurrent clients in {read_seconds:.2f} s ({len(reads) / read_seconds:.0f} req/s), '
          f'read p50 {percentile(reads, 50):.1f} ms')


if __name__ == '__main__':
    main()
