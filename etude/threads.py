"""How many CPU threads torch (and onnxruntime) compute with: the cores this process may use, or the run option `threads`.

torch's own default is every core of the machine, even one that taskset or a container's CPU set keeps from this
process; so commands and the Routine set the count from `os.sched_getaffinity` (`etude.data.files.available_cores`).
On a busy machine a second OpenMP thread spin-waits between parallel regions and burns a core doing nothing:
`etude infer` asks OpenMP to sleep instead (`OMP_WAIT_POLICY=PASSIVE`, read when torch loads, so set before it is
imported), and the inter-op pool (for work torch runs asynchronously, which these models do not) is kept to one thread.

`etude train` leaves OpenMP's waiting as it is (libgomp spins a while, then sleeps). A training step of a recurrent
model is a stream of small parallel regions, forward and backward through every time step, and a sleeping thread
must be woken for each: measured on the 2-core VM, a step of the piano transcriber's CPU default (batch 8 × 4 s) took
3.0 s with two passive threads, against 1.65 s with one thread and 1.4 s with two that spin. Inference runs larger
batches through fewer regions and loses nothing by sleeping (2 threads, a busy machine: 4.1 s passive, 7.4 s
spinning, 4.3 s with one thread, for the same forward passes). On a machine that other jobs keep busy, train with
`--threads 1`.
"""

from __future__ import annotations

import os

from .data.files import available_cores
from .errors import ConfigError

__all__ = ['check_threads', 'default_threads', 'passive_waiting', 'use_threads']


def check_threads(threads: int | None, flag: str = '--threads') -> None:
    """Refuse a thread count below 1 in one line (None: the cores this process may use)."""
    if threads is not None and threads < 1:
        raise ConfigError(f'{flag} must be at least 1, got {threads}; or leave it out for the {available_cores()} cores this process may use')


def passive_waiting() -> None:
    """Ask OpenMP to sleep, not spin, while a thread waits for work (unless the environment says otherwise). Only
    takes effect before torch is first imported in this process, as `etude infer` calls it (training does not: see
    the module's docstring)."""
    os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')


def default_threads(processes: int = 1) -> int:
    """OMP_NUM_THREADS when the environment sets it, else the cores this process may use shared among `processes`
    (torchrun's processes on this machine)."""
    given = os.environ.get('OMP_NUM_THREADS', '')
    if given.isdigit() and int(given) > 0:
        return int(given)
    return max(1, available_cores() // max(1, processes))


def use_threads(threads: int | None = None, processes: int = 1) -> int:
    """Compute with `threads` intra-op threads (None or 0: `default_threads(processes)`); return the count in use.

    The inter-op pool can be sized once per process, before any parallel work: it is set to one thread when it still
    can be, and left as it is otherwise.
    """
    import torch

    check_threads(threads or None)
    count = threads or default_threads(processes)
    torch.set_num_threads(count)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set, or parallel work has run in this process
        pass
    return count
