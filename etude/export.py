"""Typed, self-describing checkpoints.

An export holds everything needed to rebuild and judge a model from the file alone: the class to build, the
hyperparameters to build it with, what data it saw and how inference must prepare inputs and read outputs, how the
run went, and the weights with their digest. It contains only tensors and plain Python values, so
`torch.load(path, weights_only=True)` reads it without running any pickled code; it is written to a temporary file
that is renamed into place, so a crash mid-save never leaves a half-written checkpoint; and its structure and weight
digest are checked before any field is used, so a damaged file is one clear error, never a traceback or a silently
different model.
"""

from __future__ import annotations

import errno
import hashlib
import importlib
import os
import secrets
import shutil
import sys
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

import torch

from .atomic_files import fsync_directory, write_temporary
from .errors import CheckpointError
from .imports import current_folder_importable, extension_packages
from .interrupts import deferred_interrupts

if TYPE_CHECKING:
    from .model import Model

__all__ = [
    'EXPORT_FORMAT', 'EXPORT_FORMAT_VERSION', 'ExportedModel', 'ModelInfo', 'RunInfo', 'load_export', 'load_model', 'optimiser_digest', 'save_export',
    'weights_digest',
]

EXPORT_FORMAT = 'etude-model'
EXPORT_FORMAT_VERSION = 2  # 2: run options apart from hyperparameters, step state, task, weights digest
TRUSTED_MODULES = ('etude.',)  # model classes load by name from these; any other module must be allowed by the caller


class ModelInfo(TypedDict):
    """Which class to rebuild, and which etude wrote the file."""

    class_path: str
    etude_version: str


class RunInfo(TypedDict, total=False):
    """Where, when and how an export was produced."""

    id: str
    epoch: int
    best_epoch: int
    git_commit: str | None
    time: str
    device: str
    run_directory: str
    versions: dict[str, str]
    run_options: dict[str, Any]
    world_size: int
    batch_size_per_process: int | None  # hyperparameters' batch_size is the global batch of one update step


class ExportedModel(TypedDict, total=False):
    """The contents of `best.pt`, `last.pt` and any exported model.

    `dataset` is the data's summary (name, size, fingerprint, shapes, representation, clip length, classes, target
    settings, the labels that were targets); `task` is what the routine declared for inference (its kind and
    decoding settings). `resume_state` is set in checkpoints written during training (RNG states, early stopping,
    the step's schedules and scaler, time); the finished `best.pt` drops it.
    """

    format: str
    format_version: int
    dataset: dict[str, Any]
    task: dict[str, Any]
    hyperparameters: dict[str, Any]
    model: ModelInfo
    model_state_dict: dict[str, torch.Tensor]
    weights_digest: str
    optimiser_digest: str  # absent in exports written before etude covered the optimiser state
    optimiser_state_dicts: list[dict[str, Any]]
    run_info: RunInfo
    training_loss: float | None
    validation_loss: float | None
    validation_metrics: dict[str, float]
    testing_metrics: dict[str, float] | None
    resume_state: dict[str, Any] | None


def weights_digest(state_dict: dict[str, torch.Tensor]) -> str:
    """sha256 over every tensor's name, dtype, shape and bytes, in name order: any flipped byte changes it."""
    digest = hashlib.sha256()
    for name in sorted(state_dict):
        tensor = state_dict[name].detach().cpu().contiguous()
        digest.update(f'{name}:{tensor.dtype}:{tuple(tensor.shape)};'.encode())
        if tensor.numel():
            digest.update(tensor.reshape(-1).view(torch.uint8).numpy().data)
    return 'sha256:' + digest.hexdigest()


def optimiser_digest(state_dicts: Sequence[Any]) -> str:
    """sha256 over the optimisers' state (moments, step counts, learning rates), so a resume from damaged moments is
    refused like damaged weights. Nested values are walked in a fixed order: dict keys sorted by their text, tensors by
    dtype, shape and bytes, everything else by its repr."""
    digest = hashlib.sha256()
    _digest_value(digest, list(state_dicts))
    return 'sha256:' + digest.hexdigest()


