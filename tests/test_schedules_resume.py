"""Learning-rate schedules against their closed forms, and exact resume with a schedule, accumulation and bf16 on.

The learning rate is observed where it acts: a model records its optimiser's rate at every update it makes, and the
routine logs the rate after each epoch in metrics.jsonl. Each expected curve is written out here from its definition.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch
from torch.utils.data import TensorDataset

from etude import Routine
from etude.export import load_export
from etude.model import Model
from etude.parameters import Parameters
from etude.training.routine import TrainingInterrupted
from etude.training.step import Step

BASE_RATE = 0.01
SPLIT = {'train': list(range(20)), 'validation': list(range(20, 24)), 'test': list(range(24, 28))}
BATCHES_PER_EPOCH = 5  # 20 train items in batches of 4


@dataclasses.dataclass(kw_only=True)
class SmallParameters(Parameters):
    hidden: int = 8
    """Hidden units of the two-layer network."""
    dropout: float = 0.25
    """Dropout after the hidden layer: its masks come from the global generator, which a resume must restore."""


class RateRecorder(Model):
    """A two-layer network that records the learning rate of each update it makes, and can stop itself like Ctrl-C."""

    Parameters = SmallParameters

    def __init__(self, hyperparameters: SmallParameters) -> None:
        super().__init__(hyperparameters)
        self.layers = torch.nn.Sequential(torch.nn.Linear(3, hyperparameters.hidden), torch.nn.ReLU(), torch.nn.Dropout(hyperparameters.dropout),
                                          torch.nn.Linear(hyperparameters.hidden, 1))
        self.rates: list[float] = []
        self.batches = 0
        self.interrupt_at_batch: int | None = None
        self.planned_validation_losses: list[float] | None = None

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """(batch, 3) → (batch, 1)."""
        return self.layers(inputs)

    def training_step(self, batch: Any, step: Step) -> dict[str, torch.Tensor]:
        if self.batches == self.interrupt_at_batch:
            raise KeyboardInterrupt  # what Ctrl-C raises, at the first batch of an epoch
        self.batches += 1
        if step.updating:
            self.rates.append(float(self.optimisers[0].param_groups[0]['lr']))
        return super().training_step(batch, step)

    def evaluation_step(self, batch: Any) -> dict[str, Any]:
        outputs = super().evaluation_step(batch)
        if self.planned_validation_losses is not None:  # the loss of epoch e (before the first: epoch 1's) as planned
            epoch = max(0, self.batches // BATCHES_PER_EPOCH - 1)
            outputs['loss'] = torch.tensor(self.planned_validation_losses[min(epoch, len(self.planned_validation_losses) - 1)])
        return outputs


def data() -> TensorDataset:
    generator = torch.Generator().manual_seed(11)
    inputs = torch.randn(28, 3, generator=generator)
    return TensorDataset(inputs, inputs.sum(1, keepdim=True).sin())


def run(runs: Path, overrides: list[str], *, resume: Path | None = None, interrupt_at_batch: int | None = None,
        planned_validation_losses: list[float] | None = None) -> tuple[Routine, RateRecorder]:
    routine = Routine(runs_directory=runs, resume=resume, verbose=False)
    parameters = routine.set_parameters(SmallParameters(), overrides=['device=cpu', 'batch_size=4', 'patience=50', f'learning_rate={BASE_RATE}', *overrides])
    routine.set_dataset(data(), split=SPLIT)
    model = RateRecorder(parameters)
    model.interrupt_at_batch, model.planned_validation_losses = interrupt_at_batch, planned_validation_losses
    routine.set_model(model)
    routine.train()
    return routine, model


def logged_rates(routine: Routine) -> list[float]:
    assert routine.run is not None
    return [line['learning_rate'] for line in routine.run.read_metrics()]


def cosine(update: int, warmup: int, total: int) -> float:
    """Linear warm-up over `warmup` updates, then 0.5 (1 + cos(pi t / T)) over the remaining T = total - warmup."""
    if update < warmup:
        return (update + 1) / warmup
    return 0.5 * (1 + math.cos(math.pi * (update - warmup) / (total - warmup)))


def test_cosine_after_warmup_follows_its_closed_form(tmp_path: Path) -> None:
    routine, model = run(tmp_path, ['num_of_epochs=3', 'lr_schedule=cosine', 'warmup_steps=2'])
    total = 3 * BATCHES_PER_EPOCH
    assert model.rates == pytest.approx([BASE_RATE * cosine(update, 2, total) for update in range(total)], rel=1e-12)
    assert logged_rates(routine) == pytest.approx([BASE_RATE * cosine(epoch * BATCHES_PER_EPOCH, 2, total) for epoch in (1, 2, 3)], rel=1e-12, abs=1e-15)
    assert logged_rates(routine)[-1] == pytest.approx(0.0, abs=1e-15), 'the cosine reaches 0 at the last update'


def test_cosine_counts_updates_not_batches_under_accumulation(tmp_path: Path) -> None:
    _, model = run(tmp_path, ['num_of_epochs=2', 'lr_schedule=cosine', 'accumulate_batches=2'])
    updates_per_epoch = math.ceil(BATCHES_PER_EPOCH / 2)
    total = 2 * updates_per_epoch
    assert model.rates == pytest.approx([BASE_RATE * cosine(update, 0, total) for update in range(total)], rel=1e-12)


def test_step_schedule_multiplies_by_gamma_every_lr_step_epochs(tmp_path: Path) -> None:
    routine, model = run(tmp_path, ['num_of_epochs=4', 'lr_schedule=step', 'lr_step_epochs=2', 'lr_gamma=0.5'])
    assert logged_rates(routine) == pytest.approx([BASE_RATE * 0.5 ** (epoch // 2) for epoch in (1, 2, 3, 4)], rel=1e-12)
    epochs_of_updates = [update // BATCHES_PER_EPOCH for update in range(4 * BATCHES_PER_EPOCH)]
    assert model.rates == pytest.approx([BASE_RATE * 0.5 ** (epoch // 2) for epoch in epochs_of_updates], rel=1e-12)


def test_warmup_alone_rises_linearly_then_holds(tmp_path: Path) -> None:
    _, model = run(tmp_path, ['num_of_epochs=2', 'warmup_steps=3'])
    assert model.rates == pytest.approx([BASE_RATE * min(1.0, (update + 1) / 3) for update in range(2 * BATCHES_PER_EPOCH)], rel=1e-12)


def one_cycle(update: int, total: int, warm_share: float, peak: float) -> float:
    """Cosine from peak/25 up to the peak over the warm share of the run, then down to peak/25/1e4 (one-cycle's defaults)."""
    start, low = peak / 25, peak / 25 / 1e4
    rise_end, fall_end = warm_share * total - 1, total - 1

    def between(high: float, end: float, share: float) -> float:
        return end + (high - end) / 2 * (1 + math.cos(math.pi * share))

    if update <= rise_end:
        return between(start, peak, update / rise_end)
    return between(peak, low, (update - rise_end) / (fall_end - rise_end))


@pytest.mark.parametrize('warmup', [0, 4])
def test_onecycle_rises_over_warmup_and_anneals_over_the_run(tmp_path: Path, warmup: int) -> None:
    _, model = run(tmp_path, ['num_of_epochs=3', 'lr_schedule=onecycle', f'warmup_steps={warmup}'])
    total = 3 * BATCHES_PER_EPOCH
    share = warmup / total if warmup else 0.3
    assert model.rates == pytest.approx([one_cycle(update, total, share, BASE_RATE) for update in range(total)], rel=1e-9)
    assert max(model.rates) <= BASE_RATE * (1 + 1e-12)
    if warmup:
        assert model.rates[warmup - 1] == pytest.approx(BASE_RATE, rel=1e-12), 'the peak comes at the end of the warm-up'


def test_plateau_lowers_the_rate_after_lr_patience_epochs_without_improvement(tmp_path: Path) -> None:
    losses = [3.0, 2.0, 2.0, 2.0, 1.0, 1.0, 1.0]
    routine, model = run(tmp_path, ['num_of_epochs=7', 'lr_schedule=plateau', 'lr_patience=1', 'lr_gamma=0.5', 'warmup_steps=2'],
                         planned_validation_losses=losses)
    expected, rate, best, bad = [], BASE_RATE, math.inf, 0
    for loss in losses:  # torch's rule: lower once more than lr_patience epochs in a row brought no (relative 1e-4) improvement
        if loss < best * (1 - 1e-4):
            best, bad = loss, 0
        else:
            bad += 1
        if bad > 1:
            rate, bad = rate * 0.5, 0
        expected.append(rate)
    assert expected[-1] < BASE_RATE, 'the plan must make the schedule act'
    assert logged_rates(routine) == pytest.approx(expected, rel=1e-12)
    assert model.rates[:2] == pytest.approx([BASE_RATE / 2, BASE_RATE], rel=1e-12), 'warm-up first'
    assert model.rates[-1] == pytest.approx(expected[-2], rel=1e-12), 'the warm-up does not undo a plateau cut'


def every_tensor(value: Any, path: str = '') -> dict[str, torch.Tensor]:
    """Every tensor inside a checkpoint, by its path of keys."""
    if isinstance(value, torch.Tensor):
        return {path: value}
    found: dict[str, torch.Tensor] = {}
    if isinstance(value, dict):
        for key, item in value.items():
            found.update(every_tensor(item, f'{path}/{key}'))
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found.update(every_tensor(item, f'{path}/{index}'))
    return found


def metrics_lines(routine: Routine) -> list[dict[str, Any]]:
    assert routine.run is not None
    lines = [json.loads(line) for line in (routine.run.path / 'metrics.jsonl').read_text().splitlines()]
    return [{key: value for key, value in line.items() if key != 'seconds'} for line in lines]


@pytest.mark.parametrize('schedule', ['cosine', 'onecycle', 'step', 'plateau'])
def test_a_run_interrupted_after_epoch_2_resumes_to_the_same_bits(tmp_path: Path, schedule: str) -> None:
    """6 epochs with warm-up, accumulation and bf16, against the same run stopped by Ctrl-C at the first batch of epoch 3 and resumed."""
    settings = ['num_of_epochs=6', f'lr_schedule={schedule}', 'warmup_steps=2', 'accumulate_batches=2', 'precision=bf16',
                'lr_step_epochs=2', 'lr_patience=0', 'lr_gamma=0.5']
    straight, _ = run(tmp_path / 'straight', settings)
    with pytest.raises(TrainingInterrupted, match='holds epoch 2') as interrupted:
        run(tmp_path / 'resumed', settings, interrupt_at_batch=2 * BATCHES_PER_EPOCH)
    resumed, _ = run(tmp_path / 'resumed', settings, resume=interrupted.value.run_directory)
    assert resumed.run is not None and straight.run is not None and resumed.run.path == interrupted.value.run_directory

    straight_last, resumed_last = load_export(straight.run.last_checkpoint), load_export(resumed.run.last_checkpoint)
    straight_tensors, resumed_tensors = every_tensor(straight_last), every_tensor(resumed_last)
    assert straight_tensors.keys() == resumed_tensors.keys()
    assert any(path.startswith('/optimiser_state_dicts') for path in straight_tensors)
    assert any(path.startswith('/resume_state/rng') for path in straight_tensors)
    for path, tensor in straight_tensors.items():
        assert torch.equal(tensor, resumed_tensors[path]), path
    straight_state, resumed_state = straight_last['resume_state'], resumed_last['resume_state']
    assert straight_state is not None and resumed_state is not None
    assert straight_state['step'] == resumed_state['step'] and straight_state['early_stopping'] == resumed_state['early_stopping']
    assert straight_last['optimiser_state_dicts'][0]['param_groups'] == resumed_last['optimiser_state_dicts'][0]['param_groups']
    assert metrics_lines(straight) == metrics_lines(resumed)
    assert len(metrics_lines(straight)) == 6 and len({line['learning_rate'] for line in metrics_lines(straight)}) > 1
    straight_summary, resumed_summary = straight.run.read_summary(), resumed.run.read_summary()
    assert straight_summary is not None and resumed_summary is not None
    assert straight_summary['test'] == resumed_summary['test'] and straight_summary['best_epoch'] == resumed_summary['best_epoch']


def test_extending_a_finished_cosine_run_recomputes_the_curve_for_the_new_length(tmp_path: Path) -> None:
    """A cosine over 2 epochs ends at 0; resumed with num_of_epochs=4 it continues from update 10 on the 4-epoch curve."""
    first, _ = run(tmp_path, ['num_of_epochs=2', 'lr_schedule=cosine', 'warmup_steps=2'])
    first_rates = logged_rates(first)
    assert first_rates[-1] == pytest.approx(0.0, abs=1e-15)
    assert first.run is not None
    extended, model = run(tmp_path, ['num_of_epochs=4'], resume=first.run.path)
    total = 4 * BATCHES_PER_EPOCH
    done = 2 * BATCHES_PER_EPOCH
    assert model.rates == pytest.approx([BASE_RATE * cosine(update, 2, total) for update in range(done, total)], rel=1e-12)
    rates = logged_rates(extended)
    assert rates[:2] == pytest.approx(first_rates, abs=1e-15), 'the epochs already trained keep their record'
    assert rates[2:] == pytest.approx([BASE_RATE * cosine(3 * BATCHES_PER_EPOCH, 2, total), 0.0], rel=1e-12, abs=1e-15)


def test_extending_a_finished_onecycle_run_continues_on_the_longer_cycle(tmp_path: Path) -> None:
    first, _ = run(tmp_path, ['num_of_epochs=2', 'lr_schedule=onecycle'])
    assert first.run is not None
    _, model = run(tmp_path, ['num_of_epochs=4'], resume=first.run.path)
    total = 4 * BATCHES_PER_EPOCH
    assert model.rates == pytest.approx([one_cycle(update, total, 0.3, BASE_RATE) for update in range(2 * BATCHES_PER_EPOCH, total)], rel=1e-9)
