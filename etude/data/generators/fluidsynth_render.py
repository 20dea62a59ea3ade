"""Audio rendered from MIDI with the FluidSynth program and a General MIDI soundfont: aligned audio/MIDI pairs.

A transcription model needs audio whose notes are known to the millisecond. Rendering MIDI with a sampled piano
gives exactly that, offline and for any MIDI file (e.g. the chorales of `export_chorales`); `render_pairs` lays the
results out like MAESTRO, `<stem>.wav` beside `<stem>.mid`, so the same loader reads real and rendered data.

FluidSynth runs as a real subprocess (`fluidsynth -F`, its fast file renderer), not through pyfluidsynth bindings,
so the only requirements are the Debian packages `fluidsynth` and `fluid-soundfont-gm`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ...errors import ConfigError, DataFileError, DatasetError, MissingDependencyError
from ..audio import atomic_path, read_audio, write_audio

__all__ = ['SOUNDFONT_PATHS', 'find_soundfont', 'render_midi', 'render_pairs']

SOUNDFONT_ENVIRONMENT_VARIABLE = 'ETUDE_SOUNDFONT'
# Where Debian's fluid-soundfont-gm and other distributions put a General MIDI soundfont.
SOUNDFONT_PATHS = (
    '/usr/share/sounds/sf2/FluidR3_GM.sf2',
    '/usr/share/sounds/sf2/default-GM.sf2',
    '/usr/share/soundfonts/FluidR3_GM.sf2',
    '/usr/share/soundfonts/default.sf2',
)
# the Debian package that installs each soundfont etude's routines name, for the line that says what to install
SOUNDFONT_PACKAGES = {'FluidR3_GM.sf2': 'fluid-soundfont-gm', 'TimGM6mb.sf2': 'timgm6mb-soundfont',
                      'MuseScore_General_Lite.sf3': 'musescore-general-soundfont-small', 'FluidR3Mono_GM.sf3': 'fluidr3mono-gm-soundfont',
                      'sf_GMbank.sf2': 'csound-soundfont'}
_RENDER_RATE = 44_100  # FluidSynth plays its samples best at the rate they were recorded; soxr resamples after
_SILENCE = 10 ** (-60 / 20)  # relative to the peak: quieter tails are cut
_TAIL_PAD = 0.1  # seconds kept after the last audible sample


def _require_fluidsynth() -> str:
    program = shutil.which('fluidsynth')
    if program is None:
        raise MissingDependencyError('fluidsynth is not installed; install it with: sudo apt-get install fluidsynth')
    return program


def find_soundfont(soundfont: str | os.PathLike[str] | None = None) -> Path:
    """The soundfont to render with: `soundfont`, else `$ETUDE_SOUNDFONT`, else the first of `SOUNDFONT_PATHS`.

    Raises:
        MissingDependencyError: the given soundfont does not exist, or none was given and none is installed.
    """
    if soundfont is not None:
        path, origin = Path(soundfont), 'soundfont'
    elif os.environ.get(SOUNDFONT_ENVIRONMENT_VARIABLE):
        path, origin = Path(os.environ[SOUNDFONT_ENVIRONMENT_VARIABLE]), f'${SOUNDFONT_ENVIRONMENT_VARIABLE}'
    else:
        for candidate in SOUNDFONT_PATHS:
            if Path(candidate).is_file():
                return Path(candidate)
        raise MissingDependencyError(
            f'no General MIDI soundfont found (set ${SOUNDFONT_ENVIRONMENT_VARIABLE} to an .sf2 file, or install '
            'one with: sudo apt-get install fluid-soundfont-gm)'
        )
    if not path.is_file():
        package = SOUNDFONT_PACKAGES.get(path.name)
        fix = (f'install it with: sudo apt-get install {package}' if package else
               'point it at an .sf2 soundfont, or install one with: sudo apt-get install fluid-soundfont-gm')
        raise MissingDependencyError(f'{origin} {path} is not a file; {fix}')
    return path


def _piano_midi(midi_path: Path, out_path: Path, program: int = 0) -> float:
    """Rewrite a MIDI file with every pitched instrument on `program` (0: acoustic grand) and drums removed.

    Transcription models are trained on piano, and the labels must describe exactly what is audible, so drum tracks
    (whose notes are not pitches) go too. Returns the end time in seconds.
    """
    from ..midi import read_midi

    midi = read_midi(midi_path)
    midi.instruments = [instrument for instrument in midi.instruments if not instrument.is_drum]
    if not any(instrument.notes for instrument in midi.instruments):
        raise DataFileError(f'{midi_path}: MIDI file contains only drum notes, nothing to play on a piano')
    for instrument in midi.instruments:
        instrument.program = program
    midi.write(str(out_path))
    return float(midi.get_end_time())


def _end_time(midi_path: Path) -> float:
    from ..midi import read_midi

    return float(read_midi(midi_path).get_end_time())


def render_midi(
    midi_path: str | os.PathLike[str],
    audio_path: str | os.PathLike[str],
    *,
    soundfont: str | os.PathLike[str] | None = None,
    sample_rate: int = 16_000,
    gain: float = 0.5,
    mono: bool = True,
    piano_only: bool = False,
    reverb: bool = False,
    chorus: bool = False,
    program: int | None = None,
    synth_settings: Mapping[str, float | int] | None = None,
) -> Path:
    """Render a MIDI file to audio with FluidSynth, resampled with soxr and written atomically.

    FluidSynth renders at 44.1 kHz in 32-bit float (no clipping inside), then the audio is down-mixed and resampled
    here. FluidSynth pads its output with seconds of silence; the file is cut 0.1 s after the last sample within
    60 dB of the peak, but never before the MIDI's end time, so its length is the music plus the release. If the
    mix peaks above full scale (many loud voices at a high `gain`) it is scaled down to fit rather than clipped.

    Args:
        midi_path: a standard MIDI file.
        audio_path: where to write, .wav/.flac/.ogg; parent directories are created.
        soundfont: an .sf2 file; default from `find_soundfont`.
        sample_rate: of the written audio (16 kHz, the usual rate for piano transcription).
        gain: FluidSynth's master gain, 0-10 (its own default, 0.2, renders piano quietly).
        mono: down-mix to one channel; otherwise keep FluidSynth's stereo.
        piano_only: play every instrument on the acoustic grand piano (program 0) and drop drum tracks.
        reverb: FluidSynth's reverb; off by default so the audio stays dry and note offsets stay sharp.
        chorus: FluidSynth's chorus; off by default for the same reason.
        program: play every instrument on this General MIDI program (0-127) and drop drum tracks, as `piano_only`
            does with 0: a soundfont's other pianos (1 bright, 2 electric grand, 3 honky-tonk).
        synth_settings: FluidSynth settings passed as `-o name=value`, e.g. `{'synth.reverb.room-size': 0.6,
            'synth.chorus.depth': 4}` (the reverb and chorus shape; `reverb` and `chorus` switch them on).

    Returns:
        `audio_path`.

    Raises:
        MissingDependencyError: fluidsynth or the soundfont is not installed.
        DataFileError: the MIDI file cannot be read or FluidSynth fails on it.
    """
    program_path = _require_fluidsynth()
    font = find_soundfont(soundfont)
    midi_path, audio_path = Path(midi_path), Path(audio_path)
    if not 0 < gain <= 10 or sample_rate < 1000:
        raise ConfigError(f'render_midi needs 0 < gain <= 10 and sample_rate >= 1000, got {gain}, {sample_rate}')
    if program is not None and not 0 <= program <= 127:
        raise ConfigError(f'render_midi needs a General MIDI program 0-127, got {program}')
    if piano_only and program is None:
        program = 0
    options = [item for name, value in sorted((synth_settings or {}).items()) for item in ('-o', f'{name}={value}')]
    with tempfile.TemporaryDirectory(prefix='etude-fluidsynth-') as temporary:
        source = midi_path
        if program is not None:
            source = Path(temporary) / 'piano.mid'
            end_time = _piano_midi(midi_path, source, program)
        else:
            end_time = _end_time(midi_path)  # also rejects a file that is not MIDI before FluidSynth sees it
        raw = Path(temporary) / 'render.wav'
        command = [
            program_path, '-n', '-i', '-q', '-R', '1' if reverb else '0', '-C', '1' if chorus else '0', '-g', str(gain), *options,
            '-r', str(_RENDER_RATE), '-O', 'float', '-T', 'wav', '-F', str(raw), str(font), str(source),
        ]
        result = subprocess.run(command, check=False, capture_output=True, text=True, timeout=3600, stdin=subprocess.DEVNULL)
        if result.returncode != 0 or not raw.is_file() or raw.stat().st_size == 0:
            output = (result.stderr + result.stdout).strip() or f'exit status {result.returncode}'
            raise DataFileError(f'{midi_path}: fluidsynth could not render it ({output.splitlines()[-1]})')
        audio, _ = read_audio(raw, sample_rate=sample_rate, mono=mono)
    return write_audio(audio_path, _finish(audio, sample_rate, end_time), sample_rate, subtype='PCM_16')


def _finish(audio: np.ndarray, sample_rate: int, end_time: float) -> np.ndarray:
    """Cut FluidSynth's trailing silence and keep the peak within full scale."""
    level = np.abs(audio).max(axis=0) if audio.ndim == 2 else np.abs(audio)
    peak = float(level.max()) if level.size else 0.0
    if peak == 0.0:
        return audio
    audible = np.flatnonzero(level > peak * _SILENCE)
    stop = max(round(end_time * sample_rate), int(audible[-1]) + 1 + round(_TAIL_PAD * sample_rate))
    audio = audio[..., :stop]
    return audio * (0.999 / peak) if peak > 0.999 else audio


