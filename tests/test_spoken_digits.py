"""The spoken-digit routine (seed 003) end to end: a real --testing run of scripts/train.py, and FSDD's official split."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from conftest import SCRIPTS, needs_espeak, run_script

from etude.data.store import read_dataset
from etude.routines.spoken_digits import official_split


def test_the_official_split_puts_recordings_0_to_4_of_every_speaker_in_the_test_set() -> None:
    files = [f'{digit}_{speaker}_{index}.wav' for speaker in ('jackson', 'theo') for digit in range(10) for index in range(50)]
    split = official_split(files)
    for name, indices in (('test', range(5)), ('validation', range(5, 10)), ('train', range(10, 50))):
        expected = [row for row, path in enumerate(files) if int(path.rsplit('_', 1)[1].removesuffix('.wav')) in indices]
        assert split[name] == expected
    assert sum(len(part) for part in split.values()) == len(files)


@pytest.mark.slow
@needs_espeak
def test_testing_run_end_to_end(tmp_path: Path) -> None:
    result = run_script('--routine', 'spoken_digits', '--testing', '--device', 'cpu', f'data_directory={tmp_path / "data"}', cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert 'on held-out voices' in result.stdout and 'always the most common training digit: ' in result.stdout
    (run,) = [path for path in (tmp_path / 'runs').iterdir()]
    summary = json.loads((run / 'summary.json').read_text())
    assert set(summary['test']) == {'loss', 'accuracy', 'macro_f1'} and 0.0 <= summary['test']['accuracy'] <= 1.0
    # 12 voices: whole voices are held out, 8 train, 2 validate, 2 test
    split = json.loads((run / 'split.json').read_text())
    assert [len(split[name]['groups']) for name in ('train', 'validation', 'test')] == [8, 2, 2]
    assert not set(split['test']['groups']) & set(split['train']['groups'])
    stored = read_dataset(summary['dataset_directory'])
    speakers = {Path(stored.metadata['files'][row]).name.split('_')[1] for row in split['test']['indices']}
    assert len(speakers) == 2 and not speakers & {Path(stored.metadata['files'][row]).name.split('_')[1] for row in split['train']['indices']}
    majority = summary['baselines']['majority class']['accuracy']
    digits = stored.labels['digit']
    counts = torch.bincount(torch.as_tensor(digits[split['train']['indices']]), minlength=10)
    assert majority == pytest.approx(float((torch.as_tensor(digits[split['test']['indices']]) == counts.argmax()).float().mean()))
    # the model is sized from the cache's metadata, and both config.yaml and the export record the sized values
    config = yaml.safe_load((run / 'config.yaml').read_text())
    n_mels, frames = stored.metadata['input_shape']
    assert (config['n_mels'], config['frames'], config['classes']) == (n_mels, frames, 10) == (40, 63, 10)
    best = torch.load(run / 'checkpoints' / 'best.pt', weights_only=True)
    assert best['hyperparameters']['frames'] == frames and best['task']['classes'] == [str(digit) for digit in range(10)]


def test_the_local_config_documents_the_defaults() -> None:
    from etude.configuration import resolve
    from etude.parameters import read_yaml_parameters
    from etude.training.routines import load_routine

    defaults = load_routine('spoken_digits').defaults
    path = SCRIPTS / 'config' / 'local' / 'spoken_digits.yaml'
    resolved, _ = resolve(defaults, config_path=path)
    assert resolved == defaults, 'every value in the file is the default it documents'
    assert len(read_yaml_parameters(path)) >= 10
