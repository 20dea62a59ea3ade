"""Download, verify and safely unpack an official dataset into `<target_dir>/<name>/`.

Its command line is `etude data install NAME` (`etude.data.command`). Datasets are large and hosts are flaky, so the
installer is built around three promises. A broken connection costs nothing: bytes land in `<target_dir>/.<name>.part`
and the next run resumes it with an HTTP Range request. A bad download never looks installed: the checksum (when
published), the size (when known) and the archive structure are checked, and the dataset folder appears only by an
atomic rename of a fully extracted sibling. Nothing the user owns is touched: an archive entry that would escape its
folder is refused, an existing install is never overwritten, and the only files ever deleted are the installer's own
temporary ones.

For a dataset hosted on Zenodo the expected md5 and size are not copied into the registry but asked of Zenodo's
records API just before the download, so they are the host's own published values; when the API cannot be reached
the archive check still runs and the install says that no checksum was verified.

Tests and mirrors can redirect a dataset with `ETUDE_DATASET_URL_<NAME>` (name upper-cased, non-alphanumerics turned
into `_`), pin the exact bytes expected with `ETUDE_DATASET_CHECKSUM_<NAME>` (`md5:...` or `sha256:...`), and point
the Zenodo look-up elsewhere with `ETUDE_ZENODO_API` (default https://zenodo.org/api).

Machines that cannot reach a host install from a local file instead, `install_dataset(name, dir, archive=PATH)` (`etude
data install NAME --archive PATH`): the file is matched to a form the registry knows (the host's archive, or a copy
with its own md5: `etude.data.archives`), copied into the same `.part` file (an interrupted copy resumes), and then
checked, unpacked and moved into place by the same code as a download. The user's file is never changed or removed.
"""

import dataclasses
import datetime
import importlib
import json
import os
import re
import shutil
import stat
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import IO, Any

from etude.data.archives import archive_form, copy_resumable, hash_file, resolve_subdirectory
from etude.data.files import check_folder, exclusive_lock
from etude.data.registry import (
    OfficialDataset,
    get_official_dataset,
)
from etude.errors import DatasetError, DownloadError

__all__ = ['check_url', 'download_file', 'env_key', 'extract_archive', 'install_dataset', 'installed_record', 'verify_download']

_CHUNK = 1 << 20
_TIMEOUT_S = 60.0
_RECORD_NAME = 'etude-install.json'
_ZENODO_API = 'https://zenodo.org/api'


def env_key(name: str) -> str:
    """The suffix of the override variables for a dataset: `5000-circular...` -> `5000_CIRCULAR...`."""
    return re.sub(r'[^A-Za-z0-9]', '_', name).upper()


def _open_progress(total: int | None, initial: int, label: str, enabled: bool) -> Any:
    """A tqdm bar when asked for and available; a progress bar must never be the reason an install fails."""
    if not enabled:
        return None
    try:
        tqdm = importlib.import_module('tqdm').tqdm  # optional, and typed loosely on purpose
    except ImportError:
        return None
    return tqdm(total=total, initial=initial, unit='B', unit_scale=True, unit_divisor=1024, desc=label, leave=False)


def _content_range_total(header: str | None) -> int | None:
    """The full size from a `Content-Range: bytes a-b/N` (or `bytes */N`) header, if the server gave one."""
    match = re.search(r'/(\d+)\s*$', header or '')
    return int(match.group(1)) if match else None


