"""The listening-test web server: a Starlette app on uvicorn.

Starlette is a small, well-kept ASGI toolkit (FastAPI is built on it); uvicorn serves it. The server answers a
handful of routes and nothing else:

    GET  /                                         the page (static/index.html, its script and style)
    GET  /api/test                                 kind, title, scale, page count: nothing that names a condition
    POST /api/listeners                            a new listener with their seeded order, recorded
    GET  /api/listeners/{listener}                 where that listener continues
    GET  /api/listeners/{listener}/pages/{n}       the stimuli of their n-th page, in their order
    POST /api/listeners/{listener}/pages/{n}       submit it (one SQLite transaction; see submission.py)
    GET  /api/stimuli/{id}                         audio, only for ids registered in the plan

No route reads a path from the request, so the plan, the database and the results are never served. Bound beyond
loopback, every request needs the access token (in the URL the server prints, then in a same-site cookie); on
loopback the Host header must name loopback, which stops DNS-rebinding pages from reaching the server.
"""

from __future__ import annotations

import ipaddress
import json
import re
import secrets
import socket
from collections.abc import Callable
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from .plan import ListeningPlan, ListeningTestError, listener_schedule, listener_seed, load_plan
from .storage import DATABASE_FILE, RatingStore
from .submission import RequestError, page_record

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ['MAX_BODY_BYTES', 'access_token', 'create_app', 'is_loopback', 'serve']

MAX_BODY_BYTES = 64 * 1024  # a page of 20 stimuli is about 2 kB
STIMULUS_CACHE_BYTES = 256 * 1024 * 1024
LISTENER_ID = re.compile(r'[A-Za-z0-9_-]{22}')
TOKEN_PATTERN = re.compile(r'[A-Za-z0-9_-]{16,128}')
TOKEN_COOKIE = 'etude_token'
STATIC_FILES = {'app.js': 'text/javascript; charset=utf-8', 'style.css': 'text/css; charset=utf-8'}
SECURITY_HEADERS = [
    (b'x-content-type-options', b'nosniff'),
    (b'referrer-policy', b'no-referrer'),  # the token is in the URL: never pass it on
    (b'x-frame-options', b'DENY'),
    (b'content-security-policy', b"default-src 'self'; img-src 'self' data:; media-src 'self' blob:; object-src 'none'; frame-ancestors 'none'"),
]
LOOPBACK_HOSTS = ['127.0.0.1', 'localhost', '::1', '[::1]']


def is_loopback(host: str) -> bool:
    if host == 'localhost':
        return True
    try:
        return ipaddress.ip_address(host.strip('[]')).is_loopback
    except ValueError:
        return False


def access_token(host: str, token: str | None) -> str | None:
    """The token a server on `host` requires: `token` if given, a fresh one beyond loopback, else None."""
    if token is None and not is_loopback(host):
        return secrets.token_urlsafe(16)
    return token


