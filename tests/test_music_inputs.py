"""Bad input to the music tasks, and to a routine's build, is one line that names what was wrong (issue 26): NaN
audio, a transcription of nothing, a drum-only primer, out-of-range routine settings, a build that returns the wrong
thing, warnings as one line each."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT

from etude.cli import main
from etude.errors import DataFileError


def tiny_transcriber() -> object:
    from etude.music.transcription import PianoTranscriber

    return PianoTranscriber(PianoTranscriber.Parameters(n_mels=32, channels=(4,), acoustic_units=8, gru_units=4)).eval()


def test_audio_that_is_not_numbers_is_refused_by_transcription(tmp_path: Path) -> None:
    import soundfile

    from etude.data import write_audio
    from etude.music.transcription import transcribe

    audio = np.full(16_000, np.nan, dtype=np.float32)
    soundfile.write(tmp_path / 'nan.wav', audio, 16_000, subtype='FLOAT')  # a float WAV holds NaN as it is
    with pytest.raises(ValueError, match='not numbers'):
        write_audio(tmp_path / 'pcm.wav', audio, 16_000)  # an integer encoding would write full-scale noise
    with pytest.raises(DataFileError, match=r'nan.wav: holds 16000 samples that are not numbers \(NaN or infinite\)'):
        transcribe(tiny_transcriber(), tmp_path / 'nan.wav', segment_seconds=1.0)
    with pytest.raises(DataFileError, match='not numbers'):
        transcribe(tiny_transcriber(), audio, segment_seconds=1.0)


def test_a_transcription_of_nothing_says_so_on_its_file_line(tmp_path: Path) -> None:
    import torch

    from etude.data import write_audio
    from etude.music.transcription import Transcription
    from etude.music.transcription.task import EmptyTranscription
    from etude.tasks import InferenceContext

    time = np.arange(16_000) / 16_000
    write_audio(tmp_path / 'tone.wav', (0.3 * np.sin(2 * np.pi * 440 * time)).astype(np.float32), 16_000)
    task = Transcription(segment_seconds=1.0, onset_threshold=0.99)  # an untrained model's onsets stay near their 1 % prior
    context = InferenceContext({}, 'model.pt', torch.device('cpu'), options={})
    with pytest.warns(EmptyTranscription, match=r'tone.wav: no notes found, so its MIDI file is empty'):
        (outcome,) = task.infer(tiny_transcriber(), [str(tmp_path / 'tone.wav')], context)  # type: ignore[arg-type]
    assert outcome.result is not None and outcome.result['notes'] == 0


def test_a_drum_only_primer_is_refused_without_advice_the_command_cannot_take(tmp_path: Path) -> None:
    import pretty_midi

    from etude.music.generation.task import read_primer

    midi = pretty_midi.PrettyMIDI()
    drums = pretty_midi.Instrument(0, is_drum=True)
    drums.notes.append(pretty_midi.Note(100, 38, 0.0, 0.2))
    midi.instruments.append(drums)
    midi.write(str(tmp_path / 'beat.mid'))
    with pytest.raises(DataFileError) as refused:
        read_primer(str(tmp_path / 'beat.mid'))
    assert 'only drum tracks' in str(refused.value) and 'include_drums' not in str(refused.value) and '\n' not in str(refused.value)


@pytest.mark.parametrize(('routine', 'setting', 'fragment'), [
    ('piano_transcription', 'chorales=0', "'chorales' in command line must be >= 3, got 0"),
    ('piano_transcription', 'chorales=-1', "'chorales' in command line must be >= 3, got -1"),
    ('music_generation', 'chorale_limit=-1', "'chorale_limit' in command line must be >= 0, got -1"),
    ('music_generation', 'tile_notes=0', "'tile_notes' in command line must be >= 2, got 0"),
    ('piano_transcription', 'onset_threshold=1.5', "'onset_threshold' in command line must be in (0, 1), got 1.5"),
])
def test_a_routine_setting_out_of_range_names_the_key_and_its_range(routine: str, setting: str, fragment: str, tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert main(['train', routine, setting, f'--runs-dir={tmp_path}']) == 2
    error = capsys.readouterr().err
    assert error.count('\n') == 1 and fragment in error, error


BUILDS = {
    'a string': "    return 'accuracy'\n",
    'a list of strings': "    return ['accuracy']\n",
}


@pytest.mark.parametrize('returned', sorted(BUILDS))
def test_a_build_that_returns_no_metrics_is_one_line_saying_what_build_returns(returned: str, tmp_path: Path) -> None:
    routine = tmp_path / 'odd_routine.py'
    routine.write_text(
        'from etude import Routine\nfrom etude.models import CRePE\n\nDEFAULTS = CRePE.Parameters()\n\n\n'
        'def build(routine, parameters):\n' + BUILDS[returned])
    result = subprocess.run([sys.executable, '-m', 'etude', 'train', str(routine)], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                            env={'PYTHONPATH': str(ROOT), 'PATH': '/usr/bin:/bin', 'WANDB_MODE': 'offline'})
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and 'build returns nothing' in lines[0] and 'Traceback' not in result.stderr, result.stderr


def test_a_warning_during_a_command_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    routine = tmp_path / 'warns.py'
    routine.write_text('import warnings\nfrom etude.models import CRePE\n\nDEFAULTS = CRePE.Parameters()\n\n\n'
                       'def build(routine, parameters):\n    warnings.warn("a warning\\nover two lines")\n    raise SystemExit(0)\n')
    hook = warnings.showwarning
    with pytest.raises(SystemExit):
        main(['train', str(routine), f'--runs-dir={tmp_path / "runs"}'])
    assert capsys.readouterr().err.splitlines() == ['warning: a warning over two lines']
    assert warnings.showwarning is hook, 'the command leaves the caller its own hook'