def download_file(url: str, part: Path, *, label: str, progress: bool = True) -> None:
    """Fetch `url` into `part`, resuming whatever bytes `part` already holds.

    A 206 answer appends; a 200 answer means the server ignored the Range header, so the file restarts from zero
    rather than being corrupted by appending a second copy; a 416 whose total equals what we hold means the previous
    run had already finished. A connection that ends early raises and keeps `part`, so the next run resumes.
    """
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={'User-Agent': 'etude-dataset-installer'})
    if have:
        request.add_header('Range', f'bytes={have}-')
    try:
        response = urllib.request.urlopen(request, timeout=_TIMEOUT_S)
    except urllib.error.HTTPError as error:
        if error.code == 416 and have:
            total = _content_range_total(error.headers.get('Content-Range'))
            error.close()
            if total == have:
                return
            # Our partial file is longer than the resource (it changed upstream): it is ours, so start over.
            part.unlink()
            return download_file(url, part, label=label, progress=progress)
        raise DownloadError(f'could not download {label}: the server answered HTTP {error.code} for {url}') from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, 'reason', error)
        raise DownloadError(f'could not download {label}: {reason} ({url}); check the network and run again') from None
    with response:
        start = have if response.status == 206 else 0
        offset = re.match(r'bytes (\d+)-', response.headers.get('Content-Range', ''))
        if start and (offset is None or int(offset.group(1)) != have):
            # A range we did not ask for cannot be appended safely; the partial file is ours, so start over.
            response.close()
            part.unlink()
            return download_file(url, part, label=label, progress=progress)
        length = response.headers.get('Content-Length')
        expected = start + int(length) if length is not None and length.isdigit() else None
        received = start
        bar = _open_progress(expected, start, label, progress)
        try:
            with part.open('ab' if start else 'wb') as sink:  # an OSError here is the disk's, not the network's
                while True:
                    try:
                        chunk = response.read1(_CHUNK)  # whatever has arrived, so little is lost
                    except OSError as error:
                        raise DownloadError(
                            f'download of {label} was interrupted after {received} bytes ({error}); '
                            'run the same command again to resume'
                        ) from None
                    if not chunk:
                        break
                    sink.write(chunk)
                    received += len(chunk)
                    if bar is not None:
                        bar.update(len(chunk))
        except OSError as error:
            raise DownloadError(
                f'could not write {part}: {error.strerror or error}; free space or fix permissions, then run again'
            ) from None
        finally:
            if bar is not None:
                bar.close()
    if expected is not None and received < expected:
        raise DownloadError(
            f'download of {label} was cut off after {received} of {expected} bytes; '
            'run the same command again to resume'
        )


def _read_all(stream: IO[bytes]) -> None:
    while stream.read(_CHUNK):
        pass


_TAR_MODES = {'tar.gz': 'r:gz', 'tar.xz': 'r:xz'}


def verify_download(path: Path, entry: OfficialDataset, *, what: str | None = None) -> bool:
    """Check size, checksum and archive structure; return whether a checksum was verified.

    The archive is always read end to end, because hosts that publish no checksum (GitHub tag archives) still
    deserve a guarantee that a truncated or damaged file is caught here rather than half-way through training.
    `what` names the file in messages (default 'download of NAME'; a local archive is named by its path).
    """
    label = what or f'download of {entry.name}'
    size = path.stat().st_size
    if entry.size_bytes is not None and size != entry.size_bytes:
        raise DownloadError(f'{label} is corrupt: {size} bytes instead of {entry.size_bytes}')
    if entry.checksum is not None:
        algorithm, expected = entry.checksum.split(':', 1)
        actual = hash_file(path, algorithm)
        if actual != expected.lower():
            raise DownloadError(
                f'{label} is corrupt: {algorithm} checksum {actual} does not match the expected {expected}'
            )
    try:
        if entry.archive_format == 'zip':
            with zipfile.ZipFile(path) as archive:
                bad = archive.testzip()
            if bad is not None:
                raise DownloadError(f'{label} is corrupt: archive member {bad!r} fails its CRC check')
        else:
            with tarfile.open(path, _TAR_MODES[entry.archive_format]) as archive:  # type: ignore[call-overload]
                for member in archive:
                    if member.isfile():
                        extracted = archive.extractfile(member)
                        if extracted is not None:
                            _read_all(extracted)
    except NotImplementedError as error:
        raise DownloadError(f'cannot unpack {entry.name}: {error}') from None
    except (zipfile.BadZipFile, tarfile.TarError, zlib.error, EOFError, OSError, ValueError) as error:
        kind = entry.archive_format
        raise DownloadError(f'{label} is corrupt: not a readable {kind} archive ({error})') from None
    return entry.checksum is not None


