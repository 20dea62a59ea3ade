"""The README's examples run as written, in a fresh folder, as a reader would run them.

Every fenced ```python and ```bash block in README.md is an example, run in order in one folder (so a later block sees
what an earlier one made), each in its own process. A comment on the line just before the fence changes that:

    <!-- not run: REASON -->     the block is not run; REASON says why (a placeholder path, a GPU, the network, ...)
    <!-- file: PATH -->          the block is a file: it is written to PATH in the folder (a module a later block imports)

Python blocks run with this interpreter and bash blocks with `bash -e`, with the virtualenv's programs on PATH (as in
`pipenv shell`) and `pipenv run` answered by the project's Pipfile; the folder has `scripts/` and `bin/` of this
checkout, as a clone does. After a block, every checkpoint it wrote must load in a new process; one of a task with
audio input must also answer `etude infer` on a generated tone, and any other must be loaded and run by the block
itself. `pytest -rs tests/test_readme.py` lists the blocks that are not run, with their reasons.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import ROOT

README = ROOT / 'README.md'
LANGUAGES = {'python': 'python', 'bash': 'bash', 'sh': 'bash', 'shell': 'bash'}
MARKER = re.compile(r'^\s*<!--\s*(not run|file)\s*:\s*(.*?)\s*-->\s*$')
FENCE = re.compile(r'^(\s*)```\s*([\w-]*)\s*$')


@dataclass(frozen=True)
class Example:
    line: int                 # of the opening fence, 1-based
    language: str             # 'python' or 'bash'
    code: str
    not_run: str | None = None
    file: str | None = None

    @property
    def name(self) -> str:
        return f'README.md:{self.line}'


def readme_examples(text: str) -> list[Example]:
    """The fenced python and shell blocks of a Markdown text, with the marker on the line before each, if any."""
    lines = text.splitlines()
    examples, index = [], 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        indent, language = opening.groups()
        end = next((j for j in range(index + 1, len(lines)) if lines[j].strip() == '```'), None)
        if end is None:
            raise ValueError(f'README.md:{index + 1}: a code fence that is never closed')
        marker = MARKER.match(lines[index - 1]) if index > 0 else None
        if language in LANGUAGES:
            code = textwrap.dedent('\n'.join(lines[index + 1:end])) + '\n'
            kind, value = marker.groups() if marker else (None, None)
            examples.append(Example(index + 1, LANGUAGES[language], code, not_run=value if kind == 'not run' else None,
                                    file=value if kind == 'file' else None))
        elif marker is not None:
            raise ValueError(f'README.md:{index}: a marker before a ```{language} block, which is never run')
        index = end + 1
    return examples


EXAMPLES = readme_examples(README.read_text())


def test_every_example_runs_or_says_why_not() -> None:
    """The markers themselves: a reason for each block left out, a relative path for each file, and something to run."""
    for example in EXAMPLES:
        if example.not_run is not None:
            assert len(example.not_run) > 10, f'{example.name}: say why the block is not run'
        if example.file is not None:
            assert example.file and not Path(example.file).is_absolute() and '..' not in Path(example.file).parts, example.name
    assert any(example.language == 'python' and example.not_run is None and example.file is None for example in EXAMPLES)
    assert any(example.language == 'bash' and example.not_run is None for example in EXAMPLES)
    markers = sum(1 for line in README.read_text().splitlines() if MARKER.match(line))
    assert markers == sum(1 for example in EXAMPLES if example.not_run is not None or example.file is not None), 'a marker not before a fence'


def test_the_parser_reads_markers_and_indented_blocks() -> None:
    text = ('<!-- not run: needs a GPU here -->\n```bash\nnvidia-smi\n```\n\n- a list item:\n\n  ```python\n  x = 1\n  ```\n'
            '<!-- file: pkg/model.py -->\n```python\nclass M: ...\n```\n```yaml\nkey: 1\n```\n')
    examples = readme_examples(text)
    assert [(e.line, e.language, e.code, e.not_run, e.file) for e in examples] == [
        (2, 'bash', 'nvidia-smi\n', 'needs a GPU here', None), (8, 'python', 'x = 1\n', None, None), (12, 'python', 'class M: ...\n', None, 'pkg/model.py')]
    with pytest.raises(ValueError, match='never closed'):
        readme_examples('```python\nx = 1\n')


@pytest.fixture(scope='module')
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A reader's working copy: an empty folder holding this checkout's scripts/ and bin/, as a clone has them."""
    path = tmp_path_factory.mktemp('readme')
    for name in ('scripts', 'bin'):
        (path / name).symlink_to(ROOT / name, target_is_directory=True)
    return path


