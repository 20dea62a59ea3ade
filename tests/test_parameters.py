"""Hyperparameter resolution: defaults < YAML < W&B sweep < command line, and the errors for each kind of mistake."""

from dataclasses import dataclass
from pathlib import Path

import pytest

from etude import Parameters
from etude.configuration import resolve
from etude.errors import ConfigError
from etude.models import CRePE
from etude.parameters import read_yaml_parameters


def test_layers_override_in_order(tmp_path: Path) -> None:
    config = tmp_path / 'config.yaml'
    config.write_text('learning_rate: 0.01\nbatch_size: 8\ndepth: small\n')
    resolved = CRePE.Parameters()
    resolved = resolved.updated(read_yaml_parameters(config), source=str(config))
    resolved = resolved.updated({'batch_size': 4, 'dropout': 0.5}, source='the W&B sweep')
    resolved = resolved.override_strings(['--dropout=0.1', 'seed=7'])
    assert (resolved.learning_rate, resolved.batch_size, resolved.depth, resolved.dropout, resolved.seed) == (0.01, 4, 'small', 0.1, 7)
    assert resolved.optimiser == 'adam'  # untouched default


def test_override_values_are_typed() -> None:
    resolved = CRePE.Parameters().override_strings(['learning_rate=3e-4', 'num_of_epochs=5', 'with_early_stopping=false', 'dataset_split=[0.7, 0.15, 0.15]'])
    assert resolved.learning_rate == pytest.approx(3e-4)
    assert resolved.with_early_stopping is False
    assert resolved.dataset_split == (0.7, 0.15, 0.15)
    assert isinstance(resolved.dataset_split, tuple)


def test_unknown_key_names_nearest_valid_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"Unknown parameter 'learnig_rate' in command line; did you mean 'learning_rate'\?"):
        CRePE.Parameters().override_strings(['learnig_rate=0.1'])
    config = tmp_path / 'typo.yaml'
    config.write_text('dropuot: 0.2\n')
    with pytest.raises(ConfigError, match=r"'dropuot' in .*typo.yaml; did you mean 'dropout'"):
        CRePE.Parameters().updated(read_yaml_parameters(config), source=str(config))


@pytest.mark.parametrize(('override', 'message'), [
    ('batch_size=big', r"'batch_size' in command line must be int, got 'big' \(str\)"),
    ('batch_size=1.5', r"'batch_size' in command line must be int, got 1.5 \(float\)"),
    ('depth=huge', r"'depth' in command line must be one of 'tiny', 'small', 'medium', 'large', 'full', got 'huge'"),
    ('with_early_stopping=3', r"'with_early_stopping' in command line must be bool, got 3 \(int\)"),
    ('dataset_split=[0.5, 0.5]', r"'dataset_split' in command line must be tuple\[float, float, float\], got \[0.5, 0.5\]"),
])
def test_wrong_type_names_key_type_and_value(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        CRePE.Parameters().override_strings([override])


def test_int_is_accepted_for_float_and_string_keeps_text() -> None:
    @dataclass(kw_only=True)
    class Named(Parameters):
        name: str = 'x'

    resolved = Named().override_strings(['learning_rate=1', 'name=123'])
    assert resolved.learning_rate == 1.0 and isinstance(resolved.learning_rate, float)
    assert resolved.name == '123'


def test_kac_python_tuple_tag_is_read_safely(tmp_path: Path) -> None:
    config = tmp_path / 'kac.yaml'
    config.write_text('batch_size: 64\ndataset_split: !!python/tuple [0.7, 0.15, 0.15]\ntesting: False\n')
    resolved, options = resolve(CRePE.Parameters(), config_path=config)  # 'testing' is a run option, not a hyperparameter
    assert resolved.dataset_split == (0.7, 0.15, 0.15) and resolved.batch_size == 64 and options.testing is False
    evil = tmp_path / 'evil.yaml'
    evil.write_text('batch_size: !!python/object/apply:os.system ["echo hacked"]\n')
    with pytest.raises(ConfigError, match='not valid YAML'):
        read_yaml_parameters(evil)


def test_missing_malformed_and_non_mapping_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match='does not exist'):
        read_yaml_parameters(tmp_path / 'absent.yaml')
    broken = tmp_path / 'broken.yaml'
    broken.write_text('batch_size: [1, 2\n')
    with pytest.raises(ConfigError, match=r'not valid YAML at line \d+'):
        read_yaml_parameters(broken)
    listing = tmp_path / 'list.yaml'
    listing.write_text('- 1\n- 2\n')
    with pytest.raises(ConfigError, match='must hold a mapping'):
        read_yaml_parameters(listing)
    empty = tmp_path / 'empty.yaml'
    empty.write_text('')
    assert read_yaml_parameters(empty) == {}


def test_relations_between_values_are_checked() -> None:
    with pytest.raises(ConfigError, match='dataset_split must sum to 1'):
        Parameters(dataset_split=(0.5, 0.3, 0.3))
    with pytest.raises(ConfigError, match='until early stopping'):
        Parameters(num_of_epochs=0, with_early_stopping=False)
    with pytest.raises(ConfigError, match='dropout'):
        CRePE.Parameters().override_strings(['dropout=1.5'])


def test_override_needs_equals_sign() -> None:
    with pytest.raises(ConfigError, match="write it as key=value"):
        Parameters().override_strings(['--learning_rate'])
