"""Simulated listeners: drive a served test over real HTTP as the page does, for dry runs, load tests and checks.

A simulated listener sees only what a browser sees (opaque stimulus ids in its own order) and answers each page
through the same API, so a dry run before a real test exercises the whole path from request to SQLite. Who writes
the answers decides them: `rate(stimulus id) → value` or `choose(stimulus ids) → id or 'none'`, e.g. from the plan
when a test needs known answers.

`running_server` starts uvicorn on a free loopback port in a background thread, for notebooks and tests.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx
    from starlette.applications import Starlette

__all__ = ['ListenerRun', 'listen', 'running_server']


@contextmanager
def running_server(app: Starlette, host: str = '127.0.0.1') -> Iterator[str]:
    """Serve `app` on a free port of `host` in a daemon thread; yields the base URL, stops the server on exit."""
    import uvicorn

    listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # else asyncio leaves Nagle on: 40 ms a response
    listening.bind((host, 0))
    listening.listen(2048)
    server = uvicorn.Server(uvicorn.Config(app, log_level='warning', access_log=False, lifespan='on'))
    thread = threading.Thread(target=server.run, kwargs={'sockets': [listening]}, daemon=True, name='etude-listening-server')
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError('the listening-test server did not start')
        time.sleep(0.01)
    try:
        yield f'http://{host}:{listening.getsockname()[1]}'
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        listening.close()


@dataclass
class ListenerRun:
    """What one simulated listener did: its id, each submitted page's body and answer, and post latencies (s)."""

    listener: str = ''
    bodies: dict[int, dict[str, Any]] = field(default_factory=dict)
    statuses: dict[int, int] = field(default_factory=dict)
    post_seconds: list[float] = field(default_factory=list)
    requests: int = 0


async def listen(
    client: httpx.AsyncClient,
    *,
    rate: Callable[[str], float] | None = None,
    choose: Callable[[list[str]], str] | None = None,
    listener: str | None = None,
    pages: int | None = None,
    fetch_audio: bool = True,
    pause: Callable[[], float] | None = None,
    run: ListenerRun | None = None,
) -> ListenerRun:
    """Take the test (or `pages` more pages of it) as one listener, through `client` (whose base_url is the server).

    Args:
        rate: the rating of a stimulus id on the test's scale (MUSHRA, MOS); default the scale's midpoint.
        choose: the preferred stimulus of an A/B page (or 'none'); default the first shown.
        listener: continue as this listener instead of starting a new one.
        pages: stop after this many pages; default all that remain.
        fetch_audio: download every stimulus of a page, as the browser does.
        pause: seconds spent on each page before it is posted (listening and rating); default none.
        run: a record to continue filling (e.g. across a server restart).

    Raises:
        httpx.HTTPError: a request failed on the network; `run` keeps what was acknowledged until then.
    """
    run = run if run is not None else ListenerRun()
    test = (await client.get('/api/test')).raise_for_status().json()
    run.requests += 1
    if listener is None:
        created = (await client.post('/api/listeners', json={})).raise_for_status().json()
        listener, position = created['listener'], 0
    else:
        position = (await client.get(f'/api/listeners/{listener}')).raise_for_status().json()['next']
    run.requests += 1
    run.listener = listener
    scale = test['scale']
    last = test['pages'] if pages is None else min(test['pages'], position + pages)
    while position < last:
        page = (await client.get(f'/api/listeners/{listener}/pages/{position}')).raise_for_status().json()
        run.requests += 1
        playable = [*page['stimuli'], *([page['reference']] if page['reference'] else [])]
        if fetch_audio:
            for identifier in playable:
                (await client.get(f'/api/stimuli/{identifier}')).raise_for_status()
                run.requests += 1
        body: dict[str, Any] = {'listener': listener, 'play_counts': dict.fromkeys(playable, 1), 'seconds_on_page': 1.0 + position}
        if scale['widget'] == 'choice':
            body['choice'] = choose(page['stimuli']) if choose else page['stimuli'][0]
        else:
            midpoint = round((scale['minimum'] + scale['maximum']) / 2)
            body['ratings'] = {identifier: rate(identifier) if rate else midpoint for identifier in page['stimuli']}
        if pause is not None:
            await asyncio.sleep(pause())
        started = time.perf_counter()
        response = await client.post(f'/api/listeners/{listener}/pages/{position}', json=body)
        run.post_seconds.append(time.perf_counter() - started)
        run.requests += 1
        if response.status_code not in (200, 409):
            response.raise_for_status()
        run.bodies[position] = body
        run.statuses[position] = response.status_code
        position = response.json()['next']
    return run
