"""The Step against hand-written loops: accumulation, clipping, precision, non-finite losses, several optimisers.

Every Routine run here trains a Linear model (no BatchNorm, no dropout), so a hand-written loop doing the same
arithmetic in the same order must end with the same weights bit for bit.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from pathlib import Path
from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from etude import Routine
from etude.errors import ConfigError
from etude.export import load_export
from etude.model import Model
from etude.parameters import Parameters
from etude.training.step import Diverged, Step

SEED = 0
SPLIT = {'train': list(range(20)), 'validation': list(range(20, 24)), 'test': list(range(24, 28))}  # 20 train items: 5 batches of 4


@dataclasses.dataclass(kw_only=True)
class LinearParameters(Parameters):
    features: int = 3
    """Inputs per item."""


class LinearModel(Model):
    """y = w·x + b: the smallest model whose updates a hand-written loop can reproduce exactly."""

    Parameters = LinearParameters

    def __init__(self, hyperparameters: LinearParameters) -> None:
        super().__init__(hyperparameters)
        self.linear = torch.nn.Linear(hyperparameters.features, 1)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """(batch, features) → (batch, 1)."""
        return self.linear(inputs)


def regression_data() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(7)
    inputs = torch.randn(28, 3, generator=generator)
    targets = inputs @ torch.tensor([[1.5], [-2.0], [0.5]]) + 0.1 * torch.randn(28, 1, generator=generator)
    return inputs, targets


def routine_run(tmp_path: Path, overrides: list[str], model_class: type[LinearModel] = LinearModel) -> tuple[Routine, dict[str, torch.Tensor], dict[str, Any]]:
    """A Routine run on the regression data; returns it, the initial weights and the summary."""
    routine = Routine(runs_directory=tmp_path / 'runs', verbose=False)
    parameters = routine.set_parameters(LinearParameters(), overrides=['device=cpu', 'batch_size=4', f'seed={SEED}', 'patience=50', *overrides])
    routine.set_dataset(TensorDataset(*regression_data()), split=SPLIT)
    model = model_class(parameters)
    initial = copy.deepcopy(model.state_dict())
    routine.set_model(model)
    return routine, initial, routine.train()


def hand_written_loop(initial: dict[str, torch.Tensor], parameters: LinearParameters, *, epochs: int, accumulate: int = 1, clip: float = 0.0,
                      autocast: bool = False) -> tuple[LinearModel, torch.optim.Optimizer, list[float]]:
    """The same training written out: the Routine's documented shuffle, loss/accumulate summed over a window, one step per window
    (a short window at the end of an epoch included). Returns the model, its optimiser and the gradient norms before clipping."""
    model = LinearModel(parameters)
    model.load_state_dict(initial)
    optimiser: torch.optim.Optimizer
    if parameters.optimiser == 'sgd':
        optimiser = torch.optim.SGD(model.parameters(), lr=parameters.learning_rate)
    else:
        optimiser = torch.optim.Adam(model.parameters(), lr=parameters.learning_rate)
    inputs, targets = regression_data()
    train = TensorDataset(inputs[SPLIT['train']], targets[SPLIT['train']])
    norms: list[float] = []
    for epoch in range(1, epochs + 1):
        model.train()
        order = torch.Generator().manual_seed(parameters.seed * 100_003 + epoch)
        batches = list(DataLoader(train, batch_size=parameters.batch_size, shuffle=True, generator=order))
        for start in range(0, len(batches), accumulate):
            for batch_inputs, batch_targets in batches[start:start + accumulate]:
                with torch.autocast('cpu', dtype=torch.bfloat16, enabled=autocast):
                    loss = torch.nn.functional.mse_loss(model(batch_inputs), batch_targets)
                (loss / accumulate if accumulate > 1 else loss).backward()
            norms.append(float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad) for p in model.parameters() if p.grad is not None]))))
            if clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            optimiser.step()
            optimiser.zero_grad()
    return model, optimiser, norms


def last_weights(routine: Routine) -> dict[str, torch.Tensor]:
    """The weights after the last epoch (the routine's model holds the best epoch's after testing)."""
    assert routine.run is not None
    return load_export(routine.run.last_checkpoint)['model_state_dict']


def assert_same_weights(routine: Routine, model: torch.nn.Module) -> None:
    trained = last_weights(routine)
    for name, tensor in model.state_dict().items():
        assert torch.equal(trained[name], tensor), name


def test_accumulation_equals_summed_half_losses_with_an_update_on_the_last_short_window(tmp_path: Path) -> None:
    """5 batches, accumulate 2: windows (1, 2), (3, 4), (5); the fifth batch updates alone instead of leaking into the next epoch."""
    routine, initial, _ = routine_run(tmp_path, ['accumulate_batches=2', 'num_of_epochs=2', 'learning_rate=0.05'])
    model, optimiser, _ = hand_written_loop(initial, routine.parameters, epochs=2, accumulate=2)  # type: ignore[arg-type]
    assert_same_weights(routine, model)
    assert routine.step is not None and routine.step.updates == 2 * 3
    assert routine.run is not None
    adam_steps = {float(state['step']) for state in load_export(routine.run.last_checkpoint)['optimiser_state_dicts'][0]['state'].values()}
    assert adam_steps == {6.0} == {float(state['step']) for state in optimiser.state_dict()['state'].values()}
    plain, _, _ = routine_run(tmp_path / 'plain', ['num_of_epochs=2', 'learning_rate=0.05'])
    assert not torch.equal(last_weights(plain)['linear.weight'], model.linear.weight), 'accumulation must change the updates'


def test_gradient_clipping_matches_clip_grad_norm(tmp_path: Path) -> None:
    overrides = ['optimiser=sgd', 'learning_rate=0.1', 'num_of_epochs=2']
    routine, initial, _ = routine_run(tmp_path, [*overrides, 'gradient_clip=0.5'])
    model, _, norms = hand_written_loop(initial, routine.parameters, epochs=2, clip=0.5)  # type: ignore[arg-type]
    assert max(norms) > 0.5, 'the clip must bite for this test to mean anything'
    assert_same_weights(routine, model)
    unclipped, _, _ = routine_run(tmp_path / 'unclipped', overrides)
    assert not torch.equal(last_weights(unclipped)['linear.weight'], model.linear.weight)


class AutocastProbe(LinearModel):
    """Records, at each forward, whether CPU autocast is on, its dtype and the output's dtype, in train and eval mode."""

    def __init__(self, hyperparameters: LinearParameters) -> None:
        super().__init__(hyperparameters)
        self.seen: list[tuple[bool, bool, torch.dtype, torch.dtype]] = []

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        outputs = self.linear(inputs)
        self.seen.append((self.training, torch.is_autocast_enabled('cpu'), torch.get_autocast_dtype('cpu'), outputs.dtype))
        return outputs


