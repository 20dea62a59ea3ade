"""`etude data install NAME --archive PATH`: a local archive goes through the installer's own checks (md5, the archive
read end to end, safe extraction, the atomic rename, a resumable copy), as a download does.

The (n)ASAP copy kept for machines without the host (`../shared/data/nasap-4097b45.tar.xz` beside the project) is
installed when it is there; archives built here stand in for the GitHub form and for damaged or hostile files.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import zipfile
from pathlib import Path

import pytest
from conftest import NASAP_ARCHIVE, needs_nasap

from etude.cli import main
from etude.data.archives import archive_form, copy_resumable, file_format
from etude.data.download import install_dataset
from etude.data.registry import get_official_dataset
from etude.errors import DatasetError, DownloadError

SHARED = NASAP_ARCHIVE
METADATA = b'composer,title,folder,xml_score,match_file\nBach,Fugue_bwv_846,Bach/Fugue/bwv_846,Bach/Fugue/bwv_846/xml_score.musicxml,x.match\n'


@pytest.fixture(autouse=True)
def no_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith('ETUDE_DATASET_'):
            monkeypatch.delenv(key)


def _tar(files: dict[str, bytes], mode: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _github_form(tmp_path: Path, files: dict[str, bytes] | None = None) -> Path:
    """A tar.gz laid out as GitHub's archive of the commit: one folder named by the full hash."""
    path = tmp_path / 'asap-dataset-4097b45.tar.gz'
    path.write_bytes(_tar(files or {'asap-dataset-4097b45aa11/metadata.csv': METADATA, 'asap-dataset-4097b45aa11/Bach/a.match': b'snote'},
                          'w:gz'))
    return path


