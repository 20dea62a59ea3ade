"""MkDocs hook: pages that live outside docs/ join the site, and links written for GitHub work in the site too.

Three pages live where their subject lives, not in docs/: the README (the site's home page), each music task's page
inside its package (`etude/music/<task>/README.md`, shipped as package data, so neither a symbolic link nor a copy in
docs/ would do) and `benchmarks/README.md`. `PAGES` adds each to the site under a name of its own, read from where it
is, so every page has one copy.

Links in every page are written as the repository lays the files out, so that each works on GitHub as it stands. The
hook resolves a relative link against the page's place in the repository and, when it names a file the site holds,
rewrites it to that file's place in the site. Any other link is left as written; MkDocs' validation then reports it,
and `mkdocs build --strict` fails on it.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from mkdocs.structure.files import Files

# a page outside docs/ (its path in the repository) → its place in the site
PAGES = {
    'README.md': 'index.md',
    'etude/music/generation/README.md': 'music/generation.md',
    'etude/music/transcription/README.md': 'music/transcription.md',
    'etude/music/performance/README.md': 'music/performance.md',
    'benchmarks/README.md': 'benchmarks/measured.md',
}

FENCE = re.compile(r'^\s*(```|~~~)')
CODE_SPAN = re.compile(r'(`+)(?:(?!\1).)+?\1')
LINK = re.compile(r'(\]\()([^)\s]+)((?:\s+"[^"]*")?\))')


def on_files(files: Files, config: Any) -> Files:
    from mkdocs.structure.files import File  # here, so that the tests can read PAGES without MkDocs installed

    root = Path(config.config_file_path).parent
    for source, uri in PAGES.items():
        files.append(File.generated(config, uri, abs_src_path=str(root / source)))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    return rewrite_links(markdown, repository_path(page.file.src_uri))


def repository_path(site_uri: str) -> str:
    """Where the page at `site_uri` is in the repository."""
    outside = {uri: source for source, uri in PAGES.items()}
    return outside.get(site_uri, f'docs/{site_uri}')


def site_uri(path: str) -> str | None:
    """The page (or image) of the site that the repository file `path` is, if the site holds it."""
    if path in PAGES:
        return PAGES[path]
    if path.startswith('docs/'):
        return path.removeprefix('docs/')  # a page, or an image a page shows (docs/images/)
    return None


def rewrite_links(markdown: str, page_path: str) -> str:
    """Each relative link of `markdown` (the page at `page_path` in the repository) pointed at its page in the site;
    code blocks and code spans are left alone."""
    page_uri = site_uri(page_path) or page_path
    lines, in_fence = [], False
    for line in markdown.split('\n'):
        if FENCE.match(line):
            in_fence = not in_fence
        if in_fence or FENCE.match(line):
            lines.append(line)
            continue
        pieces, last = [], 0
        for span in CODE_SPAN.finditer(line):
            pieces += [_rewrite_prose(line[last:span.start()], page_path, page_uri), span.group(0)]
            last = span.end()
        lines.append(''.join([*pieces, _rewrite_prose(line[last:], page_path, page_uri)]))
    return '\n'.join(lines)


def _rewrite_prose(text: str, page_path: str, page_uri: str) -> str:
    def rewrite(match: re.Match[str]) -> str:
        url = match.group(2)
        parts = urlsplit(url)
        if parts.scheme or parts.netloc or url.startswith(('#', '/')):
            return match.group(0)
        target = site_uri(posixpath.normpath(posixpath.join(posixpath.dirname(page_path), parts.path)))
        if target is None:
            return match.group(0)  # not a page of the site: MkDocs reports it
        relative = posixpath.relpath(target, posixpath.dirname(page_uri) or '.')
        return f'{match.group(1)}{relative}{"#" + parts.fragment if parts.fragment else ""}{match.group(3)}'

    return LINK.sub(rewrite, text)
