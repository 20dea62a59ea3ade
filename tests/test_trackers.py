"""MLflow and TensorBoard for real: a run's record read back with each tracker's own reader equals its run folder."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import yaml
from conftest import run_script

from etude.trackers import Trackers, create_trackers
from etude.trackers.base import TrackedRun

SMALL = ['--testing', '--device', 'cpu', 'number_of_drums=12', 'strikes_per_drum=4', 'num_of_epochs=2']


def _run_folder(runs: Path) -> Path:
    (run,) = [path for path in runs.iterdir() if (path / 'config.yaml').exists()]
    return run


def _epochs(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / 'metrics.jsonl').read_text().splitlines()]


@pytest.mark.slow
def test_mlflow_and_tensorboard_record_what_the_run_folder_holds(tmp_path: Path) -> None:
    pytest.importorskip('mlflow')
    pytest.importorskip('tensorboard')
    from mlflow.tracking import MlflowClient
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    store = f'sqlite:///{tmp_path / "mlflow.db"}'
    result = run_script(*SMALL, '--tracker', 'mlflow', '--tracker', 'tensorboard', cwd=tmp_path, env={'MLFLOW_TRACKING_URI': store})
    assert result.returncode == 0, result.stderr[-3000:]
    run = _run_folder(tmp_path / 'runs')
    config = yaml.safe_load((run / 'config.yaml').read_text())
    epochs = _epochs(run)
    summary = json.loads((run / 'summary.json').read_text())

    client = MlflowClient(tracking_uri=store)
    experiment = client.get_experiment_by_name('etude-circular-drum-size')
    (tracked,) = client.search_runs([experiment.experiment_id])
    assert tracked.info.status == 'FINISHED' and tracked.data.tags['etude.run_id'] == run.name
    assert tracked.data.params == {key: json.dumps(value) if isinstance(value, list) else str(value) for key, value in config.items()}
    assert tracked.data.tags['etude.dataset_fingerprint'] == summary['dataset']['fingerprint']
    assert tracked.data.tags.get('mlflow.source.git.commit') == summary['git_commit']  # None outside a git checkout
    assert tracked.data.tags['run_option.device'] == 'cpu'
    history = client.get_metric_history(tracked.info.run_id, 'validation_loss')
    assert [(point.step, point.value) for point in history] == [(record['epoch'], record['validation_loss']) for record in epochs]
    assert tracked.data.metrics['testing_mae_cm'] == pytest.approx(summary['test']['mae_cm'])
    assert tracked.data.metrics['baseline_training_mean_mae_cm'] == pytest.approx(summary['baselines']['training mean']['mae_cm'])
    assert {artefact.path for artefact in client.list_artifacts(tracked.info.run_id)} >= {'best.pt', 'summary.json'}

    events = EventAccumulator(str(run))
    events.Reload()
    scalars = events.Scalars('validation_loss')
    assert [(event.step, event.value) for event in scalars] == [(record['epoch'], pytest.approx(record['validation_loss'])) for record in epochs]
    assert events.Scalars('testing_mae_cm')[0].value == pytest.approx(summary['test']['mae_cm'], rel=1e-6)
    assert 'hparams' in ' '.join(events.Tags().get('tensors', [])) or events.PluginTagToContent('hparams'), 'the hparams view is written'


def test_an_unknown_tracker_name_suggests_the_nearest() -> None:
    from etude.errors import ConfigError

    with pytest.raises(ConfigError, match="did you mean 'mlflow'"):
        create_trackers(['mlfow'])


class _Breaks:
    name = 'breaks'

    def __init__(self) -> None:
        self.calls = 0

    def start(self, run: TrackedRun, config: dict) -> None:
        pass

    def log(self, metrics: dict, step: int) -> None:
        self.calls += 1
        raise ConnectionError('server gone')

    def log_artifact(self, path: Path) -> None:
        pass

    def finish(self, summary: dict, status: str) -> None:
        pass


def test_a_tracker_that_fails_mid_run_warns_once_and_is_dropped(tmp_path: Path) -> None:
    broken = _Breaks()
    trackers = Trackers([broken])
    trackers.start(TrackedRun(run_id='r', directory=tmp_path, runs_directory=tmp_path, project='p'), {})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        for epoch in (1, 2, 3):
            trackers.log({'training_loss': 1.0}, epoch)
    assert broken.calls == 1 and len(caught) == 1 and 'server gone' in str(caught[0].message)
    assert not trackers


def test_the_run_option_trackers_adds_them(tmp_path: Path) -> None:
    pytest.importorskip('tensorboard')
    from etude import Routine
    from etude.errors import ConfigError
    from etude.models import CRePE

    routine = Routine(runs_directory=tmp_path / 'runs', verbose=False)
    routine.set_parameters(CRePE.Parameters(), overrides=['trackers=[tensorboard]', 'device=cpu'])
    assert [tracker.name for tracker in routine.trackers.active] == ['tensorboard']
    with pytest.raises(ConfigError, match="trackers"):
        Routine(runs_directory=tmp_path / 'runs', verbose=False).set_parameters(CRePE.Parameters(), overrides=['trackers=[mlfow]'])


@pytest.mark.slow
def test_a_run_that_fails_is_finished_as_failed(tmp_path: Path, drum_dataset_directory: Path) -> None:
    """The trackers are finished in a finally: a diverging run (a ConfigError in epoch 1) is FAILED in MLflow."""
    pytest.importorskip('mlflow')
    import torch
    from mlflow.tracking import MlflowClient

    from etude import Routine
    from etude.data import read_dataset
    from etude.data.torch_dataset import Crop
    from etude.errors import ConfigError
    from etude.models import CRePE

    class Diverging(CRePE):
        def loss(self, predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
            return super().loss(predictions, targets) * float('nan')

    store = f'sqlite:///{tmp_path / "mlflow.db"}'
    routine = Routine(runs_directory=tmp_path / 'runs', trackers=['mlflow'], project='failing', tracker_settings={'mlflow': {'tracking_uri': store}},
                      verbose=False)
    parameters = routine.set_parameters(CRePE.Parameters(), overrides=['batch_size=8', 'dataset_split=[0.5, 0.25, 0.25]', 'device=cpu', 'num_of_epochs=2'])
    routine.set_dataset(read_dataset(drum_dataset_directory), targets=['diameter'], transform=Crop(1024))
    routine.set_model(Diverging(parameters))
    with pytest.raises(ConfigError, match='diverged'):
        routine.train()
    client = MlflowClient(tracking_uri=store)
    (tracked,) = client.search_runs([client.get_experiment_by_name('failing').experiment_id])
    assert tracked.info.status == 'FAILED' and tracked.data.tags['etude.run_id'] == routine.run.run_id
