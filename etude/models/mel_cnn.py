"""A 2-D convolutional classifier on log-mel spectrograms (seed 003's spoken-digit network, made general).

Seed 003 declared each convolution as a `ConvSpec` and then hard-coded the input shape and the dataset size, so a
change of clip length broke the model. Here the conv stack is a few typed hyperparameters (one entry per block in
`channels`, `kernel_sizes` and `pool_sizes`), and the input size (`n_mels`, `frames`) and `classes` are
hyperparameters too, which a routine fills from the feature cache's metadata. The classifier's width follows from
shape arithmetic on those values, never from running a batch through the network, so building a model draws no random
numbers from the run's stream and leaves every BatchNorm statistic at its initial value.

SpecAugment-style masking (`etude.data.augment.TimeMasking` / `FrequencyMasking`) is switched on by hyperparameters
and applied to training batches in `training_step`, on the device, never to validation or test batches. Its random
numbers come from a generator seeded by the hyperparameters' seed and the batch's position in the run (the Step's
update count), so a resumed run draws the same masks as an uninterrupted one without any state in the checkpoint.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import torch

from ..errors import ConfigError, DatasetError
from ..model import Batch, Model
from ..parameters import Parameters as BaseParameters

if TYPE_CHECKING:
    from ..data.augment import BatchAugmentation
    from ..training.step import Step

__all__ = ['MelCNN']


class MelBlock(torch.nn.Module):
    """Same-padded 2-D convolution → (batch norm) → ReLU → pooling → dropout.

    `(batch, in_channels, mels, frames)` → `(batch, out_channels, mels // pool, frames // pool)`.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, pool_size: int, pooling: str, batch_norm: bool,
                 dropout: float) -> None:
        super().__init__()
        # a bias before batch norm is cancelled by its mean subtraction, so it is left out there
        self.convolution = torch.nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=not batch_norm)
        self.normalisation = torch.nn.BatchNorm2d(out_channels) if batch_norm else torch.nn.Identity()
        pool = torch.nn.MaxPool2d if pooling == 'max' else torch.nn.AvgPool2d
        self.pool = pool(pool_size) if pool_size > 1 else torch.nn.Identity()
        self.dropout = torch.nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.pool(torch.relu(self.normalisation(self.convolution(x)))))