class _Guard:
    """Pure ASGI middleware: the access token (when set) and security headers on every response."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope['type'] != 'http':
            await self.app(scope, receive, send)
            return
        from_query = False
        if self.token is not None:
            from starlette.requests import HTTPConnection

            connection = HTTPConnection(scope)
            query = parse_qs(scope.get('query_string', b'').decode('latin-1')).get('token', [''])[0]
            supplied = query or connection.headers.get('x-etude-token', '') or connection.cookies.get(TOKEN_COOKIE, '')
            if not secrets.compare_digest(supplied.encode(), self.token.encode()):
                await self._forbidden(send)
                return
            from_query = bool(query)

        async def send_with_headers(message: Message) -> None:
            if message['type'] == 'http.response.start':
                headers = [*message.get('headers', []), *SECURITY_HEADERS]
                if from_query:
                    headers.append((b'set-cookie', f'{TOKEN_COOKIE}={self.token}; Path=/; HttpOnly; SameSite=Strict'.encode()))
                message = {**message, 'headers': headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)

    @staticmethod
    async def _forbidden(send: Send) -> None:
        body = b'forbidden: this listening test needs the access token from the URL its server printed\n'
        headers = [(b'content-type', b'text/plain; charset=utf-8'), (b'content-length', str(len(body)).encode()), *SECURITY_HEADERS]
        await send({'type': 'http.response.start', 'status': 403, 'headers': headers})
        await send({'type': 'http.response.body', 'body': body})


async def _read_json(request: Request, limit: int) -> Any:
    """The JSON body, read no further than `limit` bytes: a 413 for more, a 400 for malformed JSON, a 415 for non-JSON."""
    if request.headers.get('content-type', '').split(';')[0].strip().lower() != 'application/json':
        raise RequestError(415, 'send the body as application/json')
    length = request.headers.get('content-length')
    if length is not None and (not length.isdigit() or int(length) > limit):
        raise RequestError(413, f'the body is larger than {limit} bytes')
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise RequestError(413, f'the body is larger than {limit} bytes')
    try:
        return json.loads(bytes(body))
    except (ValueError, UnicodeDecodeError):
        raise RequestError(400, 'the body is not valid JSON') from None


def create_app(directory: str | Path, *, token: str | None = None, loopback_only: bool = True, max_body_bytes: int = MAX_BODY_BYTES) -> Starlette:
    """The Starlette app serving the test in `directory`; its database opens (and is created) with the app.

    Args:
        directory: a folder made by `create_test`.
        token: the access token every request must carry; None for none (loopback only).
        loopback_only: accept only Host headers naming loopback.
        max_body_bytes: the largest request body read.

    Raises:
        ListeningTestError: no plan in `directory`, or a database of another plan.
    """
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException
    from starlette.middleware import Middleware
    from starlette.middleware.trustedhost import TrustedHostMiddleware
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    directory = Path(directory)
    plan = load_plan(directory)
    if token is not None and not TOKEN_PATTERN.fullmatch(token):
        raise ListeningTestError('the access token must be 16 to 128 letters, digits, - or _')
    store = RatingStore(directory / DATABASE_FILE, plan.fingerprint())
    static = {name: (resources.files(__package__) / 'static' / name).read_bytes() for name in (*STATIC_FILES, 'index.html')}

    def no_store(response: Response) -> Response:
        response.headers['cache-control'] = 'no-store'
        return response

    def listener_or_404(listener: str) -> list:
        schedule = store.schedule(listener) if LISTENER_ID.fullmatch(listener) else None
        if schedule is None:
            raise RequestError(404, 'no such listener; open the test link again to start')
        return schedule

    async def index(request: Request) -> Response:
        return no_store(Response(static['index.html'], media_type='text/html; charset=utf-8'))

    async def static_file(request: Request) -> Response:
        name = request.path_params['name']
        if name not in STATIC_FILES:
            raise RequestError(404, 'not found')
        return no_store(Response(static[name], media_type=STATIC_FILES[name]))

    async def test_info(request: Request) -> Response:
        return no_store(JSONResponse(_public_description(plan)))

    async def new_listener(request: Request) -> Response:
        await _read_json(request, max_body_bytes)
        listener = secrets.token_urlsafe(16)
        schedule = listener_schedule(plan, listener)
        browser = request.headers.get('user-agent', '')[:500]
        await run_in_threadpool(store.add_listener, listener, listener_seed(plan.seed, listener), schedule, browser)
        return no_store(JSONResponse({'listener': listener, 'next': 0, 'total': len(schedule)}, status_code=201))

    async def progress(request: Request) -> Response:
        listener = request.path_params['listener']
        schedule = listener_or_404(listener)
        return no_store(JSONResponse({'listener': listener, 'next': store.pages_done(listener), 'total': len(schedule)}))

    async def page(request: Request) -> Response:
        listener, position = request.path_params['listener'], request.path_params['position']
        schedule = listener_or_404(listener)
        if position >= len(schedule):
            raise RequestError(404, f'no page {position}: this test has pages 0 to {len(schedule) - 1}')
        scheduled = schedule[position]
        return no_store(JSONResponse({
            'position': position,
            'total': len(schedule),
            'stimuli': list(scheduled.stimuli),
            'reference': plan.pages[scheduled.page].reference,
        }))

    async def submit(request: Request) -> Response:
        listener, position = request.path_params['listener'], request.path_params['position']
        schedule = listener_or_404(listener)
        payload = await _read_json(request, max_body_bytes)
        record = page_record(plan, schedule, listener, position, payload, request.headers.get('user-agent', ''))
        outcome = await run_in_threadpool(store.submit_page, record)
        if outcome == 'stored':
            return no_store(JSONResponse({'stored': True, 'next': position + 1, 'total': len(schedule)}))
        done = store.pages_done(listener)
        message = {
            'identical': 'this page was already submitted with these ratings; nothing new was stored',
            'different': 'this page was already submitted with other ratings; the first submission stands',
            'out_of_order': f'page {done} comes before page {position}; submit it first',
        }[outcome]
        return no_store(JSONResponse({'error': message, 'stored': False, 'already': outcome, 'next': done, 'total': len(schedule)}, status_code=409))

    audio: dict[Path, bytes] = {}  # stimuli read once and kept, up to STIMULUS_CACHE_BYTES in all

    async def stimulus(request: Request) -> Response:
        path = plan.stimulus_path(directory, request.path_params['stimulus'])
        if path is None:
            raise RequestError(404, 'no such stimulus')
        data = audio.get(path)
        if data is None:
            data = await run_in_threadpool(path.read_bytes)
            if sum(map(len, audio.values())) + len(data) <= STIMULUS_CACHE_BYTES:
                audio[path] = data
        return Response(data, media_type='audio/wav', headers={'cache-control': 'private, max-age=86400'})

    async def refused(request: Request, error: Exception) -> Response:
        status = error.status if isinstance(error, RequestError) else getattr(error, 'status_code', 400)
        message = str(error) if isinstance(error, RequestError) else {404: 'not found', 405: 'method not allowed'}.get(status, 'refused')
        return no_store(JSONResponse({'error': message}, status_code=status))

    @asynccontextmanager
    async def lifespan(app: Starlette):  # noqa: ANN202
        try:
            yield
        finally:
            store.close()

    routes = [
        Route('/', index),
        Route('/static/{name}', static_file),
        Route('/api/test', test_info),
        Route('/api/listeners', new_listener, methods=['POST']),
        Route('/api/listeners/{listener}', progress),
        Route('/api/listeners/{listener}/pages/{position:int}', page),
        Route('/api/listeners/{listener}/pages/{position:int}', submit, methods=['POST']),
        Route('/api/stimuli/{stimulus}', stimulus),
    ]
    middleware = [Middleware(_Guard, token=token)]
    if loopback_only:
        middleware.append(Middleware(TrustedHostMiddleware, allowed_hosts=LOOPBACK_HOSTS))
    handlers: dict[Any, Callable] = {RequestError: refused, HTTPException: refused}
    app = Starlette(routes=routes, middleware=middleware, exception_handlers=handlers, lifespan=lifespan)
    app.state.plan = plan
    app.state.store = store
    return app


def _public_description(plan: ListeningPlan) -> dict[str, Any]:
    """What the page needs to know about the test, and nothing that names a condition or an item."""
    scale = plan.scale
    return {
        'test_id': plan.test_id,
        'kind': plan.kind,
        'title': plan.title,
        'pages': len(plan.pages),
        'scale': {'widget': scale.widget, 'minimum': scale.minimum, 'maximum': scale.maximum, 'step': scale.step, 'labels': list(scale.labels)},
        'must_play_all': plan.must_play_all,
        'no_preference': plan.no_preference,
        'multi_stimulus': plan.multi_stimulus,
        'volume_check': plan.volume_check,
    }


def _address_for_others() -> str:
    """This machine's address as others on the network would use it (a UDP connect sends nothing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(('10.255.255.255', 1))
            return str(probe.getsockname()[0])
        except OSError:
            return socket.gethostname()


