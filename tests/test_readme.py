"""The documentation's examples run as written, in a fresh folder, as a reader would run them; its links lead somewhere.

Every fenced ```python and ```bash block of the documentation — README.md, the pages in docs/ and each music task's
page (etude/music/<task>/README.md) — is an example. The blocks of one page run in order in one folder of their own (so
a later block sees what an earlier one made), each in its own process. A comment on the line just before the fence
changes that:

    <!-- not run: REASON -->     the block is not run; REASON says why (a placeholder path, a GPU, the network, ...)
    <!-- file: PATH -->          the block is a file: it is written to PATH in the folder (a module a later block imports)

Python blocks run with this interpreter and bash blocks with `bash -e`, with the virtualenv's programs on PATH (as in
`pipenv shell`) and `pipenv run` answered by the project's Pipfile; the folder has `scripts/` and `bin/` of this
checkout, as a clone does. After a block, every checkpoint it wrote must load in a new process; one of a task with
audio input must also answer `etude infer` on a generated tone, and any other must be loaded and run by the block
itself. `pytest -rs tests/test_readme.py` lists the blocks that are not run, with their reasons.

The pages are read on GitHub and in the documentation site (mkdocs.yml), so both must hold: every relative link names a
file of the repository and, with `#anchor`, one of its headings as GitHub spells it; and `mkdocs build --strict`,
which refuses a broken link or anchor of the site, passes.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT

README = ROOT / 'README.md'
# the README, the pages of the site, and each music task's page inside its package
DOCUMENTS = [README, *sorted((ROOT / 'docs').rglob('*.md')), *sorted((ROOT / 'etude' / 'music').glob('*/README.md'))]
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
    document: str = 'README.md'   # the page, relative to the repository

    @property
    def name(self) -> str:
        return f'{self.document}:{self.line}'


def readme_examples(text: str, document: str = 'README.md') -> list[Example]:
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
            raise ValueError(f'{document}:{index + 1}: a code fence that is never closed')
        marker = MARKER.match(lines[index - 1]) if index > 0 else None
        if language in LANGUAGES:
            code = textwrap.dedent('\n'.join(lines[index + 1:end])) + '\n'
            kind, value = marker.groups() if marker else (None, None)
            examples.append(Example(index + 1, LANGUAGES[language], code, not_run=value if kind == 'not run' else None,
                                    file=value if kind == 'file' else None, document=document))
        elif marker is not None:
            raise ValueError(f'{document}:{index}: a marker before a ```{language} block, which is never run')
        index = end + 1
    return examples


def relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


EXAMPLES = [example for path in DOCUMENTS for example in readme_examples(path.read_text(), relative(path))]


@pytest.mark.parametrize('document', DOCUMENTS, ids=relative)
def test_every_example_runs_or_says_why_not(document: Path) -> None:
    """The markers themselves: a reason for each block left out, a relative path for each file."""
    examples = [example for example in EXAMPLES if example.document == relative(document)]
    for example in examples:
        if example.not_run is not None:
            assert len(example.not_run) > 10, f'{example.name}: say why the block is not run'
        if example.file is not None:
            assert example.file and not Path(example.file).is_absolute() and '..' not in Path(example.file).parts, example.name
    markers = sum(1 for line in document.read_text().splitlines() if MARKER.match(line))
    assert markers == sum(1 for example in examples if example.not_run is not None or example.file is not None), 'a marker not before a fence'


def test_the_documentation_has_examples_that_run() -> None:
    assert any(example.language == 'python' and example.not_run is None and example.file is None for example in EXAMPLES)
    assert any(example.language == 'bash' and example.not_run is None for example in EXAMPLES)
    assert any(example.document == 'README.md' and example.not_run is None for example in EXAMPLES), 'the front page shows a command that runs'


def test_the_parser_reads_markers_and_indented_blocks() -> None:
    text = ('<!-- not run: needs a GPU here -->\n```bash\nnvidia-smi\n```\n\n- a list item:\n\n  ```python\n  x = 1\n  ```\n'
            '<!-- file: pkg/model.py -->\n```python\nclass M: ...\n```\n```yaml\nkey: 1\n```\n')
    examples = readme_examples(text)
    assert [(e.line, e.language, e.code, e.not_run, e.file) for e in examples] == [
        (2, 'bash', 'nvidia-smi\n', 'needs a GPU here', None), (8, 'python', 'x = 1\n', None, None), (12, 'python', 'class M: ...\n', None, 'pkg/model.py')]
    with pytest.raises(ValueError, match='never closed'):
        readme_examples('```python\nx = 1\n')


@pytest.fixture(scope='module')
def folders(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """A reader's working copy per page: an empty folder holding this checkout's scripts/ and bin/, as a clone has them."""
    made: dict[str, Path] = {}

    def folder(document: str) -> Path:
        if document not in made:
            path = tmp_path_factory.mktemp(re.sub(r'\W+', '-', document))
            for name in ('scripts', 'bin'):
                (path / name).symlink_to(ROOT / name, target_is_directory=True)
            made[document] = path
        return made[document]

    return folder


def environment() -> dict[str, str]:
    """The shell of someone who ran `pipenv shell`: the virtualenv's programs first; `pipenv run` finds this project."""
    environment = {key: value for key, value in os.environ.items() if key != 'PIPENV_IGNORE_VIRTUALENVS'}
    environment.update({
        'PATH': f'{Path(sys.executable).parent}{os.pathsep}{os.environ.get("PATH", "")}', 'PYTHONPATH': str(ROOT), 'VIRTUAL_ENV': sys.prefix,
        'PIPENV_PIPFILE': str(ROOT / 'Pipfile'), 'PIPENV_VERBOSITY': '-1', 'PIPENV_NOSPIN': '1', 'WANDB_MODE': 'offline', 'WANDB_SILENT': 'true',
        'OMP_NUM_THREADS': '1',
    })
    return environment