def environment() -> dict[str, str]:
    """The shell of someone who ran `pipenv shell`: the virtualenv's programs first; `pipenv run` finds this project."""
    environment = {key: value for key, value in os.environ.items() if key != 'PIPENV_IGNORE_VIRTUALENVS'}
    environment.update({
        'PATH': f'{Path(sys.executable).parent}{os.pathsep}{os.environ.get("PATH", "")}', 'PYTHONPATH': str(ROOT), 'VIRTUAL_ENV': sys.prefix,
        'PIPENV_PIPFILE': str(ROOT / 'Pipfile'), 'PIPENV_VERBOSITY': '-1', 'PIPENV_NOSPIN': '1', 'WANDB_MODE': 'offline', 'WANDB_SILENT': 'true',
        'OMP_NUM_THREADS': '1',
    })
    return environment


def file_modules() -> list[str]:
    """The top-level modules the README's file blocks make (`my_model.py` → my_model; `pkg/model.py` → pkg)."""
    return sorted({Path(example.file).parts[0].removesuffix('.py') for example in EXAMPLES if example.file})


CHECK_CHECKPOINT = '''
import json, sys
from etude import load_model
model = load_model(sys.argv[1], allow_modules=json.loads(sys.argv[2]))
info = model.export_info
print(json.dumps({'task': info.get('task') or {}, 'dataset': info.get('dataset') or {}}, default=str))
'''


def check_checkpoint(path: Path, example: Example, folder: Path) -> None:
    """The checkpoint loads in a new process; an audio task's answers `etude infer`; any other the example runs itself."""
    loaded = subprocess.run([sys.executable, '-c', CHECK_CHECKPOINT, str(path), json.dumps(file_modules())], cwd=folder, env=environment(),
                            capture_output=True, text=True, timeout=300)
    assert loaded.returncode == 0, f'{example.name} wrote {path}, which does not load:\n{loaded.stderr[-3000:]}'
    info = json.loads(loaded.stdout.strip().splitlines()[-1])
    sample_rate = info['dataset'].get('sample_rate')
    if info['task'].get('kind') in ('classification', 'regression') and sample_rate:
        import numpy as np
        import soundfile

        tone = folder / f'tone-{example.line}.wav'
        times = np.arange(int(sample_rate)) / sample_rate
        soundfile.write(tone, (0.5 * np.sin(2 * np.pi * 440 * times)).astype(np.float32), int(sample_rate))
        allowed = [word for module in file_modules() for word in ('--allow-module', module)]
        inferred = subprocess.run([sys.executable, '-m', 'etude', 'infer', str(path), str(tone), '--jsonl', *allowed], cwd=folder, env=environment(),
                                  capture_output=True, text=True, timeout=300)
        assert inferred.returncode == 0, f'etude infer on {path} (from {example.name}) failed:\n{inferred.stderr[-3000:]}'
        assert len(inferred.stdout.strip().splitlines()) == 1, inferred.stdout
        print(f'{path.relative_to(folder)}: etude infer answered {inferred.stdout.strip()}')
    else:
        assert 'load_model' in example.code or 'etude infer' in example.code, \
            f'{example.name} trains a model with no audio task but never loads its checkpoint and runs it; show that in the example'
        print(f'{path.relative_to(folder)}: loads; {example.name} runs it itself')


@pytest.mark.slow
@pytest.mark.parametrize('example', [example for example in EXAMPLES if example.file is None], ids=lambda example: example.name)
def test_readme_example(example: Example, folder: Path) -> None:
    if example.not_run is not None:
        pytest.skip(f'{example.name} not run: {example.not_run}')
    if 'pipenv ' in example.code and shutil.which('pipenv') is None:
        pytest.skip('pipenv is not installed here (pip install pipenv)')
    for earlier in EXAMPLES:  # the files a reader has made by this point, so this block also runs on its own (-k)
        if earlier.file is not None and earlier.line < example.line:
            (folder / earlier.file).parent.mkdir(parents=True, exist_ok=True)
            (folder / earlier.file).write_text(earlier.code)
    before = set(folder.rglob('best.pt'))
    if example.language == 'python':
        script = folder / f'example_{example.line}.py'
        script.write_text(example.code)
        command = [sys.executable, script.name]
    else:
        command = ['bash', '-e', '-o', 'pipefail', '-c', example.code]
    result = subprocess.run(command, cwd=folder, env=environment(), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f'{example.name} fails as written:\n{example.code}\n--- stdout\n{result.stdout[-3000:]}\n--- stderr\n{result.stderr[-5000:]}'
    for checkpoint in sorted(set(folder.rglob('best.pt')) - before):
        check_checkpoint(checkpoint, example, folder)
