"""Group commit for SQLite in WAL mode: each page its own transaction, one fsync for every page committed meanwhile.

SQLite documents `synchronous=FULL` in WAL mode as `synchronous=NORMAL` plus one sync of the WAL file after each
commit; NORMAL already syncs the WAL header when the file is reused and syncs around checkpoints. So committing with
NORMAL and syncing the WAL file ourselves before a page is acknowledged gives every acknowledged page FULL's
durability (a kill, a crash or a power cut after the answer loses nothing), while pages that arrive during one
sync share the next one, as PostgreSQL's group commit does. On a disk where a sync takes milliseconds, this is what
lets fifty listeners post at once without queueing behind one sync each.

A commit is counted only after SQLite's COMMIT has returned (its frames are in the WAL file), and a sync covers
every commit counted before it started, so a waiter is released only by a sync that began after its own commit.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from ..atomic_files import fsync_directory

__all__ = ['GroupCommit']


class GroupCommit:
    """Count commits to the database at `path` and make them durable in groups (thread-safe)."""

    def __init__(self, path: Path) -> None:
        self._wal = Path(f'{path}-wal')
        self._condition = threading.Condition()
        self._committed = 0
        self._durable = 0
        self._syncing = False
        self._directory_synced = False

    def committed(self) -> int:
        """Record one commit that has returned; the number to pass to `wait`. Call it under the writer's lock."""
        with self._condition:
            self._committed += 1
            return self._committed

    def latest(self) -> int:
        """The number of the last commit recorded, to wait until everything committed so far is on disk."""
        with self._condition:
            return self._committed

    def wait(self, commit: int) -> None:
        """Return once commit number `commit` is on disk: sync the WAL, or wait for a sync already running."""
        with self._condition:
            while self._durable < commit:
                if self._syncing:
                    self._condition.wait()
                    continue
                self._syncing = True
                covered = self._committed
                self._condition.release()
                try:
                    self._sync()
                finally:
                    self._condition.acquire()
                    self._syncing = False
                    self._condition.notify_all()
                self._durable = max(self._durable, covered)

    def _sync(self) -> None:
        # Only the WAL: a commit that a checkpoint has already copied into the database was synced by SQLite itself
        # (NORMAL syncs the WAL before a checkpoint and the database after it).
        try:
            descriptor = os.open(self._wal, os.O_RDONLY)
        except FileNotFoundError:
            return
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        if not self._directory_synced:  # the WAL file's own name must survive a power cut too
            fsync_directory(self._wal.parent)
            self._directory_synced = True
