"""One run on two processes under torchrun (gloo on the CPU), as a user starts it.

Real torchrun, real process groups: one run directory; test metrics that equal a single-process evaluation of the
saved best weights (each item counted once); resume under torchrun; W&B sweep values that only rank 0 reads reach
every rank.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from conftest import ROOT, SCRIPTS

from etude import load_model
from etude.data import read_dataset
from etude.export import load_export

pytestmark = pytest.mark.slow

SMALL = ['--testing', '--device', 'cpu', 'number_of_drums=14', 'strikes_per_drum=3', 'batch_size=8', 'dataset_split=[0.5,0.25,0.25]']


def torchrun(*arguments: str, cwd: Path, env: dict[str, str] | None = None, script: Path = SCRIPTS / 'train.py') -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, 'PYTHONPATH': str(ROOT), 'OMP_NUM_THREADS': '1', **(env or {})}
    command = [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node=2', str(script), *arguments]
    return subprocess.run(command, cwd=cwd, env=environment, capture_output=True, text=True, timeout=300)


def runs_in(folder: Path) -> list[Path]:
    return sorted(path for path in folder.iterdir() if path.name != 'wandb')


@pytest.fixture(scope='module')
def distributed_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp('ddp')
    result = torchrun(*SMALL, 'num_of_epochs=2', cwd=folder)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count('test MAE') == 1, 'only rank 0 prints'
    return folder


def test_one_run_directory_with_one_set_of_checkpoints(distributed_run: Path) -> None:
    (run,) = runs_in(distributed_run / 'runs')
    assert sorted(path.name for path in (run / 'checkpoints').iterdir()) == ['best.pt', 'last.pt']
    assert len((run / 'metrics.jsonl').read_text().splitlines()) == 2
    summary = json.loads((run / 'summary.json').read_text())
    assert summary['world_size'] == 2
    run_info = load_export(run / 'checkpoints' / 'best.pt')['run_info']
    assert run_info['world_size'] == 2 and run_info['batch_size_per_process'] == 4, 'batch_size=8 is the global batch of two processes'


def test_test_metrics_equal_a_single_process_evaluation_of_the_best_weights(distributed_run: Path) -> None:
    (run,) = runs_in(distributed_run / 'runs')
    summary = json.loads((run / 'summary.json').read_text())
    model = load_model(run / 'checkpoints' / 'best.pt')
    dataset = read_dataset(summary['dataset_directory'])
    test = np.asarray(json.loads((run / 'split.json').read_text())['test']['indices'])
    inputs = torch.from_numpy(np.asarray(dataset.inputs[test][:, :1024]))
    targets = torch.from_numpy(np.asarray(dataset.labels['diameter'][test], dtype=np.float32)).reshape(-1, 1)
    with torch.no_grad():
        predictions = model(inputs)
    assert summary['split_sizes']['test'] == len(test)
    assert summary['test']['mae_cm'] == pytest.approx(float((predictions - targets).abs().mean() * 100), rel=1e-5)
    assert summary['test']['loss'] == pytest.approx(float(torch.nn.functional.mse_loss(predictions, targets)), rel=1e-5)


def test_resume_under_torchrun_continues_to_the_same_weights(distributed_run: Path, tmp_path: Path) -> None:
    first = torchrun(*SMALL, 'num_of_epochs=1', cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    (run,) = runs_in(tmp_path / 'runs')
    (run / 'summary.json').unlink()  # as if torchrun had restarted the workers of a run killed after epoch 1
    resumed = torchrun(*SMALL, '--resume', str(run), 'num_of_epochs=2', cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    (straight,) = runs_in(distributed_run / 'runs')
    expected = load_export(straight / 'checkpoints' / 'last.pt')['model_state_dict']
    for name, tensor in load_export(run / 'checkpoints' / 'last.pt')['model_state_dict'].items():
        assert torch.equal(tensor, expected[name]), name


RANK_REPORT = '''
import json, os, sys
from etude import Routine
from etude.models import CRePE
routine = Routine(runs_directory='runs', trackers=['wandb'], project='ddp-test', verbose=False)
parameters = routine.set_parameters(CRePE.Parameters(), overrides=['device=cpu'])
with open(f"rank{os.environ['RANK']}.json", 'w') as file:
    json.dump({'parameters': parameters.to_dict(), 'run': str(routine.run.path), 'wandb': bool(routine.trackers)}, file)
routine.distributed.close()
'''


def test_sweep_values_that_only_rank_0_reads_reach_every_rank(tmp_path: Path) -> None:
    script = tmp_path / 'report_ranks.py'
    script.write_text(RANK_REPORT)
    sweep = tmp_path / 'sweep-config.yaml'
    sweep.write_text(yaml.safe_dump({'learning_rate': {'value': 0.0042}, 'depth': {'value': 'small'}}))
    result = torchrun(cwd=tmp_path, script=script, env={'WANDB_MODE': 'offline', 'WANDB_SILENT': 'true', 'WANDB_SWEEP_PARAM_PATH': str(sweep)})
    assert result.returncode == 0, result.stderr[-3000:]
    reports = [json.loads((tmp_path / f'rank{rank}.json').read_text()) for rank in (0, 1)]
    assert [report['wandb'] for report in reports] == [True, False], 'W&B runs on rank 0 only'
    for report in reports:
        assert report['parameters']['learning_rate'] == 0.0042 and report['parameters']['depth'] == 'small'
    assert reports[0]['run'] == reports[1]['run'], 'the run id is rank 0s, broadcast'


FLAKY_WORKERS = '''
import os, sys
sys.path.insert(0, {scripts!r})
from pathlib import Path
from etude import Routine
from etude.data.torch_dataset import Crop
from etude.models import CRePE

class FailsOnceInEpochTwo(CRePE):
    """A worker that dies in epoch 2 of the first attempt, as a lost node or an out-of-memory kill would make it."""
    def training_step(self, batch, step):
        if os.environ.get('TORCHELASTIC_RESTART_COUNT') == '0' and Path('epoch-1-done').exists() and os.environ['RANK'] == '1':
            raise RuntimeError('worker lost')
        return super().training_step(batch, step)

routine = Routine(runs_directory='runs', verbose=False)
parameters = routine.set_parameters(CRePE.Parameters(batch_size=8, dataset_split=(0.5, 0.25, 0.25), num_of_epochs=2, with_early_stopping=False),
                                    overrides=['device=cpu'])
routine.set_dataset(routine.import_dataset({data!r}), targets=['diameter'], transform=Crop(1024))
routine.set_model(FailsOnceInEpochTwo(parameters) if {flaky!r} else CRePE(parameters))
original = routine._log_epoch
def log_and_mark(*arguments, **keywords):
    original(*arguments, **keywords)
    Path('epoch-1-done').touch()
routine._log_epoch = log_and_mark
routine.train()
'''


def test_a_run_restarted_by_torchrun_continues_from_its_last_checkpoint(distributed_run: Path, tmp_path: Path) -> None:
    """torchrun --max-restarts=1 relaunches the same command (no --resume): the workers find their run and resume it."""
    (data,) = (path for path in (distributed_run / 'data').iterdir() if path.is_dir() and not path.name.startswith('.'))
    for name, flaky in (('straight', False), ('restarted', True)):
        folder = tmp_path / name
        folder.mkdir()
        script = folder / 'train_flaky.py'
        script.write_text(FLAKY_WORKERS.format(scripts=str(SCRIPTS), data=str(data), flaky=flaky))
        environment = {**os.environ, 'PYTHONPATH': str(ROOT), 'OMP_NUM_THREADS': '1'}
        result = subprocess.run([sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node=2', '--max-restarts=1', str(script)],
                                cwd=folder, env=environment, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]
    (restarted,) = runs_in(tmp_path / 'restarted' / 'runs')
    (straight,) = runs_in(tmp_path / 'straight' / 'runs')
    assert [json.loads(line)['epoch'] for line in (restarted / 'metrics.jsonl').read_text().splitlines()] == [1, 2]
    expected = load_export(straight / 'checkpoints' / 'last.pt')['model_state_dict']
    for name, tensor in load_export(restarted / 'checkpoints' / 'last.pt')['model_state_dict'].items():
        assert torch.equal(tensor, expected[name]), name