def test_bf16_on_the_cpu_trains_under_autocast(tmp_path: Path) -> None:
    routine, initial, summary = routine_run(tmp_path, ['num_of_epochs=2', 'learning_rate=0.05'], model_class=AutocastProbe)
    assert isinstance(routine.model, AutocastProbe)
    plain_seen = {entry[1:] for entry in routine.model.seen}
    assert plain_seen == {(False, torch.get_autocast_dtype('cpu'), torch.float32)}, 'fp32 runs without autocast'
    routine, initial, summary = routine_run(tmp_path / 'bf16', ['num_of_epochs=2', 'learning_rate=0.05', 'precision=bf16'], model_class=AutocastProbe)
    assert isinstance(routine.model, AutocastProbe)
    seen = routine.model.seen
    assert {mode for mode, *_ in seen} == {True, False}, 'both training and evaluation forwards were seen'
    assert {entry[1:] for entry in seen} == {(True, torch.bfloat16, torch.bfloat16)}
    model, _, _ = hand_written_loop(initial, routine.parameters, epochs=2, autocast=True)  # type: ignore[arg-type]
    assert_same_weights(routine, model)
    assert torch.isfinite(torch.tensor(summary['test']['loss']))
    assert not torch.equal(model.linear.weight, initial['linear.weight'])


def test_fp16_on_the_cpu_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match='fp16 needs a CUDA device') as raised:
        routine_run(tmp_path, ['num_of_epochs=1', 'precision=fp16'])
    assert '\n' not in str(raised.value)
    assert not any((tmp_path / 'runs').glob('*/checkpoints')), 'nothing was trained, so no run folder'


def make_step(model: torch.nn.Module, **values: Any) -> tuple[Step, torch.optim.Optimizer]:
    optimiser = torch.optim.SGD(model.parameters(), lr=0.1)
    return Step(model, [optimiser], Parameters(**values), device=torch.device('cpu')), optimiser


def one_window(step: Step, model: torch.nn.Module, inputs: torch.Tensor, factor: float) -> bool:
    step.start_batch(is_last_of_epoch=False)
    step.backward(model(inputs).square().mean() * factor)
    updated = step.update()
    step.end_batch()
    return updated


