"""The mel-spectrogram CNN is sized by its hyperparameters alone, builds without side effects, and learns."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

from etude.errors import ConfigError, DatasetError
from etude.metrics import Classification
from etude.models import MelCNN


def small(**values: object) -> MelCNN.Parameters:
    return MelCNN.Parameters.from_dict({'n_mels': 20, 'frames': 24, 'classes': 4, 'channels': [4, 8], 'kernel_sizes': [3, 5],
                                        'pool_sizes': [2, 2], 'hidden_units': 16, **values})


def probe_width(model: MelCNN) -> int:
    """What shape arithmetic must agree with: the flattened size of a batch actually run through the blocks."""
    copy = MelCNN(model.hyperparameters).eval()
    with torch.no_grad():
        return int(copy.blocks(torch.zeros(1, 1, model.hyperparameters.n_mels, model.hyperparameters.frames)).numel())


@pytest.mark.parametrize('values', [
    {},
    {'n_mels': 64, 'frames': 32, 'channels': [8, 16, 32], 'kernel_sizes': [3, 3, 3], 'pool_sizes': [2, 2, 2]},
    {'n_mels': 41, 'frames': 17, 'pool_sizes': [3, 2], 'pooling': 'average', 'batch_norm': False, 'hidden_units': 0},
    {'n_mels': 7, 'frames': 100, 'channels': [5], 'kernel_sizes': [7], 'pool_sizes': [1]},
])
def test_shape_arithmetic_sizes_the_classifier(values: dict[str, object]) -> None:
    model = MelCNN(small(**values))
    first_linear = next(layer for layer in model.head if isinstance(layer, torch.nn.Linear))
    assert first_linear.in_features == probe_width(model)
    inputs = torch.randn(3, model.hyperparameters.n_mels, model.hyperparameters.frames)
    assert model(inputs).shape == (3, model.hyperparameters.classes)


def test_construction_draws_nothing_and_leaves_batch_norm_untouched() -> None:
    torch.manual_seed(123)
    before = torch.get_rng_state()
    model = MelCNN(small())
    assert torch.equal(torch.get_rng_state(), before), 'building a model must not shift the run\'s random stream'
    norms = [module for module in model.modules() if isinstance(module, torch.nn.BatchNorm2d)]
    assert len(norms) == 2
    for norm in norms:
        mean, variance, count = norm.running_mean, norm.running_var, norm.num_batches_tracked
        assert mean is not None and variance is not None and count is not None
        assert torch.equal(mean, torch.zeros_like(mean)) and torch.equal(variance, torch.ones_like(variance)) and int(count) == 0


def test_initial_weights_follow_the_seed_only() -> None:
    first, second = MelCNN(small(seed=3)), (torch.manual_seed(999), MelCNN(small(seed=3)))[1]
    for (name, a), (_, b) in zip(first.state_dict().items(), second.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    first_weights, other_weights = first.state_dict(), MelCNN(small(seed=4)).state_dict()
    assert not torch.equal(first_weights['blocks.0.convolution.weight'], other_weights['blocks.0.convolution.weight'])


def classification_metric(model: MelCNN) -> Classification:
    return Classification(num_classes=model.hyperparameters.classes)


def accuracy_of(model: MelCNN, logits: torch.Tensor, targets: torch.Tensor) -> float:
    metric = classification_metric(model)
    metric.update(logits, targets)
    return metric.compute()['accuracy']


def test_loss_and_split_metrics_match_independent_computations() -> None:
    model = MelCNN(small(label_smoothing=0.0))
    logits = torch.tensor([[2.0, 0.5, -1.0, 0.0], [0.1, 0.2, 3.0, -0.5], [1.0, 1.5, 0.0, 0.2], [0.0, 0.1, 0.2, 0.3]])
    targets = torch.tensor([0, 1, 1, 3])
    values = logits.numpy().astype(np.float64)
    log_probabilities = values - np.log(np.exp(values).sum(axis=1, keepdims=True))
    assert float(model.loss(logits, targets)) == pytest.approx(-log_probabilities[np.arange(4), targets.numpy()].mean(), rel=1e-6)
    metric = classification_metric(model)
    for half in (slice(0, 2), slice(2, 4)):  # two batches of one split
        metric.update(logits[half], targets[half])
    figures, predicted = metric.compute(), values.argmax(axis=1)
    assert figures['accuracy'] == pytest.approx(accuracy_score(targets.numpy(), predicted))
    seen = sorted(set(targets.tolist()) | set(predicted.tolist()))
    assert figures['macro_f1'] == pytest.approx(f1_score(targets.numpy(), predicted, average='macro', labels=seen))
    assert np.array_equal(metric.confusion, confusion_matrix(targets.numpy(), predicted, labels=range(4)))


def test_hyperparameters_parse_from_text_and_round_trip() -> None:
    parameters = MelCNN.Parameters().override_strings(['channels=[8, 16]', 'kernel_sizes=[3, 5]', 'pool_sizes=[2, 4]', 'pooling=average'])
    assert parameters.channels == (8, 16) and parameters.pool_sizes == (2, 4) and parameters.pooling == 'average'
    as_lists = {key: list(value) if isinstance(value, tuple) else value for key, value in parameters.to_dict().items()}  # as YAML/JSON hold them
    assert MelCNN.Parameters.from_dict(as_lists) == parameters


@pytest.mark.parametrize(('values', 'message'), [
    ({'kernel_sizes': [3]}, 'kernel_sizes has 1 entries but channels has 2'),
    ({'pool_sizes': [2, 2, 2]}, 'pool_sizes has 3 entries but channels has 2'),
    ({'kernel_sizes': [3, 4]}, 'kernel_sizes must be odd'),
    ({'channels': []}, 'channels must list at least one block'),
    ({'channels': [4, 0]}, 'channels and pool_sizes must be at least 1'),
    ({'pool_sizes': [4, 8]}, 'shrink the 20 x 24 input to nothing at block 2'),
    ({'classes': 1}, 'classes must be at least 2'),
    ({'dropout': 1.0}, r'dropout must be in \[0, 1\)'),
    ({'n_mels': 0}, 'n_mels must be at least 1'),
])
def test_bad_conv_stacks_are_one_line_config_errors(values: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        small(**values)
    assert '\n' not in str(caught.value)


def test_input_size_comes_from_dataset_metadata() -> None:
    metadata = {'input_shape': [40, 63], 'classes': {'digit': [str(n) for n in range(10)], 'speaker': ['a', 'b', 'c']}}
    sized = MelCNN.Parameters().updated(MelCNN.input_hyperparameters(metadata, 'speaker'), source='dataset metadata')
    assert (sized.n_mels, sized.frames, sized.classes) == (40, 63, 3)
    assert MelCNN(sized)(torch.zeros(2, 40, 63)).shape == (2, 3)
    with pytest.raises(DatasetError, match="no class label 'colour'"):
        MelCNN.input_hyperparameters(metadata, 'colour')
    with pytest.raises(DatasetError, match='use a mel or log_mel cache'):
        MelCNN.input_hyperparameters({'input_shape': [16000], 'classes': metadata['classes']}, 'digit')


def test_wrong_input_shape_is_refused() -> None:
    with pytest.raises(ValueError, match=r'expects \(batch, 20, 24\)'):
        MelCNN(small())(torch.zeros(2, 24, 20))


def test_it_learns_which_band_is_loud() -> None:
    """Four classes, each a different loud mel band in noise: a few dozen steps separate them."""
    generator = torch.Generator().manual_seed(0)
    targets = torch.randint(0, 4, (128,), generator=generator)
    inputs = torch.randn(128, 20, 24, generator=generator) * 0.5
    for index, target in enumerate(targets.tolist()):
        inputs[index, 5 * target: 5 * target + 3] += 2.0
    torch.manual_seed(0)
    model = MelCNN(small(dropout=0.0))
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    for step in range(60):
        batch = slice(32 * (step % 4), 32 * (step % 4 + 1))
        optimiser.zero_grad()
        model.loss(model(inputs[batch]), targets[batch]).backward()
        optimiser.step()
    model.eval()
    with torch.no_grad():
        assert accuracy_of(model, model(inputs), targets) > 0.95


def masked_inputs(model: MelCNN, inputs: torch.Tensor, updates: int) -> torch.Tensor:
    """What forward() sees in one real training step after `updates` updates (read with a forward pre-hook)."""
    from etude.training.step import Step

    seen: list[torch.Tensor] = []
    handle = model.register_forward_pre_hook(lambda module, arguments: seen.append(arguments[0].detach().clone()))
    step = Step(model, model.configure_optimisers(), model.hyperparameters, device=torch.device('cpu'))
    step.updates = updates
    step.start_batch(is_last_of_epoch=True)
    model.training_step((inputs, torch.zeros(len(inputs), dtype=torch.int64)), step)
    handle.remove()
    return seen[0]


def test_masking_is_switched_by_hyperparameters_and_seeded_by_the_batchs_place() -> None:
    inputs = torch.randn(6, 20, 24) + 5.0  # no feature is 0, so every 0 seen is a mask
    plain = MelCNN(small())
    assert plain.augmentation is None and torch.equal(masked_inputs(plain, inputs, 0), inputs)
    model = MelCNN(small(time_masks=2, time_mask_width=5, frequency_masks=1, frequency_mask_width=4))
    assert all(isinstance(value, torch.Tensor) for value in model.state_dict().values()), 'exports hold tensors only'
    seen = masked_inputs(model, inputs, 3)
    masked = seen == 0
    assert masked.any() and torch.equal(seen[~masked], inputs[~masked])
    for example in masked:
        whole_rows = example.all(dim=1)  # frequency masks blank whole mel bands, time masks whole frames
        whole_columns = example.all(dim=0)
        assert torch.equal(example, whole_rows[:, None] | whole_columns[None, :])
        assert int(whole_rows.sum()) <= 4 and int(whole_columns.sum()) <= 2 * 5
    again = masked_inputs(MelCNN(model.hyperparameters), inputs, 3)
    assert torch.equal(again, seen), 'the same place in the run draws the same masks: a resumed run repeats them'
    assert not torch.equal(masked_inputs(MelCNN(model.hyperparameters), inputs, 4), seen)
    model.eval()
    with torch.no_grad():
        assert torch.equal(model.evaluation_step((inputs, torch.zeros(6, dtype=torch.int64)))['predictions'], model(inputs)), 'no masks outside training'