def _digest_value(digest: Any, value: Any) -> None:
    if isinstance(value, torch.Tensor):
        tensor = value.detach().cpu().contiguous()
        digest.update(f'tensor:{tensor.dtype}:{tuple(tensor.shape)};'.encode())
        if tensor.numel():
            digest.update(tensor.reshape(-1).view(torch.uint8).numpy().data)
    elif isinstance(value, dict):
        digest.update(f'dict:{len(value)}{{'.encode())
        for key in sorted(value, key=repr):
            digest.update(f'{key!r}:'.encode())
            _digest_value(digest, value[key])
        digest.update(b'}')
    elif isinstance(value, (list, tuple)):
        digest.update(f'list:{len(value)}['.encode())  # a tuple may come back from torch.load as a list: the same state
        for element in value:
            _digest_value(digest, element)
        digest.update(b']')
    else:
        digest.update(f'{value!r};'.encode())


def save_export(export: ExportedModel, path: str | Path, *, copies: Sequence[str | Path] = ()) -> Path:
    """Write `export` to `path`, and to each of `copies`, atomically: a temporary file in the same folder, fsync, rename.

    A copy is a hard link to the same bytes where the file system allows (one serialisation, one fsync: the routine
    writes `best.pt` and `last.pt` of an improving epoch this way), else a copied file. Copies are renamed into place
    before `path`. A Ctrl-C waits until every file is whole; a full disk is one CheckpointError and leaves the
    previous files as they were.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    export = {**export, 'format': EXPORT_FORMAT, 'format_version': EXPORT_FORMAT_VERSION, 'weights_digest': weights_digest(export['model_state_dict']),  # type: ignore[typeddict-item]
              'optimiser_digest': optimiser_digest(export.get('optimiser_state_dicts') or [])}
    destinations = [copy for copy in dict.fromkeys(map(Path, copies)) if copy.resolve() != path.resolve()]
    with deferred_interrupts():  # Ctrl-C inside torch.save would surface as a RuntimeError from its zip writer
        try:
            temporary = write_temporary(path, lambda file: torch.save(export, file))
        except (OSError, RuntimeError) as error:
            if _is_disk_full(error):
                raise CheckpointError(_disk_full_message(path)) from None
            raise
        try:
            for copy in destinations:
                copy.parent.mkdir(parents=True, exist_ok=True)
                linked = _link_or_copy(temporary, copy)
                try:
                    os.replace(linked, copy)
                except BaseException:
                    linked.unlink(missing_ok=True)
                    raise
            os.replace(temporary, path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        fsync_directory(path.parent)
    return path


def _is_disk_full(error: BaseException) -> bool:
    return (isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT)) or any(
        phrase in str(error).lower() for phrase in ('no space left', 'disk quota', 'file write failed', 'unexpected pos'))


def _disk_full_message(path: Path) -> str:
    free = shutil.disk_usage(path.parent).free
    return (f'No space left on the disk of {path.parent} to save {path.name} ({free / 1e6:.1f} MB free); free some space and resume. '
            'The previous checkpoints are intact')


def _link_or_copy(source: Path, destination: Path) -> Path:
    """A temporary name beside `destination` for the bytes of `source`: a hard link, or an fsynced copy."""
    link = destination.with_name(f'.{destination.name}.{secrets.token_hex(6)}.tmp')
    try:
        os.link(source, link)
        return link
    except OSError:  # no hard links here (another file system, FAT, some network shares)
        with source.open('rb') as original:
            return write_temporary(destination, lambda file: shutil.copyfileobj(original, file))


# name → (accepted types, required): checked before any field is used
_STRUCTURE: dict[str, tuple[tuple[type, ...], bool]] = {
    'format_version': ((int,), True),
    'model': ((dict,), True),
    'hyperparameters': ((dict,), True),
    'model_state_dict': ((dict,), True),
    'run_info': ((dict,), True),
    'dataset': ((dict,), False),
    'task': ((dict,), False),
    'weights_digest': ((str,), False),
    'optimiser_digest': ((str,), False),
    'optimiser_state_dicts': ((list,), False),
    'testing_metrics': ((dict, type(None)), False),
    'resume_state': ((dict, type(None)), False),
}


def load_export(path: str | Path, *, map_location: str | torch.device = 'cpu', verify: bool = True) -> ExportedModel:
    """Read and check an export; a missing, truncated, foreign, damaged or newer file raises CheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f'Checkpoint {path} does not exist; pass the path of a .pt file an etude run exported')
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # noqa: BLE001 - the unpickler fails on arbitrary bytes with arbitrary exception types
        reason = 'is truncated or corrupt' if _looks_truncated(error) or _starts_like_a_zip(path) else 'is not an etude export (it could not be read safely)'
        raise CheckpointError(f'Checkpoint {path} {reason}; use another checkpoint, e.g. checkpoints/best.pt of a finished run') from None
    if not isinstance(data, dict) or data.get('format') != EXPORT_FORMAT:
        raise CheckpointError(f'{path} is a torch file but not an etude export; load it with torch.load, or pass a file an etude run exported')
    check_structure(data, path)
    if data['format_version'] > EXPORT_FORMAT_VERSION:
        raise CheckpointError(f'{path} was written by a newer etude (export format {data["format_version"]}); upgrade etude to load it')
    if verify and 'weights_digest' in data and weights_digest(data['model_state_dict']) != data['weights_digest']:
        raise CheckpointError(f'{path} is corrupt: its weights do not match the digest recorded when it was saved; use another copy or checkpoint')
    if verify and 'optimiser_digest' in data and optimiser_digest(data.get('optimiser_state_dicts') or []) != data['optimiser_digest']:
        raise CheckpointError(f'{path} is corrupt: its optimiser state does not match the digest recorded when it was saved; use another copy or checkpoint')
    return data  # type: ignore[return-value]