def test_non_finite_losses_skip_the_update_count_it_and_stop_after_patience() -> None:
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    step, _ = make_step(model, nonfinite_patience=3)
    inputs = torch.randn(4, 3)
    before = copy.deepcopy(model.state_dict())
    assert not one_window(step, model, inputs, float('nan'))
    assert all(torch.equal(before[name], tensor) for name, tensor in model.state_dict().items()), 'a skipped update changes nothing'
    assert all(parameter.grad is None for parameter in model.parameters()), 'the bad gradients are dropped, not carried into the next window'
    assert (step.skipped_updates, step.nonfinite_in_a_row) == (1, 1)
    assert one_window(step, model, inputs, 1.0)
    expected = {name: tensor.clone() for name, tensor in before.items()}
    by_hand = torch.nn.Linear(3, 1)
    by_hand.load_state_dict(expected)
    by_hand(inputs).square().mean().backward()
    torch.optim.SGD(by_hand.parameters(), lr=0.1).step()
    assert all(torch.equal(by_hand.state_dict()[name], tensor) for name, tensor in model.state_dict().items()), 'the next good window updates as usual'
    assert (step.skipped_updates, step.nonfinite_in_a_row) == (1, 0)
    assert not one_window(step, model, inputs, float('inf'))
    assert not one_window(step, model, inputs, float('nan'))
    with pytest.raises(Diverged, match='NaN or infinite in 3 updates in a row') as raised:
        one_window(step, model, inputs, float('nan'))
    assert isinstance(raised.value, ConfigError) and '\n' not in str(raised.value)
    assert step.skipped_updates == 4


