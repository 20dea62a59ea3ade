"""basic-pitch (Bittner et al., ICASSP 2022) as a peer transcriber, scored by the same mir_eval calls as etude's model.

    notes = basic_pitch_notes('recording.wav', threads=1)   # NOTE_DTYPE, seconds from the file's start

basic-pitch is Spotify's small polyphonic transcriber trained on recordings of many instruments. It ships its model
as ONNX inside its wheel, and onnxruntime runs that file here without TensorFlow. Its package pins TensorFlow <
2.15.1 for Python 3.11, which cannot be installed beside etude's numpy 2, so it is installed without its
dependencies: `pip install --no-deps basic-pitch==0.4.0 resampy==0.4.3` (basic-pitch asks for resampy < 0.4.3, but 0.4.2
imports `pkg_resources`, which current setuptools no longer ships; 0.4.3 is the same code without it; librosa, scikit-learn, mir_eval, pretty_midi and
onnxruntime come with etude's development packages or its `onnx` extra). `.ci/run` does that, so CI runs the peer.

The model and the note creation are basic-pitch's own, with its own defaults (onset threshold 0.5, frame threshold
0.3, notes of at least 127.7 ms, the "melodia trick"): a peer is run as its authors ship it, not tuned on our test
pieces. It reads the audio with librosa at 22.05 kHz. Velocity is its note amplitude × 127, as it writes MIDI.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ...data.midi import NOTE_DTYPE
from ...errors import MissingDependencyError
from .settings import BEGIN_NOTE, NUM_PITCHES

__all__ = ['BASIC_PITCH', 'BASIC_PITCH_INSTALL', 'basic_pitch_available', 'basic_pitch_notes', 'basic_pitch_version', 'load_basic_pitch']

BASIC_PITCH = 'basic-pitch'
"""The peer's name in `summary.json`'s baselines and in tables."""
BASIC_PITCH_INSTALL = 'pip install --no-deps basic-pitch==0.4.0 resampy==0.4.3 onnxruntime'
"""How to install it beside etude (its TensorFlow pin cannot be met next to numpy 2; the ONNX model needs none of it)."""


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """basic-pitch logs a warning per missing backend (TensorFlow, TFLite, CoreML) at import and prints a line per
    file: neither concerns a user of the ONNX model, so both are held back."""
    logger = logging.getLogger()
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        logger.setLevel(level)


def _modules() -> tuple[Any, Any]:
    """basic_pitch's inference module and its ONNX model's path; MissingDependencyError, saying how to install it."""
    try:
        with _quiet():
            import onnxruntime  # noqa: F401  (basic-pitch picks its ONNX backend only when this imports)
            from basic_pitch import FilenameSuffix, build_icassp_2022_model_path, inference
    except ImportError as error:
        raise MissingDependencyError(f'the basic-pitch peer needs basic-pitch and onnxruntime ({error}): {BASIC_PITCH_INSTALL}') from None
    return inference, build_icassp_2022_model_path(FilenameSuffix.onnx)


def basic_pitch_available() -> bool:
    """Whether basic-pitch and onnxruntime import here (the peer is optional: a run without them records no peer)."""
    try:
        _modules()
    except MissingDependencyError:
        return False
    return True


def basic_pitch_version() -> str:
    """The installed basic-pitch's version, recorded beside its figures."""
    from importlib.metadata import version

    return version('basic-pitch')


def load_basic_pitch(threads: int | None) -> Any:
    """basic-pitch's `Model` on its shipped ONNX file, its onnxruntime session limited to `threads` intra-op threads
    (basic-pitch's own session takes every core) and not spinning while it waits, as etude's own ONNX path runs."""
    import onnxruntime

    inference, path = _modules()
    with _quiet():
        model = inference.Model(path)
    if model.model_type != inference.Model.MODEL_TYPES.ONNX:
        raise MissingDependencyError(f'basic-pitch loaded {model.model_type} rather than its ONNX model; the peer runs the ONNX model: '
                                     f'{BASIC_PITCH_INSTALL}')
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads or len(os.sched_getaffinity(0))
    options.inter_op_num_threads = 1
    options.add_session_config_entry('session.intra_op.allow_spinning', '0')
    model.model = onnxruntime.InferenceSession(str(path), options, providers=['CPUExecutionProvider'])
    return model


def basic_pitch_notes(audio: str | os.PathLike[str], *, threads: int | None = None, model: Any = None) -> np.ndarray:
    """basic-pitch's notes of an audio file, as `NOTE_DTYPE` sorted by start (pitches outside the piano's keys dropped,
    as etude's model cannot write them either).

    Args:
        audio: any file librosa reads.
        threads: onnxruntime's intra-op threads (default: the cores this process may use).
        model: a `Model` from an earlier call's `load_basic_pitch`, to load the network once for many files.
    """
    inference, _ = _modules()
    with _quiet():
        _, _, events = inference.predict(Path(audio), model if model is not None else load_basic_pitch(threads))
    notes = np.zeros(len(events), dtype=NOTE_DTYPE)
    for index, (start, end, pitch, amplitude, _bends) in enumerate(events):
        notes[index] = (pitch, start, end, 0.0, end - start, int(np.clip(np.round(127 * amplitude), 1, 127)))
    notes = notes[(notes['pitch'] >= BEGIN_NOTE) & (notes['pitch'] < BEGIN_NOTE + NUM_PITCHES)]
    notes = notes[np.lexsort((notes['pitch'], notes['start']))]
    notes['step'] = np.diff(notes['start'], prepend=0.0)
    return notes
