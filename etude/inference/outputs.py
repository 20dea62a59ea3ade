"""The files a run of `etude infer` will write, checked against its inputs before the model runs.

A task writes `<stem>.<ext>` files (`score.mid`, `score.deadpan.mid`, `take.wav`) into the output folder, and an
input may carry one of those names: a score may be a `.mid`, a recording folder may hold `take.flac` beside
`take.wav`, or the truth `take.mid` of a transcription. Writing beside under another name would make the names
depend on what else sits in the folder (and break what pairs files by name, such as `etude listen create`), so the
plan is checked instead: each task says exactly which files it will write for its sources
(`Task.planned_files`, which its `write` keeps to), and the plan is refused, in one line and before any input is
read, when it would write over an input (never allowed, even with --overwrite), write two inputs' results to one
file, or replace a file already there without --overwrite.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from ..errors import ConfigError

__all__ = ['check_planned_files']


def check_planned_files(planned: Sequence[tuple[str, Sequence[Path]]], inputs: Iterable[str], *, overwrite: bool) -> None:
    """Refuse (a ConfigError naming the file) a plan of `(source, files written for it)` that writes over one of
    `inputs`, writes the results of two different sources to one file, or replaces an existing file without `overwrite`."""
    identities = _Identities(inputs)
    writers: dict[str, str] = {}
    existing: list[Path] = []
    for source, files in planned:
        for path in files:
            overwritten = identities.input_at(path)
            if overwritten is not None:
                raise ConfigError(f'etude infer would write {path} over the input {overwritten}; pass another --output folder '
                                  '(or move the input out of this one)')
            key = os.path.realpath(path)
            if key in writers and os.path.realpath(writers[key]) != os.path.realpath(source):
                raise ConfigError(f'{writers[key]} and {source} would both be written to {path}; run them into different --output folders '
                                  'or give them different names')
            writers[key] = source
            if path.exists() and key not in {os.path.realpath(item) for item in existing}:
                existing.append(path)
    if existing and not overwrite:
        more = f' (and {len(existing) - 1} more of the files this run writes)' if len(existing) > 1 else ''
        raise ConfigError(f'{existing[0]} exists{more}; pass --overwrite to replace what this run writes, or another --output folder')


class _Identities:
    """The inputs by resolved path and, for those that exist, by device and inode, so a link, a hard link or another
    spelling of an input's path (a case-insensitive file system) is still that input."""

    def __init__(self, inputs: Iterable[str]) -> None:
        self.by_path: dict[str, str] = {}
        self.by_inode: dict[tuple[int, int], str] = {}
        for given in inputs:
            self.by_path.setdefault(os.path.realpath(given), given)
            try:
                status = os.stat(given)
            except OSError:
                continue
            self.by_inode.setdefault((status.st_dev, status.st_ino), given)

    def input_at(self, path: Path) -> str | None:
        """The input that `path` is, if any."""
        found = self.by_path.get(os.path.realpath(path))
        if found is not None:
            return found
        try:
            status = os.stat(path)
        except OSError:
            return None
        return self.by_inode.get((status.st_dev, status.st_ino))