class MelCNN(Model):
    """Log-mel features `(batch, n_mels, frames)` → class logits `(batch, classes)`; loss is cross-entropy.

    Targets are class indices `(batch,)` int64. `metrics` reports accuracy, macro F1 and the confusion matrix over
    each whole split (`etude.metrics.Classification`).
    """

    @dataclass(kw_only=True)
    class Parameters(BaseParameters):
        n_mels: int = 64
        """Mel bands of the input; a routine sets it from the feature cache's input shape."""
        frames: int = 32
        """Frames of the input; a routine sets it from the feature cache's input shape."""
        classes: int = 10
        """Number of classes; a routine sets it from the feature cache's class list."""
        channels: tuple[int, ...] = (16, 32, 64)
        """Output channels of each convolution block (one entry per block)."""
        kernel_sizes: tuple[int, ...] = (3, 3, 3)
        """Odd square kernel size of each block's convolution (same padding keeps the size)."""
        pool_sizes: tuple[int, ...] = (2, 2, 2)
        """Square pooling window (and stride) after each block; 1 for none."""
        pooling: Literal['max', 'average'] = 'max'
        """Pooling kind after each block."""
        batch_norm: bool = True
        """Batch normalisation after each convolution."""
        dropout: float = 0.25
        """Dropout after each block and before each linear layer."""
        hidden_units: int = 64
        """Width of the hidden linear layer before the output; 0 for none."""
        label_smoothing: float = 0.0
        """Cross-entropy label smoothing."""
        time_masks: int = 0
        """SpecAugment time masks per training example (0: none); features should be standardised, as masks set 0."""
        time_mask_width: int = 8
        """Widest time mask, in frames."""
        frequency_masks: int = 0
        """SpecAugment frequency masks per training example (0: none)."""
        frequency_mask_width: int = 6
        """Widest frequency mask, in mel bands."""

        def validate(self) -> None:
            super().validate()
            for name in ('n_mels', 'frames'):
                if getattr(self, name) < 1:
                    raise ConfigError(f'{name} must be at least 1, got {getattr(self, name)}; it is the input shape of the features')
            if self.classes < 2:
                raise ConfigError(f'classes must be at least 2, got {self.classes}')
            if not self.channels:
                raise ConfigError('channels must list at least one block, e.g. [16, 32, 64]')
            for name in ('kernel_sizes', 'pool_sizes'):
                if len(getattr(self, name)) != len(self.channels):
                    raise ConfigError(f'{name} has {len(getattr(self, name))} entries but channels has {len(self.channels)}; give one per block')
            if min(self.channels) < 1 or min(self.pool_sizes) < 1:
                raise ConfigError(f'channels and pool_sizes must be at least 1, got {list(self.channels)} and {list(self.pool_sizes)}')
            if any(size < 1 or size % 2 == 0 for size in self.kernel_sizes):
                raise ConfigError(f'kernel_sizes must be odd and positive (same padding), got {list(self.kernel_sizes)}')
            if not 0.0 <= self.dropout < 1.0:
                raise ConfigError(f'dropout must be in [0, 1), got {self.dropout}')
            if self.hidden_units < 0:
                raise ConfigError(f'hidden_units must be 0 (no hidden layer) or positive, got {self.hidden_units}')
            if not 0.0 <= self.label_smoothing < 1.0:
                raise ConfigError(f'label_smoothing must be in [0, 1), got {self.label_smoothing}')
            for name in ('time_masks', 'time_mask_width', 'frequency_masks', 'frequency_mask_width'):
                if getattr(self, name) < 0:
                    raise ConfigError(f'{name} must be 0 or more, got {getattr(self, name)}')
            feature_map_shape(self)

    hyperparameters: MelCNN.Parameters
    augmentation: BatchAugmentation | None

    @staticmethod
    def input_hyperparameters(metadata: Mapping[str, Any], label: str) -> dict[str, int]:
        """`n_mels`, `frames` and `classes` read from a feature cache's metadata (its `input_shape` and the class list of
        `label`), for `routine.update_parameters(parameters, ..., source='dataset metadata')`: the model is sized by the data it trains on."""
        shape = list(metadata.get('input_shape', []))
        if len(shape) != 2:
            raise DatasetError(f'MelCNN needs (n_mels, frames) features, but the dataset holds inputs of shape {tuple(shape)}; use a mel or log_mel cache')
        class_lists = metadata.get('classes') or {}
        classes = class_lists.get(label)
        if not classes:
            raise DatasetError(f"The dataset has no class label '{label}' (class labels: {', '.join(class_lists) or 'none'}); name one of them")
        return {'n_mels': int(shape[0]), 'frames': int(shape[1]), 'classes': len(classes)}

    def __init__(self, hyperparameters: MelCNN.Parameters) -> None:
        super().__init__(hyperparameters)
        p = hyperparameters
        channels = (1, *p.channels)
        # initial weights from the hyperparameters' seed, on a forked generator: the same Parameters give the same
        # weights wherever the model is built, and building it never shifts the run's random stream
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(p.seed)
            self.blocks = torch.nn.Sequential(*(
                MelBlock(channels[i], channels[i + 1], p.kernel_sizes[i], p.pool_sizes[i], p.pooling, p.batch_norm, p.dropout)
                for i in range(len(p.channels))
            ))
            flattened = int(torch.Size(feature_map_shape(p)).numel())
            hidden: list[torch.nn.Module] = [torch.nn.Linear(flattened, p.hidden_units), torch.nn.ReLU(), torch.nn.Dropout(p.dropout)] if p.hidden_units else []
            self.head = torch.nn.Sequential(
                torch.nn.Flatten(), torch.nn.Dropout(p.dropout), *hidden, torch.nn.Linear(p.hidden_units or flattened, p.classes),
            )

        # kept out of the module tree: the masks have no weights, and an export's state dict holds tensors only
        self.__dict__['augmentation'] = _augmentation(p)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """(batch, n_mels, frames) float log-mel → (batch, classes) logits."""
        expected = (self.hyperparameters.n_mels, self.hyperparameters.frames)
        if inputs.dim() != 3 or tuple(inputs.shape[1:]) != expected:
            raise ValueError(f'MelCNN expects (batch, {expected[0]}, {expected[1]}) features, got {tuple(inputs.shape)}')
        return self.head(self.blocks(inputs.unsqueeze(1)))

    def loss(self, predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of logits `(batch, classes)` against class indices `(batch,)`."""
        return torch.nn.functional.cross_entropy(predictions, targets, label_smoothing=self.hyperparameters.label_smoothing)

    def training_step(self, batch: Batch, step: Step) -> dict[str, torch.Tensor]:
        """The default supervised step, on a batch masked by the augmentation when it is switched on."""
        if self.augmentation is not None:
            inputs, targets = batch
            # seeded by the batch's place in the run: the same masks after a resume, with nothing saved
            self.augmentation.reset(self.hyperparameters.seed * 1_000_003 + step.updates * 1_009 + step.batch_in_window)
            batch = (self.augmentation(inputs)[0], targets)
        return super().training_step(batch, step)


def _augmentation(parameters: MelCNN.Parameters) -> BatchAugmentation | None:
    """Time and frequency masking of `(batch, n_mels, frames)` features, or None when both are off."""
    if not (parameters.time_masks or parameters.frequency_masks):
        return None
    from ..data.augment import BatchAugmentation, BatchAugmentor, FrequencyMasking, TimeMasking

    augmentors: list[BatchAugmentor] = []
    if parameters.time_masks:
        augmentors.append(TimeMasking(max_width=min(parameters.time_mask_width, parameters.frames), num_masks=parameters.time_masks))
    if parameters.frequency_masks:
        augmentors.append(FrequencyMasking(max_width=min(parameters.frequency_mask_width, parameters.n_mels), num_masks=parameters.frequency_masks))
    return BatchAugmentation(*augmentors, seed=parameters.seed)


def feature_map_shape(parameters: MelCNN.Parameters) -> tuple[int, int, int]:
    """`(channels, mels, frames)` after the conv stack, by shape arithmetic: same padding keeps the size and each
    pooling floors it by its window (PyTorch's default `ceil_mode=False`). Raises ConfigError if a side would vanish."""
    mels, frames = parameters.n_mels, parameters.frames
    for block, pool in enumerate(parameters.pool_sizes, start=1):
        mels, frames = mels // pool, frames // pool
        if mels < 1 or frames < 1:
            raise ConfigError(
                f'pool_sizes {list(parameters.pool_sizes)} shrink the {parameters.n_mels} x {parameters.frames} input to nothing at block {block}; '
                'use fewer blocks, smaller pool_sizes or longer clips',
            )
    return parameters.channels[-1], mels, frames
