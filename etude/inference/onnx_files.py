"""ONNX files of etude models: written from an export (`write_onnx`), opened for onnxruntime (`open_onnx`).

    write_onnx('runs/<id>', None)                 # runs/<id>/checkpoints/best.onnx
    session, metadata = open_onnx('best.onnx', threads=1)

The export's task writes the network (`Task.export_onnx`) and later wraps the session in what its `infer` runs
(`Task.onnx_model`); this module records, in the file's `metadata_props`, what makes the file self-describing: the
task with its settings, the model's class and hyperparameters, the run's record, where it came from and etude's
version, each a JSON string under an `etude.` key. Writing needs the `onnx` package and running onnxruntime, both
in the `onnx` extra (`pip install "etude[onnx]"`); running loads no torch.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import ConfigError

__all__ = ['METADATA_PREFIX', 'open_onnx', 'write_onnx']

METADATA_PREFIX = 'etude.'
RECORDED = ('task', 'hyperparameters', 'model', 'run_info', 'testing_metrics')  # from the export, besides source and version
INSTALL = 'pip install "etude[onnx]"'


def write_onnx(checkpoint: str | Path, output: str | Path | None, *, overwrite: bool = False) -> Path:
    """Write the model of `checkpoint` (an export, or a run folder for its `checkpoints/best.pt`) as ONNX to `output`
    (default: beside the checkpoint, `.onnx` for `.pt`), with the export's record in its metadata; return the path."""
    from ..export import load_model
    from ..tasks import task_from_dict
    from ..tasks.context import locate_run
    from ..version import __version__

    try:
        import onnx
    except ImportError:
        raise ConfigError(f'writing ONNX needs the onnx package; {INSTALL}') from None
    source = locate_run(checkpoint).checkpoint
    target = Path(output) if output is not None else source.with_suffix('.onnx')
    if target.suffix != '.onnx':
        raise ConfigError(f'--output {target} must end in .onnx')
    if target.exists() and not overwrite:
        raise ConfigError(f'{target} exists; pass --overwrite to replace it, or another --output')
    model = load_model(source, device='cpu')
    export = model.export_info
    task = task_from_dict(dict(export.get('task') or {}), source=str(source))
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f'.{target.name}.{os.getpid()}.tmp')
    try:
        task.export_onnx(model, temporary)
        graph = onnx.load(str(temporary))
        values: dict[str, Any] = {key: export.get(key) for key in RECORDED}
        values.update(source=str(source), version=__version__)
        for key, value in values.items():
            entry = graph.metadata_props.add()
            entry.key, entry.value = METADATA_PREFIX + key, json.dumps(value, default=str)
        graph.doc_string = f'etude {task.kind} model exported from {source}'
        onnx.save(graph, str(temporary))
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    return target


def open_onnx(path: str | Path, threads: int | None = None) -> tuple[Any, dict[str, Any]]:
    """An onnxruntime session of the file at `path` on the CPU, computing with `threads` threads (None: the cores this
    process may use) that sleep rather than spin while they wait, and the etude metadata the file records (decoded)."""
    from ..threads import default_threads

    try:
        import onnxruntime
    except ImportError:
        raise ConfigError(f'running an ONNX file needs onnxruntime; {INSTALL}') from None
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f'{path} does not exist; pass an ONNX file written by etude export --onnx')
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads or default_threads()
    options.inter_op_num_threads = 1
    options.add_session_config_entry('session.intra_op.allow_spinning', '0')  # a waiting thread sleeps: no core burnt on a busy machine
    options.log_severity_level = 3  # errors only
    options.enable_cpu_mem_arena = False  # memory back to the system after each batch, not held in onnxruntime's arena
    try:
        session = onnxruntime.InferenceSession(str(path), options, providers=['CPUExecutionProvider'])
    except Exception as error:  # onnxruntime raises its own types (InvalidProtobuf, Fail, ...) for a file it cannot load
        reason = ' '.join(str(error).split())[:200]
        raise ConfigError(f'{path} is not an ONNX model onnxruntime can load ({reason}); export one with etude export --onnx RUN') from None
    return session, _metadata(session.get_modelmeta().custom_metadata_map, path)


def _metadata(properties: Mapping[str, str], path: Path) -> dict[str, Any]:
    """The `etude.` entries of an ONNX file's metadata, decoded from JSON; refused when the file has none."""
    if METADATA_PREFIX + 'task' not in properties:
        raise ConfigError(f"{path} is an ONNX model without etude's metadata (no {METADATA_PREFIX}task); "
                          'etude infer runs the ONNX files etude export --onnx writes')
    try:
        return {key.removeprefix(METADATA_PREFIX): json.loads(value) for key, value in properties.items() if key.startswith(METADATA_PREFIX)}
    except ValueError:
        raise ConfigError(f"{path}'s etude metadata is damaged (not JSON); export the model again with etude export --onnx") from None
