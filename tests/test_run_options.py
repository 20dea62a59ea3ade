"""Run options apart from hyperparameters: where each key goes, what exports record, global torch state, value ranges."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from torch.utils.data import TensorDataset

from etude import Routine
from etude.configuration import resolve
from etude.errors import ConfigError
from etude.export import load_export
from etude.model import Model
from etude.models import CRePE
from etude.parameters import Parameters
from etude.run_options import RunOptions
from etude.training.seeding import CUBLAS_VARIABLE
from etude.training.step import Step

OPTION_KEYS = set(RunOptions.field_types())


@dataclasses.dataclass(kw_only=True)
class SmallParameters(Parameters):
    width: int = 3
    """Inputs per item."""


class Probe(Model):
    """A linear model that records torch's process-wide settings while it trains."""

    Parameters = SmallParameters

    def __init__(self, hyperparameters: SmallParameters) -> None:
        super().__init__(hyperparameters)
        self.linear = torch.nn.Linear(hyperparameters.width, 1)
        self.settings_seen: set[tuple[bool, bool, bool, str | None]] = set()

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """(batch, width) → (batch, 1)."""
        return self.linear(inputs)

    def training_step(self, batch: Any, step: Step) -> dict[str, torch.Tensor]:
        self.settings_seen.add(global_settings())
        return super().training_step(batch, step)


def global_settings() -> tuple[bool, bool, bool, str | None]:
    return (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic,
            os.environ.get(CUBLAS_VARIABLE))


@pytest.fixture
def torch_settings() -> Iterator[None]:
    """Whatever a test sets globally is put back for the tests after it."""
    saved = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
             torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic)
    yield
    torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
    torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = saved[2], saved[3]


def train(runs: Path, overrides: list[str], *, resume: Path | None = None, config: Path | None = None) -> tuple[Routine, Probe, dict[str, Any]]:
    routine = Routine(runs_directory=runs, resume=resume, verbose=False)
    parameters = routine.set_parameters(SmallParameters(), config_path=config, overrides=['device=cpu', 'batch_size=4', *overrides])
    generator = torch.Generator().manual_seed(1)
    inputs = torch.randn(16, 3, generator=generator)
    routine.set_dataset(TensorDataset(inputs, inputs.sum(1, keepdim=True)), split={'train': list(range(8)), 'validation': [8, 9, 10, 11],
                                                                                  'test': [12, 13, 14, 15]})
    model = Probe(parameters)
    routine.set_model(model)
    return routine, model, routine.train()


def write_yaml(path: Path, values: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(values), encoding='utf-8')
    return path


def test_keys_from_yaml_and_the_command_line_go_to_their_kind(tmp_path: Path) -> None:
    config = write_yaml(tmp_path / 'run.yaml', {'precision': 'bf16', 'num_workers': 0, 'learning_rate': 0.02, 'width': 5})
    parameters, options = resolve(SmallParameters(), config_path=config, overrides=['deterministic=false', '--compile=true', 'batch_size=7',
                                                                                   '--device=cpu', 'learning_rate=0.03'])
    assert (options.precision, options.deterministic, options.compile, options.device) == ('bf16', False, True, 'cpu')
    assert (parameters.learning_rate, parameters.width, parameters.batch_size) == (0.03, 5, 7), 'the command line wins over the file'
    assert not OPTION_KEYS & set(parameters.to_dict()), 'no run option is a hyperparameter'


@pytest.mark.parametrize(('typo', 'nearest'), [('precison', 'precision'), ('num_worker', 'num_workers'), ('learnig_rate', 'learning_rate'),
                                               ('determinstic', 'deterministic'), ('widht', 'width')])
def test_an_unknown_key_suggests_the_nearest_of_either_kind(tmp_path: Path, typo: str, nearest: str) -> None:
    with pytest.raises(ConfigError, match=f"Unknown parameter '{typo}' in command line; did you mean '{nearest}'"):
        resolve(SmallParameters(), overrides=[f'{typo}=1'])
    config = write_yaml(tmp_path / 'typo.yaml', {typo: 1})
    with pytest.raises(ConfigError, match=f"Unknown parameter '{typo}' in {config}; did you mean '{nearest}'") as raised:
        resolve(SmallParameters(), config_path=config)
    assert '\n' not in str(raised.value)


def test_run_options_stay_out_of_hyperparameters_config_and_exports(tmp_path: Path) -> None:
    config = write_yaml(tmp_path / 'run.yaml', {'precision': 'bf16', 'deterministic': False, 'num_of_epochs': 1})
    routine, _, summary = train(tmp_path / 'runs', [], config=config)
    assert routine.run is not None
    saved_config = yaml.safe_load((routine.run.path / 'config.yaml').read_text())
    assert saved_config['num_of_epochs'] == 1 and not OPTION_KEYS & set(saved_config)
    for checkpoint in (routine.run.best_checkpoint, routine.run.last_checkpoint):
        export = load_export(checkpoint)
        assert not OPTION_KEYS & set(export['hyperparameters'])
        assert export['run_info']['run_options'] == RunOptions(device='cpu', precision='bf16', deterministic=False).to_dict()
    assert summary['run_options']['precision'] == 'bf16'
    # a run trained elsewhere resumes without overrides: a config.yaml of older etude with run options in it is read too
    parameters, options = resolve(SmallParameters(), resumed_config={**saved_config, 'device': 'cuda', 'precision': 'fp16'})
    assert options == RunOptions() and parameters.num_of_epochs == 1


