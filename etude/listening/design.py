"""`create_test`: pair audio files across folders by name, check them, copy them into a test and write its plan.

A listening test compares conditions (systems, models, renders) on the same items, so every folder must hold the
same file names, and the files of one item must share a sample rate and length: a MUSHRA listener switches between
them mid-play and expects the music to carry on from the same instant. `create` refuses folders that do not pair up
with one line naming the first mismatch, before anything is written. The stimuli are decoded and stored as 24-bit
WAV under opaque names; the plan is written last, so a folder with a `plan.json` is a complete test.
"""

from __future__ import annotations

import math
import os
import re
import secrets
import shutil
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from itertools import combinations
from pathlib import Path

import numpy as np

from ..atomic_files import write_json_atomic
from ..data.audio import AUDIO_FORMATS, read_audio, write_audio
from .plan import HIDDEN_REFERENCE, KINDS, PLAN_FILE, Kind, ListeningPlan, ListeningTestError, Page, Stimulus, anchor_condition
from .stimuli import lowpass_anchor, normalise_loudness, trim

__all__ = ['DEFAULT_ANCHORS_HZ', 'audio_files', 'create_test', 'parse_condition']

DEFAULT_ANCHORS_HZ = (3500.0, 7000.0)  # BS.1534-3: the low anchor (mandatory) and the mid anchor
CONDITION_NAME = re.compile(r'[A-Za-z0-9][A-Za-z0-9_.-]{0,63}')
RESERVED_NAMES = ('reference', HIDDEN_REFERENCE)
STIMULUS_SUBTYPE = 'PCM_24'  # lossless for 16- and 24-bit sources; every browser's decodeAudioData reads it


def parse_condition(text: str) -> tuple[str, Path]:
    """'modelA=outA/' → ('modelA', Path('outA/')); a ListeningTestError for anything else."""
    name, separator, folder = text.partition('=')
    if not separator or not folder:
        raise ListeningTestError(f'--condition {text!r} must be NAME=FOLDER, e.g. --condition modelA=outputs/modelA')
    return name, Path(folder)


def audio_files(folder: Path) -> dict[str, Path]:
    """Stem → audio file of a folder (other files, such as the MIDI beside a render, are ignored).

    Raises:
        ListeningTestError: the folder is missing, holds no audio, or holds two audio files with one stem.
    """
    if not folder.is_dir():
        raise ListeningTestError(f'{folder} is not a folder; give a folder of audio files')
    files: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith('.') or not path.is_file() or path.suffix.lower().lstrip('.') not in AUDIO_FORMATS:
            continue
        if path.stem in files:
            raise ListeningTestError(f'{folder} holds both {files[path.stem].name} and {path.name}; keep one file per item')
        files[path.stem] = path
    if not files:
        raise ListeningTestError(f'{folder} holds no audio files ({", ".join("." + extension for extension in AUDIO_FORMATS)})')
    return files


def _check_names(kind: str, conditions: Mapping[str, Path], reference: Path | None, multi_stimulus: bool) -> None:
    if kind not in KINDS:
        raise ListeningTestError(f"unknown kind {kind!r}; choose one of {', '.join(KINDS)}")
    for name in conditions:
        if not CONDITION_NAME.fullmatch(name):
            raise ListeningTestError(f'condition name {name!r} must be letters, digits, _ . - (up to 64), starting with a letter or digit')
        if name in RESERVED_NAMES or name.startswith('anchor_'):
            raise ListeningTestError(f"condition name {name!r} is reserved for the test's own conditions; rename it")
    if kind == 'mushra' and reference is None:
        raise ListeningTestError('a MUSHRA test needs --reference FOLDER (the hidden reference and the anchors are made from it)')
    if kind != 'mushra' and reference is not None:
        raise ListeningTestError(f'--reference is for MUSHRA; in a {kind} test give it as another condition, e.g. --condition human=FOLDER')
    minimum = 2 if kind == 'ab' else 1
    if len(conditions) < minimum:
        raise ListeningTestError(f'a {kind} test needs at least {minimum} --condition NAME=FOLDER')
    if multi_stimulus and kind != 'mos':
        raise ListeningTestError('--multi-stimulus is an option of MOS tests only')


def _pair(folders: dict[str, Path]) -> tuple[list[str], dict[str, dict[str, Path]]]:
    """The sorted items and condition → stem → file, or a ListeningTestError naming the first file without a partner."""
    listed = {name: audio_files(folder) for name, folder in folders.items()}
    (first_name, first_files), *others = listed.items()
    for name, files in others:
        for stem in sorted(set(first_files) | set(files)):
            if stem not in files:
                raise ListeningTestError(
                    f"{folders[name]} has no file for item '{stem}' ({first_files[stem]} has one); every folder must hold the same file names"
                )
            if stem not in first_files:
                raise ListeningTestError(
                    f"{files[stem]} has no counterpart in {folders[first_name]} (no item '{stem}'); every folder must hold the same file names"
                )
    return sorted(first_files), listed


