"""The server on a real loopback socket: pages stored once, bad requests refused with nothing stored, nothing else served."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_listening_design import make_folders

from etude.listening.design import create_test
from etude.listening.plan import ListeningPlan, listener_schedule, load_plan
from etude.listening.server import access_token, create_app
from etude.listening.simulate import listen, running_server


@pytest.fixture(scope='module')
def test_directory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp('listening')
    folders = make_folders(root / 'sources', {'modelA': 0.01, 'modelB': 0.1}, items=3, seconds=0.5)
    create_test(root / 'test', kind='mushra', reference=folders['refs'], conditions={'modelA': folders['modelA'], 'modelB': folders['modelB']}, seed=7)
    (root / 'test' / 'results').mkdir()
    (root / 'test' / 'results' / 'summary.json').write_text('{"secret": true}')
    return root / 'test'


@pytest.fixture(scope='module')
def base_url(test_directory: Path) -> Iterator[str]:
    with running_server(create_app(test_directory)) as url:
        yield url


@pytest.fixture
def client(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=10) as session:
        yield session


def counts(directory: Path) -> tuple[int, int, int]:
    with sqlite3.connect(directory / 'ratings.sqlite') as connection:
        return tuple(connection.execute(f'SELECT COUNT(*) FROM {table}').fetchone()[0] for table in ('listeners', 'pages', 'ratings'))  # type: ignore[return-value]


def good_body(client: httpx.Client, listener: str, position: int, value: float = 50) -> dict[str, Any]:
    page = client.get(f'/api/listeners/{listener}/pages/{position}').json()
    playable = [*page['stimuli'], page['reference']]
    return {'listener': listener, 'ratings': dict.fromkeys(page['stimuli'], value), 'play_counts': dict.fromkeys(playable, 1), 'seconds_on_page': 12.5}


def new_listener(client: httpx.Client) -> str:
    response = client.post('/api/listeners', json={})
    assert response.status_code == 201
    return response.json()['listener']


def test_a_page_is_stored_once_with_its_order_and_the_listener_resumes(client: httpx.Client, test_directory: Path) -> None:
    plan = load_plan(test_directory)
    listener = new_listener(client)
    assert client.get(f'/api/listeners/{listener}').json() == {'listener': listener, 'next': 0, 'total': 3}
    body = good_body(client, listener, 0)
    first = body['ratings']
    body['ratings'] = {identifier: 10 * index for index, identifier in enumerate(first)}
    response = client.post(f'/api/listeners/{listener}/pages/0', json=body, headers={'user-agent': 'test-browser/1.0'})
    assert response.status_code == 200 and response.json() == {'stored': True, 'next': 1, 'total': 3}
    assert client.get(f'/api/listeners/{listener}').json()['next'] == 1, 'reopening continues at the next page'
    schedule = listener_schedule(plan, listener)
    with sqlite3.connect(test_directory / 'ratings.sqlite') as connection:
        recorded = json.loads(connection.execute('SELECT schedule FROM listeners WHERE listener = ?', (listener,)).fetchone()[0])
        rows = connection.execute(
            'SELECT stimulus, condition, item, value, shown_position, play_count FROM ratings WHERE listener = ? ORDER BY shown_position', (listener,)
        ).fetchall()
        page = connection.execute('SELECT page, seconds_on_page, reference_plays, browser FROM pages WHERE listener = ?', (listener,)).fetchone()
    assert recorded == [[scheduled.page, list(scheduled.stimuli)] for scheduled in schedule], 'the seeded order is recorded'
    assert [row[0] for row in rows] == list(schedule[0].stimuli)
    assert [(row[1], row[2], row[3], row[4], row[5]) for row in rows] == [
        (plan.stimuli[identifier].condition, plan.pages[schedule[0].page].item, 10.0 * index, index, 1) for index, identifier in enumerate(schedule[0].stimuli)
    ]
    assert page == (schedule[0].page, 12.5, 1, 'test-browser/1.0')
    before = counts(test_directory)
    again = client.post(f'/api/listeners/{listener}/pages/0', json=body)
    assert again.status_code == 409 and again.json()['already'] == 'identical' and again.json()['next'] == 1
    body['ratings'] = dict.fromkeys(first, 99)
    assert client.post(f'/api/listeners/{listener}/pages/0', json=body).json()['already'] == 'different'
    assert counts(test_directory) == before, 'a resubmitted page stores nothing'


def test_page_descriptions_name_no_condition_or_item(client: httpx.Client, test_directory: Path) -> None:
    plan = load_plan(test_directory)
    listener = new_listener(client)
    text = client.get('/api/test').text + client.get(f'/api/listeners/{listener}/pages/0').text
    for name in (*plan.conditions, *plan.items, ':"reference"'):
        assert name not in text


def bad_requests(plan: ListeningPlan, client: httpx.Client, listener: str, other: str) -> list[tuple[str, dict[str, Any], int]]:
    """(what, request arguments, expected status) for page 0 of `listener`."""
    body = good_body(client, listener, 0)
    ids = list(body['ratings'])
    foreign = next(identifier for identifier in plan.stimuli if identifier not in body['play_counts'])
    path = f'/api/listeners/{listener}/pages/0'

    def changed(**changes: Any) -> dict[str, Any]:
        return {'url': path, 'json': {**body, **changes}}

    def rated(identifier: str, value: Any) -> dict[str, Any]:
        return changed(ratings={**body['ratings'], identifier: value})

    without_first = {identifier: value for identifier, value in body['ratings'].items() if identifier != ids[0]}
    return [
        ('rating above the scale', rated(ids[0], 100.5), 400),
        ('rating below the scale', rated(ids[0], -1), 400),
        ('rating as text', rated(ids[0], 'good'), 400),
        ('rating as a boolean', rated(ids[0], True), 400),
        ('NaN rating', {'url': path, 'content': json.dumps(body).replace('50', 'NaN', 1), 'headers': {'content-type': 'application/json'}}, 400),
        ('stimulus of another page', changed(ratings={**without_first, foreign: 50}), 400),
        ('condition name in place of an id', changed(ratings={**without_first, 'modelA': 50}), 400),
        ('path in place of an id', changed(ratings={**without_first, '../plan.json': 50}), 400),
        ('a stimulus missing', changed(ratings=without_first), 400),
        ('an unplayed stimulus', changed(play_counts={**body['play_counts'], ids[1]: 0}), 400),
        ('an unplayed reference', changed(play_counts={identifier: 1 for identifier in ids}), 400),
        ('negative play count', changed(play_counts={**body['play_counts'], ids[1]: -2}), 400),
        ('play count of a foreign stimulus', changed(play_counts={**body['play_counts'], foreign: 1}), 400),
        ('negative time on page', changed(seconds_on_page=-1), 400),
        ('an unknown field', changed(condition='modelA'), 400),
        ('a choice on a rating page', changed(choice=ids[0]), 400),
        ("another listener's id in the body", changed(listener=other), 403),
        ('a page of an unknown listener', {'url': '/api/listeners/AAAAAAAAAAAAAAAAAAAAAA/pages/0', 'json': body}, 404),
        ('a malformed listener id', {'url': '/api/listeners/..%2F..%2Fplan.json/pages/0', 'json': body}, 404),
        ('a page past the end', {'url': f'/api/listeners/{listener}/pages/3', 'json': body}, 404),
        ('a page that is not a number', {'url': f'/api/listeners/{listener}/pages/first', 'json': body}, 404),
        ('a later page first', {'url': f'/api/listeners/{listener}/pages/1', 'json': good_body(client, listener, 1)}, 409),
        ('malformed JSON', {'url': path, 'content': b'{"listener": ', 'headers': {'content-type': 'application/json'}}, 400),
        ('a JSON list', {'url': path, 'json': [body]}, 400),
        ('not JSON', {'url': path, 'content': b'listener=x', 'headers': {'content-type': 'application/x-www-form-urlencoded'}}, 415),
        ('oversized body', changed(padding='x' * 70_000), 413),
        ('oversized body without a length',
         {'url': path, 'content': iter([b'{"a": "', b'x' * 70_000, b'"}']), 'headers': {'content-type': 'application/json'}}, 413),
    ]


def test_bad_requests_get_4xx_and_store_nothing(client: httpx.Client, test_directory: Path) -> None:
    plan = load_plan(test_directory)
    listener, other = new_listener(client), new_listener(client)
    before = counts(test_directory)
    for what, arguments, status in bad_requests(plan, client, listener, other):
        response = client.post(**arguments)
        assert response.status_code == status, (what, response.text)
        assert 'error' in response.json(), what
        assert counts(test_directory) == before, f'{what} stored something'
    assert client.post(f'/api/listeners/{listener}/pages/0', json=good_body(client, listener, 0)).status_code == 200, 'the good page still goes in'


def test_only_registered_stimuli_are_served_and_never_the_plan_or_database(client: httpx.Client, test_directory: Path) -> None:
    plan = load_plan(test_directory)
    identifier, stimulus = next(iter(plan.stimuli.items()))
    response = client.get(f'/api/stimuli/{identifier}')
    assert response.status_code == 200 and response.headers['content-type'] == 'audio/wav'
    assert response.content == (test_directory / stimulus.file).read_bytes()
    for path in ('/plan.json', '/ratings.sqlite', '/results/summary.json', '/stimuli/' + Path(stimulus.file).name, '/api/stimuli/' + Path(stimulus.file).name,
                 '/api/stimuli/..%2Fplan.json', '/api/stimuli/%2e%2e/ratings.sqlite', '/static/..%2Fplan.json', '/static/index.html', '/static/../server.py',
                 '/api/stimuli/' + identifier.upper(), '/api/listeners'):
        response = client.get(path)
        assert response.status_code in (404, 405), path
        assert b'secret' not in response.content and b'SQLite' not in response.content and b'"stimuli"' not in response.content
    assert client.get('/').status_code == 200 and client.get('/static/app.js').status_code == 200
    assert client.get('/', headers={'host': 'attacker.example'}).status_code == 400, 'a DNS-rebinding Host is refused'


def test_without_the_token_nothing_is_served(test_directory: Path) -> None:
    assert access_token('127.0.0.1', None) is None and access_token('::1', None) is None
    generated = access_token('0.0.0.0', None)
    assert generated is not None and len(generated) >= 16 and access_token('192.168.1.20', 'given-token-0123456') == 'given-token-0123456'
    token = 'lab-token-0123456789'
    with running_server(create_app(test_directory, token=token, loopback_only=False)) as url, httpx.Client(base_url=url, timeout=10) as client:
        identifier = next(iter(load_plan(test_directory).stimuli))
        for path in ('/', '/static/app.js', '/api/test', f'/api/stimuli/{identifier}', '/plan.json', f'/?token={token[:-1]}x'):
            response = client.get(path)
            assert response.status_code == 403 and b'RIFF' not in response.content and b'mushra' not in response.content, path
        assert client.post('/api/listeners', json={}).status_code == 403
        welcome = client.get(f'/?token={token}')
        assert welcome.status_code == 200 and 'HttpOnly' in welcome.headers['set-cookie']
        assert client.get('/api/test').status_code == 200, 'the cookie carries the token from then on'
        client.cookies.clear()
        assert client.get('/api/test').status_code == 403
        assert client.get('/api/test', headers={'x-etude-token': token}).status_code == 200


def test_ten_listeners_at_once_lose_and_duplicate_nothing(base_url: str, test_directory: Path) -> None:
    plan = load_plan(test_directory)
    before = counts(test_directory)

    async def panel() -> list:
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as session:
            return await asyncio.gather(*(listen(session, rate=lambda identifier, index=index: (index * 7 + len(identifier) + int(identifier[:2], 16)) % 101)
                                          for index in range(10)))

    runs = asyncio.run(panel())
    assert counts(test_directory) == (before[0] + 10, before[1] + 30, before[2] + 150)
    with sqlite3.connect(test_directory / 'ratings.sqlite') as connection:
        for run in runs:
            assert all(status == 200 for status in run.statuses.values())
            stored = connection.execute('SELECT position, stimulus, value FROM ratings WHERE listener = ?', (run.listener,)).fetchall()
            sent = [(position, identifier, float(value)) for position, body in run.bodies.items() for identifier, value in body['ratings'].items()]
            assert sorted(stored) == sorted(sent)
    assert len(plan.pages) == 3