def check_structure(data: dict[str, Any], path: str | Path) -> None:
    """Every field an etude export needs, of the right type, before anything reads one."""
    def damaged(what: str) -> CheckpointError:
        return CheckpointError(f'{path} is not a complete etude export ({what}); use another checkpoint, e.g. checkpoints/best.pt of a finished run')

    for name, (types, required) in _STRUCTURE.items():
        if name not in data:
            if required:
                raise damaged(f'no {name}')
            continue
        value = data[name]
        if not isinstance(value, types) or isinstance(value, bool):
            raise damaged(f'{name} is a {type(value).__name__}')
    if data['format_version'] < 1:
        raise damaged(f'format_version {data["format_version"]}')
    if not isinstance(data['model'].get('class_path'), str) or '.' not in data['model']['class_path']:
        raise damaged('no model class_path')
    if not all(isinstance(key, str) and isinstance(value, torch.Tensor) for key, value in data['model_state_dict'].items()):
        raise damaged('model_state_dict holds something other than named tensors')
    if not isinstance(data['run_info'].get('epoch', 0), int):
        raise damaged('run_info.epoch is not a number')


def load_model(
    path: str | Path,
    *,
    device: str | torch.device = 'cpu',
    model_class: type[Model] | None = None,
    allow_modules: Sequence[str] = (),
) -> Model:
    """Rebuild the model an export describes, load its weights, and put it in eval mode.

    Nothing but the file is needed for etude's own models: the class is imported from its recorded path and built from
    the recorded hyperparameters. A class from any other module is imported only when the caller says so, by passing
    it (`model_class=MyModel`) or its module (`allow_modules=['mypackage']`, `--allow-module mypackage` on the command
    line): importing a module runs its code, so a file must never choose what runs. An allowed module is found in the
    current folder too, as `python -m etude` finds it. The export's metadata stays available as `model.export_info`.
    """
    export = load_export(path, map_location=device)
    recorded = export['model']['class_path']
    if model_class is not None:
        if model_class.class_path() != MOVED_CLASSES.get(recorded, recorded):
            raise CheckpointError(f'{path} holds a {recorded}, not a {model_class.class_path()}; pass the class it was trained with')
    else:
        model_class = import_model_class(recorded, path, allow_modules)
    hyperparameters = model_class.Parameters.from_dict(export['hyperparameters'], source=str(path), ignore_unknown=True)
    model = model_class(hyperparameters)
    load_weights(model, export, path)
    model.to(device).eval()
    model.export_info = {key: value for key, value in export.items() if key not in ('model_state_dict', 'optimiser_state_dicts', 'resume_state')}
    return model


