"""`etude export --onnx RUN_OR_CHECKPOINT [--output PATH]`: write an exported model as ONNX, for onnxruntime.

    etude export --onnx runs/<id>                              # runs/<id>/checkpoints/best.onnx
    etude export --onnx best.pt --output transcriber.onnx
    etude infer transcriber.onnx piece.wav --output out/       # run by onnxruntime: the same notes as best.pt

The file holds the network and, in its metadata, the task with its settings, the model's hyperparameters and the run's
record, so `etude infer` needs nothing else. Transcription models export (see
`etude.music.transcription.onnx_network` for what is inside the graph); other kinds are refused in one line. Needs
the onnx extra (`pip install "etude[onnx]"`). Imports nothing heavy until it runs.
"""

from __future__ import annotations

import argparse

__all__ = ['configure', 'run']


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('checkpoint', metavar='RUN_OR_CHECKPOINT', help='a run folder (its checkpoints/best.pt) or an etude export (.pt)')
    parser.add_argument('--onnx', action='store_true', help='write ONNX (the one format so far; required)')
    parser.add_argument('-o', '--output', metavar='PATH', help='the .onnx file to write (default: beside the checkpoint, best.onnx for best.pt)')
    parser.add_argument('--overwrite', action='store_true', help='replace PATH if it exists')


def run(arguments: argparse.Namespace) -> int:
    from ..errors import ConfigError

    if not arguments.onnx:
        raise ConfigError('say which format to write: etude export --onnx RUN_OR_CHECKPOINT (ONNX is the one so far)')
    from .onnx_files import write_onnx

    written = write_onnx(arguments.checkpoint, arguments.output, overwrite=arguments.overwrite)
    print(f'wrote {written}')
    return 0
