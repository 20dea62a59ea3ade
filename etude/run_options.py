"""How a run executes, apart from what the model is.

`device`, `num_workers`, `threads`, `precision`, `deterministic`, `compile`, `testing` and `trackers` change how fast a run goes and where,
not what it learns (up to floating-point rounding), so they are kept out of the hyperparameters: a run trained on a
GPU resumes or loads on a CPU without overrides, exports' `hyperparameters` never record them, and a sweep never ranks
them. They are set from the same YAML file and command line as the hyperparameters, with the same checks and
errors, and recorded in each export's `run_info` and in `summary.json`.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Literal

from .errors import ConfigError
from .parameters import NON_NEGATIVE, Settings

__all__ = ['RunOptions']


@dataclasses.dataclass(kw_only=True)
class RunOptions(Settings):
    """Execution settings of one run (see the module docstring for why they are not hyperparameters)."""

    device: str = 'auto'
    """auto (CUDA, else Apple MPS, else the CPU), cpu, cuda, cuda:N or mps; under torchrun each process takes cuda:LOCAL_RANK."""
    num_workers: Annotated[int, NON_NEGATIVE] = 0
    """DataLoader worker processes per training process (0 loads in the training process)."""
    precision: Literal['fp32', 'bf16', 'fp16'] = 'fp32'
    """Autocast precision of forward passes and losses: bf16 (CPU or GPU) or fp16 (CUDA, with a gradient scaler)."""
    deterministic: bool = True
    """torch's deterministic algorithms for the run (restored afterwards); off lets cuDNN benchmark its kernels."""
    threads: Annotated[int, NON_NEGATIVE] = 0
    """torch's CPU threads per process; 0: OMP_NUM_THREADS if set, else the cores this process may use (shared among torchrun's processes)."""
    compile: bool = False
    """Compile the model with torch.compile before training."""
    testing: bool = False
    """Smoke run: the routine's small testing defaults (a small dataset, two epochs), unless set explicitly."""
    backend: Literal['auto', 'gloo', 'nccl'] = 'auto'
    """torch.distributed backend under torchrun: auto takes nccl on CUDA and gloo on the CPU."""
    trackers: tuple[Literal['wandb', 'mlflow', 'tensorboard'], ...] = ()
    """Where the run is also recorded, beside its folder: e.g. [mlflow, tensorboard] (the command line's --tracker adds to them)."""

    def validate(self) -> None:
        if self.backend == 'nccl' and self.device in ('cpu', 'mps'):
            raise ConfigError(f'backend nccl needs CUDA devices, but device is {self.device}; use backend=gloo or auto')