# model classes that moved to their task's package (etude.music.<task>): exports written before keep loading
MOVED_CLASSES = {
    'etude.models.note_lstm.NoteLSTM': 'etude.music.generation.model.NoteLSTM',
    'etude.models.transcriber.PianoTranscriber': 'etude.music.transcription.model.PianoTranscriber',
    'etude.models.performance_han.PerformanceHAN': 'etude.music.performance.models.han.PerformanceHAN',
    'etude.models.performance_lstm.PerformanceLSTM': 'etude.music.performance.models.lstm.PerformanceLSTM',
}


def import_model_class(class_path: str, path: str | Path, allow_modules: Sequence[str] = ()) -> type[Model]:
    """Import `package.module.ClassName` as recorded in an export, if its module is etude's or allowed.

    An allowed module is looked for in the current folder too, as `python -m etude` finds it: the installed `etude`
    console script does not put the current folder on sys.path, so it is added for this one import and taken away after.
    """
    from .model import Model

    class_path = MOVED_CLASSES.get(class_path, class_path)
    module_name, _, class_name = class_path.rpartition('.')
    top = module_name.split('.')[0]
    trusted = (*TRUSTED_MODULES, *(f'{module}.' for module in (*allow_modules, *extension_packages())))
    if not f'{module_name}.'.startswith(trusted):
        raise CheckpointError(
            f'{path} was made by {class_path}, outside etude; importing its module would run its code, so allow it if you trust it: '
            f"--allow-module {top} on the command line, allow_modules=['{top}'] (or model_class={class_name}) in Python",
        )
    try:
        with current_folder_importable(module_name not in sys.modules and not module_name.startswith(TRUSTED_MODULES[0])):
            model_class = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError, ValueError):
        raise CheckpointError(f'{path} was made by model class {class_path}, which cannot be imported here (not in {Path.cwd()} nor installed); '
                              f'run from the folder that holds {top}, or install the package that defines it') from None
    if not (isinstance(model_class, type) and issubclass(model_class, Model)):
        raise CheckpointError(f'{path} names {class_path}, which is not an etude Model')
    return model_class


def load_weights(model: torch.nn.Module, export: ExportedModel, path: str | Path) -> None:
    """Load weights, turning a shape or key mismatch into one line that says the file is for another model."""
    try:
        model.load_state_dict(export['model_state_dict'])
    except RuntimeError as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else 'weights do not match'
        raise CheckpointError(
            f'{path} holds weights of {export["model"]["class_path"]} that do not fit this {type(model).__name__} ({first_line.rstrip(":")}); '
            'use a checkpoint of the same model and hyperparameters',
        ) from None


def _starts_like_a_zip(path: Path) -> bool:
    """torch saves a zip: a file that starts like one but does not load was cut short or damaged, not foreign."""
    with open(path, 'rb') as file:
        return file.read(4) == b'PK\x03\x04'


def _looks_truncated(error: BaseException) -> bool:
    text = str(error).lower()
    return isinstance(error, (EOFError, zipfile.BadZipFile)) or any(
        phrase in text for phrase in ('central directory', 'failed finding', 'unexpected eof', 'truncated', 'file read failed', 'pytorchstreamreader')
    )
