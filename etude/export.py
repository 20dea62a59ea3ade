"""Typed, self-describing checkpoints.

An export holds everything needed to rebuild and judge a model from the file alone: the class to import, the
hyperparameters to build it with, what data it saw, how the run went, and the weights. It contains only tensors and
plain Python values, so `torch.load(path, weights_only=True)` reads it without running any pickled code, and it is
written to a temporary file that is renamed into place, so a crash mid-save never leaves a half-written checkpoint.
"""

from __future__ import annotations

import importlib
import os
import secrets
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypedDict

import torch

from .errors import CheckpointError
from .interrupts import deferred_interrupts

if TYPE_CHECKING:
    from .model import Model

__all__ = ['EXPORT_FORMAT', 'ExportedModel', 'ModelInfo', 'RunInfo', 'load_export', 'load_model', 'save_export']

EXPORT_FORMAT = 'etude-model'
EXPORT_FORMAT_VERSION = 1


class ModelInfo(TypedDict):
    """Which class to rebuild, and which etude wrote the file."""

    class_path: str
    etude_version: str


class RunInfo(TypedDict):
    """Where and when an export was produced."""

    id: str
    epoch: int
    best_epoch: int
    git_commit: str | None
    time: str
    device: str
    run_directory: str
    versions: dict[str, str]


class ExportedModel(TypedDict):
    """The contents of `best.pt`, `last.pt` and any exported model.

    `resume_state` is set in checkpoints written during training: RNG states, early-stopping state and time needed to
    continue the run exactly where it stopped. The finished `best.pt` drops it.
    """

    format: str
    format_version: int
    dataset: dict[str, Any]
    hyperparameters: dict[str, Any]
    model: ModelInfo
    model_state_dict: dict[str, torch.Tensor]
    optimiser_state_dicts: list[dict[str, Any]]
    run_info: RunInfo
    training_loss: float | None
    validation_loss: float | None
    testing_metrics: dict[str, float] | None
    resume_state: dict[str, Any] | None


def save_export(export: ExportedModel, path: str | Path, *, copies: Sequence[str | Path] = ()) -> Path:
    """Write `export` to `path`, and to each of `copies`, atomically: a temporary file in the same folder, fsync, rename.

    A copy is a hard link to the same bytes where the file system allows (one serialisation, one fsync: the routine
    writes `best.pt` and `last.pt` of an improving epoch this way), else a copied file. Copies are renamed into place
    before `path`. A Ctrl-C waits until every file is whole.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    destinations = [copy for copy in dict.fromkeys(map(Path, copies)) if copy.resolve() != path.resolve()]
    with deferred_interrupts():  # Ctrl-C inside torch.save would surface as a RuntimeError from its zip writer
        temporary = _write_temporary(path, lambda file: torch.save(export, file))
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
    return path


def _write_temporary(path: Path, write: Callable[[IO[bytes]], None]) -> Path:
    """A hidden, fsynced temporary file beside `path` holding what `write` wrote; removed again if writing fails."""
    descriptor, name = tempfile.mkstemp(prefix=f'.{path.name}.', suffix='.tmp', dir=path.parent)
    try:
        with os.fdopen(descriptor, 'wb') as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name)


def _link_or_copy(source: Path, destination: Path) -> Path:
    """A temporary name beside `destination` for the bytes of `source`: a hard link, or an fsynced copy."""
    link = destination.with_name(f'.{destination.name}.{secrets.token_hex(6)}.tmp')
    try:
        os.link(source, link)
        return link
    except OSError:  # no hard links here (another file system, FAT, some network shares)
        with source.open('rb') as original:
            return _write_temporary(destination, lambda file: shutil.copyfileobj(original, file))


def load_export(path: str | Path, *, map_location: str | torch.device = 'cpu') -> ExportedModel:
    """Read and check an export; a missing, truncated, foreign or newer file raises CheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f'Checkpoint {path} does not exist; pass the path of a .pt file an etude run exported')
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # noqa: BLE001 - the unpickler fails on arbitrary bytes with arbitrary exception types
        reason = 'is truncated or corrupt' if _looks_truncated(error) else 'is not an etude export (it could not be read safely)'
        raise CheckpointError(f'Checkpoint {path} {reason}; use another checkpoint, e.g. checkpoints/best.pt of a finished run') from None
    if not isinstance(data, dict) or data.get('format') != EXPORT_FORMAT:
        raise CheckpointError(f'{path} is a torch file but not an etude export; load it with torch.load, or pass a file an etude run exported')
    if int(data.get('format_version', 0)) > EXPORT_FORMAT_VERSION:
        raise CheckpointError(f'{path} was written by a newer etude (export format {data["format_version"]}); upgrade etude to load it')
    return data  # type: ignore[return-value]


def load_model(path: str | Path, *, device: str | torch.device = 'cpu') -> Model:
    """Rebuild the model an export describes, load its weights, and put it in eval mode.

    Nothing but the file is needed: the class is imported from its recorded path and built from the recorded
    hyperparameters. The export's metadata stays available as `model.export_info` (everything but the weights).
    """
    export = load_export(path, map_location=device)
    model_class = import_model_class(export['model']['class_path'], path)
    hyperparameters = model_class.Parameters.from_dict(export['hyperparameters'], source=str(path), ignore_unknown=True)
    model = model_class(hyperparameters)
    load_weights(model, export, path)
    model.to(device).eval()
    model.export_info = {key: value for key, value in export.items() if key not in ('model_state_dict', 'optimiser_state_dicts', 'resume_state')}
    return model


def import_model_class(class_path: str, path: str | Path) -> type[Model]:
    """Import `package.module.ClassName` as recorded in an export."""
    from .model import Model

    module_name, _, class_name = class_path.rpartition('.')
    try:
        model_class = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError, ValueError):
        raise CheckpointError(f'{path} was made by model class {class_path}, which cannot be imported here; install the package that defines it') from None
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


def _looks_truncated(error: BaseException) -> bool:
    text = str(error).lower()
    return isinstance(error, (EOFError, zipfile.BadZipFile)) or any(
        phrase in text for phrase in ('central directory', 'failed finding', 'unexpected eof', 'truncated', 'file read failed', 'pytorchstreamreader')
    )