def _render_pair(midi_path: Path, directory: Path, stem: str, extension: str, options: dict) -> tuple[Path, Path]:
    """Render one file and place its MIDI beside it; the MIDI is written last, so a pair is complete once it exists."""
    audio_path, pair_midi = directory / f'{stem}.{extension}', directory / f'{stem}.mid'
    piano_only = options.pop('piano_only')
    with tempfile.TemporaryDirectory(prefix='etude-pair-') as temporary:
        source = midi_path
        if piano_only:
            source = Path(temporary) / f'{stem}.mid'
            _piano_midi(midi_path, source)
        render_midi(source, audio_path, **options)
        with atomic_path(pair_midi) as partial:
            shutil.copyfile(source, partial)
    return audio_path, pair_midi


def render_pairs(
    midi_files: Iterable[str | os.PathLike[str]],
    directory: str | os.PathLike[str],
    *,
    soundfont: str | os.PathLike[str] | None = None,
    sample_rate: int = 16_000,
    gain: float = 0.5,
    piano_only: bool = True,
    reverb: bool = False,
    extension: str = 'wav',
    workers: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> list[tuple[Path, Path]]:
    """Render MIDI files into a transcription pair set: `<directory>/<stem>.wav` beside `<directory>/<stem>.mid`.

    The MIDI beside each recording is the one that was rendered (with `piano_only`, the piano rewrite), so the
    labels describe exactly what is heard. Pairs already there are kept unless `overwrite`. A MIDI file that cannot
    be read or rendered is skipped with one warning counting all skipped files.

    Args:
        midi_files: the MIDI files; their stems name the pairs and must be distinct.
        directory: where to write; created if needed.
        soundfont: as for `render_midi`.
        sample_rate: as for `render_midi`; audio is mono.
        gain: as for `render_midi`.
        reverb: as for `render_midi`.
        piano_only: render every instrument as acoustic grand piano and drop drums (on by default: transcription
            models are piano models).
        extension: audio format, 'wav' or 'flac'.
        workers: renders at once; default the number of CPUs, at most 4 (each FluidSynth loads the soundfont,
            about 150 MB). Threads drive the FluidSynth processes: the rendering itself runs in those processes,
            so no Python worker processes (each re-importing torch) are needed.
        overwrite: render again pairs that already exist.
        progress: show a tqdm progress bar.

    Returns:
        `(audio path, MIDI path)` of every pair, in the order of `midi_files`, skipped files left out.

    Raises:
        MissingDependencyError: fluidsynth or the soundfont is not installed.
        ConfigError: two MIDI files have the same stem, or `extension` is not wav or flac.
        DatasetError: `midi_files` were given but none could be rendered.
    """
    _require_fluidsynth()
    font = find_soundfont(soundfont)
    if extension not in ('wav', 'flac'):
        raise ConfigError(f"extension must be 'wav' or 'flac', got {extension!r}")
    sources = [Path(path) for path in midi_files]
    stems: dict[str, Path] = {}
    for path in sources:
        if path.stem in stems:
            raise ConfigError(f'{stems[path.stem]} and {path} would both become pair {path.stem!r}; rename one')
        stems[path.stem] = path
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    options = {'soundfont': font, 'sample_rate': sample_rate, 'gain': gain, 'reverb': reverb, 'mono': True}
    results: dict[Path, tuple[Path, Path]] = {}
    failed: list[tuple[Path, str]] = []
    pending = []
    for path in sources:
        existing = (root / f'{path.stem}.{extension}', root / f'{path.stem}.mid')
        if not overwrite and all(part.is_file() for part in existing):
            results[path] = existing
        else:
            pending.append(path)
    workers = workers or min(4, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool, tqdm(total=len(pending), disable=not progress, desc='rendering') as bar:
        futures = {path: pool.submit(_render_pair, path, root, path.stem, extension, {**options, 'piano_only': piano_only}) for path in pending}
        for path, future in futures.items():
            try:
                results[path] = future.result()
            except DataFileError as error:
                failed.append((path, str(error)))
            bar.update()
    if failed:
        if not results:
            raise DatasetError(f'none of {len(sources)} MIDI files could be rendered, e.g. {failed[0][1]}')
        examples = '; '.join(reason for _, reason in failed[:3])
        warnings.warn(f'skipped {len(failed)} of {len(sources)} MIDI files that could not be rendered ({examples})', stacklevel=2)
    return [results[path] for path in sources if path in results]