def test_resume_with_a_config_file_is_refused(tmp_path: Path) -> None:
    routine, _, _ = train(tmp_path / 'runs', ['num_of_epochs=1'])
    assert routine.run is not None
    config = write_yaml(tmp_path / 'other.yaml', {'learning_rate': 0.5})
    with pytest.raises(ConfigError, match='--resume continues a run with its own config.yaml, so --config would be ignored; drop --config') as raised:
        train(tmp_path / 'runs', ['num_of_epochs=2'], resume=routine.run.path, config=config)
    assert '\n' not in str(raised.value)


def test_testing_defaults_lose_to_yaml_and_the_command_line(tmp_path: Path) -> None:
    testing = {'batch_size': 2, 'learning_rate': 0.5, 'num_of_epochs': 2}
    config = write_yaml(tmp_path / 'run.yaml', {'batch_size': 7})
    on, options = resolve(SmallParameters(), config_path=config, overrides=['testing=true', 'num_of_epochs=3'], testing_defaults=testing)
    assert options.testing and (on.batch_size, on.learning_rate, on.num_of_epochs) == (7, 0.5, 3)
    off, _ = resolve(SmallParameters(), config_path=config, testing_defaults=testing)
    assert (off.batch_size, off.learning_rate, off.num_of_epochs) == (7, SmallParameters().learning_rate, 0)


@pytest.mark.usefixtures('torch_settings')
@pytest.mark.parametrize('deterministic', [True, False])
def test_deterministic_settings_hold_for_the_run_and_are_restored_after(tmp_path: Path, deterministic: bool) -> None:
    torch.use_deterministic_algorithms(not deterministic, warn_only=True)
    torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = deterministic, not deterministic  # the opposite of the run's
    before = (*global_settings(), torch.is_deterministic_algorithms_warn_only_enabled())
    _, model, _ = train(tmp_path, ['num_of_epochs=1', f'deterministic={str(deterministic).lower()}'])
    assert model.settings_seen == {(deterministic, not deterministic, deterministic, before[3])}, 'CUBLAS_WORKSPACE_CONFIG is for CUDA only'
    assert (*global_settings(), torch.is_deterministic_algorithms_warn_only_enabled()) == before


@pytest.mark.usefixtures('torch_settings')
def test_settings_are_restored_when_the_run_fails(tmp_path: Path) -> None:
    torch.use_deterministic_algorithms(False)
    before = global_settings()
    with pytest.raises(ConfigError, match='monitor is validation_nothing'):
        train(tmp_path, ['num_of_epochs=1', 'monitor=validation_nothing'])
    assert global_settings() == before


def crepe_parameters() -> CRePE.Parameters:
    return CRePE.Parameters.from_dict({'depth': 'tiny', 'input_length': 1024})


def rng_after(build: Any) -> torch.Tensor:
    torch.manual_seed(123)
    build()
    return torch.get_rng_state()


def test_building_crepe_draws_nothing_beyond_its_layers_initialisation_and_leaves_batch_norm_alone() -> None:
    """No probe forward at construction: it would draw dropout masks and update BatchNorm's running statistics."""
    model = CRePE(crepe_parameters())
    after_building = rng_after(lambda: CRePE(crepe_parameters()))
    layers = [module for module in model.modules() if isinstance(module, (torch.nn.Conv1d, torch.nn.BatchNorm1d, torch.nn.Linear))]
    assert len(layers) == len([module for module in model.modules() if hasattr(module, 'reset_parameters')])
    after_initialising = rng_after(lambda: [module.reset_parameters() for module in layers])  # the layers' own draws, in order
    untouched = rng_after(lambda: None)
    assert not torch.equal(after_initialising, untouched)
    assert torch.equal(after_building, after_initialising) or torch.equal(after_building, untouched)
    norms = [module for module in model.modules() if isinstance(module, torch.nn.BatchNorm1d)]
    assert len(norms) == 6
    for norm in norms:
        assert norm.running_mean is not None and norm.running_var is not None and norm.num_batches_tracked is not None
        assert torch.equal(norm.running_mean, torch.zeros_like(norm.running_mean))
        assert torch.equal(norm.running_var, torch.ones_like(norm.running_var)) and int(norm.num_batches_tracked) == 0


def test_building_crepe_leaves_the_global_generator_untouched() -> None:
    assert torch.equal(rng_after(lambda: CRePE(crepe_parameters())), rng_after(lambda: None))


@pytest.mark.parametrize(('key', 'value', 'rule'), [
    ('learning_rate', '-1', 'must be > 0'), ('learning_rate', '.nan', 'must be > 0'), ('weight_decay', '-1', 'must be >= 0'),
    ('num_workers', '-1', 'must be >= 0'), ('seed', '-1', r'must be in \[0, 4294967295\]'),
    ('seed', '18446744073709551616', r'must be in \[0, 4294967295\]'), ('gradient_clip', '-1', 'must be >= 0'),
    ('min_delta', '.nan', 'must be >= 0'), ('precision', 'fp8', "must be one of 'fp32', 'bf16', 'fp16'"),
    ('deterministic', 'maybe', 'must be bool'),
])
def test_values_out_of_range_are_one_line_errors_from_the_command_line_and_yaml(tmp_path: Path, key: str, value: str, rule: str) -> None:
    with pytest.raises(ConfigError, match=f"Parameter '{key}' in command line {rule}, got") as raised:
        resolve(SmallParameters(), overrides=[f'{key}={value}'])
    assert '\n' not in str(raised.value)
    config = tmp_path / 'bad.yaml'
    config.write_text(f'{key}: {value}\n', encoding='utf-8')
    with pytest.raises(ConfigError, match=f"Parameter '{key}' in {config} {rule}, got") as raised:
        resolve(SmallParameters(), config_path=config)
    assert '\n' not in str(raised.value)
