"""basic-pitch as the transcription peer: its shipped ONNX model run by onnxruntime, its notes scored like etude's."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import needs_fluidsynth

from etude.data.midi import notes_from_columns, notes_to_midi
from etude.music.transcription.peer import BASIC_PITCH_INSTALL, basic_pitch_available, basic_pitch_notes, load_basic_pitch
from etude.music.transcription.scoring import score_piece

ROOT = Path(__file__).resolve().parent.parent

if not basic_pitch_available():  # CI installs it (.ci/run); elsewhere it is optional
    if os.environ.get('CI'):
        pytest.fail(f'CI must install the basic-pitch peer: {BASIC_PITCH_INSTALL}', pytrace=False)
    pytestmark = pytest.mark.skip(reason=f'basic-pitch is not installed ({BASIC_PITCH_INSTALL})')


@needs_fluidsynth
def test_basic_pitch_transcribes_a_render_scored_by_the_same_calls(tmp_path: Path) -> None:
    from etude.data.generators import render_midi

    chords = [[60, 64, 67], [62, 65, 69], [59, 62, 67], [60, 64, 72]]
    rows = [[pitch, 0.3 + index, 0.3 + index + 0.7, 90] for index, chord in enumerate(chords) for pitch in chord]
    notes = notes_from_columns(np.array(rows, dtype=np.float64), ('pitch', 'start', 'end', 'velocity'))
    notes_to_midi(notes, tmp_path / 'chords.mid')
    render_midi(tmp_path / 'chords.mid', tmp_path / 'chords.wav')
    model = load_basic_pitch(threads=1)
    found = basic_pitch_notes(tmp_path / 'chords.wav', model=model)
    assert found.dtype == notes.dtype and np.all(np.diff(found['start']) >= 0)
    assert np.all((found['velocity'] >= 1) & (found['velocity'] <= 127))
    assert score_piece(notes, found)['onset_f1'] >= 0.8
    np.testing.assert_array_equal(basic_pitch_notes(tmp_path / 'chords.wav', model=model), found)  # deterministic


def test_a_missing_basic_pitch_is_one_line_saying_how_to_install_it() -> None:
    script = ("import sys; sys.modules['basic_pitch'] = None\n"
              'from etude.errors import MissingDependencyError\n'
              'from etude.music.transcription.peer import basic_pitch_available, basic_pitch_notes\n'
              'assert not basic_pitch_available()\n'
              "try: basic_pitch_notes('x.wav')\n"
              'except MissingDependencyError as error: print(error)\n')
    result = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True, cwd=ROOT, env={**os.environ, 'PYTHONPATH': str(ROOT)},
                            timeout=120)
    assert result.returncode == 0, result.stderr
    line = result.stdout.strip()
    assert '\n' not in line and BASIC_PITCH_INSTALL in line
