"""End-to-end tests of `etude data install`, its shim bin/install-dataset.sh and etude.data.download against a real loopback HTTP server.

Downloads are the part of a research toolkit most likely to fail in ways users cannot diagnose (a dropped connection,
a corrupt or hostile archive, a second run over an existing install), so every test drives the real script or the real
library against a real server on 127.0.0.1 with real archives built here, and checks what ends up on disk.
"""

import dataclasses
import hashlib
import http.server
import io
import json
import os
import re
import signal
import subprocess
import sys
import tarfile
import threading
import time
import wave
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from etude.cli import main
from etude.data.download import env_key, install_dataset
from etude.data.registry import OFFICIAL_DATASETS, get_official_dataset
from etude.errors import DatasetError, DownloadError

REPO_ROOT = Path(__file__).resolve().parent.parent
SCRIPT = REPO_ROOT / 'bin' / 'install-dataset.sh'
KAC = '5000-circular-drums-of-varying-size'
KAC_NAMES = [name for name, entry in OFFICIAL_DATASETS.items() if entry.layout == 'kac_drumset']


@dataclasses.dataclass
class Served:
    """One file on the loopback server, plus the knobs that make it misbehave and a log of Range headers."""

    data: bytes
    truncate_after: int | None = None
    stall_after: int | None = None
    honour_range: bool = True
    ranges: list[str | None] = dataclasses.field(default_factory=list)


class _Handler(http.server.BaseHTTPRequestHandler):
    routes: ClassVar[dict[str, Served]] = {}
    release: ClassVar[threading.Event] = threading.Event()

    def do_GET(self) -> None:
        served = self.routes.get(self.path.split('?')[0])
        if served is None:
            self.send_error(404)
            return
        header = self.headers.get('Range')
        served.ranges.append(header)
        match = re.fullmatch(r'bytes=(\d+)-', header or '')
        start = int(match.group(1)) if match and served.honour_range else 0
        size = len(served.data)
        if start >= size and match:
            self.send_response(416)
            self.send_header('Content-Range', f'bytes */{size}')
            self.send_header('Content-Length', '0')
            self.end_headers()
            return
        body = served.data[start:]
        self.send_response(206 if start else 200)
        if start:
            self.send_header('Content-Range', f'bytes {start}-{size - 1}/{size}')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        if served.truncate_after is not None:
            body, served.truncate_after = body[:served.truncate_after], None
            self.close_connection = True
        if served.stall_after is not None:
            self.wfile.write(body[:served.stall_after])
            self.wfile.flush()
            self.release.wait(20)  # hold the connection open, like a host that has gone quiet
            return
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[str, dict[str, Served]]]:
    """A threaded HTTP server on an ephemeral loopback port; yields its base URL and its mutable route table."""
    routes: dict[str, Served] = {}
    release = threading.Event()
    handler = type('Handler', (_Handler,), {'routes': routes, 'release': release})
    httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f'http://127.0.0.1:{httpd.server_address[1]}', routes
    release.set()
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep urllib off any configured proxy, clear overrides a developer may have exported, and point the Zenodo
    look-up at a closed loopback port (the discard port), so no test reaches the internet."""
    for key in list(os.environ):
        if key.lower().endswith('_proxy') or key.startswith('ETUDE_DATASET_'):
            monkeypatch.delenv(key)
    monkeypatch.setenv('NO_PROXY', '127.0.0.1,localhost')
    monkeypatch.setenv('ETUDE_ZENODO_API', 'http://127.0.0.1:9/api')


def _wav_bytes(seed: int, frames: int = 2000) -> bytes:
    """A tiny 16-bit mono wav of pseudo-random samples, so deflate cannot shrink it and a flipped byte matters."""
    buffer = io.BytesIO()
    with wave.open(buffer, 'wb') as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(hashlib.shake_256(str(seed).encode()).digest(frames * 2))
    return buffer.getvalue()


def _kac_files(name: str = KAC) -> dict[str, bytes]:
    metadata = {'dataset_size': 2, 'data': [{'filepath': f'{i}.wav'} for i in range(2)]}
    files = {f'{name}/data/metadata.json': json.dumps(metadata).encode()}
    files.update({f'{name}/data/{i}.wav': _wav_bytes(i) for i in range(2)})
    return files


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, 'w', zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(zipfile.ZipInfo(name), data, compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def _tar_gz(members: list[tuple[tarfile.TarInfo, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode='w:gz') as archive:
        for info, data in members:
            info.size = len(data) if info.isfile() else 0
            archive.addfile(info, io.BytesIO(data) if info.isfile() else None)
    return buffer.getvalue()


def _listing(folder: Path) -> list[tuple[str, int, int]]:
    return sorted((str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob('*'))


def _user_dir(tmp_path: Path) -> Path:
    """A dataset folder that already holds a user's file, which no failure may disturb."""
    folder = tmp_path / 'data'
    folder.mkdir()
    (folder / 'notes.txt').write_text('mine\n')
    return folder


