"""A user's model class loads only when allowed, from the current folder too, by the installed `etude` script and by Python."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import soundfile

from etude.export import save_export
from etude.version import __version__

WORKTREE = Path(__file__).resolve().parent.parent
CONSOLE_SCRIPT = Path(sys.executable).parent / 'etude'

MODEL = '''
import torch
from etude import Model, Parameters


class Tiny(Model):
    """(batch, 800) waveform -> (batch, 2) logits."""

    Parameters = Parameters

    def __init__(self, hyperparameters):
        super().__init__(hyperparameters)
        self.linear = torch.nn.Linear(800, 2)

    def forward(self, inputs):
        return self.linear(inputs.reshape(len(inputs), -1))
'''


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A folder holding the user's package `shapes`, an export of its model, and one recording."""
    folder = tmp_path / 'project'
    (folder / 'shapes').mkdir(parents=True)
    (folder / 'shapes' / '__init__.py').write_text(MODEL)
    sys.path.insert(0, str(folder))
    try:
        from shapes import Tiny  # type: ignore[import-not-found]

        model = Tiny(Tiny.Parameters())
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop('shapes', None)
    save_export({
        'dataset': {'name': 'shapes', 'sample_rate': 8000, 'num_samples': 800}, 'task': {'kind': 'classification', 'classes': ['sine', 'square']},
        'hyperparameters': model.hyperparameters.to_dict(), 'model': {'class_path': 'shapes.Tiny', 'etude_version': __version__},
        'model_state_dict': model.state_dict(), 'optimiser_state_dicts': [], 'run_info': {'id': 'user', 'epoch': 1, 'best_epoch': 1},
        'testing_metrics': None, 'resume_state': None,
    }, folder / 'tiny.pt')
    soundfile.write(folder / 'tone.wav', np.sin(np.arange(800) / 5).astype(np.float32), 8000)
    return folder


def run_in(folder: Path, *command: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, 'PYTHONPATH': str(WORKTREE)}  # etude from this tree; the current folder is not on the path
    return subprocess.run(command, cwd=folder, env=environment, capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_the_console_script_refuses_naming_the_flag_then_imports_the_allowed_package_from_the_current_folder(project: Path) -> None:
    if not CONSOLE_SCRIPT.is_file():
        pytest.skip('the etude console script is not installed beside this python')
    refused = run_in(project, str(CONSOLE_SCRIPT), 'infer', 'tiny.pt', 'tone.wav')
    assert refused.returncode == 2, refused.stderr
    assert refused.stderr.count('\n') == 1 and refused.stderr.startswith('error: ')
    assert '--allow-module shapes' in refused.stderr and "allow_modules=['shapes']" in refused.stderr and 'model_class=Tiny' in refused.stderr
    allowed = run_in(project, str(CONSOLE_SCRIPT), 'infer', 'tiny.pt', 'tone.wav', '--allow-module', 'shapes', '--jsonl')
    assert allowed.returncode == 0, allowed.stderr
    assert '"input": "tone.wav"' in allowed.stdout


@pytest.mark.slow
def test_load_model_imports_an_allowed_module_from_the_current_folder_and_leaves_sys_path_as_it_was(project: Path, tmp_path: Path) -> None:
    script = tmp_path / 'elsewhere' / 'load.py'  # a script's own folder is on sys.path, not the current one: as for a console script
    script.parent.mkdir()
    script.write_text(textwrap.dedent('''
        import sys
        from etude import load_model
        from etude.errors import CheckpointError
        before = list(sys.path)
        try:
            load_model('tiny.pt')
        except CheckpointError as error:
            print('refused:', error)
        model = load_model('tiny.pt', allow_modules=['shapes'])
        print(type(model).__module__, type(model).__name__, sys.path == before)
    '''))
    loaded = run_in(project, sys.executable, str(script))
    assert loaded.returncode == 0, loaded.stderr
    lines = loaded.stdout.splitlines()
    assert lines[0].startswith('refused:') and '--allow-module shapes' in lines[0], lines
    assert lines[1] == 'shapes Tiny True', lines


def test_a_module_that_is_allowed_but_nowhere_says_where_it_was_looked_for(project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from etude import load_model
    from etude.errors import CheckpointError

    monkeypatch.chdir(tmp_path)  # not the project folder: shapes is nowhere to be found
    with pytest.raises(CheckpointError, match=f'cannot be imported here \\(not in {tmp_path} nor installed\\); run from the folder that holds shapes'):
        load_model(project / 'tiny.pt', allow_modules=['shapes'])
    assert 'shapes' not in sys.modules
