"""Local data generators with the real programs: espeak-ng, music21's corpus, FluidSynth. No mocks.

A missing program is simulated the way a user meets it, by running with a PATH that lacks it.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pretty_midi
import pytest
from conftest import needs_espeak, needs_fluidsynth

from etude.data.audio import audio_info, read_audio
from etude.data.generators import (
    DIGIT_WORDS,
    export_chorales,
    find_soundfont,
    generate_spoken_digits,
    render_midi,
    render_pairs,
    speaker_name,
)
from etude.errors import (
    ConfigError,
    DataFileError,
    DatasetError,
    MissingDependencyError,
)

FSDD_NAME = re.compile(r'^(\d)_([a-z0-9]+)_(\d+)\.wav$')
VOICES = ('en-us+m3', 'en+f2')


def _empty_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    bare = tmp_path / 'bare-bin'
    bare.mkdir()
    monkeypatch.setenv('PATH', str(bare))


# ---------------------------------------------------------------- spoken digits


@pytest.fixture(scope='module')
def digits(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which('espeak-ng') is None:
        pytest.skip('espeak-ng is not installed (apt-get install espeak-ng)')
    return generate_spoken_digits(tmp_path_factory.mktemp('fsdd'), speakers=VOICES, repetitions=1, seed=3, workers=2)


@needs_espeak
def test_spoken_digits_follow_the_fsdd_layout(digits: Path):
    files = sorted((digits / 'recordings').iterdir())
    assert len(files) == 20
    speakers = {speaker_name(voice) for voice in VOICES}
    seen = set()
    for path in files:
        match = FSDD_NAME.match(path.name)
        assert match, path.name
        digit, speaker, index = match.groups()
        assert speaker in speakers and index == '0'
        seen.add((int(digit), speaker))
        info = audio_info(path)
        assert (info.sample_rate, info.channels, info.subtype) == (8000, 1, 'PCM_16')
        assert 0.15 < info.duration < 1.5  # a trimmed word, not espeak-ng's padded output
        audio, _ = read_audio(path)
        assert np.sqrt(np.mean(audio ** 2)) > 0.02
        frames = np.sqrt(np.mean(audio[:len(audio) // 80 * 80].reshape(-1, 80) ** 2, axis=1))  # 10 ms frames
        loud = np.flatnonzero(frames > 0.01 * frames.max())
        assert loud[0] <= 2 and len(frames) - loud[-1] <= 3  # espeak-ng's leading and trailing silence is cut
    assert seen == {(digit, speaker) for digit in range(10) for speaker in speakers}
    record = json.loads((digits / 'etude-generator.json').read_text())
    assert record['settings']['seed'] == 3 and record['words'] == list(DIGIT_WORDS)


@needs_espeak
def test_voices_differ(digits: Path):
    male, female = (speaker_name(voice) for voice in VOICES)

    def pitch(speaker: str) -> float:
        """Median fundamental frequency over the digits, by autocorrelation of loud 40 ms frames."""
        estimates = []
        for digit in range(10):
            audio, rate = read_audio(digits / 'recordings' / f'{digit}_{speaker}_0.wav')
            for start in range(0, len(audio) - 320, 160):
                frame = audio[start:start + 320] - audio[start:start + 320].mean()
                if np.sqrt(np.mean(frame ** 2)) < 0.05:
                    continue
                correlation = np.correlate(frame, frame, 'full')[319:]
                lag = rate // 400 + int(np.argmax(correlation[rate // 400:rate // 60]))
                if correlation[lag] > 0.3 * correlation[0]:
                    estimates.append(rate / lag)
        return float(np.median(estimates))

    for digit in range(10):
        a = (digits / 'recordings' / f'{digit}_{male}_0.wav').read_bytes()
        b = (digits / 'recordings' / f'{digit}_{female}_0.wav').read_bytes()
        assert a != b
    assert pitch(female) > 1.3 * pitch(male)  # the female variant speaks higher


@needs_espeak
def test_same_seed_same_bytes_and_resume(digits: Path, tmp_path: Path):
    again = generate_spoken_digits(tmp_path / 'again', speakers=VOICES, repetitions=1, seed=3, workers=1)
    for path in (digits / 'recordings').iterdir():
        assert (again / 'recordings' / path.name).read_bytes() == path.read_bytes(), path.name
    lost = again / 'recordings' / f'7_{speaker_name(VOICES[0])}_0.wav'
    lost.unlink()
    generate_spoken_digits(again, speakers=VOICES, repetitions=1, seed=3)
    assert lost.read_bytes() == (digits / 'recordings' / lost.name).read_bytes()
    with pytest.raises(DatasetError, match='other settings'):
        generate_spoken_digits(again, speakers=VOICES, repetitions=1, seed=4)


@needs_espeak
def test_spoken_digit_settings_are_checked(tmp_path: Path):
    with pytest.raises(ConfigError, match='voice'):
        generate_spoken_digits(tmp_path, speakers=('qqq',), repetitions=1)
    with pytest.raises(ConfigError, match="no voice variant 'typo'"):  # espeak-ng alone would quietly use plain en-us
        generate_spoken_digits(tmp_path, speakers=('en-us+typo',), repetitions=1)
    with pytest.raises(ConfigError, match='letters and digits'):
        generate_spoken_digits(tmp_path, speakers={'bad_name': 'en'}, repetitions=1)


def test_missing_espeak_names_the_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    _empty_path(monkeypatch, tmp_path)
    with pytest.raises(MissingDependencyError, match='sudo apt-get install espeak-ng'):
        generate_spoken_digits(tmp_path / 'out', repetitions=1)


# ---------------------------------------------------------------- chorales


@pytest.fixture(scope='module')
def chorales(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return export_chorales(tmp_path_factory.mktemp('chorales'), limit=3, write_musicxml=True)


def test_chorales_read_back_as_midi(chorales: list[Path]):
    assert len(chorales) == 3 and len({path.name for path in chorales}) == 3
    for path in chorales:
        assert re.fullmatch(r'bwv[0-9][0-9a-z.\-]*\.mid', path.name)
        midi = pretty_midi.PrettyMIDI(str(path))
        notes = [note for instrument in midi.instruments for note in instrument.notes]
        assert len(midi.instruments) == 4 and len(notes) > 20
        pitches = np.array([note.pitch for note in notes])
        assert 36 <= pitches.min() and pitches.max() <= 84  # bass to soprano range
        assert 10 < midi.get_end_time() < 300
        score = path.with_suffix('.musicxml').read_text()
        assert score.startswith('<?xml') and '<score-partwise' in score


def test_chorale_export_is_idempotent(chorales: list[Path]):
    before = {path: (path.stat().st_mtime_ns, path.read_bytes()) for path in chorales}
    again = export_chorales(chorales[0].parent, limit=3, write_musicxml=True)
    assert again == chorales
    assert {path: (path.stat().st_mtime_ns, path.read_bytes()) for path in again} == before


def test_soprano_only_and_bad_names(tmp_path: Path):
    [path] = export_chorales(tmp_path, names=['bach/bwv269'], parts='soprano')
    midi = pretty_midi.PrettyMIDI(str(path))
    assert len(midi.instruments) == 1 and min(note.pitch for note in midi.instruments[0].notes) >= 60
    with pytest.warns(UserWarning, match='skipped 1 of 2'):
        written = export_chorales(tmp_path / 'mixed', names=['bach/bwv269', 'bach/no-such-chorale'])
    assert [p.name for p in written] == ['bwv269.mid']
    with pytest.raises(ConfigError):
        export_chorales(tmp_path, limit=1, parts='alto')  # type: ignore[arg-type]


# ---------------------------------------------------------------- FluidSynth

ONSETS = (0.5, 0.9, 1.3, 1.7)


def _four_notes(path: Path, program: int = 0) -> Path:
    midi = pretty_midi.PrettyMIDI()
    instrument = pretty_midi.Instrument(program=program)
    for pitch, start in zip((60, 64, 67, 72), ONSETS, strict=True):
        instrument.notes.append(pretty_midi.Note(velocity=100, pitch=pitch, start=start, end=start + 0.3))
    midi.instruments.append(instrument)
    midi.write(str(path))
    return path


@needs_fluidsynth
def test_rendered_audio_is_aligned_with_the_midi(tmp_path: Path):
    midi_path = _four_notes(tmp_path / 'four.mid')
    audio_path = render_midi(midi_path, tmp_path / 'four.wav', sample_rate=16_000)
    audio, rate = read_audio(audio_path)
    assert rate == 16_000 and audio.ndim == 1 and np.abs(audio).max() > 0.01
    end = pretty_midi.PrettyMIDI(str(midi_path)).get_end_time()
    assert end <= len(audio) / rate <= end + 2.5
    hop = rate // 200  # 5 ms frames
    rms = np.sqrt(np.mean(audio[:len(audio) // hop * hop].reshape(-1, hop) ** 2, axis=1))
    first_sound = np.argmax(rms > rms.max() * 0.01) / 200
    assert abs(first_sound - ONSETS[0]) <= 0.05
    for onset in ONSETS:
        frame = round(onset * 200)
        assert rms[frame:frame + 10].mean() > 1.8 * rms[frame - 6:frame].mean(), onset  # energy rises at each onset


@needs_fluidsynth
def test_render_pairs_of_a_chorale_as_piano(chorales: list[Path], tmp_path: Path):
    violin = _four_notes(tmp_path / 'violin.mid', program=40)
    with_drums = pretty_midi.PrettyMIDI(str(violin))
    drums = pretty_midi.Instrument(program=0, is_drum=True)
    drums.notes.append(pretty_midi.Note(velocity=100, pitch=36, start=0.5, end=0.6))
    with_drums.instruments.append(drums)
    with_drums.write(str(violin))
    broken = tmp_path / 'broken.mid'
    broken.write_bytes(b'MThd-not-really')
    with pytest.warns(UserWarning, match='skipped 1 of 3'):
        pairs = render_pairs([chorales[0], violin, broken], tmp_path / 'pairs', workers=2, progress=False)
    assert [(a.name, m.name) for a, m in pairs] == [(f'{chorales[0].stem}.wav', chorales[0].name), ('violin.wav', 'violin.mid')]
    for audio_path, midi_path in pairs:
        midi = pretty_midi.PrettyMIDI(str(midi_path))
        assert all(instrument.program == 0 and not instrument.is_drum for instrument in midi.instruments)
        info = audio_info(audio_path)
        assert info.sample_rate == 16_000 and info.channels == 1
        assert midi.get_end_time() <= info.duration <= midi.get_end_time() + 2.5
    chorale_audio = pairs[0][0]
    stamp = chorale_audio.stat().st_mtime_ns
    assert render_pairs([chorales[0]], tmp_path / 'pairs', progress=False) == pairs[:1]
    assert chorale_audio.stat().st_mtime_ns == stamp  # kept, not rendered again


@needs_fluidsynth
def test_render_rejects_bad_midi(tmp_path: Path):
    (tmp_path / 'text.mid').write_text('not midi')
    with pytest.raises(DataFileError, match='not a MIDI file'):
        render_midi(tmp_path / 'text.mid', tmp_path / 'out.wav')
    assert not (tmp_path / 'out.wav').exists()


def test_missing_fluidsynth_names_the_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    _empty_path(monkeypatch, tmp_path)
    midi_path = _four_notes(tmp_path / 'four.mid')
    with pytest.raises(MissingDependencyError, match='sudo apt-get install fluidsynth'):
        render_midi(midi_path, tmp_path / 'four.wav')
    with pytest.raises(MissingDependencyError, match='fluidsynth'):
        render_pairs([midi_path], tmp_path / 'pairs')


def test_missing_soundfont_names_the_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv('ETUDE_SOUNDFONT', str(tmp_path / 'missing.sf2'))
    with pytest.raises(MissingDependencyError, match='fluid-soundfont-gm'):
        find_soundfont()
    with pytest.raises(MissingDependencyError, match='fluid-soundfont-gm'):
        find_soundfont(tmp_path / 'also-missing.sf2')
