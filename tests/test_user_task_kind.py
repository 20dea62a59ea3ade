"""A task kind of a user's own, as a package outside etude (tests/user_task, the README's example): installed with pip,
registered by its entry points, it passes the conformance suite and runs through `etude train`, `etude infer` (with
its own flag) and `etude evaluate` exactly as etude's own kinds do; without it installed, its runs are refused in one
line that says what to install."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

PACKAGE = ROOT / 'tests' / 'user_task'


@pytest.fixture(scope='module')
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package installed by pip (no index, no build isolation: offline) into a folder of its own."""
    target, source = tmp_path_factory.mktemp('site'), tmp_path_factory.mktemp('source') / 'user_task'
    shutil.copytree(PACKAGE, source, ignore=shutil.ignore_patterns('build', '*.egg-info', '__pycache__'))  # setuptools builds in place
    result = subprocess.run([sys.executable, '-m', 'pip', 'install', '--quiet', '--no-deps', '--no-build-isolation', '--no-index', '--target',
                             str(target), str(source)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert (target / 'tagging').is_dir() and list(target.glob('etude_tagging-*.dist-info'))
    return target


def etude(*arguments: str, cwd: Path, site: Path | None) -> subprocess.CompletedProcess[str]:
    path = os.pathsep.join([*([str(site)] if site is not None else []), str(ROOT)])
    environment = {**os.environ, 'PYTHONPATH': path, 'WANDB_MODE': 'offline'}
    return subprocess.run([sys.executable, '-m', 'etude', *arguments], cwd=cwd, env=environment, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_a_user_kind_installed_by_pip_trains_infers_evaluates_and_passes_the_suite(installed: Path, tmp_path: Path) -> None:
    listing = etude('train', '-h', cwd=tmp_path, site=installed)
    assert listing.returncode == 0 and 'tagging' in listing.stdout, 'its routine is registered'
    assert '--threshold' in etude('infer', '-h', cwd=tmp_path, site=installed).stdout, 'its own flag is on etude infer'

    trained = etude('train', 'tagging', '--testing', cwd=tmp_path, site=installed)
    assert trained.returncode == 0, trained.stderr
    run = next((tmp_path / 'runs').iterdir())
    summary = json.loads((run / 'summary.json').read_text())
    assert set(summary['test']) == {'loss', 'tag_f1', 'exact_clips'} and 'commonest tags' in summary['baselines']
    assert json.loads((run / 'baselines.json').read_text())['test'] == summary['baselines'], 'the task fitted its baseline once, recorded'

    clip = tmp_path / 'clip.wav'
    subprocess.run([sys.executable, '-c', 'import glob, sys; from etude.data import read_dataset, write_audio; '
                    "write_audio(sys.argv[1], read_dataset(glob.glob('data/tagged-clips-*')[0]).inputs[0], 8000)", str(clip)],
                   cwd=tmp_path, env={**os.environ, 'PYTHONPATH': str(ROOT)}, check=True, timeout=120)
    inferred = etude('infer', str(run / 'checkpoints' / 'best.pt'), str(clip), '--threshold', '0.4', '--jsonl', cwd=tmp_path, site=installed)
    assert inferred.returncode == 0, inferred.stderr
    row = json.loads(inferred.stdout.splitlines()[-1])
    assert set(row['probabilities']) == {'low', 'mid', 'high'} and all(tag in row['probabilities'] for tag in row['tags'])

    evaluated = etude('evaluate', str(run), cwd=tmp_path, site=installed)
    assert evaluated.returncode == 0, evaluated.stderr
    metrics = json.loads((run / 'evaluation' / 'metrics.json').read_text())
    assert metrics['metrics']['tag_f1'] == pytest.approx(summary['test']['tag_f1']) and metrics['baselines'] == summary['baselines']

    suite = subprocess.run([sys.executable, '-c', 'from etude.tasks import check_task; from tagging.task import Tagging; print(check_task(Tagging))'],
                           cwd=tmp_path, env={**os.environ, 'PYTHONPATH': os.pathsep.join([str(installed), str(ROOT)])}, capture_output=True,
                           text=True, timeout=300)
    assert suite.returncode == 0 and "'inference', 'options']" in suite.stdout, suite.stderr

    without = etude('evaluate', str(run), '--overwrite', cwd=tmp_path, site=None)
    lines = without.stderr.strip().splitlines()
    assert without.returncode == 2 and len(lines) == 1 and 'tagging' in lines[0] and '--allow-module' in lines[0], without.stderr


def test_a_broken_registration_does_not_take_the_command_down(tmp_path: Path) -> None:
    """An installed package whose entry point names a module that is not there: `etude -h` still answers, and the one
    command that needs every kind says which registration is broken, in one line."""
    site = tmp_path / 'site'
    info = site / 'broken_kinds-0.1.dist-info'
    info.mkdir(parents=True)
    (info / 'METADATA').write_text('Metadata-Version: 2.1\nName: broken-kinds\nVersion: 0.1\n')
    (info / 'entry_points.txt').write_text('[etude.tasks]\nbroken = no_such_module:Kind\n')
    assert etude('-h', cwd=tmp_path, site=site).returncode == 0
    assert etude('train', '-h', cwd=tmp_path, site=site).returncode == 0
    refused = etude('infer', 'model.pt', 'some.wav', cwd=tmp_path, site=site)
    lines = refused.stderr.strip().splitlines()
    assert refused.returncode == 2 and len(lines) == 1 and "task kind 'broken' is registered as no_such_module:Kind" in lines[0], refused.stderr
