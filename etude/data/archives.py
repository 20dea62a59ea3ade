"""Which archive a file is, and a local archive copied in as a download would be: for `etude data install --archive`.

    form = archive_form(get_official_dataset('nasap'), Path('nasap-4097b45.tar.xz'))   # the entry as that copy is checked
    copy_resumable(Path('nasap-4097b45.tar.xz'), target / '.nasap.part')             # resumes a copy cut short

A dataset's archive comes in one or more forms: the host's (the registry entry's URL, format, checksum and folder) and
any `ArchiveCopy` the registry knows (a repackaged mirror with its own md5). A local file is matched to a form by its
format, read from its first bytes (not its name), and, where several forms share a format, by its checksum; the
installer then holds it to that form's checksum, archive check and folder exactly as it holds a download.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path, PurePosixPath

from ..errors import DatasetError, DownloadError
from .registry import OfficialDataset

__all__ = ['archive_form', 'copy_resumable', 'file_format', 'hash_file', 'resolve_subdirectory']

_CHUNK = 1 << 20
_MAGIC = ((b'PK\x03\x04', 'zip'), (b'PK\x05\x06', 'zip'), (b'\x1f\x8b', 'tar.gz'), (b'\xfd7zXZ\x00', 'tar.xz'))


def hash_file(path: Path, algorithm: str) -> str:
    """The hex digest of a file's bytes (`md5`, `sha256`), read in 1 MiB chunks."""
    digest = hashlib.new(algorithm)
    with path.open('rb') as source:
        for chunk in iter(lambda: source.read(_CHUNK), b''):
            digest.update(chunk)
    return digest.hexdigest()


def file_format(path: Path) -> str | None:
    """'zip', 'tar.gz' or 'tar.xz' from the file's first bytes; None for anything else."""
    with path.open('rb') as source:
        head = source.read(6)
    return next((name for magic, name in _MAGIC if head.startswith(magic)), None)


def archive_form(entry: OfficialDataset, path: Path) -> tuple[OfficialDataset, str]:
    """`entry` as the archive at `path` is to be checked (its format, checksum, size and folder), and the form's name.

    Raises:
        DatasetError: the file is not an archive of a format any form of the dataset comes in, or its checksum is none
            that the forms of its format pin (one line naming the file, what it is and what was expected).
    """
    found = file_format(path)
    forms = [(entry, 'the archive of ' + (entry.url or entry.name))]
    forms += [(dataclasses.replace(entry, checksum=copy.checksum, size_bytes=copy.size_bytes, archive_format=copy.archive_format,
                                   subdirectory=copy.subdirectory), copy.name) for copy in entry.copies]
    formats = sorted({form.archive_format for form, _ in forms})
    candidates = [(form, name) for form, name in forms if form.archive_format == found]
    if not candidates:
        what = f'a {found} archive' if found else 'not a zip, tar.gz or tar.xz archive'
        raise DatasetError(f'{path} is {what}; {entry.name} comes as {" or ".join(formats)}'
                           + ''.join(f' ({copy.name})' for copy in entry.copies if copy.archive_format != found))
    digests: dict[str, str] = {}
    for form, name in candidates:
        if form.checksum is None:
            continue
        algorithm, expected = form.checksum.split(':', 1)
        if algorithm not in digests:
            digests[algorithm] = hash_file(path, algorithm)
        if digests[algorithm] == expected.lower():
            return form, name
    unpinned = [(form, name) for form, name in candidates if form.checksum is None]
    if unpinned:
        return unpinned[0]
    expected_text = ', '.join(f'{name} has {form.checksum}' for form, name in candidates)
    actual_text = ', '.join(f'{algorithm} {digest}' for algorithm, digest in digests.items())
    raise DatasetError(f'{path} is not an archive of {entry.name} that etude knows: its {actual_text} matches none ({expected_text}); '
                       'the file is damaged or another archive: fetch it again, or pin the checksum you trust with '
                       f'ETUDE_DATASET_CHECKSUM_{_env_key(entry.name)}')


def _env_key(name: str) -> str:
    return ''.join(character if character.isalnum() else '_' for character in name).upper()


def copy_resumable(source: Path, part: Path) -> None:
    """Copy `source` into `part`, keeping what `part` already holds when it is the start of `source` (an interrupted
    copy resumes, as a download does); anything else in `part` is ours, left by another try, and is started over."""
    size = source.stat().st_size
    have = part.stat().st_size if part.exists() else 0
    if have and (have > size or _tail(part, have) != _tail(source, have)):
        part.unlink()
        have = 0
    try:
        with source.open('rb') as reader, part.open('ab' if have else 'wb') as sink:
            reader.seek(have)
            for chunk in iter(lambda: reader.read(_CHUNK), b''):
                sink.write(chunk)
    except OSError as error:
        raise DownloadError(f'could not copy {source} into {part}: {error.strerror or error}; free space or fix permissions, '
                            'then run the same command again') from None


def _tail(path: Path, end: int, length: int = 1 << 16) -> bytes:
    """The `length` bytes of `path` before offset `end`: enough to tell a copy's start from another file's."""
    with path.open('rb') as reader:
        reader.seek(max(end - length, 0))
        return reader.read(min(length, end))


def resolve_subdirectory(staging: Path, subdirectory: str | None, label: str) -> str | None:
    """The archive's dataset folder, relative to where it was unpacked: `subdirectory` itself, or the one folder its
    `*` matches (GitHub names a commit's archive folder by the full hash). A DownloadError when none or several match."""
    if subdirectory is None or '*' not in subdirectory:
        return subdirectory
    pattern = PurePosixPath(subdirectory)
    parent = staging.joinpath(*pattern.parent.parts)
    matches = sorted(path.name for path in parent.glob(pattern.name) if path.is_dir() and not path.is_symlink()) if parent.is_dir() else []
    if len(matches) != 1:
        found = ', '.join(sorted(path.name for path in parent.iterdir())) if parent.is_dir() else 'nothing'
        raise DownloadError(f'archive of {label} has {"no" if not matches else "more than one"} folder {subdirectory!r} (it holds {found}); '
                            'its layout changed')
    return str(pattern.parent / matches[0])
