"""Spoken digits synthesised with espeak-ng, laid out like the Free Spoken Digit Dataset (FSDD).

FSDD (Jackson et al.) holds `recordings/{digit}_{speaker}_{index}.wav`: 8 kHz mono WAV files of the digits 0-9
spoken as words, trimmed to little silence, with lower-case speaker names and `_` as the separator. Writing the same
layout here lets a routine's `--testing` run, and the tests, exercise the real FSDD code path offline and in seconds.

Every recording is a real espeak-ng process. Its speed and pitch come from generators seeded by
`(seed, speaker, digit, index)`, never by the order of work, so the same seed gives byte-identical files whether
they were written in one call, in parallel, or by a resumed call.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import zlib
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm.auto import tqdm

from ...errors import ConfigError, DataFileError, DatasetError, MissingDependencyError
from ..audio import atomic_path, read_audio, write_audio

if TYPE_CHECKING:
    from ..definitions import DatasetDefinition, OnError

__all__ = ['DEFAULT_VOICES', 'DIGIT_WORDS', 'FSDD_PATTERN', 'generate_spoken_digits', 'speaker_name', 'spoken_digit_folder']

FSDD_PATTERN = '{digit}_{speaker}_{index}.wav'  # FSDD's file names, and what generate_spoken_digits writes

DIGIT_WORDS = ('zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine')
# Six speakers like FSDD: three male and three female variants over five English accents.
DEFAULT_VOICES = ('en-us+m3', 'en+f2', 'en-gb-scotland+m1', 'en-us+f4', 'en-gb-x-rp+m7', 'en-029+f3')
PROVENANCE_FILE = 'etude-generator.json'
_SPEED_LIMITS = (80, 450)  # words per minute espeak-ng accepts
_PITCH_LIMITS = (0, 99)


def spoken_digit_folder(root: str | Path, *, on_error: OnError = 'raise', name: str | None = None) -> DatasetDefinition:
    """The definition of a folder in FSDD's layout (FSDD's `recordings/`, or what `generate_spoken_digits` wrote):
    `{digit}_{speaker}_{index}.wav`, labelled with the class `digit`, grouped by `speaker` so a split holds out whole voices."""
    from ..dataset_layouts import audio_folder

    return audio_folder(root, FSDD_PATTERN, group_by='speaker', label_types={'digit': 'class'}, on_error=on_error, name=name)


def speaker_name(voice: str) -> str:
    """FSDD-style speaker name for an espeak-ng voice: lower-case letters and digits only, e.g. 'espeakenusm3'.

    No `_` may appear inside it, because FSDD file names are split on `_` to find the digit, speaker and index.
    """
    return 'espeak' + re.sub(r'[^a-z0-9]', '', voice.lower())


def _require_espeak() -> str:
    program = shutil.which('espeak-ng')
    if program is None:
        raise MissingDependencyError('espeak-ng is not installed; install it with: sudo apt-get install espeak-ng')
    return program


def _speakers(speakers: Sequence[str] | Mapping[str, str]) -> dict[str, str]:
    """Speaker name -> voice, checked to be usable as FSDD file-name parts."""
    if isinstance(speakers, str):
        speakers = (speakers,)
    named = dict(speakers) if isinstance(speakers, Mapping) else {speaker_name(voice): voice for voice in speakers}
    if not isinstance(speakers, Mapping) and len(named) != len(speakers):
        raise ConfigError(f'speakers {list(speakers)} give duplicate speaker names; pass a mapping of name -> voice')
    if not named:
        raise ConfigError('generate_spoken_digits needs at least one speaker')
    for name in named:
        if not re.fullmatch(r'[a-z0-9]+', name):
            raise ConfigError(f'speaker name {name!r} must be lower-case letters and digits only (no "_": it separates fields)')
    return named


def _check_voice(program: str, voice: str) -> None:
    """Fail once, with a clear message, rather than once per file for a voice espeak-ng does not have.

    espeak-ng itself falls back to the base voice, silently, when a `+variant` is unknown, so variants are checked
    against its list (`espeak-ng --voices=variant`) as well.
    """
    result = subprocess.run([program, '-v', voice, '-q', 'zero'], check=False, capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        reason = (result.stderr.strip() or result.stdout.strip() or f'exit status {result.returncode}').splitlines()[-1]
        raise ConfigError(f'espeak-ng cannot use voice {voice!r} ({reason}); list voices with: espeak-ng --voices')
    _, _, variant = voice.partition('+')
    if variant:
        listing = subprocess.run([program, '--voices=variant'], check=False, capture_output=True, text=True, timeout=60).stdout
        known = {line.split()[4].removeprefix('!v/').lower() for line in listing.splitlines()[1:] if len(line.split()) >= 5}
        if variant.lower() not in known:
            raise ConfigError(f'espeak-ng has no voice variant {variant!r} (in {voice!r}); list variants with: espeak-ng --voices=variant')


def _speaker_key(name: str) -> int:
    return zlib.crc32(name.encode())


def _trim_silence(audio: np.ndarray, sample_rate: int, *, threshold_db: float = -40.0, pad: float = 0.01) -> np.ndarray:
    """Cut leading and trailing frames quieter than `threshold_db` below the loudest 10 ms frame, keeping `pad` s.

    FSDD recordings are trimmed to near-minimal silence; espeak-ng pads its output, which would otherwise teach a
    classifier that every digit sits in the same place in a window.
    """
    frame = max(1, round(0.01 * sample_rate))
    count = -(-len(audio) // frame)
    frames = np.pad(audio, (0, count * frame - len(audio))).reshape(count, frame)
    rms = np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1))
    if rms.max() <= 0:
        return audio[:0]
    loud = np.flatnonzero(rms > rms.max() * 10 ** (threshold_db / 20))  # never empty: holds the loudest frame
    padding = round(pad * sample_rate)
    return audio[max(0, loud[0] * frame - padding):min(len(audio), (loud[-1] + 1) * frame + padding)]


def _speak(program: str, voice: str, word: str, speed: int, pitch: int, path: Path, sample_rate: int) -> None:
    """Synthesise one word with a real espeak-ng process and write it as an FSDD recording."""
    with tempfile.TemporaryDirectory(prefix='etude-espeak-') as temporary:
        raw = Path(temporary) / 'speech.wav'
        command = [program, '-v', voice, '-s', str(speed), '-p', str(pitch), '-w', str(raw), word]
        result = subprocess.run(command, check=False, capture_output=True, text=True, timeout=60)
        if result.returncode != 0 or not raw.is_file():
            reason = (result.stderr.strip() or f'exit status {result.returncode}').splitlines()[-1]
            raise DataFileError(f'{path}: espeak-ng failed ({reason})')
        audio, _ = read_audio(raw, sample_rate=sample_rate, mono=True)
    audio = _trim_silence(np.clip(audio, -1.0, 1.0), sample_rate)
    if len(audio) == 0:
        raise DataFileError(f'{path}: espeak-ng produced silence for {word!r} with voice {voice!r}')
    write_audio(path, audio, sample_rate, subtype='PCM_16')


def generate_spoken_digits(
    directory: str | os.PathLike[str],
    *,
    speakers: Sequence[str] | Mapping[str, str] = DEFAULT_VOICES,
    repetitions: int = 50,
    speed_range: tuple[int, int] = (140, 190),
    pitch_range: tuple[int, int] = (30, 70),
    speed_jitter: int = 10,
    pitch_jitter: int = 5,
    sample_rate: int = 8000,
    seed: int = 0,
    workers: int | None = None,
    overwrite: bool = False,
    progress: bool = False,
) -> Path:
    """Write a spoken-digit dataset in the FSDD layout, `directory/recordings/{digit}_{speaker}_{index}.wav`.

    Each speaker has a typical speed and pitch, drawn once from `speed_range` and `pitch_range`, and each recording
    varies them by up to `speed_jitter` words per minute and `pitch_jitter` pitch steps, so a speaker sounds alike
    across recordings but no two recordings are the same. The settings are written to `etude-generator.json`; a
    second call with the same settings only writes the files still missing, and one with other settings fails
    unless `overwrite` is set (then every file of this call is rewritten; files of other speakers stay).

    Args:
        directory: dataset root; created if needed.
        speakers: espeak-ng voices (`language+variant`, see `espeak-ng --voices`), named by `speaker_name`, or a
            mapping of FSDD speaker name (lower-case letters and digits) -> voice.
        repetitions: recordings per digit and speaker (FSDD has 50), indexed from 0.
        speed_range: range of the speakers' typical speed in words per minute (espeak-ng's default is 175).
        pitch_range: range of the speakers' typical pitch, 0-99 (espeak-ng's default is 50).
        speed_jitter: largest change of speed from one recording to another around the speaker's own.
        pitch_jitter: largest change of pitch from one recording to another around the speaker's own.
        sample_rate: of the written files (FSDD: 8000).
        seed: seeds every speed and pitch; the same seed writes byte-identical files.
        workers: espeak-ng processes run at once; default the number of CPUs, at most 8.
        overwrite: rewrite existing files, and accept a directory generated with other settings.
        progress: show a tqdm progress bar.

    Returns:
        `directory`, the dataset root.

    Raises:
        MissingDependencyError: espeak-ng is not installed.
        ConfigError: a bad setting or a voice espeak-ng does not have.
        DatasetError: `directory` holds digits generated with other settings and `overwrite` is not set.
    """
    program = _require_espeak()
    named = _speakers(speakers)
    if repetitions < 1 or sample_rate < 1000:
        raise ConfigError(f'generate_spoken_digits needs repetitions >= 1 and sample_rate >= 1000, got {repetitions}, {sample_rate}')
    for label, (low, high), limits in (('speed_range', speed_range, _SPEED_LIMITS), ('pitch_range', pitch_range, _PITCH_LIMITS)):
        if not limits[0] <= low <= high <= limits[1]:
            raise ConfigError(f'{label} must be (low, high) within {limits}, got {(low, high)}')
    if speed_jitter < 0 or pitch_jitter < 0:
        raise ConfigError(f'speed_jitter and pitch_jitter must be >= 0, got {speed_jitter}, {pitch_jitter}')
    for voice in dict.fromkeys(named.values()):
        _check_voice(program, voice)

    root = Path(directory)
    settings: dict[str, Any] = {
        'speakers': named, 'repetitions': repetitions, 'speed_range': list(speed_range), 'pitch_range': list(pitch_range),
        'speed_jitter': speed_jitter, 'pitch_jitter': pitch_jitter, 'sample_rate': sample_rate, 'seed': seed,
    }
    _write_provenance(root, program, settings, overwrite)

    jobs = []
    for name, voice in named.items():
        speaker_rng = np.random.default_rng([seed, _speaker_key(name)])
        base_speed = int(speaker_rng.integers(speed_range[0], speed_range[1] + 1))
        base_pitch = int(speaker_rng.integers(pitch_range[0], pitch_range[1] + 1))
        for digit, word in enumerate(DIGIT_WORDS):
            for index in range(repetitions):
                path = root / 'recordings' / FSDD_PATTERN.format(digit=digit, speaker=name, index=index)
                rng = np.random.default_rng([seed, _speaker_key(name), digit, index])
                speed = int(np.clip(base_speed + rng.integers(-speed_jitter, speed_jitter + 1), *_SPEED_LIMITS))
                pitch = int(np.clip(base_pitch + rng.integers(-pitch_jitter, pitch_jitter + 1), *_PITCH_LIMITS))
                if overwrite or not path.exists():
                    jobs.append((program, voice, word, speed, pitch, path, sample_rate))
    workers = workers or min(8, os.cpu_count() or 1)
    # Threads suffice: each job's work happens in its own espeak-ng process and in soxr.
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool, tqdm(total=len(jobs), disable=None if progress else True, desc='spoken digits') as bar:
        futures = [pool.submit(_speak, *job) for job in jobs]
        try:
            for future in as_completed(futures):
                future.result()
                bar.update()
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return root


def _espeak_version(program: str) -> str:
    result = subprocess.run([program, '--version'], check=False, capture_output=True, text=True, timeout=60)
    return result.stdout.split('Data at')[0].strip()


def _write_provenance(root: Path, program: str, settings: dict[str, Any], overwrite: bool) -> None:
    """Record how the files were made, and refuse to mix files made with other settings into one dataset."""
    path = root / PROVENANCE_FILE
    if path.exists() and not overwrite:
        try:
            previous = json.loads(path.read_text()).get('settings')
        except (OSError, ValueError, AttributeError):
            previous = None
        if previous != json.loads(json.dumps(settings)):
            raise DatasetError(
                f'{root} holds spoken digits generated with other settings (see {PROVENANCE_FILE}); '
                'choose another directory or pass overwrite=True'
            )
        return
    record = {
        'generator': 'etude.data.generators.spoken_digits', 'version': 1, 'layout': 'fsdd',
        'files': 'recordings/{digit}_{speaker}_{index}.wav', 'words': list(DIGIT_WORDS),
        'espeak_ng': _espeak_version(program), 'settings': settings,
    }
    with atomic_path(path) as temporary:
        temporary.write_text(json.dumps(record, indent=2) + '\n')