def file_modules(document: str) -> list[str]:
    """The top-level modules a page's file blocks make (`my_model.py` → my_model; `pkg/model.py` → pkg)."""
    return sorted({Path(example.file).parts[0].removesuffix('.py') for example in EXAMPLES if example.file and example.document == document})


CHECK_CHECKPOINT = '''
import json, sys
from etude import load_model
model = load_model(sys.argv[1], allow_modules=json.loads(sys.argv[2]))
info = model.export_info
print(json.dumps({'task': info.get('task') or {}, 'dataset': info.get('dataset') or {}}, default=str))
'''


def check_checkpoint(path: Path, example: Example, folder: Path) -> None:
    """The checkpoint loads in a new process; an audio task's answers `etude infer`; any other the example runs itself."""
    loaded = subprocess.run([sys.executable, '-c', CHECK_CHECKPOINT, str(path), json.dumps(file_modules(example.document))], cwd=folder, env=environment(),
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
        allowed = [word for module in file_modules(example.document) for word in ('--allow-module', module)]
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
def test_readme_example(example: Example, folders: Callable[[str], Path]) -> None:
    folder = folders(example.document)
    if example.not_run is not None:
        pytest.skip(f'{example.name} not run: {example.not_run}')
    if 'pipenv ' in example.code and shutil.which('pipenv') is None:
        pytest.skip('pipenv is not installed here (pip install pipenv)')
    for earlier in EXAMPLES:  # the files a reader of this page has made by this point, so this block also runs on its own (-k)
        if earlier.file is not None and earlier.document == example.document and earlier.line < example.line:
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


# -- links: valid on GitHub, and in the site ---------------------------------------------------------------------------

LINK = re.compile(r'\]\(([^)\s]+)(?:\s+"[^"]*")?\)')
CODE_SPAN = re.compile(r'(`+)(?:(?!\1).)+?\1')
HEADING = re.compile(r'^#{1,6}\s+(.*?)\s*#*\s*$')


def prose_lines(text: str, code_spans: str = 'blank') -> Iterator[tuple[int, str]]:
    """(line number, text) of each line outside fenced code, with its code spans blanked (or, with 'unquote', as their text)."""
    in_fence = False
    for number, line in enumerate(text.splitlines(), 1):
        if re.match(r'^\s*(```|~~~)', line):
            in_fence = not in_fence
            continue
        if not in_fence:
            yield number, CODE_SPAN.sub((lambda span: span.group(0).strip('`')) if code_spans == 'unquote' else '', line)


def github_anchors(text: str) -> set[str]:
    """The anchors GitHub gives a Markdown file's headings: the text lower-cased, punctuation dropped, spaces as hyphens,
    and -1, -2, ... after a repeated one. mkdocs.yml's toc slugify is set to give the same."""
    anchors: set[str] = set()
    seen: Counter[str] = Counter()
    for _, line in prose_lines(text, code_spans='unquote'):
        heading = HEADING.match(line)
        if heading is None:
            continue
        words = re.sub(r'\[([^\]]*)\]\([^)]*\)', r'\1', heading.group(1))   # a link in a heading reads as its text
        slug = re.sub(r'[^\w\- ]', '', words.strip().lower()).replace(' ', '-')
        anchors.add(slug if not seen[slug] else f'{slug}-{seen[slug]}')
        seen[slug] += 1
    return anchors


def relative_links(document: Path) -> Iterator[tuple[int, str]]:
    for number, line in prose_lines(document.read_text()):
        for url in LINK.findall(line):
            if not re.match(r'^[a-z][a-z0-9+.-]*:', url):   # not https:, mailto: ...
                yield number, url


@pytest.mark.parametrize('document', DOCUMENTS, ids=relative)
def test_every_relative_link_names_a_file_and_a_heading_as_github_has_them(document: Path) -> None:
    """A link must work where most readers meet the page first, on GitHub: a file of the repository, and with #anchor one
    of its headings. (Links to code stay in backticks: the site holds pages, not source files.)"""
    problems = []
    for number, url in relative_links(document):
        path, _, anchor = url.partition('#')
        target = (document.parent / path).resolve() if path else document
        if not target.is_relative_to(ROOT) or not target.exists():
            problems.append(f'{relative(document)}:{number}: {url} names no file of the repository')
        elif anchor and target.suffix == '.md' and anchor not in github_anchors(target.read_text()):
            problems.append(f'{relative(document)}:{number}: {url} names no heading of {relative(target)}')
    assert not problems, '\n'.join(problems)


def test_the_anchors_are_githubs() -> None:
    assert github_anchors('# Training: `etude train`\n## Trackers: W&B, MLflow\n```\n# not a heading\n```\n## Results\n## Results\n') == {
        'training-etude-train', 'trackers-wb-mlflow', 'results', 'results-1'}


def load_hooks() -> object:
    spec = importlib.util.spec_from_file_location('docs_hooks', ROOT / 'docs' / 'hooks.py')
    assert spec is not None and spec.loader is not None
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    return hooks


def test_links_written_for_github_are_pointed_at_the_pages_of_the_site() -> None:
    """docs/hooks.py: a page outside docs/ joins the site under its own name, and its links follow it there."""
    hooks: Any = load_hooks()
    assert hooks.rewrite_links('[train](docs/commands/train.md#settings) and `[kept](docs/x.md)`', 'README.md') == \
        '[train](commands/train.md#settings) and `[kept](docs/x.md)`'
    assert hooks.rewrite_links('see [the table](../../../README.md#routines), [data](../../../docs/data.md)',
                               'etude/music/generation/README.md') == 'see [the table](../index.md#routines), [data](../data.md)'
    assert hooks.rewrite_links('[x](../etude/music/performance/README.md) [y](https://example.org/a.md)\n```\n[z](../README.md)\n```',
                               'docs/tasks.md') == '[x](music/performance.md) [y](https://example.org/a.md)\n```\n[z](../README.md)\n```'
    assert hooks.rewrite_links('[code](../etude/cli.py)', 'docs/tasks.md') == '[code](../etude/cli.py)', 'not a page: left for MkDocs to report'
    for source in hooks.PAGES:
        assert (ROOT / source).is_file(), source


@pytest.mark.slow
def test_the_documentation_site_builds_with_strict_checks(tmp_path: Path) -> None:
    """`mkdocs build --strict`: every page in the navigation, every link and anchor found, every docstring read."""
    missing = [name for name in ('mkdocs', 'material', 'mkdocstrings', 'mkdocstrings_handlers') if importlib.util.find_spec(name) is None]
    if missing:
        pytest.skip(f'the documentation tools are not installed here ({", ".join(missing)}; pipenv install --dev installs them)')
    result = subprocess.run([sys.executable, '-m', 'mkdocs', 'build', '--strict', '--site-dir', str(tmp_path / 'site')], cwd=ROOT,
                            env={**os.environ, 'NO_MKDOCS_2_WARNING': '1'}, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f'mkdocs build --strict fails:\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}'
    assert (tmp_path / 'site' / 'index.html').is_file() and (tmp_path / 'site' / 'music' / 'generation' / 'index.html').is_file()
