"""docs/listening-http.md against a real server on 127.0.0.1: every route it lists, every JSON shape it shows, its script."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_listening_design import make_folders

from etude.listening.design import create_test
from etude.listening.server import create_app
from etude.listening.simulate import running_server

DOC = Path(__file__).resolve().parent.parent / 'docs' / 'listening-http.md'
TOKEN = 'lab-token-0123456789abcdef'


def documented_requests() -> list[tuple[str, str]]:
    """(method, path) of each request in the doc's table, e.g. ('GET', '/api/listeners/{listener}')."""
    return [(method, path) for cell in re.findall(r'^\| (`[^|]+`) \|', DOC.read_text(), flags=re.MULTILINE)
            for method, path in re.findall(r'`(GET|POST) ([^`]+)`', cell)]


def documented_json() -> list[Any]:
    return [json.loads(block) for block in re.findall(r'```json\n(.*?)```', DOC.read_text(), flags=re.DOTALL)]


def shape(value: Any) -> Any:
    """The structure of a JSON value: keys and value kinds, not the values."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    if isinstance(value, bool):
        return 'boolean'
    if isinstance(value, (int, float)):
        return 'number'
    return 'null' if value is None else 'string'


@pytest.fixture(scope='module')
def test_directory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp('listening-http')
    folders = make_folders(root / 'sources', {'modelA': 0.01}, items=3, seconds=0.5)
    create_test(root / 'test', kind='mushra', reference=folders['refs'], conditions={'modelA': folders['modelA']}, seed=2)
    return root / 'test'


@pytest.fixture(scope='module')
def base_url(test_directory: Path) -> Iterator[str]:
    with running_server(create_app(test_directory, token=TOKEN)) as url:
        yield url


@pytest.fixture
def client(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, headers={'X-Etude-Token': TOKEN}, timeout=10) as session:
        yield session


def test_the_table_lists_every_route_of_the_server(test_directory: Path) -> None:
    app = create_app(test_directory)
    documented = documented_requests()
    for route in app.routes:
        pattern = re.sub(r'\\\{\w+(?::int)?\\\}', r'\\{?[^/]+\\}?', re.escape(route.path))  # type: ignore[attr-defined]
        for method in sorted(set(route.methods or ()) - {'HEAD'}):  # type: ignore[attr-defined]
            assert any(method == documented_method and re.fullmatch(pattern, path) for documented_method, path in documented), (method, route.path)  # type: ignore[attr-defined]


def test_every_documented_answer_has_the_documented_shape(client: httpx.Client) -> None:
    test_info, listener_answer, page_answer, submission, stored, conflict = documented_json()
    assert shape(client.get('/api/test').json()) == shape(test_info)
    created = client.post('/api/listeners', json={})
    assert created.status_code == 201 and shape(created.json()) == shape(listener_answer)
    listener = created.json()['listener']
    assert shape(client.get(f'/api/listeners/{listener}').json()) == shape(listener_answer)
    page = client.get(f'/api/listeners/{listener}/pages/0').json()
    assert shape(page) == shape(page_answer)
    body = {'listener': listener, 'ratings': dict.fromkeys(page['stimuli'], 60), 'play_counts': dict.fromkeys([*page['stimuli'], page['reference']], 1),
            'seconds_on_page': 12.0}
    assert set(body) == set(submission) and shape(body['seconds_on_page']) == shape(submission['seconds_on_page'])
    first = client.post(f'/api/listeners/{listener}/pages/0', json=body)
    assert first.status_code == 200 and shape(first.json()) == shape(stored)
    again = client.post(f'/api/listeners/{listener}/pages/0', json=body)
    assert again.status_code == 409 and again.json() == {**conflict, 'next': 1, 'total': page['total']}
    audio = client.get(f'/api/stimuli/{page["stimuli"][0]}')
    assert audio.status_code == 200 and audio.headers['content-type'] == 'audio/wav' and audio.content[:4] == b'RIFF'
    for static, kind in (('/', 'text/html'), ('/static/app.js', 'text/javascript'), ('/static/style.css', 'text/css')):
        answer = client.get(static)
        assert answer.status_code == 200 and answer.headers['content-type'].startswith(kind), static


def test_refusals_are_the_documented_statuses_with_an_error_line(client: httpx.Client) -> None:
    assert client.post('/api/listeners', content=b'{}', headers={'Content-Type': 'text/plain'}).status_code == 415
    assert client.post('/api/listeners', content=b'{', headers={'Content-Type': 'application/json'}).status_code == 400
    assert client.post('/api/listeners', content=b'[' + b'0,' * 40_000 + b'0]', headers={'Content-Type': 'application/json'}).status_code == 413
    unknown = client.get('/api/listeners/' + 'x' * 22)
    assert unknown.status_code == 404 and set(unknown.json()) == {'error'}
    assert client.get('/api/test').headers['cache-control'] == 'no-store'


def test_the_token_by_query_sets_the_cookie_and_without_it_nothing_is_served(base_url: str) -> None:
    with httpx.Client(base_url=base_url, timeout=10) as anonymous:
        refused = anonymous.get('/api/test')
        assert refused.status_code == 403 and refused.headers['content-type'].startswith('text/plain')
        by_query = anonymous.get(f'/?token={TOKEN}')
        assert by_query.status_code == 200 and f'etude_token={TOKEN}' in by_query.headers['set-cookie']
        assert 'HttpOnly' in by_query.headers['set-cookie'] and 'SameSite=Strict' in by_query.headers['set-cookie']
        assert anonymous.get('/api/test').status_code == 200, 'the cookie carries the token from then on'


def test_on_loopback_the_host_header_must_name_loopback(test_directory: Path) -> None:
    with running_server(create_app(test_directory)) as url, httpx.Client(base_url=url, timeout=10) as client:
        assert client.get('/api/test').status_code == 200
        assert client.get('/api/test', headers={'Host': 'rebinding.example'}).status_code == 400


def test_the_documented_script_takes_the_whole_test(base_url: str, test_directory: Path) -> None:
    (script,) = re.findall(r'```python\n(.*?)```', DOC.read_text(), flags=re.DOTALL)
    namespace: dict[str, Any] = {'BASE': base_url, 'TOKEN': TOKEN}
    exec(compile(script, str(DOC), 'exec'), namespace)  # noqa: S102 - the doc's own example, run as a reader would
    listener = namespace['me']['listener']
    with sqlite3.connect(test_directory / 'ratings.sqlite') as connection:
        values = connection.execute('SELECT value FROM ratings WHERE listener = ?', (listener,)).fetchall()
    assert len(values) == 3 * 4 and {value for (value,) in values} == {50.0}, '3 pages of modelA, the hidden reference and two anchors, all 50'
