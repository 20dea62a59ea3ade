"""Turning a model's raw outputs back into results, chosen by the task an export records.

A routine declares its task (`routine.set_task('classification', target='digit', classes=[...])`) and the export
keeps it, so inference, evaluation and any later tool read the same description and decode the same way. A decoder
takes one batch of outputs and the task and returns one plain, JSON-safe dict per item:

    classification   (batch, classes) logits  →  {'digit': '7', 'probability': 0.98}  (+ 'top': [...] with top > 1)
    regression       (batch, targets)         →  {'drum_size': 0.71, 'aspect_ratio': 1.9}  in the task's units

Later tasks (generation, transcription, performance) add their decoders here with `register_decoder`, so
`etude infer` and `etude evaluate` gain them without new tools.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError

__all__ = ['DECODERS', 'Decoder', 'class_names', 'decoder_for', 'register_decoder', 'target_names', 'target_scales', 'target_units']

Decoder = Callable[[torch.Tensor, Mapping[str, Any]], list[dict[str, Any]]]
DECODERS: dict[str, Decoder] = {}


def register_decoder(kind: str) -> Callable[[Decoder], Decoder]:
    """Use the decorated function to decode exports whose task kind is `kind`."""
    def register(decoder: Decoder) -> Decoder:
        DECODERS[kind] = decoder
        return decoder
    return register


def decoder_for(task: Mapping[str, Any], path: str | Path = 'the checkpoint') -> Decoder:
    """The decoder of an export's task; a CheckpointError when it declares none or one etude does not know."""
    kind = task.get('kind')
    if not kind:
        raise CheckpointError(f'{path} records no task, so its outputs cannot be decoded; train it with a routine that calls '
                              "routine.set_task(...), e.g. set_task('classification', target='digit', classes=[...])")
    if kind not in DECODERS:
        raise CheckpointError(f"{path} is a model for the task '{kind}', which this etude cannot decode (it knows {', '.join(sorted(DECODERS))}); "
                              'upgrade etude')
    return DECODERS[kind]


def class_names(task: Mapping[str, Any], dataset: Mapping[str, Any] | None = None) -> list[str]:
    """The class of each output index: the task's `classes`, else the dataset's class list of the task's target."""
    if task.get('classes'):
        return [str(name) for name in task['classes']]
    target = task.get('target')
    listed = ((dataset or {}).get('classes') or {}).get(target) if target else None
    if not listed:
        raise CheckpointError(f"the export's classification task names no classes (and its dataset none for {target!r}); "
                              "record them with routine.set_task('classification', target=..., classes=[...])")
    return [str(name) for name in listed]


def target_names(task: Mapping[str, Any]) -> list[str]:
    """The regression targets, in output order (one output column each)."""
    targets = task.get('targets') or ([task['target']] if task.get('target') else [])
    return [str(name) for name in targets] or ['value']


def target_scales(task: Mapping[str, Any]) -> dict[str, float]:
    """Each target's factor from the label's units to the reported ones: `scales` per target, or one `scale` for all."""
    scales = task.get('scales') or {}
    return {name: float(scales.get(name, task.get('scale', 1.0))) for name in target_names(task)}


def target_units(task: Mapping[str, Any]) -> dict[str, str]:
    """Each target's reported unit: `units` per target, or one `unit` for all ('' when unitless)."""
    units = task.get('units') or {}
    return {name: str(units.get(name, task.get('unit', ''))) for name in target_names(task)}


@register_decoder('classification')
def decode_classification(outputs: torch.Tensor, task: Mapping[str, Any]) -> list[dict[str, Any]]:
    """`(batch, classes)` logits → the most probable class and its softmax probability per item.

    `task['top']` > 1 adds the `top` most probable classes as `[{'class': ..., 'probability': ...}, ...]`.
    """
    names = class_names(task)
    if outputs.dim() != 2 or outputs.shape[1] != len(names):
        raise CheckpointError(f'the model gives outputs of shape {tuple(outputs.shape[1:])} but its task lists {len(names)} classes; '
                              'the export is inconsistent, retrain or re-export it')
    key = str(task.get('target') or 'class')
    probabilities = torch.softmax(outputs.detach().float(), dim=1).cpu()
    top = max(1, min(int(task.get('top', 1)), len(names)))
    values, indices = probabilities.topk(top, dim=1)
    results = []
    for item_values, item_indices in zip(values.tolist(), indices.tolist(), strict=True):
        result: dict[str, Any] = {key: names[item_indices[0]], 'probability': round(item_values[0], 6)}
        if top > 1:
            result['top'] = [{'class': names[index], 'probability': round(value, 6)} for index, value in zip(item_indices, item_values, strict=True)]
        results.append(result)
    return results


@register_decoder('regression')
def decode_regression(outputs: torch.Tensor, task: Mapping[str, Any]) -> list[dict[str, Any]]:
    """`(batch, targets)` values → one number per named target, scaled to the task's reporting units."""
    names, scales = target_names(task), target_scales(task)
    values = outputs.detach().float().cpu().reshape(outputs.shape[0], -1)
    if values.shape[1] != len(names):
        raise CheckpointError(f'the model gives {values.shape[1]} outputs per item but its task names {len(names)} targets ({", ".join(names)}); '
                              'the export is inconsistent, retrain or re-export it')
    return [{name: float(row[column]) * scales[name] for column, name in enumerate(names)} for row in values.tolist()]
