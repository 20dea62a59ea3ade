"""`create_test`: files paired by name and checked, anchors that are low-passed, loudness that is met, seeded orders."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile
from scipy import signal

from etude.listening.design import create_test
from etude.listening.plan import HIDDEN_REFERENCE, ListeningTestError, listener_schedule, load_plan

RATE = 16_000


def make_folders(root: Path, conditions: dict[str, float], *, items: int = 3, seconds: float = 1.0, seed: int = 0) -> dict[str, Path]:
    """A reference folder of white noise and one folder per condition with more noise (`name: noise level`), 16-bit WAV."""
    generator = np.random.default_rng(seed)
    folders = {name: root / name for name in ('refs', *conditions)}
    for folder in folders.values():
        folder.mkdir(parents=True)
    for index in range(items):
        clean = (0.2 * generator.standard_normal(round(seconds * RATE))).clip(-0.9, 0.9)
        soundfile.write(folders['refs'] / f'item{index}.wav', clean, RATE, subtype='PCM_16')
        for name, level in conditions.items():
            noisy = (clean + level * generator.standard_normal(clean.size)).clip(-0.99, 0.99)
            soundfile.write(folders[name] / f'item{index}.wav', noisy, RATE, subtype='PCM_16')
    (folders['refs'] / 'notes.txt').write_text('not audio: ignored')
    return folders


@pytest.fixture
def folders(tmp_path: Path) -> dict[str, Path]:
    return make_folders(tmp_path / 'sources', {'modelA': 0.01, 'modelB': 0.1})


def test_mushra_test_pairs_files_adds_hidden_reference_and_anchors(tmp_path: Path, folders: dict[str, Path]) -> None:
    conditions = {'modelA': folders['modelA'], 'modelB': folders['modelB']}
    plan = create_test(tmp_path / 'test', kind='mushra', reference=folders['refs'], conditions=conditions, seed=3)
    assert load_plan(tmp_path / 'test') == plan
    assert plan.items == ('item0', 'item1', 'item2')
    assert plan.conditions == ('modelA', 'modelB', HIDDEN_REFERENCE, 'anchor_7000hz', 'anchor_3500hz')
    assert len(plan.pages) == 3
    for page in plan.pages:
        shown = {plan.stimuli[identifier].condition for identifier in page.stimuli}
        assert shown == set(plan.conditions) and len(page.stimuli) == 5
        assert plan.stimuli[page.reference].condition == 'reference'
        hidden = next(identifier for identifier in page.stimuli if plan.stimuli[identifier].condition == HIDDEN_REFERENCE)
        assert hidden != page.reference, 'the hidden reference must not be recognisable by its id'
        original, _ = soundfile.read(folders['refs'] / f'{page.item}.wav', dtype='int16')
        copied, _ = soundfile.read(tmp_path / 'test' / plan.stimuli[hidden].file, dtype='int16')
        np.testing.assert_array_equal(copied, original)  # 16-bit audio survives the 24-bit copy exactly
        model, _ = soundfile.read(tmp_path / 'test' / plan.stimuli[page.stimuli[0]].file)
        assert model.shape == original.shape
    assert sorted(path.name for path in (tmp_path / 'test').iterdir()) == ['plan.json', 'stimuli']
    assert all(len(identifier) == 16 and Path(stimulus.file).stem in plan.stimuli for identifier, stimulus in plan.stimuli.items())


def test_anchors_are_the_reference_low_passed(tmp_path: Path, folders: dict[str, Path]) -> None:
    plan = create_test(tmp_path / 'test', kind='mushra', reference=folders['refs'], conditions={'modelA': folders['modelA']}, anchors_hz=[3500, 7000])
    page = plan.pages[0]
    files = {plan.stimuli[identifier].condition: tmp_path / 'test' / plan.stimuli[identifier].file for identifier in (*page.stimuli, page.reference)}
    reference, _ = soundfile.read(files['reference'])
    frequencies, reference_power = signal.welch(reference, RATE, nperseg=1024)
    for condition, cutoff in (('anchor_3500hz', 3500), ('anchor_7000hz', 7000)):
        anchor, _ = soundfile.read(files[condition])
        assert anchor.shape == reference.shape
        _, anchor_power = signal.welch(anchor, RATE, nperseg=1024)
        ratio = 10 * np.log10(anchor_power / reference_power)
        assert np.all(np.abs(ratio[frequencies < 0.8 * cutoff]) < 0.5), 'the pass band is kept'
        stop = (frequencies > 1.3 * cutoff) & (frequencies < 7800)
        if stop.any():
            assert np.all(ratio[stop] < -40), f'{condition}: {ratio[stop].max():.1f} dB above {1.3 * cutoff:.0f} Hz'
    # zero phase: the anchor lines up with the reference sample for sample (cross-correlation peaks at lag 0)
    anchor, _ = soundfile.read(files['anchor_3500hz'])
    correlation = signal.correlate(anchor, reference, mode='full')
    assert int(np.argmax(correlation)) - (reference.size - 1) == 0


def test_anchor_above_nyquist_is_refused(tmp_path: Path, folders: dict[str, Path]) -> None:
    with pytest.raises(ListeningTestError, match='8000 Hz|16000 Hz') as raised:
        create_test(tmp_path / 'test', kind='mushra', reference=folders['refs'], conditions={'modelA': folders['modelA']}, anchors_hz=[7800])
    assert '\n' not in str(raised.value)
    assert not (tmp_path / 'test').exists()


def test_loudness_normalisation_meets_bs1770_known_answer(tmp_path: Path) -> None:
    pytest.importorskip('pyloudnorm')
    # BS.1770: a full-scale 997 Hz sine in one channel measures -3.01 LKFS, so at -23 LUFS its amplitude is 10^(-19.99/20).
    for name, amplitude in (('refs', 0.5), ('quiet', 0.05)):
        (tmp_path / name).mkdir()
        time = np.arange(2 * RATE) / RATE
        soundfile.write(tmp_path / name / 'tone.wav', amplitude * np.sin(2 * np.pi * 997 * time), RATE, subtype='FLOAT')
    plan = create_test(tmp_path / 'test', kind='mos', conditions={'loud': tmp_path / 'refs', 'quiet': tmp_path / 'quiet'}, loudness_lufs=-23)
    expected = 10 ** ((-23 + 3.01) / 20)
    for stimulus in plan.stimuli.values():
        audio, _ = soundfile.read(tmp_path / 'test' / stimulus.file)
        assert np.max(np.abs(audio)) == pytest.approx(expected, rel=0.01)


def test_folders_that_do_not_pair_are_refused_naming_the_first_mismatch(tmp_path: Path, folders: dict[str, Path]) -> None:
    (folders['modelB'] / 'item1.wav').unlink()
    with pytest.raises(ListeningTestError) as raised:
        create_test(tmp_path / 'test', kind='mushra', reference=folders['refs'], conditions={'modelA': folders['modelA'], 'modelB': folders['modelB']})
    message = str(raised.value)
    assert '\n' not in message and "'item1'" in message and str(folders['modelB']) in message
    assert not (tmp_path / 'test').exists()

    soundfile.write(folders['modelA'] / 'extra.wav', np.zeros(RATE), RATE)
    with pytest.raises(ListeningTestError, match=r'extra\.wav has no counterpart'):
        create_test(tmp_path / 'test', kind='mos', conditions={'refs': folders['refs'], 'modelA': folders['modelA']})


def test_rates_and_lengths_must_match_within_an_item_unless_trimmed(tmp_path: Path, folders: dict[str, Path]) -> None:
    short, _ = soundfile.read(folders['modelA'] / 'item2.wav')
    soundfile.write(folders['modelA'] / 'item2.wav', short[:-100], RATE, subtype='PCM_16')
    conditions = {'modelA': folders['modelA']}
    with pytest.raises(ListeningTestError, match=r'item2\.wav has 15900 samples .* --trim'):
        create_test(tmp_path / 'test', kind='mushra', reference=folders['refs'], conditions=conditions)
    plan = create_test(tmp_path / 'test', kind='mushra', reference=folders['refs'], conditions=conditions, trim_to_shortest=True)
    lengths = {soundfile.info(tmp_path / 'test' / stimulus.file).frames for stimulus in plan.stimuli.values() if stimulus.item == 'item2'}
    assert lengths == {15_900}
    soundfile.write(folders['modelA'] / 'item0.wav', short[::2], RATE // 2, subtype='PCM_16')
    with pytest.raises(ListeningTestError, match='8000 Hz'):
        create_test(tmp_path / 'other', kind='mushra', reference=folders['refs'], conditions=conditions, trim_to_shortest=True)


def test_arguments_and_targets_are_checked(tmp_path: Path, folders: dict[str, Path]) -> None:
    (tmp_path / 'full').mkdir()
    (tmp_path / 'full' / 'keep.txt').write_text('mine')
    cases = [
        ({'kind': 'mushra', 'conditions': {'modelA': folders['modelA']}}, '--reference'),
        ({'kind': 'ab', 'conditions': {'modelA': folders['modelA']}}, 'at least 2'),
        ({'kind': 'mos', 'conditions': {'modelA': folders['modelA']}, 'reference': folders['refs']}, 'another condition'),
        ({'kind': 'mos', 'conditions': {'hidden_reference': folders['modelA']}}, 'reserved'),
        ({'kind': 'mos', 'conditions': {'bad name': folders['modelA']}}, 'letters, digits'),
        ({'kind': 'mos', 'conditions': {'modelA': tmp_path / 'missing'}}, 'not a folder'),
        ({'kind': 'ab', 'conditions': {'modelA': folders['modelA'], 'modelB': folders['modelB']}, 'multi_stimulus': True}, 'MOS tests only'),
    ]
    for arguments, expected in cases:
        with pytest.raises(ListeningTestError, match=expected):
            create_test(tmp_path / 'test', **arguments)  # type: ignore[arg-type]
    with pytest.raises(ListeningTestError, match='not an empty folder'):
        create_test(tmp_path / 'full', kind='mos', conditions={'modelA': folders['modelA']})
    assert [path.name for path in (tmp_path / 'full').iterdir()] == ['keep.txt']


def test_pages_of_mos_and_ab_tests(tmp_path: Path, folders: dict[str, Path]) -> None:
    three = {'refs': folders['refs'], 'modelA': folders['modelA'], 'modelB': folders['modelB']}
    mos = create_test(tmp_path / 'mos', kind='mos', conditions=three)
    assert len(mos.pages) == 9 and all(len(page.stimuli) == 1 for page in mos.pages)
    assert mos.scale.widget == 'categories' and (mos.scale.minimum, mos.scale.maximum) == (1, 5)
    multi = create_test(tmp_path / 'multi', kind='mos', conditions=three, multi_stimulus=True)
    assert len(multi.pages) == 3 and all(len(page.stimuli) == 3 for page in multi.pages) and multi.scale.widget == 'slider'
    ab = create_test(tmp_path / 'ab', kind='ab', conditions=three, no_preference=False)
    pairs = Counter(tuple(ab.stimuli[identifier].condition for identifier in page.stimuli) for page in ab.pages)
    assert pairs == {('refs', 'modelA'): 3, ('refs', 'modelB'): 3, ('modelA', 'modelB'): 3}
    assert not ab.no_preference


def test_each_listener_gets_a_seeded_order_of_pages_and_stimuli(tmp_path: Path, folders: dict[str, Path]) -> None:
    plan = create_test(tmp_path / 'test', kind='mushra', reference=folders['refs'], conditions={'modelA': folders['modelA']}, seed=11)
    first = listener_schedule(plan, 'listener-one')
    assert first == listener_schedule(plan, 'listener-one'), 'the same id gives the same order'
    assert sorted(page.page for page in first) == [0, 1, 2]
    for scheduled in first:
        assert sorted(scheduled.stimuli) == sorted(plan.pages[scheduled.page].stimuli)
    schedules = [listener_schedule(plan, f'listener-{index}') for index in range(60)]
    assert len({tuple((page.page, page.stimuli) for page in schedule) for schedule in schedules}) > 50
    opening_pages = Counter(schedule[0].page for schedule in schedules)
    first_slots = Counter(plan.stimuli[schedule[0].stimuli[0]].condition for schedule in schedules)
    assert set(opening_pages) == {0, 1, 2} and len(first_slots) == len(plan.conditions), 'orders are spread over pages and conditions'
