"""Exports load safely, reject what is not theirs, and survive a process killed mid-save."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

from etude import load_model
from etude.errors import CheckpointError
from etude.export import ExportedModel, load_export, save_export
from etude.models import CRePE
from etude.version import __version__


def make_export(model: CRePE, epoch: int = 1) -> ExportedModel:
    return {
        'format': 'etude-model', 'format_version': 1, 'dataset': {'name': 'test'}, 'hyperparameters': model.hyperparameters.to_dict(),
        'model': {'class_path': CRePE.class_path(), 'etude_version': __version__}, 'model_state_dict': model.state_dict(),
        'optimiser_state_dicts': [], 'run_info': {'id': 'x', 'epoch': epoch, 'best_epoch': epoch, 'git_commit': None, 'time': '', 'device': 'cpu',
                                                  'run_directory': '', 'versions': {}},
        'training_loss': 1.0, 'validation_loss': 1.0, 'testing_metrics': None, 'resume_state': None,
    }


def test_round_trip_and_weights_only(tmp_path: Path) -> None:
    model = CRePE(CRePE.Parameters(depth='tiny', outputs=3)).eval()
    path = save_export(make_export(model), tmp_path / 'model.pt')
    assert torch.load(path, weights_only=True)['hyperparameters']['outputs'] == 3
    rebuilt = load_model(path)
    inputs = torch.randn(2, 1024)
    with torch.no_grad():
        assert torch.equal(model(inputs), rebuilt(inputs))
    assert rebuilt.export_info['run_info']['epoch'] == 1
    assert not list(tmp_path.glob('.*.tmp')), 'no temporary file is left behind'


def test_truncated_foreign_and_mismatched_files_are_clear_errors(tmp_path: Path) -> None:
    model = CRePE(CRePE.Parameters())
    good = save_export(make_export(model), tmp_path / 'good.pt')
    truncated = tmp_path / 'truncated.pt'
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CheckpointError, match='truncated or corrupt'):
        load_model(truncated)
    truncated.write_bytes(good.read_bytes()[:5000])  # torch raises OSError here, not a zip error: still a cut-short export
    with pytest.raises(CheckpointError, match='truncated or corrupt'):
        load_model(truncated)
    plain = tmp_path / 'plain.pt'
    torch.save({'weights': torch.zeros(3)}, plain)
    with pytest.raises(CheckpointError, match='not an etude export'):
        load_model(plain)
    text = tmp_path / 'notes.pt'
    text.write_text('hello')
    with pytest.raises(CheckpointError, match=str(text)):
        load_model(text)
    with pytest.raises(CheckpointError, match='does not exist'):
        load_model(tmp_path / 'absent.pt')
    other = make_export(CRePE(CRePE.Parameters(depth='small')))
    other['hyperparameters'] = CRePE.Parameters(depth='tiny').to_dict()
    mismatched = save_export(other, tmp_path / 'other.pt')
    with pytest.raises(CheckpointError, match='do not fit this CRePE'):
        load_model(mismatched)


SAVER = '''
import os, signal, sys, torch
import etude.atomic_files, etude.export
from etude.export import save_export
sys.path.insert(0, {tests!r})
from test_export import make_export
from etude.models import CRePE

def die(*arguments, **keywords):
    os.kill(os.getpid(), signal.SIGKILL)

where = {where!r}
if where == 'inside torch.save':
    original = torch.save
    def half_then_die(value, file):
        file.write(b'PK' + b'x' * 4096)  # the first bytes of a zip, then nothing more
        file.flush()
        die()
    etude.export.torch.save = half_then_die
elif where == 'before the rename':
    etude.atomic_files.os.fsync = die
elif where == 'between the copy and the file':
    original_replace = os.replace
    calls = []
    def replace_then_die(source, destination):
        original_replace(source, destination)
        calls.append(destination)
        if len(calls) == 1:
            die()
    etude.export.os.replace = replace_then_die
save_export(make_export(CRePE(CRePE.Parameters(depth='tiny')), 2), {path!r}, copies=[{best!r}])
'''


@pytest.mark.parametrize('where', ['inside torch.save', 'before the rename', 'between the copy and the file'])
def test_process_killed_while_saving_leaves_previous_checkpoint_loadable(tmp_path: Path, where: str) -> None:
    """kill -9 from inside the child at each step of a save (deterministic: no timing involved)."""
    path, best = tmp_path / 'last.pt', tmp_path / 'best.pt'
    save_export(make_export(CRePE(CRePE.Parameters(depth='tiny'))), path, copies=[best])
    code = SAVER.format(tests=str(Path(__file__).parent), path=str(path), best=str(best), where=where)
    process = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=120)
    assert process.returncode == -signal.SIGKILL, process.stderr
    for checkpoint in (path, best):
        assert load_export(checkpoint)['run_info']['epoch'] in (1, 2), 'the previous checkpoint, or the new one, whole'
        load_model(checkpoint)
    assert load_export(path)['run_info']['epoch'] == 1, 'last.pt is replaced last'


def test_flipped_bytes_in_the_weights_are_detected(tmp_path: Path) -> None:
    path = save_export(make_export(CRePE(CRePE.Parameters())), tmp_path / 'model.pt')
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:  # find the bytes of the largest tensor inside torch's zip container
        info = max((entry for entry in archive.infolist() if '/data/' in entry.filename), key=lambda entry: entry.file_size)
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra) + info.file_size // 2
    for offset in range(start, start + 64):
        data[offset] ^= 0xFF
    damaged = tmp_path / 'damaged.pt'
    damaged.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=f'{damaged} is corrupt: its weights do not match the digest'):
        load_model(damaged)


def test_a_class_outside_etude_is_not_imported_unless_allowed(tmp_path: Path) -> None:
    export = make_export(CRePE(CRePE.Parameters()))
    export['model'] = {'class_path': 'this.Zen', 'etude_version': __version__}
    path = save_export(export, tmp_path / 'zen.pt')
    sys.modules.pop('this', None)
    with pytest.raises(CheckpointError, match="outside etude; importing its module would run its code.*allow_modules=\\['this'\\]"):
        load_model(path)
    assert 'this' not in sys.modules, 'the module named by the file was not imported'
    with pytest.raises(CheckpointError, match='holds a this.Zen, not a etude.models.crepe.CRePE'):
        load_model(path, model_class=CRePE)


def test_a_full_disk_is_one_line_and_keeps_the_previous_checkpoint(tmp_path: Path) -> None:
    mount = tmp_path / 'small-disk'
    mount.mkdir()
    if subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=3m', 'tmpfs', str(mount)], capture_output=True).returncode != 0:
        pytest.skip('cannot mount a small tmpfs here (needs root outside a restricted container)')
    try:
        path = save_export(make_export(CRePE(CRePE.Parameters(depth='tiny'))), mount / 'last.pt')
        filler = mount / 'filler'
        filler.write_bytes(b'0' * (shutil.disk_usage(mount).free - 200_000))
        with pytest.raises(CheckpointError, match='No space left on the disk of .* to save last.pt .*previous checkpoints are intact'):
            save_export(make_export(CRePE(CRePE.Parameters(depth='tiny')), epoch=2), path)
        assert load_export(path)['run_info']['epoch'] == 1
        assert sorted(entry.name for entry in mount.iterdir()) == ['filler', 'last.pt'], 'no temporary file is left behind'
    finally:
        subprocess.run(['umount', str(mount)], check=False)


def test_copies_share_one_write_and_stay_whole_when_the_original_is_replaced(tmp_path: Path) -> None:
    model = CRePE(CRePE.Parameters())
    last, best = tmp_path / 'checkpoints' / 'last.pt', tmp_path / 'checkpoints' / 'best.pt'
    save_export(make_export(model, epoch=1), last, copies=[best])
    assert last.read_bytes() == best.read_bytes() and load_export(best)['run_info']['epoch'] == 1
    save_export(make_export(model, epoch=2), last)  # the next epoch, not an improvement
    assert load_export(best)['run_info']['epoch'] == 1 and load_export(last)['run_info']['epoch'] == 2
    assert sorted(path.name for path in last.parent.iterdir()) == ['best.pt', 'last.pt'], 'no temporary file is left behind'


def test_a_copy_named_twice_or_as_the_file_itself_leaves_no_temporary(tmp_path: Path) -> None:
    last = tmp_path / 'last.pt'
    save_export(make_export(CRePE(CRePE.Parameters()), epoch=4), last, copies=[tmp_path / 'best.pt', tmp_path / 'best.pt', last])
    assert sorted(path.name for path in tmp_path.iterdir()) == ['best.pt', 'last.pt']
    assert load_export(tmp_path / 'best.pt')['run_info']['epoch'] == 4


def test_the_optimiser_state_is_covered_by_a_digest_and_older_exports_without_one_still_load(tmp_path: Path) -> None:
    model = CRePE(CRePE.Parameters(depth='tiny'))
    optimiser = torch.optim.Adam(model.parameters())
    model(torch.randn(2, 1024)).sum().backward()
    optimiser.step()
    export = make_export(model)
    export['optimiser_state_dicts'] = [optimiser.state_dict()]
    path = save_export(export, tmp_path / 'last.pt')
    assert load_export(path)['optimiser_digest'].startswith('sha256:')
    saved = torch.load(path, weights_only=True)
    saved['optimiser_state_dicts'][0]['state'][0]['exp_avg'][0] += 1.0  # a damaged moment, weights untouched
    torch.save(saved, tmp_path / 'damaged.pt')
    with pytest.raises(CheckpointError, match='damaged.pt is corrupt: its optimiser state does not match the digest'):
        load_export(tmp_path / 'damaged.pt')
    del saved['optimiser_digest']  # as written before etude covered the optimiser state
    torch.save(saved, tmp_path / 'older.pt')
    assert load_export(tmp_path / 'older.pt')['run_info']['epoch'] == 1
