"""Data-parallel training under torchrun: who this process is, and the few collective operations a run needs.

    torchrun --standalone --nproc_per_node=2 -m etude train ROUTINE ...

`Distributed.from_environment()` reads torchrun's variables (RANK, WORLD_SIZE, LOCAL_RANK) and joins the process
group (NCCL on CUDA, gloo on the CPU); without them it is a single process and every operation is a no-op, so the
Routine's code is the same in both cases. Rank 0 is the main process: it alone writes the run directory, logs to
W&B and prints; the others follow its decisions, which are broadcast (the run id, the resolved hyperparameters,
including sweep values only rank 0 can see).

Gradients are averaged across processes in `Step.update`, once per optimiser update (not with a
DistributedDataParallel wrapper): this works for any `training_step` — several optimisers, submodules called one at
a time, a GAN — without routing forward passes through a wrapper, and steps that only accumulate gradients
communicate nothing, which is what DDP's `no_sync` achieves. The cost is that communication does not overlap the
backward pass; `benchmarks/distributed.py` measures its share.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import torch

from ..errors import ConfigError

__all__ = ['Distributed', 'launch_tag', 'restarted_run']

T = TypeVar('T')


@dataclass
class Distributed:
    """This process's place in a run: rank, world size, local rank (its GPU), and whether it owns a process group."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    initialised_here: bool = False

    @classmethod
    def from_environment(cls, backend: str = 'auto', device_type: str = 'cpu') -> Distributed:
        """The process torchrun started (joining its group), or a single process when torchrun did not start this one."""
        if 'RANK' not in os.environ or 'WORLD_SIZE' not in os.environ:
            return cls()
        try:
            rank, world_size, local_rank = int(os.environ['RANK']), int(os.environ['WORLD_SIZE']), int(os.environ.get('LOCAL_RANK', 0))
        except ValueError:
            raise ConfigError('RANK, WORLD_SIZE and LOCAL_RANK must be integers; start distributed runs with torchrun') from None
        if world_size <= 1:
            return cls(rank=0, world_size=1, local_rank=local_rank)
        import torch.distributed as dist

        if dist.is_initialized():
            return cls(rank=dist.get_rank(), world_size=dist.get_world_size(), local_rank=local_rank)
        chosen = ('nccl' if device_type == 'cuda' else 'gloo') if backend == 'auto' else backend
        if device_type == 'cuda':
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend=chosen, rank=rank, world_size=world_size, store=_attempt_store(world_size, rank))
        return cls(rank=rank, world_size=world_size, local_rank=local_rank, initialised_here=True)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1

    def barrier(self) -> None:
        if self.active:
            import torch.distributed as dist

            dist.barrier()

    def broadcast_object(self, value: T) -> T:
        """Rank 0's `value` on every rank (others pass anything, e.g. None)."""
        if not self.active:
            return value
        import torch.distributed as dist

        holder = [value if self.is_main else None]
        dist.broadcast_object_list(holder, src=0)
        return holder[0]  # type: ignore[return-value]

    def gather_objects(self, value: T) -> list[T]:
        """Every rank's `value`, in rank order, on every rank."""
        if not self.active:
            return [value]
        import torch.distributed as dist

        gathered: list[Any] = [None] * self.world_size
        dist.all_gather_object(gathered, value)
        return gathered

    def sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """The element-wise sum over ranks (in place, and returned)."""
        if self.active:
            import torch.distributed as dist

            dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor

    def average_gradients(self, parameters: Iterable[torch.nn.Parameter]) -> None:
        """Replace each gradient by its mean over ranks: one flattened all-reduce per dtype and device (few messages)."""
        if not self.active:
            return
        import torch.distributed as dist
        from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors

        buckets: dict[tuple[torch.dtype, torch.device], list[torch.Tensor]] = {}
        for parameter in parameters:
            if parameter.requires_grad:
                if parameter.grad is None:  # unused this step here, perhaps used on another rank: contribute zeros
                    parameter.grad = torch.zeros_like(parameter)
                buckets.setdefault((parameter.grad.dtype, parameter.grad.device), []).append(parameter.grad)
        for gradients in buckets.values():
            flat = _flatten_dense_tensors(gradients)
            dist.all_reduce(flat, op=dist.ReduceOp.SUM)
            flat /= self.world_size
            for gradient, averaged in zip(gradients, _unflatten_dense_tensors(flat, gradients), strict=True):
                gradient.copy_(averaged)

    def broadcast_module(self, module: torch.nn.Module) -> None:
        """Give every rank rank 0's parameters and buffers (BatchNorm statistics drift apart between ranks otherwise)."""
        if not self.active:
            return
        import torch.distributed as dist

        with torch.no_grad():
            for tensor in [*module.parameters(), *module.buffers()]:
                dist.broadcast(tensor.data, src=0)

    def close(self) -> None:
        if self.initialised_here:
            import torch.distributed as dist

            if dist.is_initialized():
                dist.destroy_process_group()
            self.initialised_here = False



def _attempt_store(world_size: int, rank: int) -> Any:
    """torchrun's key-value store, under a prefix of its own for each attempt (torchrun's restarts count them).

    With the default `env://` set-up, the gloo process group of a restarted attempt hung or failed to connect in 2
    of 3 trials here (torch 2.14, `--standalone --max-restarts=1`, reproduced without etude): it met the keys the failed
    attempt had left in the same store. A prefix per attempt gives every attempt a clean namespace.
    """
    import torch.distributed as dist

    if 'MASTER_ADDR' not in os.environ or 'MASTER_PORT' not in os.environ:
        return None
    hosted_by_agent = os.environ.get('TORCHELASTIC_USE_AGENT_STORE') == 'True'
    store = dist.TCPStore(os.environ['MASTER_ADDR'], int(os.environ['MASTER_PORT']), world_size, is_master=not hosted_by_agent and rank == 0)
    return dist.PrefixStore(f'etude/attempt-{os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")}', store)


def launch_tag() -> str | None:
    """A short tag of this torchrun launch (its rendezvous id), the same in every worker and after torchrun restarts them."""
    run_id = os.environ.get('TORCHELASTIC_RUN_ID')
    return hashlib.sha256(run_id.encode()).hexdigest()[:6] if run_id else None


def restarted_run(runs_directory: Path) -> Path | None:
    """The run this launch started, when torchrun has restarted its workers after a failure (`--max-restarts`).

    torchrun restarts a failed group with the same command line, which does not say `--resume`; the run's folder ends
    in the launch's tag, so the restarted workers find it and continue from its `last.pt` instead of starting over.
    """
    tag = launch_tag()
    if tag is None or int(os.environ.get('TORCHELASTIC_RESTART_COUNT', '0') or 0) == 0:
        return None
    candidates = sorted(path for path in runs_directory.glob(f'*-{tag}') if (path / 'checkpoints' / 'last.pt').is_file())
    return candidates[-1] if candidates else None
