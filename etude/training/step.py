"""The one place where an optimisation step's mechanics live: precision, accumulation, clipping, schedules, DDP.

A model's `training_step(batch, step)` computes its losses and hands them to the `Step`:

    with step.autocast():
        loss = self.loss(step.model(inputs), targets)
    step.backward(loss)
    step.update()

`backward` scales the loss for accumulation (and for fp16's gradient scaler), `update` runs only at the end of an
accumulation window: it averages gradients across torchrun processes, unscales, clips, skips the update when the
window's loss was NaN or infinite (stopping the run after `nonfinite_patience` such windows in a row), steps the
optimisers and the learning-rate schedules, and clears the gradients. A model with several optimisers (a GAN) calls
`backward` and `update([optimiser])` for each; it gets all of this without writing it (SpeechBrain's recipes once
copied `fit_batch` into each of many recipes; Lightning calls its version `manual_backward`).

Schedules follow the hyperparameters: `cosine` and `onecycle` over every update of the run, `step` every
`lr_step_epochs` epochs, `plateau` on the monitored metric at the end of each epoch, each after an optional linear
warm-up of `warmup_steps` updates. Their state, the scaler's and the counters are in `state_dict()`, which `last.pt`
keeps, so a resumed run continues the same curve.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch

from ..errors import ConfigError
from .distributed import Distributed

if TYPE_CHECKING:
    from ..parameters import Parameters

__all__ = ['Diverged', 'Step']

AUTOCAST_DTYPES = {'bf16': torch.bfloat16, 'fp16': torch.float16}


class Diverged(ConfigError):
    """The loss was NaN or infinite for `nonfinite_patience` updates in a row."""


class Step:
    """Owns the optimisers' updates for one run; the Routine calls `start_batch`/`end_batch` around each training step."""

    def __init__(
        self,
        model: torch.nn.Module,
        optimisers: Sequence[torch.optim.Optimizer],
        parameters: Parameters,
        *,
        device: torch.device,
        precision: str = 'fp32',
        updates_per_epoch: int = 1,
        distributed: Distributed | None = None,
    ) -> None:
        if precision == 'fp16' and device.type != 'cuda':
            raise ConfigError(f'precision fp16 needs a CUDA device (this run is on {device.type}); use precision=bf16 or fp32')
        self.model = model
        self.optimisers = list(optimisers)
        self.parameters = parameters
        self.device = device
        self.precision = precision
        self.distributed = distributed or Distributed()
        self.updates_per_epoch = max(1, updates_per_epoch)
        self.scaler = torch.amp.GradScaler('cuda') if precision == 'fp16' else None
        self.per_update, self.per_epoch = self._build_schedules()
        self.batch_in_window = 0
        self.updating = True
        self.updates = 0
        self.skipped_updates = 0
        self.nonfinite_in_a_row = 0
        self._window_loss = torch.zeros((), device=device)

    # -- what a training step calls ---------------------------------------------------------------------------------

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        """Forward passes and losses in the run's precision (a no-op at fp32)."""
        if self.precision == 'fp32':
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=AUTOCAST_DTYPES[self.precision])

    def backward(self, loss: torch.Tensor, **backward_arguments: Any) -> None:
        """Accumulate the gradients of `loss` (a scalar), scaled for accumulation and for fp16."""
        self._window_loss = self._window_loss + loss.detach()  # NaN and infinity survive a sum: one check per update
        scaled = loss / self.parameters.accumulate_batches if self.parameters.accumulate_batches > 1 else loss
        if self.scaler is not None:
            scaled = self.scaler.scale(scaled)
        scaled.backward(**backward_arguments)

    def update(self, optimisers: Sequence[torch.optim.Optimizer] | None = None) -> bool:
        """At the end of an accumulation window, update `optimisers` (default: all); True when an update was made."""
        if not self.updating:
            return False
        chosen = list(optimisers) if optimisers is not None else self.optimisers
        parameters = [parameter for optimiser in chosen for group in optimiser.param_groups for parameter in group['params']]
        self.distributed.average_gradients(parameters)
        finite = torch.isfinite(self._window_loss)
        if self.parameters.gradient_clip > 0:
            if self.scaler is not None:
                for optimiser in chosen:
                    self.scaler.unscale_(optimiser)
            norm = torch.nn.utils.clip_grad_norm_(parameters, self.parameters.gradient_clip)
            if self.scaler is None:  # with fp16 an overflow is the scaler's to handle: it skips and lowers its scale
                finite = finite & torch.isfinite(norm)
        if self.distributed.active:  # every process must make the same decision
            finite = self.distributed.sum(finite.to(torch.float32)) == self.distributed.world_size
        if not bool(finite):  # the one host sync per update; GradScaler.step makes the same one
            self._skip(chosen)
            return False
        self.nonfinite_in_a_row = 0
        for optimiser in chosen:
            if self.scaler is not None:
                self.scaler.step(optimiser)
            else:
                optimiser.step()
        if self.scaler is not None:
            self.scaler.update()
        for optimiser in chosen:
            optimiser.zero_grad(set_to_none=True)
            for scheduler in self.per_update.get(id(optimiser), ()):
                scheduler.step()
        return True

    # -- what the Routine calls -------------------------------------------------------------------------------------

    def start_batch(self, is_last_of_epoch: bool) -> None:
        """Before a training step: does this batch close an accumulation window (the last batch of an epoch always does)?"""
        self.updating = is_last_of_epoch or (self.batch_in_window + 1) % self.parameters.accumulate_batches == 0

    def end_batch(self) -> None:
        if self.updating:
            self.batch_in_window = 0
            self.updates += 1
            self._window_loss = torch.zeros((), device=self.device)
        else:
            self.batch_in_window += 1

    def end_epoch(self, monitored: float) -> None:
        """Epoch-wise schedules: the plateau schedule reads the monitored validation metric."""
        for scheduler in self.per_epoch:
            scheduler.step(monitored)

    @property
    def learning_rate(self) -> float:
        return float(self.optimisers[0].param_groups[0]['lr']) if self.optimisers else float('nan')

    def state_dict(self) -> dict[str, Any]:
        return {
            'per_update': [_position(scheduler) for optimiser in self.optimisers for scheduler in self.per_update.get(id(optimiser), ())],
            'per_epoch': [scheduler.state_dict() for scheduler in self.per_epoch],
            'scaler': self.scaler.state_dict() if self.scaler is not None else None,
            'updates': self.updates,
            'skipped_updates': self.skipped_updates,
            'nonfinite_in_a_row': self.nonfinite_in_a_row,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a saved step. Schedules are rebuilt from the current hyperparameters first, so a run extended with
        a larger num_of_epochs continues on the curve of the new length from the same update count."""
        schedulers = [scheduler for optimiser in self.optimisers for scheduler in self.per_update.get(id(optimiser), ())]
        for scheduler, saved in zip(schedulers, state.get('per_update', []), strict=False):
            # only the position on the curve: the curve itself (its length) comes from today's hyperparameters
            for key, value in saved.items():
                setattr(scheduler, key, value)
            # the warm-up of the plateau schedule leaves the rate to the plateau once over: the rate the optimiser's
            # state restored (with the plateau's cuts) is the one to continue with
            if isinstance(scheduler, torch.optim.lr_scheduler.LambdaLR) and not isinstance(scheduler, WarmupOnly):
                for group, base, curve in zip(scheduler.optimizer.param_groups, scheduler.base_lrs, scheduler.lr_lambdas, strict=True):
                    group['lr'] = base * curve(scheduler.last_epoch)
            elif isinstance(scheduler, torch.optim.lr_scheduler.OneCycleLR):
                steps_counted = scheduler._step_count
                scheduler.last_epoch -= 1
                scheduler.step()  # the rate (and momentum) at the restored position, on the cycle of today's length
                scheduler._step_count = steps_counted
        for scheduler, saved in zip(self.per_epoch, state.get('per_epoch', []), strict=False):
            scheduler.load_state_dict(saved)
        if self.scaler is not None and state.get('scaler') is not None:
            self.scaler.load_state_dict(state['scaler'])
        self.updates = int(state.get('updates', 0))
        self.skipped_updates = int(state.get('skipped_updates', 0))
        self.nonfinite_in_a_row = int(state.get('nonfinite_in_a_row', 0))

    # -- internals ----------------------------------------------------------------------------------------------------

    def _skip(self, optimisers: Sequence[torch.optim.Optimizer]) -> None:
        for optimiser in optimisers:
            optimiser.zero_grad(set_to_none=True)
            # the schedule follows the position in the run, so a skipped window moves it along too (a cosine still ends
            # at 0 on the last update, a step still falls on an epoch's edge); torch warns when the very first one is skipped
            with warnings.catch_warnings():
                warnings.filterwarnings('ignore', r'Detected call of `lr_scheduler\.step\(\)` before `optimizer\.step\(\)`')
                for scheduler in self.per_update.get(id(optimiser), ()):
                    scheduler.step()
        self.skipped_updates += 1
        self.nonfinite_in_a_row += 1
        if self.nonfinite_in_a_row >= self.parameters.nonfinite_patience:
            raise Diverged(
                f'Training diverged: the loss was NaN or infinite in {self.nonfinite_in_a_row} updates in a row (update {self.updates + 1}); '
                'lower learning_rate or set gradient_clip',
            )

    def _build_schedules(self) -> tuple[dict[int, list[Any]], list[Any]]:
        """Per-update schedulers by optimiser, and per-epoch ones, from `lr_schedule` and `warmup_steps`."""
        parameters = self.parameters
        kind, warmup = parameters.lr_schedule, parameters.warmup_steps
        total = self.updates_per_epoch * parameters.num_of_epochs
        per_update: dict[int, list[Any]] = {}
        per_epoch: list[Any] = []
        for optimiser in self.optimisers:
            if kind == 'onecycle':
                per_update[id(optimiser)] = [torch.optim.lr_scheduler.OneCycleLR(
                    optimiser, max_lr=[group['lr'] for group in optimiser.param_groups], total_steps=max(total, 2),
                    pct_start=min(warmup / total, 0.99) if warmup else 0.3,
                )]
            elif kind in ('none', 'cosine', 'step', 'plateau') and (kind != 'none' or warmup > 0):
                multiplier = LearningRateCurve(kind, warmup, total, self.updates_per_epoch, parameters.lr_step_epochs, parameters.lr_gamma)
                if kind != 'plateau' or warmup > 0:
                    scheduler = WarmupOnly(optimiser, multiplier) if kind == 'plateau' else torch.optim.lr_scheduler.LambdaLR(optimiser, multiplier)
                    per_update[id(optimiser)] = [scheduler]
            if kind == 'plateau':
                per_epoch.append(torch.optim.lr_scheduler.ReduceLROnPlateau(
                    optimiser, mode=parameters.monitor_mode, factor=parameters.lr_gamma, patience=parameters.lr_patience,
                ))
        return per_update, per_epoch


def _position(scheduler: Any) -> dict[str, Any]:
    """Where a per-update scheduler is on its curve (plain values: `last.pt` loads with weights_only)."""
    return {key: getattr(scheduler, key) for key in ('last_epoch', '_step_count', '_last_lr') if hasattr(scheduler, key)}


class LearningRateCurve:
    """The multiplier of the base learning rate after `update` updates: linear warm-up, then cosine decay to 0 over the
    rest of the run, or ×gamma every `step_epochs` epochs, or 1 (constant, or the plateau schedule's own)."""

    def __init__(self, kind: str, warmup: int, total: int, updates_per_epoch: int, step_epochs: int, gamma: float) -> None:
        self.kind, self.warmup, self.total = kind, warmup, total
        self.updates_per_epoch, self.step_epochs, self.gamma = updates_per_epoch, step_epochs, gamma

    def __call__(self, update: int) -> float:
        factor = min(1.0, (update + 1) / self.warmup) if self.warmup and update < self.warmup else 1.0
        if self.kind == 'cosine':
            progress = min(1.0, max(0.0, (update - self.warmup) / max(1, self.total - self.warmup)))
            factor *= 0.5 * (1.0 + math.cos(math.pi * progress))
        elif self.kind == 'step':
            factor *= self.gamma ** ((update // self.updates_per_epoch) // self.step_epochs)
        return factor


class WarmupOnly(torch.optim.lr_scheduler.LambdaLR):
    """A warm-up that stops setting the learning rate once it is over, so the plateau schedule can lower it after."""

    def __init__(self, optimiser: torch.optim.Optimizer, curve: LearningRateCurve) -> None:
        self.curve = curve
        super().__init__(optimiser, curve)

    def step(self, epoch: int | None = None) -> None:  # type: ignore[override]
        if self.last_epoch < self.curve.warmup:
            super().step()

