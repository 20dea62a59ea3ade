"""One step of a stacked `torch.nn.LSTM` written as its arithmetic, into buffers allocated once: what a sampler needs.

    step = FusedLSTM(model.lstm, batch=1)        # the same weights, concatenated per layer; nothing copied per step
    step.reset(state)                            # (h, c) of `num_layers` × batch × hidden, or None for zeros
    top = step(x)                                # (batch, input_size) → the last layer's h, (batch, hidden), a view of a buffer

`nn.LSTM` called one step at a time at batch 1 spends most of its time around the arithmetic: argument checks, a
flattened-weights check, and a fresh allocation of every gate and state tensor per call, which in a long process means
mapping and freeing memory every step. Here each layer is one `addmm` of the weights `[W_ih | W_hh]` `(4 hidden, input +
hidden)` with the vector `[x | h]` into a preallocated gates buffer, then in-place sigmoid and tanh on its quarters and
the cell update written into the state buffers; the next layer's input is this layer's h, written straight into its
`[x | h]` buffer. The result equals `nn.LSTM`'s to float rounding (tests/test_token_generation.py holds it to 1e-5).

`weights='int8'` stores each layer's `[W_ih | W_hh]` as int8 with one scale per output row (per gate unit) and does
the product with fbgemm's dynamic int8 linear (`torch.ops.quantized.linear_dynamic`, which also rounds `[x | h]` to
uint8 with one scale per call): a quarter of the bytes to read per step, which at batch 1 is what a step costs
(benchmarks/generation.py). `weights='bf16'` keeps the weights in bfloat16 (half the bytes; the product in bf16, the
state in fp32). The state, the activations and the cell update stay fp32 in every case.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Literal, cast

import torch

if TYPE_CHECKING:
    from .model import LSTMState

__all__ = ['WEIGHT_PRECISIONS', 'FusedLSTM', 'WeightPrecision', 'int8_linear']

WeightPrecision = Literal['fp32', 'bf16', 'int8']
WEIGHT_PRECISIONS: tuple[WeightPrecision, ...] = ('fp32', 'bf16', 'int8')


def int8_linear(weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """fbgemm's packed form of `weight` `(out, in)` as int8 with one symmetric scale per output row (max |w| / 127),
    and `bias` `(out,)`, for `torch.ops.quantized.linear_dynamic(x (batch, in), packed)` → `(batch, out)` fp32."""
    weight = weight.detach().float().cpu()
    scales = (weight.abs().amax(dim=1) / 127).clamp(min=1e-12).double()
    with warnings.catch_warnings():  # torch deprecates quantized tensors in favour of torchao, which is not a dependency
        warnings.simplefilter('ignore', UserWarning)
        quantised = torch.quantize_per_channel(weight, scales, torch.zeros(len(scales), dtype=torch.int64), 0, torch.qint8)
        return cast(torch.Tensor, torch.ops.quantized.linear_prepack(quantised, None if bias is None else bias.detach().float().cpu()))


class FusedLSTM:
    """The step of `lstm` (batch_first or not, no projections, unidirectional) on `batch` sequences at a time.

    One buffer `(batch, input + layers × hidden)` holds `[x | h_0 | h_1 | ...]`: layer l reads its input and its own h
    as one slice of it (`[x | h_0]` for layer 0, `[h_(l-1) | h_l]` above) and writes its new h into its own columns,
    where the layer above reads it next; so no vector is copied between layers. The gate rows are reordered to
    (input, forget, output, cell) so that one sigmoid covers three of them.
    """

    def __init__(self, lstm: torch.nn.LSTM, batch: int, weights: WeightPrecision = 'fp32') -> None:
        if lstm.bidirectional or lstm.proj_size:
            raise ValueError('FusedLSTM steps a unidirectional LSTM without projections')
        if weights not in WEIGHT_PRECISIONS:
            raise ValueError(f'weights must be one of {", ".join(WEIGHT_PRECISIONS)}, got {weights!r}')
        self.layers, self.hidden, self.batch = lstm.num_layers, lstm.hidden_size, batch
        self.input_size = lstm.input_size
        hidden, first = self.hidden, cast(torch.Tensor, lstm.weight_ih_l0)
        device, dtype = first.device, first.dtype
        order = torch.cat([torch.arange(0, 2 * hidden), torch.arange(3 * hidden, 4 * hidden), torch.arange(2 * hidden, 3 * hidden)]).to(device)
        with torch.no_grad():
            self.weights = [torch.cat([getattr(lstm, f'weight_ih_l{layer}'), getattr(lstm, f'weight_hh_l{layer}')], dim=1)[order].t().contiguous()
                            for layer in range(self.layers)]
            self.biases = [(getattr(lstm, f'bias_ih_l{layer}') + getattr(lstm, f'bias_hh_l{layer}'))[order].detach().clone() if lstm.bias
                           else torch.zeros(4 * hidden, device=device, dtype=dtype) for layer in range(self.layers)]
        self.precision = weights
        if weights == 'int8':
            if device.type != 'cpu':
                raise ValueError('int8 weights run on the CPU only (fbgemm)')
            self.packed = [int8_linear(weight.t(), bias) for weight, bias in zip(self.weights, self.biases, strict=True)]
            self.weights = []  # only the int8 copies are read
        elif weights == 'bf16':
            self.weights = [weight.to(torch.bfloat16) for weight in self.weights]
            self.biases = [bias.to(torch.bfloat16) for bias in self.biases]
        self.buffer = torch.zeros(batch, self.input_size + self.layers * hidden, device=device, dtype=dtype)
        self.cells = torch.zeros(self.layers, batch, hidden, device=device, dtype=dtype)
        self.gates = torch.empty(batch, 4 * hidden, device=device, dtype=dtype)
        self.scratch = torch.empty(batch, hidden, device=device, dtype=dtype)
        # the views each step uses, made once (slicing costs as much as a small kernel)
        self.x = self.buffer[:, :self.input_size]
        self.reads = [self.buffer[:, :self.input_size + hidden]] + \
            [self.buffer[:, self.input_size + (layer - 1) * hidden:self.input_size + (layer + 1) * hidden] for layer in range(1, self.layers)]
        self.h = [self.buffer[:, self.input_size + layer * hidden:self.input_size + (layer + 1) * hidden] for layer in range(self.layers)]
        self.sigmoid, self.candidate = self.gates[:, :3 * hidden], self.gates[:, 3 * hidden:]
        self.input_gate, self.forget_gate, self.output_gate = (self.gates[:, index * hidden:(index + 1) * hidden] for index in range(3))
        self.cell = [self.cells[layer] for layer in range(self.layers)]

    def reset(self, state: LSTMState | None = None) -> None:
        """Start from `state` (h, c), each `(layers, batch, hidden)`, or from zeros."""
        for layer in range(self.layers):
            self.h[layer].copy_(state[0][layer]) if state is not None else self.h[layer].zero_()
        self.cells.zero_() if state is None else self.cells.copy_(state[1])

    def state(self) -> LSTMState:
        """(h, c) as `nn.LSTM` returns them, copies of the buffers."""
        return torch.stack(self.h).clone(), self.cells.clone()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """`(batch, input_size)` → the top layer's new h `(batch, hidden)` (a view of the buffer the next call overwrites)."""
        self.x.copy_(x)
        for layer in range(self.layers):
            self._gates(layer)
            self.sigmoid.sigmoid_()
            self.candidate.tanh_()
            cell = self.cell[layer]
            cell.mul_(self.forget_gate).addcmul_(self.input_gate, self.candidate)
            torch.tanh(cell, out=self.scratch)
            torch.mul(self.output_gate, self.scratch, out=self.h[layer])
        return self.h[-1]

    def _gates(self, layer: int) -> None:
        """`[x | h] @ W + b` of `layer` into the gates buffer, in the weights' precision."""
        if self.precision == 'fp32':
            torch.addmm(self.biases[layer], self.reads[layer], self.weights[layer], out=self.gates)
        elif self.precision == 'int8':
            self.gates.copy_(torch.ops.quantized.linear_dynamic(self.reads[layer], self.packed[layer]))
        else:
            self.gates.copy_(torch.addmm(self.biases[layer], self.reads[layer].to(torch.bfloat16), self.weights[layer]))
