"""Bach chorales from music21's bundled corpus, exported as MIDI (and MusicXML), offline.

music21 ships the 371 four-part chorales of the Riemenschneider edition as MusicXML (350 distinct works: a few
melodies are harmonised twice under one BWV number). Exporting them gives real, polyphonic, public-domain music for
tests and `--testing` runs without a download: MIDI files for a melody generator or for FluidSynth to render into
transcription pairs, and with `write_musicxml` score/performance pairs whose notes correspond one to one once the
score's repeats are written out (`read_score(path, expand_repeats=True)`): the MIDI plays the repeats.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from tqdm import tqdm

from ...errors import ConfigError, DatasetError
from ..audio import atomic_path
from ..builder import worker_pool

__all__ = ['chorale_names', 'export_chorales']

Parts = Literal['all', 'soprano']


def chorale_names(limit: int | None = None) -> list[str]:
    """Corpus names of the distinct chorales, e.g. 'bach/bwv269', in Riemenschneider order (a stable order).

    Args:
        limit: keep only the first `limit` names.
    """
    from music21.corpus import chorales

    names = chorales.Iterator(numberingSystem='riemenschneider', returnType='filename')
    unique = list(dict.fromkeys(str(name) for name in names))
    return unique if limit is None else unique[:limit]


def _stem(name: str) -> str:
    """File stem of a chorale: its BWV name, e.g. 'bach/bwv248.12-2' -> 'bwv248.12-2'."""
    return name.rsplit('/', 1)[-1]


def _select(score, parts: Parts, name: str):
    """The whole score, or only its top voice (the chorale melody) as a one-part stream."""
    if parts == 'all':
        return score
    for part in score.parts:
        if 'soprano' in f'{part.partName or ""} {part.id or ""}'.lower():
            return part
    if not score.parts:
        raise ValueError(f'{name} has no parts')
    return score.parts[0]


def _pickup_padding(music) -> float:
    """Quarter notes of rest that put a pickup (anacrusis) at the end of a full bar: the first measure's left padding."""
    part = music.parts[0] if hasattr(music, 'parts') and music.parts else music
    measures = part.getElementsByClass('Measure')
    return float(measures[0].paddingLeft) if measures else 0.0


def _padded(data: bytes, quarters: float) -> bytes:
    """MIDI bytes with every event `quarters` later, and the time signature, key and tempo of the first bar at 0."""
    import symusic

    score: Any = symusic.Score.from_midi(data)  # symusic's stubs miss most attributes
    shift = int(round(quarters * score.tpq))
    shifted = score.shift_time(shift)
    for events in (shifted.time_signatures, shifted.key_signatures, shifted.tempos):
        for event in events:
            if event.time == shift:
                event.time = 0
    return bytes(shifted.dumps_midi())


def _export_one(name: str, directory: str, parts: Parts, write_musicxml: bool, pad_pickup: bool = False) -> tuple[str, str | None]:
    """Convert one chorale; return (MIDI path, None) or (name, reason) so one bad chorale does not stop the rest."""
    from music21 import corpus
    from music21.midi.translate import streamToMidiFile
    from music21.musicxml.m21ToXml import GeneralObjectExporter

    midi_path = Path(directory) / f'{_stem(name)}.mid'
    xml_path = midi_path.with_suffix('.musicxml')
    if midi_path.exists() and (xml_path.exists() or not write_musicxml):
        return str(midi_path), None
    try:
        music = _select(corpus.parse(name), parts, name)
        if not midi_path.exists():
            data = streamToMidiFile(music).writestr()
            padding = _pickup_padding(music) if pad_pickup else 0.0
            if padding > 0:
                data = _padded(data, padding)
            with atomic_path(midi_path) as temporary:
                temporary.write_bytes(data)
        if write_musicxml and not xml_path.exists():
            data = GeneralObjectExporter(music).parse()
            with atomic_path(xml_path) as temporary:
                temporary.write_bytes(data)
    except Exception as error:  # noqa: BLE001 - music21 raises many types on a score it cannot convert
        return name, f'{type(error).__name__}: {error}'.splitlines()[0]
    return str(midi_path), None