def _check_member_name(name: str, label: str) -> None:
    """Refuse names that are absolute or climb out, under both POSIX and Windows rules, before anything is written."""
    posix, windows = PurePosixPath(name), PureWindowsPath(name)
    if posix.is_absolute() or windows.is_absolute() or windows.drive or name.startswith(('/', '\\')):
        raise DownloadError(f'refusing to install {label}: archive entry {name!r} has an absolute path')
    if '..' in posix.parts or '..' in windows.parts:
        raise DownloadError(f'refusing to install {label}: archive entry {name!r} points outside the dataset folder')


def extract_archive(archive_path: Path, archive_format: str, destination: Path, *, label: str) -> None:
    """Unpack into `destination`, validating every entry first so a hostile archive writes nothing at all."""
    if archive_format == 'zip':
        with zipfile.ZipFile(archive_path) as archive:
            for info in archive.infolist():
                _check_member_name(info.filename, label)
                kind = stat.S_IFMT(info.external_attr >> 16)  # 0 when the zip records no Unix file type
                if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
                    raise DownloadError(
                        f'refusing to install {label}: archive entry {info.filename!r} is a link or device file'
                    )
            archive.extractall(destination)
        return
    with tarfile.open(archive_path, _TAR_MODES[archive_format]) as archive:  # type: ignore[call-overload]
        members = archive.getmembers()
        for member in members:
            _check_member_name(member.name, label)
            try:
                tarfile.data_filter(member, str(destination))
            except tarfile.FilterError as error:
                raise DownloadError(f'refusing to install {label}: {error}') from None
        archive.extractall(destination, members=members, filter='data')


def _check_dataset_folder(staging: Path, entry: OfficialDataset) -> None:
    """Refuse an archive whose dataset folder is a symbolic link, or holds links that lead out of it.

    Extraction keeps links that stay inside the archive, but only the dataset folder is moved into place: a link to a
    sibling folder of the archive (or the folder itself being one) would be left dangling, and look installed."""
    root = staging
    for part in PurePosixPath(entry.subdirectory or '.').parts:
        root = root / part
        if root.is_symlink():
            raise DownloadError(f'refusing to install {entry.name}: its folder {entry.subdirectory!r} in the archive is a symbolic link, '
                                'not a folder; the archive is malformed')
    if not root.is_dir():
        raise DownloadError(f'archive of {entry.name} has no folder {entry.subdirectory!r}; its layout changed')
    missing = [name for name in entry.required_files if not (root / name).is_file()]
    if missing:
        raise DownloadError(f'archive of {entry.name} has no {missing[0]} in its folder {entry.subdirectory or "(top)"!r}; its layout changed')
    inside = root.resolve()
    for folder, directories, files in os.walk(root):
        for name in (*directories, *files):
            path = Path(folder) / name
            if path.is_symlink() and not path.resolve().is_relative_to(inside):
                raise DownloadError(f'refusing to install {entry.name}: archive entry {str(path.relative_to(staging))!r} links outside '
                                    'the dataset folder')