def _install(arguments: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(['data', 'install', *arguments])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('error: '), err
    return lines[0]


@pytest.mark.slow
@needs_nasap
def test_the_shared_nasap_copy_installs_with_its_md5_verified_and_is_left_as_it_was(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = SHARED.stat()
    code, out, err = _install(['nasap', '--archive', str(SHARED), '--dir', str(tmp_path / 'data'), '--quiet'], capsys)
    assert code == 0, err
    folder = tmp_path / 'data' / 'nasap'
    assert out.strip() == f'installed nasap in {folder} (checksum verified)'
    record = json.loads((folder / 'etude-install.json').read_text())
    assert record['checksum'] == 'md5:0630ae3a78b0b39c3863567904eca560' and record['archive_form'] == 'nasap-4097b45.tar.xz'
    assert record['url'] is None and record['archive'] == str(SHARED.resolve())
    assert len(list(folder.glob('*/**/*.match'))) == 1057 and (folder / 'metadata.csv').is_file()
    assert sorted(path.name for path in (tmp_path / 'data').iterdir()) == ['nasap'], 'no .part, lock or staging folder is left'
    after = SHARED.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    code, _, err = _install(['nasap', '--archive', str(SHARED), '--dir', str(tmp_path / 'data')], capsys)
    assert code == 2 and 'already installed' in _one_line(err)


def test_a_tar_xz_whose_md5_is_not_the_copys_is_refused_before_anything_is_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fake = tmp_path / 'nasap-4097b45.tar.xz'
    fake.write_bytes(_tar({'nasap/metadata.csv': METADATA}, 'w:xz'))
    code, _, err = _install(['nasap', '--archive', str(fake), '--dir', str(tmp_path / 'data')], capsys)
    line = _one_line(err)
    assert code == 2 and f'md5 {hashlib.md5(fake.read_bytes()).hexdigest()}' in line
    assert 'nasap-4097b45.tar.xz has md5:0630ae3a78b0b39c3863567904eca560' in line and 'ETUDE_DATASET_CHECKSUM_NASAP' in line
    assert not (tmp_path / 'data').exists() and fake.is_file()


def test_the_github_form_installs_unpinned_from_its_hash_named_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    archive = _github_form(tmp_path)
    code, out, err = _install(['nasap', '--archive', str(archive), '--dir', str(tmp_path / 'data')], capsys)
    assert code == 0, err
    folder = tmp_path / 'data' / 'nasap'
    assert (folder / 'metadata.csv').read_bytes() == METADATA and (folder / 'Bach' / 'a.match').read_bytes() == b'snote'
    assert 'archive verified; the host publishes no checksum for this archive' in out
    assert json.loads((folder / 'etude-install.json').read_text())['checksum_verified'] is False


def test_an_archive_without_the_datasets_layout_is_refused_and_its_copy_removed(tmp_path: Path) -> None:
    archive = _github_form(tmp_path, {'asap-dataset-4097b45aa11/README.md': b'no metadata'})
    with pytest.raises(DownloadError, match="has no metadata.csv in its folder 'asap-dataset-4097b45aa11'"):
        install_dataset('nasap', tmp_path / 'data', archive=archive, progress=False)
    assert archive.is_file() and not (tmp_path / 'data').exists(), 'the folder the install made is removed, with its .part copy'
    two = _github_form(tmp_path, {'asap-dataset-4097b45a/metadata.csv': METADATA, 'asap-dataset-4097b45b/metadata.csv': METADATA})
    with pytest.raises(DownloadError, match="more than one folder 'asap-dataset-4097b45\\*'"):
        install_dataset('nasap', tmp_path / 'data', archive=two, progress=False)


def test_a_damaged_archive_pinned_by_the_user_fails_the_full_read_and_is_not_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    whole = _github_form(tmp_path).read_bytes()
    damaged = tmp_path / 'damaged.tar.gz'
    damaged.write_bytes(whole[:len(whole) // 2])
    monkeypatch.setenv('ETUDE_DATASET_CHECKSUM_NASAP', 'md5:' + hashlib.md5(damaged.read_bytes()).hexdigest())
    with pytest.raises(DownloadError, match=rf'{damaged} \(the archive of .*\) is corrupt: not a readable tar.gz archive.*itself is left as it is'):
        install_dataset('nasap', tmp_path / 'data', archive=damaged, progress=False)
    assert damaged.read_bytes() == whole[:len(whole) // 2] and not (tmp_path / 'data').exists()


def test_a_hostile_local_archive_writes_nothing_outside(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hostile = tmp_path / 'hostile.tar.gz'
    hostile.write_bytes(_tar({'asap-dataset-4097b45aa/metadata.csv': METADATA, '../escaped.txt': b'pwned'}, 'w:gz'))
    monkeypatch.setenv('ETUDE_DATASET_CHECKSUM_NASAP', 'md5:' + hashlib.md5(hostile.read_bytes()).hexdigest())
    (tmp_path / 'data').mkdir()
    with pytest.raises(DownloadError, match='refusing to install nasap'):
        install_dataset('nasap', tmp_path / 'data', archive=hostile, progress=False)
    assert not (tmp_path / 'escaped.txt').exists() and not list((tmp_path / 'data').iterdir())


def test_an_interrupted_copy_resumes_and_a_foreign_part_file_is_started_over(tmp_path: Path) -> None:
    source = tmp_path / 'source.bin'
    source.write_bytes(hashlib.shake_256(b'etude').digest(300_000))
    part = tmp_path / '.nasap.part'
    part.write_bytes(source.read_bytes()[:123_456])
    copy_resumable(source, part)
    assert part.read_bytes() == source.read_bytes()
    part.write_bytes(b'x' * 200_000)  # another try's bytes, not the start of this file
    copy_resumable(source, part)
    assert part.read_bytes() == source.read_bytes()


def test_forms_are_told_by_their_bytes_and_wrong_kinds_and_paths_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    named_wrongly = tmp_path / 'looks.tar.xz'
    named_wrongly.write_bytes(_github_form(tmp_path).read_bytes())
    assert file_format(named_wrongly) == 'tar.gz'
    form, name = archive_form(get_official_dataset('nasap'), named_wrongly)
    assert form.archive_format == 'tar.gz' and form.checksum is None and name.startswith('the archive of https://github.com/CPJKU/asap-dataset')
    zipped = tmp_path / 'nasap.zip'
    with zipfile.ZipFile(zipped, 'w') as archive:
        archive.writestr('nasap/metadata.csv', METADATA)
    for arguments, expected in (
        (['--archive', str(zipped)], 'is a zip archive; nasap comes as tar.gz or tar.xz (nasap-4097b45.tar.xz)'),
        (['--archive', str(tmp_path / 'missing.tar.xz')], 'missing.tar.xz: no such file'),
        (['--archive', str(tmp_path)], 'is a folder; give the archive file itself'),
        (['--archive', str(zipped), '--url', 'https://example.org/a.tar.gz'], 'give --url or --archive, not both'),
    ):
        code, _, err = _install(['nasap', '--dir', str(tmp_path / 'data'), *arguments], capsys)
        assert code == 2 and expected in _one_line(err), (arguments, err)
    with pytest.raises(DatasetError, match='not a zip, tar.gz or tar.xz archive'):
        (tmp_path / 'plain.txt').write_text('hello')
        archive_form(get_official_dataset('nasap'), tmp_path / 'plain.txt')
