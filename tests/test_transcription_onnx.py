"""Piano transcription as ONNX: a --testing run exported with `etude export --onnx` and run by onnxruntime through
`etude infer` gives the torch path's notes; a file that is not ONNX is one error line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, needs_fluidsynth
from test_transcription import train_testing_routine

from etude.data.midi import midi_to_notes

onnxruntime = pytest.importorskip('onnxruntime', reason='onnxruntime is not installed (pip install "etude[onnx]")')
pytest.importorskip('onnx', reason='onnx is not installed (pip install "etude[onnx]")')

FRAME_SECONDS = 0.01
# a one-epoch model of the --testing size is unsure (onset outputs below 0.03): thresholds this low give it notes to compare
LOW_THRESHOLDS = ('--onset-threshold', '0.015', '--frame-threshold', '0.1')


def etude(*arguments: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, 'PYTHONPATH': str(ROOT)}
    return subprocess.run([sys.executable, '-m', 'etude', *arguments], capture_output=True, text=True, env=environment, timeout=600)


def notes_of(folder: Path, stem: str) -> np.ndarray:
    notes = midi_to_notes(folder / f'{stem}.mid')
    return notes[np.lexsort((notes['start'], notes['pitch']))]


@pytest.mark.slow
@pytest.mark.timeout(900)  # renders and trains a --testing run, then four subprocesses
@needs_fluidsynth
def test_onnx_export_gives_the_torch_paths_notes_and_a_bad_file_is_one_error_line(tmp_path: Path) -> None:
    import onnx

    summary = train_testing_routine(tmp_path)
    exported = etude('export', '--onnx', summary['paths']['run'], '--output', str(tmp_path / 'transcriber.onnx'))
    assert exported.returncode == 0, exported.stderr
    metadata = {entry.key: json.loads(entry.value) for entry in onnx.load(str(tmp_path / 'transcriber.onnx')).metadata_props}
    assert metadata['etude.task']['kind'] == 'transcription' and metadata['etude.hyperparameters']['n_mels'] == 229
    assert metadata['etude.source'] == summary['paths']['best']

    piece = min((tmp_path / 'data' / 'renders').glob('*.wav'), key=lambda path: (path.stat().st_size, path.name))  # the shortest render
    by_torch = etude('infer', summary['paths']['best'], str(piece), '--output', str(tmp_path / 'torch'), '--threads', '1', *LOW_THRESHOLDS)
    by_onnx = etude('infer', str(tmp_path / 'transcriber.onnx'), str(piece), '--output', str(tmp_path / 'onnx'), '--threads', '1', *LOW_THRESHOLDS)
    assert by_torch.returncode == 0 and by_onnx.returncode == 0, by_torch.stderr + by_onnx.stderr
    torch_notes, onnx_notes = notes_of(tmp_path / 'torch', piece.stem), notes_of(tmp_path / 'onnx', piece.stem)
    assert len(torch_notes) > 0, 'the low thresholds give the one-epoch model notes to compare'
    # the outputs agree within 1e-5 (check_the_networks_agree), but at so low a threshold an onset peak can sit within that
    # of it: a handful of notes (at most 0.5 %) may be found by one path alone; every other note is the same note
    pairs, candidates, torch_alone = [], list(onnx_notes), []  # each torch note paired with an ONNX note of its key within a frame
    for note in torch_notes:
        match = next((other for other in candidates if other['pitch'] == note['pitch'] and abs(other['start'] - note['start']) < FRAME_SECONDS), None)
        if match is None:
            torch_alone.append(note)
            continue
        candidates = [other for other in candidates if other is not match]
        pairs.append((note, match))
    one_sided = sorted((int(note['pitch']), round(float(note['start']), 3)) for note in [*torch_alone, *candidates])
    assert len(one_sided) <= max(2, len(torch_notes) // 200), one_sided
    for torch_note, onnx_note in pairs:
        if int(torch_note['pitch']) not in {pitch for pitch, _ in one_sided}:  # a one-sided onset ends its key's previous note on one path only
            assert abs(torch_note['end'] - onnx_note['end']) < FRAME_SECONDS

    check_the_networks_agree(Path(summary['paths']['best']), tmp_path / 'transcriber.onnx', piece)

    (tmp_path / 'bad.onnx').write_text('not a model')
    bad = etude('infer', str(tmp_path / 'bad.onnx'), str(piece), '--output', str(tmp_path / 'bad'))
    lines = bad.stderr.strip().splitlines()
    assert bad.returncode == 2 and len(lines) == 1 and lines[0].startswith('error: ') and 'bad.onnx' in lines[0], bad.stderr


def check_the_networks_agree(checkpoint: Path, onnx_file: Path, piece: Path) -> None:
    """Both networks' outputs on the piece's first segments, through `network_outputs` (the step `transcribe` shares)."""
    from etude.data.audio import read_audio
    from etude.export import load_model
    from etude.inference.onnx_files import open_onnx
    from etude.music.transcription.onnx_network import OnnxTranscriber
    from etude.music.transcription.streaming import network_outputs

    model = load_model(checkpoint)
    session, metadata = open_onnx(onnx_file, threads=1)
    audio = read_audio(piece, sample_rate=16000)[0][:3 * 32000].reshape(3, 32000)
    by_torch, by_onnx = network_outputs(model, audio, 'cpu'), network_outputs(OnnxTranscriber(session, metadata['hyperparameters']), audio, 'cpu')
    for head in ('onset', 'offset', 'frame', 'velocity'):
        assert by_onnx[head].shape == by_torch[head].shape == (3, 201, 88)
        np.testing.assert_allclose(by_onnx[head], by_torch[head], atol=1e-5, err_msg=head)


def test_threads_below_one_are_one_error_line() -> None:
    for command in (['infer', 'model.onnx', 'piece.wav', '--threads', '0'], ['train', 'piano_transcription', '--threads', '0']):
        result = etude(*command)
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2 and len(lines) == 1 and lines[0].startswith('error: --threads must be at least 1'), result.stderr


def test_export_mistakes_are_one_error_line(tmp_path: Path) -> None:
    for command, expected in ((['export', str(tmp_path)], 'say which format'), (['export', '--onnx', str(tmp_path / 'nowhere')], 'does not exist'),
                              (['export', '--onnx', str(tmp_path)], 'has no checkpoints/best.pt')):
        result = etude(*command)
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2 and len(lines) == 1 and lines[0].startswith('error: ') and expected in lines[0], result.stderr