def export_chorales(
    directory: str | os.PathLike[str],
    *,
    limit: int | None = None,
    names: Sequence[str] | None = None,
    parts: Parts = 'all',
    write_musicxml: bool = False,
    pad_pickup: bool = False,
    workers: int = 1,
    progress: bool = False,
) -> list[Path]:
    """Write Bach chorales from music21's corpus as `<directory>/<bwv>.mid` (and `<bwv>.musicxml`).

    Files already present are kept (the export is deterministic, so rewriting them would change nothing), and every
    file is written atomically, so an interrupted or concurrent export never leaves half a file. A chorale music21
    cannot convert is skipped with one warning counting all skipped ones.

    Args:
        directory: where to write; created if needed.
        limit: export only the first `limit` chorales of `chorale_names()`.
        names: corpus names to export instead (e.g. `['bach/bwv269']`); `limit` then applies to these.
        parts: 'all' writes the four voices as four tracks; 'soprano' only the melody, e.g. for a melody model.
        write_musicxml: also write the MusicXML score beside each MIDI file (score/performance pairs). Its
            `<encoding-date>` is the day of export, so unlike the MIDI it is not byte-identical across days.
        pad_pickup: start each MIDI file with the rest that completes a pickup's bar, so the file's bar lines (its time
            signature from tick 0) fall where the score's do. music21 writes a pickup of one beat at tick 0, which puts
            every MIDI bar line a beat early; a metrical representation needs them right. Off by default: the files
            then hold the notes as music21 wrote them (what seed 002 trained on).
        workers: processes converting at once; music21 is pure Python, so more than one needs processes. They are
            started like every etude data worker (`etude.data.builder.worker_pool`: forked from a forkserver that has
            imported music21 once, never from this process, whose torch threads a forked child could deadlock on):
            use 1 for a handful of chorales, and call with more only from a script whose top level is guarded by
            `if __name__ == '__main__':`.
        progress: show a tqdm progress bar.

    Returns:
        The MIDI files, in the order of the chorales, including those already there; skipped chorales are left out.

    Raises:
        ConfigError: `parts` is not 'all' or 'soprano', or `limit` or `workers` is below 1.
        DatasetError: no chorale at all could be exported.
    """
    if parts not in ('all', 'soprano'):
        raise ConfigError(f"parts must be 'all' or 'soprano', got {parts!r}")
    if (limit is not None and limit < 1) or workers < 1:
        raise ConfigError(f'export_chorales needs limit >= 1 and workers >= 1, got {limit}, {workers}')
    selected = list(names)[:limit] if names is not None else chorale_names(limit)
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    jobs = [(name, str(root), parts, write_musicxml, pad_pickup) for name in selected]
    with tqdm(total=len(jobs), disable=not progress, desc='chorales') as bar:
        if workers == 1 or len(jobs) < 2:
            results = []
            for job in jobs:
                results.append(_export_one(*job))
                bar.update()
        else:
            with worker_pool(min(workers, len(jobs)), preload=('etude.data.generators.chorales', 'music21')) as pool:
                futures = [pool.submit(_export_one, *job) for job in jobs]
                for future in futures:
                    future.add_done_callback(lambda _: bar.update())
                results = [future.result() for future in futures]
    written = [Path(result) for result, reason in results if reason is None]
    failed = [(name, reason) for name, reason in results if reason is not None]
    if failed:
        if not written:
            raise DatasetError(f'none of {len(jobs)} chorales could be exported, e.g. {failed[0][0]}: {failed[0][1]}')
        examples = '; '.join(f'{name}: {reason}' for name, reason in failed[:3])
        warnings.warn(f'skipped {len(failed)} of {len(jobs)} chorales music21 could not convert ({examples})', stacklevel=2)
    return written
