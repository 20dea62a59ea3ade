"""`etude listen demo`: a MUSHRA test built offline from Bach chorales rendered with FluidSynth.

The only General MIDI soundfont Debian's fluid-soundfont-gm installs is FluidR3_GM (`default-GM.sf2` is a link to
it), so the conditions are what can really be made from it here, each a kind of impairment a MUSHRA test is for:

- reference: the chorale's opening rendered dry (no reverb, no chorus), mono;
- `reverb`: the same MIDI rendered with FluidSynth's reverb and chorus (a rendering difference);
- `mp3`: the reference through libsndfile's MP3 encoder (LAME) at its highest compression (about 35 kbit/s);
- `vorbis`: the reference through Ogg Vorbis at its highest compression (about 21 kbit/s);
- and the test's own hidden reference and 3.5 / 7 kHz low-pass anchors.

A soundfont other than FluidR3_GM found by `find_soundfont` (`$ETUDE_SOUNDFONT`) adds an `other_soundfont`
condition. Everything runs offline: music21's bundled corpus, the system's fluidsynth.
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

import numpy as np

from ..data.audio import read_audio, write_audio
from .design import create_test
from .plan import ListeningPlan, ListeningTestError
from .stimuli import trim

__all__ = ['CODEC_COMPRESSION', 'build_demo']

CODEC_COMPRESSION = 0.99  # libsndfile's compression_level near its lowest bitrate (LAME refuses exactly 1.0)
DEFAULT_SOUNDFONT = Path('/usr/share/sounds/sf2/FluidR3_GM.sf2')


def _through_codec(audio: np.ndarray, sample_rate: int, major: str, subtype: str) -> np.ndarray | None:
    """`(samples,)` audio encoded and decoded again, or None where this libsndfile cannot write the format."""
    import soundfile

    if major not in soundfile.available_formats():
        return None
    encoded = io.BytesIO()
    try:
        soundfile.write(encoded, audio, sample_rate, format=major, subtype=subtype, compression_level=CODEC_COMPRESSION)
    except (soundfile.LibsndfileError, RuntimeError, TypeError):
        return None  # an encoder build without this setting: leave the condition out rather than fake it
    encoded.seek(0)
    decoded, _ = soundfile.read(encoded, dtype='float32')
    decoded = decoded.mean(axis=1) if decoded.ndim == 2 else decoded
    out = np.zeros_like(audio)
    out[:min(len(audio), len(decoded))] = decoded[:len(audio)]
    return np.clip(out, -1.0, 1.0)


def _opening(midi_path: Path, out_path: Path, seconds: float) -> None:
    """The first `seconds` of a MIDI file (later notes dropped, held notes cut), so FluidSynth renders only that."""
    from ..data.midi import read_midi

    midi = read_midi(midi_path)
    for instrument in midi.instruments:
        instrument.notes = [note for note in instrument.notes if note.start < seconds]
        for note in instrument.notes:
            note.end = min(note.end, seconds)
        instrument.control_changes = [change for change in instrument.control_changes if change.time < seconds]
        instrument.pitch_bends = [bend for bend in instrument.pitch_bends if bend.time < seconds]
    midi.write(str(out_path))


def build_demo(directory: str | os.PathLike[str], *, items: int = 4, seconds: float = 8.0, sample_rate: int = 44_100) -> ListeningPlan:
    """Render `items` chorale openings of `seconds` and build a MUSHRA test of them in `directory`.

    Raises:
        MissingDependencyError: fluidsynth or a General MIDI soundfont is not installed.
        ListeningTestError: `directory` is not new or empty, or the arguments are out of range.
    """
    from ..data.generators import export_chorales, find_soundfont, render_midi

    if items < 1 or not 1.0 <= seconds <= 60.0 or sample_rate < 16_000:
        raise ListeningTestError(f'the demo needs --items >= 1, 1 <= --seconds <= 60 and --sample-rate >= 16000, got {items}, {seconds:g}, {sample_rate}')
    target = Path(directory)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ListeningTestError(f'{target} already exists and is not an empty folder; choose a new folder for the demo')
    soundfont = find_soundfont()
    other = None if soundfont.resolve() == DEFAULT_SOUNDFONT.resolve() or not DEFAULT_SOUNDFONT.is_file() else soundfont
    main_font = DEFAULT_SOUNDFONT if DEFAULT_SOUNDFONT.is_file() else soundfont
    with tempfile.TemporaryDirectory(prefix='etude-listening-demo-') as temporary:
        root = Path(temporary)
        folders = {name: root / name for name in ('reference', 'reverb', 'mp3', 'vorbis', *(['other_soundfont'] if other else []))}
        for folder in folders.values():
            folder.mkdir()
        for midi in export_chorales(root / 'midi', limit=items):
            opening = root / 'midi' / f'{midi.stem}.opening.mid'
            _opening(midi, opening, seconds)
            reference = render_midi(opening, folders['reference'] / f'{midi.stem}.wav', soundfont=main_font, sample_rate=sample_rate)
            render_midi(opening, folders['reverb'] / f'{midi.stem}.wav', soundfont=main_font, sample_rate=sample_rate, reverb=True, chorus=True)
            if other:
                render_midi(opening, folders['other_soundfont'] / f'{midi.stem}.wav', soundfont=other, sample_rate=sample_rate)
            audio, _ = read_audio(reference)
            audio = trim(audio[None], round(seconds * sample_rate), sample_rate)[0]
            write_audio(reference, audio, sample_rate, subtype='PCM_16')
            for name, major, subtype in (('mp3', 'MP3', 'MPEG_LAYER_III'), ('vorbis', 'OGG', 'VORBIS')):
                coded = _through_codec(audio, sample_rate, major, subtype)
                if coded is not None:
                    write_audio(folders[name] / f'{midi.stem}.wav', coded, sample_rate, subtype='PCM_16')
        conditions = {name: folder for name, folder in folders.items() if name != 'reference' and any(folder.iterdir())}
        return create_test(
            target,
            kind='mushra',
            reference=folders['reference'],
            conditions=conditions,
            trim_to_shortest=True,
            title='etude demo: Bach chorales rendered with FluidSynth',
            seed=0,
        )
