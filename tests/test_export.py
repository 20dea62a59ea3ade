"""Exports load safely, reject what is not theirs, and survive a process killed mid-save."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
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
import sys, torch
from etude.export import save_export
sys.path.insert(0, {tests!r})
from test_export import make_export
from etude.models import CRePE
model = CRePE(CRePE.Parameters(depth='medium'))
print('ready', flush=True)
epoch = 0
while True:
    epoch += 1
    save_export(make_export(model, epoch), {path!r})
'''


def test_process_killed_while_saving_leaves_previous_checkpoint_loadable(tmp_path: Path) -> None:
    path = tmp_path / 'last.pt'
    save_export(make_export(CRePE(CRePE.Parameters(depth='medium'))), path)
    code = SAVER.format(tests=str(Path(__file__).parent), path=str(path))
    for delay in (0.3, 0.9, 1.7):
        process = subprocess.Popen([sys.executable, '-c', code], stdout=subprocess.PIPE, text=True)
        assert process.stdout is not None and process.stdout.readline().strip() == 'ready'
        time.sleep(delay)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        assert load_export(path)['run_info']['epoch'] >= 1
        load_model(path)


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
