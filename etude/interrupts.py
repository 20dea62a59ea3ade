"""Ctrl-C that waits for the end of a critical section.

A KeyboardInterrupt raised inside `torch.save` does not unwind cleanly: torch's zip writer then fails in its own
clean-up with a RuntimeError, which hides the interrupt behind a traceback. And between writing `best.pt`, `last.pt`
and the epoch's metrics line, an interrupt would leave the three describing different epochs. So the routine marks
those sections with `deferred_interrupts()`: a Ctrl-C that arrives inside is held and raised as the section ends.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

__all__ = ['deferred_interrupts']

_depth = 0


@contextmanager
def deferred_interrupts() -> Iterator[None]:
    """Hold SIGINT until the block ends, then raise KeyboardInterrupt. Nests; a no-op outside the main thread."""
    global _depth
    if threading.current_thread() is not threading.main_thread() or _depth > 0:
        yield
        return
    received: list[tuple[int, FrameType | None]] = []
    previous: Any = signal.signal(signal.SIGINT, lambda number, frame: received.append((number, frame)))
    previous = signal.SIG_DFL if previous is None else previous  # None: a handler installed outside Python
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        signal.signal(signal.SIGINT, previous)
    # Only a section that finished delivers the held interrupt; one that raised keeps its own error (a full disk,
    # say), which an interrupt raised in its place would hide.
    if received and callable(previous):
        previous(*received[0])  # Python's handler raises KeyboardInterrupt here, after the section is whole
    elif received and previous == signal.SIG_DFL:
        signal.raise_signal(signal.SIGINT)