def published_file_facts(entry: OfficialDataset) -> tuple[OfficialDataset, str | None]:
    """Fill in the checksum and size that Zenodo publishes for the entry's file; return (entry, why not) .

    Only entries with a `zenodo_record` and no pinned checksum are looked up. The file is found by the name at the end
    of the registry's URL path (`<name>.zip`). Any failure leaves the entry as it was and says why, because the
    archive check still guards the install and a flaky metadata API should not block a good download.
    """
    if entry.zenodo_record is None or entry.checksum is not None:
        return entry, None
    original = get_official_dataset(entry.name).url or ''
    file_name = urllib.parse.unquote(PurePosixPath(urllib.parse.urlparse(original).path).name)
    api = os.environ.get('ETUDE_ZENODO_API', _ZENODO_API).rstrip('/')
    request = urllib.request.Request(f'{api}/records/{entry.zenodo_record}', headers={'Accept': 'application/json'})
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            record = json.load(response)
        published = [item for item in record.get('files', []) if item.get('key') == file_name]
        if not published:
            return entry, f'Zenodo record {entry.zenodo_record} lists no file {file_name}'
        checksum, size = str(published[0]['checksum']).lower(), int(published[0]['size'])
        return dataclasses.replace(entry, checksum=checksum, size_bytes=size), None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:  # network, JSON, record layout, checksum form
        reason = getattr(error, 'reason', None) or error or type(error).__name__
        return entry, f"Zenodo's checksum for {file_name} could not be read ({reason})"


_URL_SCHEMES = ('http', 'https', 'ftp', 'file')


def check_url(url: str, origin: str) -> str:
    """`url` when urllib can fetch it; else a one-line DatasetError naming where it came from (`origin`)."""
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme.lower() not in _URL_SCHEMES or (parsed.scheme.lower() != 'file' and not parsed.netloc) or not parsed.path.strip('/'):
        raise DatasetError(f'{origin} {url!r} is not the address of an archive; give a full URL starting with '
                           f'{", ".join(f"{scheme}://" for scheme in _URL_SCHEMES)}, e.g. https://example.org/data.zip')
    return url


def _resolve_entry(name_or_entry: str | OfficialDataset, url: str | None) -> OfficialDataset:
    """Apply the url and checksum overrides; a pinned checksum replaces the registry size, since it is stronger."""
    entry = name_or_entry if isinstance(name_or_entry, OfficialDataset) else get_official_dataset(name_or_entry)
    key = env_key(entry.name)
    if url is not None:
        check_url(url, '--url')
    elif os.environ.get(f'ETUDE_DATASET_URL_{key}'):
        url = check_url(os.environ[f'ETUDE_DATASET_URL_{key}'], f'ETUDE_DATASET_URL_{key}')
    url = url or entry.url
    checksum = os.environ.get(f'ETUDE_DATASET_CHECKSUM_{key}')
    changes: dict[str, Any] = {'url': url}
    if checksum:
        changes.update(checksum=checksum.strip().lower(), size_bytes=None)
    try:
        return dataclasses.replace(entry, **changes)
    except ValueError as error:
        raise DatasetError(f'bad override for {entry.name}: {error}') from None


def install_dataset(
    name_or_entry: str | OfficialDataset, target_dir: str | os.PathLike[str], *, url: str | None = None,
    archive: str | os.PathLike[str] | None = None, progress: bool = True,
) -> Path:
    """Install an official dataset into `<target_dir>/<name>/` and return that folder.

    `archive` installs from a local file instead of downloading: an archive of a form the registry knows (see
    `etude.data.archives`), held to the same checks; the file itself is left as it is.

    Raises `DatasetError` for an unknown name, a manual-only dataset, an existing install or a local file that is not a
    known archive of the dataset, and `DownloadError` when the archive cannot be fetched, verified or safely unpacked.
    Interrupting keeps the `.part` file for resuming.
    """
    if archive is not None and url is not None:
        raise DatasetError('give --url or --archive, not both: one says where to download the archive, the other where it already is')
    entry = _resolve_entry(name_or_entry, url)
    target = Path(target_dir)
    final = target / entry.name
    local = Path(archive) if archive is not None else None
    if local is not None:
        if not local.is_file():
            raise DatasetError(f'{local}: no such file' if not local.exists() else f'{local} is a folder; give the archive file itself')
        if entry.url is None and not entry.copies:
            raise DatasetError(str(entry.manual_instructions).replace('{target}', str(final)))
        entry, form_name = archive_form(entry, local)
    elif entry.url is None:
        raise DatasetError(str(entry.manual_instructions).replace('{target}', str(final)))
    if final.exists() or final.is_symlink():
        raise DatasetError(f'{entry.name} is already installed in {final}; remove that folder to reinstall it')
    check_folder(target, 'the dataset folder')
    created = not target.exists()
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DatasetError(f'cannot create the dataset folder {target}: {error.strerror}') from None
    try:
        # two installs of one dataset at once would append to one .part file: the second waits, then finds it installed
        with exclusive_lock(target / f'.{entry.name}.lock', remove=True,
                            waiting_message=f'waiting for another install of {entry.name} into {target}' if progress else None):
            if final.exists() or final.is_symlink():
                raise DatasetError(f'{entry.name} is already installed in {final}; remove that folder to reinstall it')
            return _download_and_unpack(entry, target, final, progress, local=(local, form_name) if local is not None else None)
    except BaseException:
        if created and not any(target.iterdir()):
            target.rmdir()  # only a folder this call created and left empty
        raise


