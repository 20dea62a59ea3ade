"""One seed for Python, NumPy, torch and DataLoader workers, and RNG snapshots for exact resume.

Snapshots hold only tensors, ints and lists so a checkpoint containing them still loads with
`torch.load(weights_only=True)`.
"""

import contextlib
import os
import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

__all__ = ['capture_rng_state', 'deterministic_settings', 'restore_rng_state', 'seed_everything', 'seed_worker']

CUBLAS_VARIABLE = 'CUBLAS_WORKSPACE_CONFIG'


def seed_everything(seed: int) -> None:
    """Seed every generator a training run draws from (Python's, NumPy's legacy global one, torch's CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@contextlib.contextmanager
def deterministic_settings(enabled: bool, device: torch.device) -> Iterator[None]:
    """torch's deterministic mode for the block (a run), with the previous process-wide settings restored after it.

    On: deterministic algorithms (an op without a deterministic implementation raises, rather than silently varying),
    cuDNN's deterministic kernels and, on CUDA, the cuBLAS workspace setting its deterministic mode needs. Off:
    cuDNN may benchmark and pick the fastest kernels. Either way a notebook's later code sees its own settings again.
    """
    previous = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
                torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic, os.environ.get(CUBLAS_VARIABLE))
    try:
        if enabled:
            if device.type == 'cuda' and CUBLAS_VARIABLE not in os.environ:
                os.environ[CUBLAS_VARIABLE] = ':4096:8'
            torch.use_deterministic_algorithms(True)
            torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = False, True
        else:
            torch.use_deterministic_algorithms(False)
            torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = True, False
        yield
    finally:
        algorithms, warn_only, benchmark, cudnn_deterministic, cublas = previous
        torch.use_deterministic_algorithms(algorithms, warn_only=warn_only)
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = benchmark, cudnn_deterministic
        if cublas is None:
            os.environ.pop(CUBLAS_VARIABLE, None)
        else:
            os.environ[CUBLAS_VARIABLE] = cublas


def seed_worker(worker_id: int) -> None:
    """`worker_init_fn` for DataLoader: torch seeds each worker, so derive NumPy's and Python's seeds from it."""
    worker_seed = torch.initial_seed() % 2**32
    np.random.seed(worker_seed)
    random.seed(worker_seed)


def capture_rng_state() -> dict[str, Any]:
    """The state of every global generator, as checkpoint-safe values."""
    numpy_state: tuple[Any, ...] = np.random.get_state(legacy=True)  # type: ignore[assignment]
    python_version, python_internal, python_gauss = random.getstate()
    state: dict[str, Any] = {
        'python': [python_version, list(python_internal), python_gauss],
        'numpy': {
            'keys': torch.from_numpy(np.asarray(numpy_state[1], dtype=np.int64)),
            'position': int(numpy_state[2]),
            'has_gauss': int(numpy_state[3]),
            'cached_gaussian': float(numpy_state[4]),
        },
        'torch': torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Undo `capture_rng_state`: the run continues drawing the numbers it would have drawn."""
    python_version, python_internal, python_gauss = state['python']
    random.setstate((python_version, tuple(python_internal), python_gauss))
    numpy_state = state['numpy']
    np.random.set_state((
        'MT19937',
        numpy_state['keys'].numpy().astype(np.uint32),
        numpy_state['position'],
        numpy_state['has_gauss'],
        numpy_state['cached_gaussian'],
    ))
    torch.set_rng_state(state['torch'])
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state['cuda'])