def serve(directory: str | Path, *, host: str = '127.0.0.1', port: int = 8000, token: str | None = None, announce: Callable[[str], None] = print) -> None:
    """Serve the test until interrupted (Ctrl-C stops it cleanly; every stored page is already on disk).

    Args:
        directory: a folder made by `create_test`.
        host: the address to bind; anything beyond loopback (e.g. 0.0.0.0 for a lab network) gets an access
            token, generated unless `token` is given, and the printed URL carries it.
        port: the port; 0 picks a free one (the printed URL names it).
        token: the access token (16–128 URL-safe characters); with a loopback host it is required too.
        announce: where the URL goes (print by default).

    Raises:
        ListeningTestError: no test in `directory`, the port is taken, or the token is malformed.
    """
    import uvicorn

    loopback = is_loopback(host)
    token = access_token(host, token)
    app = create_app(directory, token=token, loopback_only=loopback)
    try:
        family = socket.AF_INET6 if ':' in host else socket.AF_INET
        listening = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # asyncio sets TCP_NODELAY only on IPPROTO_TCP sockets
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listening.bind((host.strip('[]'), port))
        listening.listen(2048)  # connections queue from now on, so the URL is good the moment it is printed
    except OSError as error:
        raise ListeningTestError(f'cannot listen on {host}:{port} ({error.strerror or error}); choose another --port or --host') from None
    bound_port = listening.getsockname()[1]
    shown_host = _address_for_others() if host in ('0.0.0.0', '::') else host
    shown_host = f'[{shown_host}]' if ':' in shown_host else shown_host
    url = f'http://{shown_host}:{bound_port}/' + (f'?token={token}' if token else '')
    plan: ListeningPlan = app.state.plan
    announce(f'{plan.title} ({plan.kind}, {len(plan.pages)} pages) at {url}')
    announce(f'send listeners this link; ratings go to {Path(directory) / DATABASE_FILE}; Ctrl-C stops the server')
    config = uvicorn.Config(app, log_level='warning', access_log=False, lifespan='on', timeout_graceful_shutdown=5)
    try:
        uvicorn.Server(config).run(sockets=[listening])
    except KeyboardInterrupt:  # uvicorn shuts down on Ctrl-C, then re-raises it: stopping is what was asked for
        pass
    announce(f'stopped; every submitted page is in {Path(directory) / DATABASE_FILE}')
