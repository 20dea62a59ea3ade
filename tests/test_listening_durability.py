"""The ratings database itself: group commit releases a page only after a sync that began after it; threads race safely."""

from __future__ import annotations

import dataclasses
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from test_listening_design import make_folders

from etude.listening.design import create_test
from etude.listening.durability import GroupCommit
from etude.listening.plan import ListeningTestError, listener_schedule, listener_seed
from etude.listening.storage import RatingStore
from etude.listening.submission import RequestError, page_record


class RecordedGroupCommit(GroupCommit):
    """The real group commit (real fsyncs), noting how many commits each sync covered once it finished."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.finished: list[int] = []
        self.log_lock = threading.Lock()

    def _sync(self) -> None:
        with self._condition:
            covered = self._committed
        super()._sync()
        with self.log_lock:
            self.finished.append(covered)


def test_each_commit_waits_for_a_sync_that_covers_it(tmp_path: Path) -> None:
    database = tmp_path / 'ratings.sqlite'
    connection = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
    connection.execute('PRAGMA journal_mode=WAL')
    connection.execute('PRAGMA synchronous=NORMAL')
    connection.execute('CREATE TABLE t (value INTEGER)')
    group = RecordedGroupCommit(database)
    writer = threading.Lock()
    released: list[tuple[int, int]] = []

    def commit(value: int) -> None:
        with writer:
            connection.execute('INSERT INTO t VALUES (?)', (value,))
            number = group.committed()
        group.wait(number)
        with group.log_lock:
            released.append((number, max(group.finished)))

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(commit, range(200)))
    assert sorted(number for number, _ in released) == list(range(1, 201))
    assert all(covered >= number for number, covered in released), 'a commit was released before a sync covered it'
    assert len(group.finished) < 200, 'commits that arrive during a sync share the next one'
    assert connection.execute('SELECT COUNT(*) FROM t').fetchone()[0] == 200


def test_threads_submitting_at_once_store_each_page_once(tmp_path: Path) -> None:
    folders = make_folders(tmp_path / 'sources', {'modelA': 0.05}, items=4, seconds=0.2)
    plan = create_test(tmp_path / 'test', kind='mushra', reference=folders['refs'], conditions={'modelA': folders['modelA']})
    store = RatingStore(tmp_path / 'test' / 'ratings.sqlite', plan.fingerprint())
    listeners = [f'listener{index:014d}' for index in range(8)]
    for listener in listeners:
        store.add_listener(listener, listener_seed(plan.seed, listener), listener_schedule(plan, listener), 'test')

    def record(listener: str, position: int):  # noqa: ANN202
        scheduled = listener_schedule(plan, listener)[position]
        playable = [*scheduled.stimuli, plan.pages[scheduled.page].reference]
        body = {'listener': listener, 'ratings': dict.fromkeys(scheduled.stimuli, 60), 'play_counts': dict.fromkeys(playable, 2), 'seconds_on_page': 4}
        return page_record(plan, store.schedule(listener) or [], listener, position, body, 'test')

    def take(listener: str) -> list[str]:
        # every page twice, the second copy racing the first: exactly one is stored
        outcomes = []
        for position in range(4):
            with ThreadPoolExecutor(max_workers=2) as pool:
                outcomes += list(pool.map(store.submit_page, [record(listener, position)] * 2))
        return outcomes

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = [outcome for listener_outcomes in pool.map(take, listeners) for outcome in listener_outcomes]
    assert outcomes.count('stored') == 32 and outcomes.count('identical') == 32
    assert all(store.pages_done(listener) == 4 for listener in listeners)
    store.close()
    with sqlite3.connect(tmp_path / 'test' / 'ratings.sqlite') as connection:
        assert connection.execute('SELECT COUNT(*), COUNT(DISTINCT listener || position || stimulus) FROM ratings').fetchone() == (32 * 4, 32 * 4)
        assert connection.execute('SELECT COUNT(*) FROM ratings WHERE play_count != 2 OR value != 60').fetchone()[0] == 0


def test_a_database_of_another_plan_is_refused(tmp_path: Path) -> None:
    folders = make_folders(tmp_path / 'sources', {'modelA': 0.05}, items=1, seconds=0.2)
    first = create_test(tmp_path / 'one', kind='mos', conditions={'modelA': folders['modelA']})
    second = create_test(tmp_path / 'two', kind='mos', conditions={'modelA': folders['modelA']})
    RatingStore(tmp_path / 'one' / 'ratings.sqlite', first.fingerprint()).close()
    retitled = dataclasses.replace(first, title='A corrected title', must_play_all=False)
    RatingStore(tmp_path / 'one' / 'ratings.sqlite', retitled.fingerprint()).close()  # cosmetic edits keep the ratings usable
    with pytest.raises(ListeningTestError, match='another plan'):
        RatingStore(tmp_path / 'one' / 'ratings.sqlite', second.fingerprint())
    (tmp_path / 'junk.sqlite').write_bytes(b'not a database at all' * 100)
    with pytest.raises(ListeningTestError, match='not a readable ratings database'):
        RatingStore(tmp_path / 'junk.sqlite', first.fingerprint())


def test_optional_play_check_categories_and_no_preference(tmp_path: Path) -> None:
    folders = make_folders(tmp_path / 'sources', {'modelA': 0.05}, items=1, seconds=0.2)
    mos = create_test(tmp_path / 'mos', kind='mos', conditions={'modelA': folders['modelA']}, must_play_all=False)
    schedule = listener_schedule(mos, 'someone')
    (identifier,) = schedule[0].stimuli
    body = {'listener': 'someone', 'ratings': {identifier: 4}, 'play_counts': {}, 'seconds_on_page': 2}
    assert page_record(mos, schedule, 'someone', 0, body, '').ratings[0].play_count == 0, 'unplayed is allowed when configured'
    for value in (3.5, 0, 6):
        with pytest.raises(RequestError, match='categor|from 1 to 5') as raised:
            page_record(mos, schedule, 'someone', 0, {**body, 'ratings': {identifier: value}}, '')
        assert raised.value.status == 400
    ab = create_test(tmp_path / 'ab', kind='ab', conditions={'refs': folders['refs'], 'modelA': folders['modelA']}, no_preference=False)
    schedule = listener_schedule(ab, 'someone')
    shown = schedule[0].stimuli
    body = {'listener': 'someone', 'choice': 'none', 'play_counts': dict.fromkeys(shown, 1), 'seconds_on_page': 2}
    with pytest.raises(RequestError, match='one of the two'):
        page_record(ab, schedule, 'someone', 0, body, '')
    chosen = page_record(ab, schedule, 'someone', 0, {**body, 'choice': shown[1]}, '')
    assert [(rating.stimulus, rating.value, rating.shown_position) for rating in chosen.ratings] == [(shown[0], 0.0, 0), (shown[1], 1.0, 1)]
