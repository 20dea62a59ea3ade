"""Whether a process of this machine still runs, for the folders that record who is writing them (a dataset being
built, a sweep's trial): a dead writer's leftovers may be cleaned up or taken over, a live one's never."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

__all__ = ['process_alive']


def process_alive(pid: int) -> bool:
    """True while `pid` runs here (also when it belongs to another user); a zombie, ended but not yet reaped by its
    parent, counts as ended."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError, IndexError):
        return Path(f'/proc/{pid}/stat').read_text().split(') ', 1)[1][0] != 'Z'
    return True
