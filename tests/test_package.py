"""The public API imports as documented, and cheaply: W&B and the music libraries load only when a feature needs them."""

from __future__ import annotations

import subprocess
import sys

from conftest import ROOT

CHECK = '''
import sys
import etude
assert 'torch' not in sys.modules, 'import etude alone needs no torch (the dataset installer starts at once)'
from etude import ExportedModel, Model, Parameters, Routine, RunInfo, load_model
from etude.models import CRePE
heavy = sorted(name for name in ('wandb', 'music21', 'pretty_midi', 'torchaudio', 'librosa') if name in sys.modules)
assert not heavy, heavy
print(etude.__version__)
'''


def test_public_api_imports_without_wandb_or_music_libraries() -> None:
    result = subprocess.run([sys.executable, '-c', CHECK], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().count('.') == 2, 'a version string'
