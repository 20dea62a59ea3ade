"""Ctrl-C and SIGTERM that wait for the end of a critical section.

A KeyboardInterrupt raised inside `torch.save` does not unwind cleanly: torch's zip writer then fails in its own
clean-up with a RuntimeError, which hides the interrupt behind a traceback. And between writing `best.pt`, `last.pt`
and the epoch's metrics line, an interrupt would leave the three describing different epochs. So the routine marks
those sections with `deferred_interrupts()`: a signal that arrives inside is held and delivered as the section ends.

SIGTERM is what Slurm, Docker and systemd send before they kill a job; `terminate_as_interrupt()` turns it into
`Terminated`, a KeyboardInterrupt, so a terminated run finishes the checkpoint in hand and says how to resume,
exactly like Ctrl-C.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

__all__ = ['Terminated', 'deferred_interrupts', 'terminate_as_interrupt']

_depth = 0
SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Terminated(KeyboardInterrupt):
    """SIGTERM, delivered where Ctrl-C would be."""


def _raise_terminated(number: int, frame: FrameType | None) -> None:
    raise Terminated


@contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises `Terminated` (a KeyboardInterrupt). A no-op outside the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def deferred_interrupts() -> Iterator[None]:
    """Hold SIGINT and SIGTERM until the block ends, then deliver the first. Nests; a no-op outside the main thread."""
    global _depth
    if threading.current_thread() is not threading.main_thread() or _depth > 0:
        yield
        return
    received: list[tuple[int, FrameType | None]] = []
    previous: dict[int, Any] = {}
    for held in SIGNALS:
        handler = signal.signal(held, lambda number, frame: received.append((number, frame)))
        previous[held] = signal.SIG_DFL if handler is None else handler  # None: a handler installed outside Python
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        for restored, handler in previous.items():
            signal.signal(restored, handler)
    # Only a section that finished delivers the held signal; one that raised keeps its own error (a full disk, say),
    # which an interrupt raised in its place would hide.
    if received:
        first, frame = received[0]
        handler = previous[first]
        if callable(handler):
            handler(first, frame)  # Python's handler raises KeyboardInterrupt (or Terminated) here, after the section
        elif handler == signal.SIG_DFL:
            signal.raise_signal(first)
