"""The public API imports as documented, and cheaply: W&B and the music libraries load only when a feature needs them;
each package lists its public names, and the shipped routines use only those."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

CHECK = '''
import sys
import etude
assert 'torch' not in sys.modules, 'import etude alone needs no torch (the dataset installer starts at once)'
from etude import ExportedModel, Model, Parameters, Routine, RunInfo, load_model
from etude import Accuracy, Classification, Mean, MeanAbsoluteError, Metric, Range, RunOptions, Step
from etude.models import CRePE
from etude.data import Crop, read_dataset
from etude.evaluation import evaluate_run
from etude.tasks import Regression
heavy = sorted(name for name in ('wandb', 'music21', 'pretty_midi', 'torchaudio', 'librosa', 'matplotlib', 'starlette', 'uvicorn', 'sklearn',
                                   'miditok', 'symusic')
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


# The packages a routine imports from, each through the names its `__init__` lists in `__all__`; a feature package
# beside them (etude.trackers, ...) and each music task's package (etude.music.generation, ...) are public the same way:
# `etude.<package>` or `etude.music.<task>`, never a module below.
PUBLIC_PACKAGES = ('etude', 'etude.data', 'etude.models', 'etude.tasks', 'etude.evaluation', 'etude.inference', 'etude.music.generation',
                   'etude.music.transcription', 'etude.music.performance')


def is_public_package(name: str) -> bool:
    parts = name.split('.')
    if name in PUBLIC_PACKAGES:
        return True
    if len(parts) == 2 and parts[0] == 'etude':
        return parts[1] != 'music' and (ROOT / 'etude' / parts[1] / '__init__.py').is_file()
    return len(parts) == 3 and parts[:2] == ['etude', 'music'] and (ROOT / 'etude' / 'music' / parts[2] / '__init__.py').is_file()


@pytest.mark.parametrize('package', PUBLIC_PACKAGES)
def test_every_public_name_of_a_package_resolves(package: str) -> None:
    """`__all__` is what the package promises: each name in it loads (lazily, from the module that defines it)."""
    module = importlib.import_module(package)
    public = list(module.__all__)
    assert public and set(public) <= set(dir(module)), 'dir() shows the public names'
    missing = [name for name in public if getattr(module, name, None) is None]
    assert not missing, f'{package}.__all__ names what it does not define: {missing}'


def deep_imports(source: str, module_name: str) -> list[str]:
    """The etude imports in `source` (the module `module_name`) that do not go through a public package's `__all__`,
    as 'line N: what'. A routine's own package (`etude.routines`, for shared helpers) is its own business."""
    package = module_name.rpartition('.')[0]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split('.')[0] == 'etude' and not is_public_package(alias.name):
                    found.append(f'line {node.lineno}: import {alias.name}')
        elif isinstance(node, ast.ImportFrom):
            target = node.module or ''
            if node.level:
                base = package.split('.')[:len(package.split('.')) - node.level + 1] if package else []
                target = '.'.join([*base, *([node.module] if node.module else [])])
            if target.split('.')[0] != 'etude' or target == 'etude.routines' or target.startswith('etude.routines.'):
                continue
            if not is_public_package(target):
                found.append(f'line {node.lineno}: from {target} import ...')
                continue
            public = set(getattr(importlib.import_module(target), '__all__', ()))
            found += [f'line {node.lineno}: {alias.name} is not in {target}.__all__' for alias in node.names if alias.name not in public]
    return found


def routine_files() -> list[Path]:
    """The shipped routines: the audio examples in etude/routines/ and each music task's routine.py."""
    return sorted([*(ROOT / 'etude' / 'routines').glob('[!_]*.py'), *(ROOT / 'etude' / 'music').glob('*/routine.py')])


def test_the_import_check_sees_deep_and_private_imports() -> None:
    assert deep_imports('from etude import Routine, Step\nfrom etude.data import FeatureCache', 'etude.routines.a') == []
    assert deep_imports('from etude.data.cache import FeatureCache', 'etude.routines.a') == ['line 1: from etude.data.cache import ...']
    assert deep_imports('import etude.routine', 'etude.routines.a') == ['line 1: import etude.routine']
    assert deep_imports('from ..data.cache import FeatureCache', 'etude.routines.a') == ['line 1: from etude.data.cache import ...']
    assert deep_imports('from .. import _SOURCES', 'etude.routines.a') == ['line 1: _SOURCES is not in etude.__all__']
    assert deep_imports('from etude.data import DatasetWriter\nfrom etude.data.samplers import Sampler', 'r') == ['line 2: from etude.data.samplers import ...']
    assert deep_imports('def f():\n    from etude.evaluation.evaluate import task_metrics', 'r') == ['line 2: from etude.evaluation.evaluate import ...']


def test_the_shipped_routines_import_only_public_names() -> None:
    """A routine is the user's template: what it imports is what a user's own routine may rely on across versions."""
    files = routine_files()
    assert len(files) == 6, files
    problems = []
    for path in files:
        module_name = '.'.join(path.relative_to(ROOT).with_suffix('').parts)
        problems += [f'{path.relative_to(ROOT)} {problem}' for problem in deep_imports(path.read_text(), module_name)]
    assert not problems, 'import these through etude, etude.data, etude.models, etude.tasks, etude.evaluation, etude.inference or another ' \
                         'etude.<package> (add the name to that package\'s __init__ and __all__ if it is public):\n' + '\n'.join(problems)