def _read_item(item: str, files: dict[str, Path], cut: bool) -> tuple[dict[str, np.ndarray], int]:
    """Every condition's `(channels, samples)` audio of one item, checked for one rate and one length."""
    signals: dict[str, np.ndarray] = {}
    rates: dict[str, int] = {}
    for name, path in files.items():
        signals[name], rates[name] = read_audio(path, mono=False)
        if signals[name].ndim == 1:
            signals[name] = signals[name][None]
    (first, rate), *_ = rates.items()
    for name, other_rate in rates.items():
        if other_rate != rate:
            raise ListeningTestError(f'{files[name]} is sampled at {other_rate} Hz but {files[first]} at {rate} Hz; resample one so an item shares one rate')
    lengths = {name: signal.shape[-1] for name, signal in signals.items()}
    shortest = min(lengths.values())
    if not cut:
        for name, length in lengths.items():
            if length != lengths[first]:
                raise ListeningTestError(
                    f'{files[name]} has {length} samples but {files[first]} has {lengths[first]} (item {item!r}); '
                    'pass --trim to cut every stimulus of an item to the shortest'
                )
    return {name: trim(signal, shortest, rate) for name, signal in signals.items()}, rate


LOUDNESS_RANGE_LUFS = (-70.0, 0.0)  # BS.1770's absolute gate, and full scale: outside it no signal can be measured or reached unclipped


def _check_loudness(loudness_lufs: float | None) -> None:
    """Refuse a loudness target that is not a number, or one no stimulus could be measured at or scaled to."""
    if loudness_lufs is None:
        return
    low, high = LOUDNESS_RANGE_LUFS
    if not (isinstance(loudness_lufs, (int, float)) and math.isfinite(loudness_lufs) and low <= loudness_lufs <= high):
        raise ListeningTestError(f'--loudness {loudness_lufs} LUFS is not a loudness a stimulus can be normalised to; '
                                 f'give one from {low:g} to {high:g} LUFS, e.g. -23 (EBU R128), or leave it out')


def _empty_target(directory: Path) -> None:
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise ListeningTestError(f'{directory} already exists and is not an empty folder; choose a new folder for the test')


def create_test(
    directory: str | os.PathLike[str],
    *,
    kind: Kind,
    conditions: Mapping[str, str | os.PathLike[str]],
    reference: str | os.PathLike[str] | None = None,
    anchors_hz: Sequence[float] | None = None,
    loudness_lufs: float | None = None,
    trim_to_shortest: bool = False,
    must_play_all: bool = True,
    multi_stimulus: bool = False,
    no_preference: bool = True,
    title: str | None = None,
    seed: int | None = None,
) -> ListeningPlan:
    """Build a listening test in `directory` (which must not exist or be empty).

    Args:
        kind: 'mushra' (BS.1534: reference, hidden reference, low-pass anchors, 0–100 sliders), 'mos' (P.800 ACR,
            1–5) or 'ab' (preference between every pair of conditions on each item).
        conditions: name → folder of audio files; every folder (and `reference`) must hold the same file stems.
        reference: MUSHRA only: the folder of references.
        anchors_hz: MUSHRA low-pass anchor cutoffs; default 3.5 kHz and 7 kHz; `()` for none.
        loudness_lufs: normalise every stimulus to this integrated loudness (BS.1770, needs pyloudnorm).
        trim_to_shortest: cut the stimuli of an item to the shortest instead of refusing unequal lengths.
        must_play_all: a page cannot be submitted before every stimulus on it was played.
        multi_stimulus: MOS only: all conditions of an item on one page, rated 0–100 (after BS.2132).
        no_preference: A/B only: offer a "no preference" answer.
        title: shown to listeners.
        seed: base of the listeners' random orders; default random.

    Returns:
        The plan, also written to `directory/plan.json`.

    Raises:
        ListeningTestError: a folder or file does not fit (the message names the first problem); nothing is left
            in `directory` then.
    """
    target = Path(directory)
    folders = {name: Path(folder) for name, folder in conditions.items()}
    reference_folder = Path(reference) if reference is not None else None
    _check_names(kind, folders, reference_folder, multi_stimulus)
    _check_loudness(loudness_lufs)
    anchors = tuple(DEFAULT_ANCHORS_HZ if anchors_hz is None else anchors_hz) if kind == 'mushra' else ()
    if kind != 'mushra' and anchors_hz:
        raise ListeningTestError('--anchors is an option of MUSHRA tests only')
    _empty_target(target)
    all_folders = {'reference': reference_folder, **folders} if reference_folder is not None else dict(folders)
    items, files = _pair(all_folders)
    generated = [HIDDEN_REFERENCE, *(anchor_condition(cutoff) for cutoff in sorted(anchors, reverse=True))] if kind == 'mushra' else []
    condition_names = (*folders, *generated)
    created_folder = not target.exists()
    try:
        stimuli, references = _write_stimuli(target, items, files, kind, anchors, loudness_lufs, trim_to_shortest)
        by_item_condition = {(stimulus.item, stimulus.condition): identifier for identifier, stimulus in stimuli.items()}
        pages = _pages(kind, multi_stimulus, items, condition_names, by_item_condition, references)
        volume_check = references[items[0]] if kind == 'mushra' else by_item_condition[(items[0], condition_names[0])]
        plan = ListeningPlan(
            test_id=secrets.token_hex(8),
            kind=kind,
            title=title or {'mushra': 'MUSHRA listening test', 'mos': 'Quality rating test', 'ab': 'Preference test'}[kind],
            seed=secrets.randbits(32) if seed is None else int(seed),
            conditions=condition_names,
            items=tuple(items),
            stimuli=stimuli,
            pages=pages,
            volume_check=volume_check,
            must_play_all=must_play_all,
            multi_stimulus=multi_stimulus,
            no_preference=no_preference,
            loudness_lufs=loudness_lufs,
            sources={name: str(folder.resolve()) for name, folder in all_folders.items() if folder is not None},
            created=datetime.now(UTC).isoformat(timespec='seconds'),
        )
        write_json_atomic(target / PLAN_FILE, plan.to_json())
    except BaseException:
        shutil.rmtree(target / 'stimuli', ignore_errors=True)
        if created_folder:
            shutil.rmtree(target, ignore_errors=True)
        raise
    return plan