class OneBadBatch(LinearModel):
    """Its loss is NaN on the second training batch of the run only, as one corrupt item would make it."""

    def __init__(self, hyperparameters: LinearParameters) -> None:
        super().__init__(hyperparameters)
        self.batches = 0

    def loss(self, predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        loss = super().loss(predictions, targets)
        if self.training:
            self.batches += 1
            if self.batches == 2:
                return loss * float('nan')
        return loss


def test_one_non_finite_batch_is_skipped_and_the_run_goes_on(tmp_path: Path) -> None:
    routine, initial, summary = routine_run(tmp_path, ['num_of_epochs=2', 'learning_rate=0.05'], model_class=OneBadBatch)
    assert summary['skipped_updates'] == 1
    assert routine.run is not None and [line['skipped_updates'] for line in routine.run.read_metrics()] == [1, 1]
    model = LinearModel(routine.parameters)  # type: ignore[arg-type]
    model.load_state_dict(initial)
    optimiser = torch.optim.Adam(model.parameters(), lr=0.05)
    inputs, targets = regression_data()
    train = TensorDataset(inputs[SPLIT['train']], targets[SPLIT['train']])
    for epoch in (1, 2):
        loader = DataLoader(train, batch_size=4, shuffle=True, generator=torch.Generator().manual_seed(SEED * 100_003 + epoch))
        for index, (batch_inputs, batch_targets) in enumerate(loader):
            if (epoch, index) == (1, 1):
                continue  # the skipped update: no step, so Adam's count does not move either
            torch.nn.functional.mse_loss(model(batch_inputs), batch_targets).backward()
            optimiser.step()
            optimiser.zero_grad()
    assert_same_weights(routine, model)


def test_a_nan_loss_every_update_stops_the_run_after_nonfinite_patience(tmp_path: Path) -> None:
    class AlwaysNaN(LinearModel):
        def loss(self, predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
            return super().loss(predictions, targets) * float('nan')

    with pytest.raises(Diverged, match='in 2 updates in a row .*lower learning_rate'):
        routine_run(tmp_path, ['num_of_epochs=2', 'nonfinite_patience=2'], model_class=AlwaysNaN)


@dataclasses.dataclass(kw_only=True)
class GanParameters(Parameters):
    noise: int = 2
    """Noise values per generated item."""
    features: int = 3
    """Values per real item."""


class ToyGan(Model):
    """A linear generator and a linear discriminator, each with its own optimiser, updated one after the other per batch."""

    Parameters = GanParameters

    def __init__(self, hyperparameters: GanParameters) -> None:
        super().__init__(hyperparameters)
        self.generator = torch.nn.Linear(hyperparameters.noise, hyperparameters.features)
        self.discriminator = torch.nn.Linear(hyperparameters.features, 1)

    def forward(self, noise: torch.Tensor) -> torch.Tensor:
        """(batch, noise) → generated (batch, features)."""
        return self.generator(noise)

    def configure_optimisers(self) -> list[torch.optim.Optimizer]:
        return [torch.optim.Adam(self.generator.parameters(), lr=0.01), torch.optim.Adam(self.discriminator.parameters(), lr=0.02)]

    def training_step(self, batch: Any, step: Step) -> dict[str, torch.Tensor]:
        generator_optimiser, discriminator_optimiser = self.optimisers
        discriminator_loss, generator_loss = gan_losses(self, batch, discriminator_phase=True), None
        step.backward(discriminator_loss)
        step.update([discriminator_optimiser])
        generator_loss = gan_losses(self, batch, discriminator_phase=False)
        step.backward(generator_loss)
        step.update([generator_optimiser])
        return {'loss': (discriminator_loss + generator_loss).detach()}


def gan_losses(model: ToyGan, batch: Any, *, discriminator_phase: bool) -> torch.Tensor:
    """The discriminator's loss on real vs detached fakes, or the generator's with the discriminator frozen."""
    noise, real = batch
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    if discriminator_phase:
        real_logits, fake_logits = model.discriminator(real), model.discriminator(model.generator(noise).detach())
        return bce(real_logits, torch.ones_like(real_logits)) + bce(fake_logits, torch.zeros_like(fake_logits))
    model.discriminator.requires_grad_(False)
    try:
        fake_logits = model.discriminator(model.generator(noise))
        return bce(fake_logits, torch.ones_like(fake_logits))
    finally:
        model.discriminator.requires_grad_(True)


def test_a_custom_step_with_two_optimisers_trains_like_its_hand_written_loop(tmp_path: Path) -> None:
    generator = torch.Generator().manual_seed(3)
    noise, real = torch.randn(28, 2, generator=generator), torch.randn(28, 3, generator=generator) + 2.0
    routine = Routine(runs_directory=tmp_path, verbose=False)
    parameters = routine.set_parameters(GanParameters(), overrides=['device=cpu', 'batch_size=4', 'num_of_epochs=2', 'gradient_clip=1.0'])
    routine.set_dataset(TensorDataset(noise, real), split=SPLIT)
    model = ToyGan(parameters)
    initial = copy.deepcopy(model.state_dict())
    routine.set_model(model)
    routine.train()

    by_hand = ToyGan(parameters)
    by_hand.load_state_dict(initial)
    generator_optimiser, discriminator_optimiser = by_hand.optimisers = by_hand.configure_optimisers()
    train = TensorDataset(noise[SPLIT['train']], real[SPLIT['train']])
    for epoch in (1, 2):
        for batch in DataLoader(train, batch_size=4, shuffle=True, generator=torch.Generator().manual_seed(0 * 100_003 + epoch)):
            for phase, optimiser in ((True, discriminator_optimiser), (False, generator_optimiser)):
                gan_losses(by_hand, batch, discriminator_phase=phase).backward()
                torch.nn.utils.clip_grad_norm_([p for group in optimiser.param_groups for p in group['params']], 1.0)
                optimiser.step()
                optimiser.zero_grad()
    trained = last_weights(routine)
    for name, tensor in by_hand.state_dict().items():
        assert torch.equal(trained[name], tensor), name
    assert not torch.equal(trained['discriminator.weight'], initial['discriminator.weight'])
    assert not torch.equal(trained['generator.weight'], initial['generator.weight'])
    saved = load_export(routine.run.last_checkpoint)['optimiser_state_dicts']  # type: ignore[union-attr]
    assert [float(next(iter(state['state'].values()))['step']) for state in saved] == [10.0, 10.0], 'each optimiser stepped once per batch'



def test_a_skipped_update_still_moves_the_schedule_along_the_run() -> None:
    """The schedule is a function of the position in the run (cosine reaches 0 at its end, step changes at epoch edges),
    so a window skipped for a NaN loss advances it as a made update does."""
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    optimiser = torch.optim.SGD(model.parameters(), lr=0.1)
    step = Step(model, [optimiser], Parameters(lr_schedule='cosine', num_of_epochs=1, nonfinite_patience=3), device=torch.device('cpu'),
                updates_per_epoch=6)
    inputs, rates = torch.randn(4, 3), []
    for factor in (float('nan'), 1.0, float('nan'), float('nan'), 1.0, 1.0):  # the first window skipped too
        rates.append(optimiser.param_groups[0]['lr'])
        one_window(step, model, inputs, factor)
    assert step.skipped_updates == 3
    assert rates == pytest.approx([0.1 * 0.5 * (1 + math.cos(math.pi * update / 6)) for update in range(6)], rel=1e-12)
    assert optimiser.param_groups[0]['lr'] == pytest.approx(0.0, abs=1e-15)