def _script_env(env: dict[str, str] | None, fast: bool) -> dict[str, str]:
    full_env = {**os.environ, **(env or {})}
    if fast:
        full_env['ETUDE_PYTHON'] = sys.executable  # skip pipenv's start-up; the default choice is tested once
    return full_env


def _run(
    *args: str, env: dict[str, str] | None = None, cwd: Path = REPO_ROOT, fast: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run the real shell script. Each run pays for importing etude (and torch), so only key paths use it."""
    return subprocess.run(['bash', str(SCRIPT), *args], check=False, env=_script_env(env, fast), cwd=cwd,
                          capture_output=True, text=True, timeout=60)


def _cli(
    args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str] | None = None,
) -> tuple[int, str, str]:
    """Run the same command-line entry point in-process: identical behaviour, none of the start-up cost."""
    for key, value in (env or {}).items():
        monkeypatch.setenv(key, value)
    code = main(['data', 'install', *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _overrides(url: str, data: bytes | None = None, name: str = KAC) -> dict[str, str]:
    env = {f'ETUDE_DATASET_URL_{env_key(name)}': url}
    if data is not None:
        env[f'ETUDE_DATASET_CHECKSUM_{env_key(name)}'] = 'sha256:' + hashlib.sha256(data).hexdigest()
    return env


def _one_error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('error: '), stderr
    return lines[0]


def _assert_installed(folder: Path, checksum_verified: bool = True) -> None:
    for name, data in _kac_files().items():
        assert (folder / name.split('/data/')[1]).read_bytes() == data
    record = json.loads((folder / 'etude-install.json').read_text())
    assert record['name'] == KAC and record['checksum_verified'] is checksum_verified
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(f'.{KAC}')]


def test_script_installs_and_verifies_checksum(server: tuple[str, dict[str, Served]], tmp_path: Path) -> None:
    base, routes = server
    data = _zip(_kac_files())
    routes['/kac.zip'] = Served(data)
    target = _user_dir(tmp_path)
    result = _run(KAC, str(target), env=_overrides(f'{base}/kac.zip?download=1', data))
    assert result.returncode == 0, result.stderr
    assert 'checksum verified' in result.stdout
    _assert_installed(target / KAC)
    assert (target / 'notes.txt').read_text() == 'mine\n'


def test_truncated_download_fails_cleanly_then_resumes(
    server: tuple[str, dict[str, Served]], tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base, routes = server
    data = _zip(_kac_files())
    half = len(data) // 2
    routes['/kac.zip'] = Served(data, truncate_after=half)
    target = _user_dir(tmp_path)
    env = _overrides(f'{base}/kac.zip', data)
    code, _, err = _cli([KAC, '--dir', str(target)], capsys, monkeypatch, env)
    assert code == 2
    assert 'resume' in _one_error_line(err)
    assert not (target / KAC).exists()
    assert (target / f'.{KAC}.part').stat().st_size == half
    code, out, err = _cli([KAC, '--dir', str(target)], capsys, monkeypatch, env)
    assert code == 0, err
    assert 'checksum verified' in out
    assert routes['/kac.zip'].ranges == [None, f'bytes={half}-']
    _assert_installed(target / KAC)


def _flip_member_bytes(data: bytes) -> bytes:
    """Invert eight bytes in the middle of one member's compressed data, as a bad disk or proxy might."""
    info = zipfile.ZipFile(io.BytesIO(data)).getinfo(f'{KAC}/data/1.wav')
    middle = info.header_offset + 30 + len(info.filename) + len(info.extra) + info.compress_size // 2
    return data[:middle] + bytes(b ^ 0xFF for b in data[middle:middle + 8]) + data[middle + 8:]


@pytest.mark.parametrize('damage', ['flipped-bytes', 'truncated-file'])
def test_corrupt_archive_is_refused_and_removed(
    server: tuple[str, dict[str, Served]], tmp_path: Path, damage: str, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base, routes = server
    data = _zip(_kac_files())
    # A truncated *file* served whole is a complete transfer of broken bytes: only the archive check can catch it.
    routes['/kac.zip'] = Served(_flip_member_bytes(data) if damage == 'flipped-bytes' else data[:len(data) * 2 // 3])
    target = _user_dir(tmp_path)
    before = _listing(target)
    code, _, err = _cli([KAC, '--dir', str(target)], capsys, monkeypatch, _overrides(f'{base}/kac.zip'))
    assert code == 2
    assert 'corrupt' in _one_error_line(err)
    assert _listing(target) == before


def test_checksum_mismatch_is_refused(
    server: tuple[str, dict[str, Served]], tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base, routes = server
    routes['/kac.zip'] = Served(_zip(_kac_files()))
    target = _user_dir(tmp_path)
    before = _listing(target)
    env = {**_overrides(f'{base}/kac.zip'), f'ETUDE_DATASET_CHECKSUM_{env_key(KAC)}': 'md5:' + '0' * 32}
    code, _, err = _cli([KAC, '--dir', str(target), '--quiet'], capsys, monkeypatch, env)
    assert code == 2
    assert 'checksum' in _one_error_line(err)
    assert _listing(target) == before


@pytest.mark.parametrize('hostile', ['../evil', 'ABSOLUTE'])
def test_zip_escaping_its_folder_is_refused(
    server: tuple[str, dict[str, Served]], tmp_path: Path, hostile: str, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base, routes = server
    outside = tmp_path / 'outside' / 'evil'
    name = str(outside) if hostile == 'ABSOLUTE' else f'{KAC}/data/../../../{hostile}'
    data = _zip({**_kac_files(), name: b'pwned'})
    routes['/kac.zip'] = Served(data)
    target = _user_dir(tmp_path)
    before = _listing(target)
    code, _, err = _cli([KAC, '--dir', str(target)], capsys, monkeypatch, _overrides(f'{base}/kac.zip', data))
    assert code == 2
    assert 'refusing' in _one_error_line(err)
    assert _listing(target) == before
    assert not list(tmp_path.rglob('evil'))


def _tar_member(name: str, kind: bytes = tarfile.REGTYPE, link: str = '') -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    return info


@pytest.mark.parametrize('hostile', [
    _tar_member('/tmp/etude-evil-absolute'),
    _tar_member('pkg/../../evil'),
    _tar_member('pkg/evil', tarfile.SYMTYPE, '../../../evil'),
    _tar_member('pkg/evil', tarfile.CHRTYPE),
], ids=['absolute', 'dotdot', 'symlink-outside', 'device'])
def test_tar_refuses_escaping_entries(
    server: tuple[str, dict[str, Served]], tmp_path: Path, hostile: tarfile.TarInfo,
) -> None:
    base, routes = server
    routes['/fsdd.tar.gz'] = Served(_tar_gz([(_tar_member('pkg/ok.txt'), b'ok'), (hostile, b'pwned')]))
    entry = dataclasses.replace(get_official_dataset('free-spoken-digit-dataset'), subdirectory='pkg')
    target = _user_dir(tmp_path)
    before = _listing(target)
    with pytest.raises(DownloadError, match='refusing'):
        install_dataset(entry, target, url=f'{base}/fsdd.tar.gz', progress=False)
    assert _listing(target) == before
    assert not list(tmp_path.rglob('evil')) and not Path('/tmp/etude-evil-absolute').exists()


def test_tar_install_with_subdirectory(server: tuple[str, dict[str, Served]], tmp_path: Path) -> None:
    base, routes = server
    wav = _wav_bytes(7)
    routes['/fsdd.tar.gz'] = Served(_tar_gz([(_tar_member('fsdd-1/recordings/7_jackson_0.wav'), wav)]))
    entry = dataclasses.replace(get_official_dataset('free-spoken-digit-dataset'), subdirectory='fsdd-1')
    folder = install_dataset(entry, tmp_path, url=f'{base}/fsdd.tar.gz', progress=False)
    assert folder == tmp_path / 'free-spoken-digit-dataset'
    assert (folder / 'recordings' / '7_jackson_0.wav').read_bytes() == wav


def test_server_ignoring_range_restarts_from_zero(server: tuple[str, dict[str, Served]], tmp_path: Path) -> None:
    base, routes = server
    data = _zip(_kac_files())
    routes['/kac.zip'] = Served(data, honour_range=False)
    (tmp_path / f'.{KAC}.part').write_bytes(b'stale bytes from some other file')
    entry = dataclasses.replace(get_official_dataset(KAC), checksum='sha256:' + hashlib.sha256(data).hexdigest())
    install_dataset(entry, tmp_path, url=f'{base}/kac.zip', progress=False)
    _assert_installed(tmp_path / KAC)


def _zenodo_record(files: dict[str, bytes]) -> bytes:
    """What Zenodo's records API answers for a record: its files with key, size and md5 checksum."""
    entries = [{'key': key, 'size': len(data), 'checksum': 'md5:' + hashlib.md5(data).hexdigest()} for key, data in files.items()]
    return json.dumps({'id': 7274474, 'files': entries}).encode()


@pytest.mark.parametrize('published', ['matching', 'other-bytes', 'absent'])
def test_zenodo_published_md5_is_checked(
    server: tuple[str, dict[str, Served]], tmp_path: Path, published: str, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base, routes = server
    data = _zip(_kac_files())
    routes['/kac.zip'] = Served(data)
    if published != 'absent':
        record_of = data if published == 'matching' else _zip({**_kac_files(), 'extra.txt': b'another version'})
        routes['/api/records/7274474'] = Served(_zenodo_record({f'{KAC}.zip': record_of, 'other.zip': b'x'}))
    target = _user_dir(tmp_path)
    before = _listing(target)
    code, out, err = _cli([KAC, '--dir', str(target)], capsys, monkeypatch, {**_overrides(f'{base}/kac.zip'), 'ETUDE_ZENODO_API': f'{base}/api'})
    if published == 'matching':
        assert code == 0 and 'checksum verified' in out, err
        _assert_installed(target / KAC)
    elif published == 'other-bytes':  # same name, other bytes: Zenodo's size (or md5) gives it away
        assert code == 2 and 'corrupt' in _one_error_line(err)
        assert _listing(target) == before
    else:  # the API is down or lists nothing: the archive check still guards the install, and the user is told
        assert code == 0 and "Zenodo's checksum" in out and 'archive verified' in out, err
        _assert_installed(target / KAC, checksum_verified=False)


def test_complete_part_answered_416_is_used(server: tuple[str, dict[str, Served]], tmp_path: Path) -> None:
    base, routes = server
    data = _zip(_kac_files())
    routes['/kac.zip'] = Served(data)
    (tmp_path / f'.{KAC}.part').write_bytes(data)
    install_dataset(KAC, tmp_path, url=f'{base}/kac.zip', progress=False)
    assert routes['/kac.zip'].ranges == [f'bytes={len(data)}-']
    _assert_installed(tmp_path / KAC, checksum_verified=False)


def test_unknown_name_suggests_nearest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    code, _, err = _cli(['5000-circular-drums', '--dir', str(tmp_path / 'data')], capsys, monkeypatch)
    assert code == 2
    line = _one_error_line(err)
    assert KAC in line and 'etude data list' in line
    assert not (tmp_path / 'data').exists()
    with pytest.raises(DatasetError, match='did you mean'):
        get_official_dataset('maestro')


def test_script_lists_from_another_cwd(tmp_path: Path) -> None:
    listed = _run('--list', cwd=tmp_path, fast=False)
    assert listed.returncode == 0, listed.stderr
    assert len(KAC_NAMES) == 3 and all(name in listed.stdout for name in KAC_NAMES)
    assert 'maestro-v3-midi' in listed.stdout and 'CC BY-SA 4.0' in listed.stdout


def test_already_installed_is_left_alone(
    server: tuple[str, dict[str, Served]], tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base, routes = server
    routes['/kac.zip'] = Served(_zip(_kac_files()))
    target = _user_dir(tmp_path)
    (target / KAC).mkdir()
    (target / KAC / 'keep.txt').write_text('precious\n')
    before = _listing(target)
    code, _, err = _cli([KAC, '--dir', str(target)], capsys, monkeypatch, _overrides(f'{base}/kac.zip'))
    assert code == 2
    assert 'already installed' in _one_error_line(err)
    assert _listing(target) == before and routes['/kac.zip'].ranges == []


def test_kaggle_entry_prints_manual_instructions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    target = tmp_path / 'data'
    code, _, err = _cli(['classical-music-midi', '--dir', str(target)], capsys, monkeypatch)
    assert code == 2
    line = _one_error_line(err)
    assert 'kaggle.com/datasets/soumikrakshit/classical-music-midi' in line
    assert str(target / 'classical-music-midi') in line
    assert not target.exists()


def test_ctrl_c_keeps_partial_download_for_resume(server: tuple[str, dict[str, Served]], tmp_path: Path) -> None:
    base, routes = server
    data = _zip(_kac_files())
    half = len(data) // 2
    routes['/kac.zip'] = Served(data, stall_after=half)
    target = _user_dir(tmp_path)
    part = target / f'.{KAC}.part'
    process = subprocess.Popen(['bash', str(SCRIPT), KAC, str(target)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True,
                               env=_script_env(_overrides(f'{base}/kac.zip', data), fast=True))
    deadline = time.monotonic() + 30
    while not (part.exists() and part.stat().st_size == half) and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)  # bash exec()s python, so this is the installer itself
    _, err = process.communicate(timeout=30)
    assert process.returncode == 130
    assert 'resume' in err.strip() and len(err.strip().splitlines()) == 1, err
    assert part.stat().st_size == half and not (target / KAC).exists()


@pytest.mark.parametrize('layout', ['folder-is-a-link', 'link-inside-leads-out'])
def test_tar_whose_dataset_folder_links_elsewhere_is_refused(
    server: tuple[str, dict[str, Served]], tmp_path: Path, layout: str,
) -> None:
    base, routes = server
    members = [(_tar_member('real/recordings/7_jackson_0.wav'), _wav_bytes(7))]
    if layout == 'folder-is-a-link':  # fsdd-1 -> real: extracted fine, but only the link would be moved into place
        members.append((_tar_member('fsdd-1', tarfile.SYMTYPE, 'real'), b''))
    else:
        members += [(_tar_member('fsdd-1/readme.txt'), b'x'), (_tar_member('fsdd-1/recordings', tarfile.SYMTYPE, '../real/recordings'), b'')]
    routes['/fsdd.tar.gz'] = Served(_tar_gz(members))
    entry = dataclasses.replace(get_official_dataset('free-spoken-digit-dataset'), subdirectory='fsdd-1')
    target = _user_dir(tmp_path)
    before = _listing(target)
    for _ in range(2):  # a second run fails the same way: nothing was left that looks installed
        with pytest.raises(DownloadError, match='refusing to install free-spoken-digit-dataset: .*(is a symbolic link|links outside)') as caught:
            install_dataset(entry, target, url=f'{base}/fsdd.tar.gz', progress=False)
        assert '\n' not in str(caught.value)
        assert _listing(target) == before
        assert not (target / 'free-spoken-digit-dataset').is_symlink()


@pytest.mark.parametrize('url', ['notaurl', 'http://', 'ftp:/nohost/file.zip', 'mailto:someone@example.org'])
def test_a_url_that_is_not_one_is_one_line(
    tmp_path: Path, url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    code, _, err = _cli([KAC, '--dir', str(tmp_path / 'data'), '--url', url], capsys, monkeypatch)
    assert code == 2
    assert f'--url {url!r} is not the address of an archive' in _one_error_line(err)
    code, _, err = _cli([KAC, '--dir', str(tmp_path / 'data')], capsys, monkeypatch, {f'ETUDE_DATASET_URL_{env_key(KAC)}': url})
    assert code == 2 and f'ETUDE_DATASET_URL_{env_key(KAC)}' in _one_error_line(err)
    assert not (tmp_path / 'data').exists()


def test_a_far_unknown_name_lists_the_datasets_and_a_usage_mistake_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    code, _, err = _cli(['nope', '--dir', str(tmp_path / 'data')], capsys, monkeypatch)
    line = _one_error_line(err)
    assert code == 2 and 'did you mean' not in line and all(name in line for name in OFFICIAL_DATASETS)
    with pytest.raises(SystemExit) as exit_status:
        main(['data', 'install', KAC, '--no-such-option'])
    assert exit_status.value.code == 2
    assert 'unrecognized arguments: --no-such-option' in _one_error_line(capsys.readouterr().err)


def test_a_file_as_the_target_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / 'data').write_text('mine\n')
    code, _, err = _cli([KAC, '--dir', str(tmp_path / 'data')], capsys, monkeypatch)
    assert code == 2 and 'is a file, not a folder' in _one_error_line(err)
    assert (tmp_path / 'data').read_text() == 'mine\n'