def _write_stimuli(
    target: Path,
    items: list[str],
    files: dict[str, dict[str, Path]],
    kind: str,
    anchors: tuple[float, ...],
    loudness_lufs: float | None,
    cut: bool,
) -> tuple[dict[str, Stimulus], dict[str, str]]:
    """Decode, check, process and write every stimulus; returns id → Stimulus and item → reference id."""
    stimuli: dict[str, Stimulus] = {}
    references: dict[str, str] = {}
    (target / 'stimuli').mkdir(parents=True, exist_ok=True)
    for item in items:
        signals, rate = _read_item(item, {name: listed[item] for name, listed in files.items()}, cut)
        sources = {name: str(listed[item]) for name, listed in files.items()}
        if kind == 'mushra':
            for cutoff in anchors:
                signals[anchor_condition(cutoff)] = lowpass_anchor(signals['reference'], rate, cutoff)
                sources[anchor_condition(cutoff)] = f"{sources['reference']} low-passed at {cutoff:g} Hz"
        for name, signal in signals.items():
            if loudness_lufs is not None:
                try:
                    signals[name], _ = normalise_loudness(signal, rate, loudness_lufs)
                except ListeningTestError as error:
                    raise ListeningTestError(f'{sources[name]}: {error}') from None
            peak = float(np.abs(signals[name]).max())
            if peak > 1.0:
                advice = 'choose a lower --loudness' if loudness_lufs is not None else 'scale it down, or pass --loudness -23'
                raise ListeningTestError(f'{sources[name]} peaks at {peak:.2f}, above full scale, and would clip; {advice}')
        for name, signal in signals.items():
            identifier = _new_id(stimuli)
            file = f'stimuli/{identifier}.wav'
            write_audio(target / file, signal, rate, subtype=STIMULUS_SUBTYPE)
            stimuli[identifier] = Stimulus(identifier, item, name, file)
            if name == 'reference':
                references[item] = identifier
                hidden = _new_id(stimuli)  # its own id, so the page does not give the hidden reference away
                stimuli[hidden] = Stimulus(hidden, item, HIDDEN_REFERENCE, file)
    return stimuli, references


def _new_id(taken: Mapping[str, object]) -> str:
    while True:
        identifier = secrets.token_hex(8)
        if identifier not in taken:
            return identifier


def _pages(
    kind: str,
    multi_stimulus: bool,
    items: list[str],
    conditions: tuple[str, ...],
    ids: dict[tuple[str, str], str],
    references: dict[str, str],
) -> tuple[Page, ...]:
    """MUSHRA and multi-stimulus MOS: one page per item; MOS: one per stimulus; A/B: one per item and pair."""
    if kind == 'mushra':
        return tuple(Page(item, tuple(ids[(item, name)] for name in conditions), references[item]) for item in items)
    if kind == 'mos' and multi_stimulus:
        return tuple(Page(item, tuple(ids[(item, name)] for name in conditions)) for item in items)
    if kind == 'mos':
        return tuple(Page(item, (ids[(item, name)],)) for item in items for name in conditions)
    return tuple(Page(item, (ids[(item, first)], ids[(item, second)])) for item in items for first, second in combinations(conditions, 2))