def _download_and_unpack(entry: OfficialDataset, target: Path, final: Path, progress: bool, *,
                         local: tuple[Path, str] | None = None) -> Path:
    """The fallible part of `install_dataset`: download (or copy `local`'s file), verify, extract beside `final`,
    then rename into place."""
    part = target / f'.{entry.name}.part'
    if local is None:
        entry, lookup_failure = published_file_facts(entry)
        assert entry.url is not None
        download_file(entry.url, part, label=entry.name, progress=progress)
        what, again = None, 'the bad download was removed, run the same command again'
    else:
        lookup_failure = None if entry.checksum else 'the host publishes no checksum for this archive'
        copy_resumable(local[0], part)
        what, again = f'{local[0]} ({local[1]})', f'{local[0]} itself is left as it is'
    try:
        verified = verify_download(part, entry, what=what)
    except DownloadError as error:
        part.unlink(missing_ok=True)
        raise DownloadError(f'{error}; {again}') from None
    staging = Path(tempfile.mkdtemp(prefix=f'.{entry.name}.extracting-', dir=target))
    try:
        try:
            extract_archive(part, entry.archive_format, staging, label=entry.name)
            entry = dataclasses.replace(entry, subdirectory=resolve_subdirectory(staging, entry.subdirectory, entry.name))
            _check_dataset_folder(staging, entry)
        except DownloadError:
            part.unlink()  # a hostile or misshapen archive is useless to keep: only a new download can fix it
            raise
        except OSError as error:
            raise DownloadError(
                f'could not unpack {entry.name} into {target}: {error.strerror or error}; '
                'the download is kept, fix this and run the same command again'
            ) from None
        root = staging / entry.subdirectory if entry.subdirectory else staging
        record = {
            'name': entry.name, 'url': entry.url if local is None else None, 'archive': str(local[0].resolve()) if local else None,
            'archive_form': local[1] if local else None, 'checksum': entry.checksum, 'checksum_verified': verified,
            'checksum_unavailable': lookup_failure,
            'licence': entry.licence, 'layout': entry.layout,
            'installed_at': datetime.datetime.now(datetime.UTC).isoformat(timespec='seconds'),
        }
        (root / _RECORD_NAME).write_text(json.dumps(record, indent=2) + '\n')
        if final.exists() or final.is_symlink():
            raise DatasetError(f'{entry.name} is already installed in {final}; remove that folder to reinstall it')
        try:
            os.rename(root, final)
        except OSError as error:
            raise DownloadError(f'could not move {entry.name} into {final}: {error.strerror}') from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    part.unlink(missing_ok=True)
    return final


def installed_record(folder: Path) -> dict[str, Any]:
    """What `install_dataset` recorded about the install in `folder` (its URL, checksum, licence, time)."""
    record: dict[str, Any] = json.loads((folder / _RECORD_NAME).read_text())
    return record
