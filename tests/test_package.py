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
from etude.metrics import Classification
from etude.step import Step
heavy = sorted(name for name in ('wandb', 'music21', 'pretty_midi', 'torchaudio', 'librosa', 'matplotlib', 'starlette', 'uvicorn', 'sklearn')
               if name in sys.modules)
assert not heavy, heavy
print(etude.__version__)
'''


def test_public_api_imports_without_wandb_or_music_libraries() -> None:
    result = subprocess.run([sys.executable, '-c', CHECK], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().count('.') == 2, 'a version string'


COMMAND = '''
import sys
from etude.cli import build_parser
build_parser()
heavy = sorted(name for name in ('torch', 'matplotlib', 'starlette', 'uvicorn', 'wandb') if name in sys.modules)
assert not heavy, heavy
'''


def test_the_etude_command_builds_its_parser_without_heavy_imports() -> None:
    """`etude -h` answers at once: each subcommand module imports what it needs only when it runs."""
    result = subprocess.run([sys.executable, '-c', COMMAND], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr


def test_python_dash_m_etude_is_the_etude_command() -> None:
    result = subprocess.run([sys.executable, '-m', 'etude', '--version'], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0 and result.stdout.startswith('etude '), result.stderr
    mistake = subprocess.run([sys.executable, '-m', 'etude', 'no-such-command'], capture_output=True, text=True, cwd=ROOT, timeout=120)
    lines = mistake.stderr.strip().splitlines()
    assert mistake.returncode == 2 and len(lines) == 1 and lines[0].startswith('error: '), mistake.stderr
