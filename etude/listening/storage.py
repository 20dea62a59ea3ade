"""The ratings database: one SQLite file per test, in WAL mode, one transaction per submitted page.

A page's ratings are committed in one transaction and synced to disk before the server answers (`durability`:
FULL's guarantee, with one sync shared by the pages committed meanwhile), so a page that got a success response
survives the server being killed, or the machine losing power, at any instant after, and a page is either wholly
stored or not at all. The primary key (listener, position) makes a second copy of a
page impossible even if two requests race; the check for it happens inside the same write transaction.

Tables:
    meta(key, value)                        the plan's fingerprint: ratings never meet another plan
    listeners(listener, created, seed, schedule, browser)
                                            schedule: JSON list of [page index, [stimulus ids in the order shown]]
    pages(listener, position, page, item, submitted, seconds_on_page, reference_plays, browser, answer)
                                            answer: the canonical JSON of the submission, to recognise a resend
    ratings(listener, position, item, condition, stimulus, value, shown_position, play_count)
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from .durability import GroupCommit
from .plan import ListeningTestError, ScheduledPage

__all__ = ['DATABASE_FILE', 'PageRecord', 'RatingRecord', 'RatingStore', 'SubmitOutcome', 'read_rows']

DATABASE_FILE = 'ratings.sqlite'
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS listeners (
    listener TEXT PRIMARY KEY, created TEXT NOT NULL, seed INTEGER NOT NULL, schedule TEXT NOT NULL, browser TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS pages (
    listener TEXT NOT NULL REFERENCES listeners (listener), position INTEGER NOT NULL, page INTEGER NOT NULL,
    item TEXT NOT NULL, submitted TEXT NOT NULL, seconds_on_page REAL NOT NULL, reference_plays INTEGER,
    browser TEXT NOT NULL, answer TEXT NOT NULL, PRIMARY KEY (listener, position)
);
CREATE TABLE IF NOT EXISTS ratings (
    listener TEXT NOT NULL, position INTEGER NOT NULL, item TEXT NOT NULL, condition TEXT NOT NULL,
    stimulus TEXT NOT NULL, value REAL NOT NULL, shown_position INTEGER NOT NULL, play_count INTEGER NOT NULL,
    PRIMARY KEY (listener, position, stimulus), FOREIGN KEY (listener, position) REFERENCES pages (listener, position)
);
"""

SubmitOutcome = Literal['stored', 'identical', 'different', 'out_of_order']


@dataclass(frozen=True)
class RatingRecord:
    """One rated stimulus of a page."""

    item: str
    condition: str
    stimulus: str
    value: float
    shown_position: int
    play_count: int


@dataclass(frozen=True)
class PageRecord:
    """One submitted page; `answer` is its canonical JSON, compared byte for byte when the page comes again."""

    listener: str
    position: int
    page: int
    item: str
    seconds_on_page: float
    reference_plays: int | None
    browser: str
    answer: str
    ratings: tuple[RatingRecord, ...]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec='milliseconds')


class RatingStore:
    """The database of one test: one writing connection behind a lock, and one reading connection.

    SQLite admits one writer at a time anyway; one connection behind a lock keeps every page's check-and-insert
    in one transaction without busy retries. Writes wait for an fsync, so the server runs them on worker threads.
    Reads (a listener's order and progress) go through a second connection: in WAL mode a reader never waits for
    the writer, so they are quick enough (tens of microseconds) to answer on the event loop itself.
    """

    def __init__(self, path: str | os.PathLike[str], plan_fingerprint: str) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._read_lock = threading.Lock()
        self._schedules: dict[str, list[ScheduledPage]] = {}
        self._group = GroupCommit(self.path)
        try:
            self._connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
            self._connection.execute('PRAGMA journal_mode=WAL')
            self._connection.execute('PRAGMA synchronous=NORMAL')  # plus GroupCommit's sync of the WAL before every answer
            self._connection.execute('PRAGMA foreign_keys=ON')
            self._connection.executescript(SCHEMA)
            stored = self._connection.execute("SELECT value FROM meta WHERE key = 'plan'").fetchone()
            if stored is None:
                self._connection.execute("INSERT INTO meta VALUES ('plan', ?)", (plan_fingerprint,))
            self._reader = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        except sqlite3.DatabaseError as error:
            raise ListeningTestError(f'{self.path} is not a readable ratings database ({error}); move it away to start afresh') from None
        if stored is not None and stored[0] != plan_fingerprint:
            self.close()
            raise ListeningTestError(f'{self.path} holds ratings of another plan; move it away, or restore the plan.json it was made with')

    def close(self) -> None:
        with self._lock, self._read_lock:
            self._connection.close()
            self._reader.close()

    def add_listener(self, listener: str, seed: int, schedule: Sequence[ScheduledPage], browser: str) -> None:
        """Record a new listener with their order, before they see their first page."""
        encoded = json.dumps([[page.page, list(page.stimuli)] for page in schedule])
        with self._lock:
            self._connection.execute('INSERT INTO listeners VALUES (?, ?, ?, ?, ?)', (listener, _now(), seed, encoded, browser))
            commit = self._group.committed()
            self._schedules[listener] = list(schedule)
        self._group.wait(commit)

    def schedule(self, listener: str) -> list[ScheduledPage] | None:
        """The recorded order of a listener, or None for an unknown id (cached: it never changes)."""
        cached = self._schedules.get(listener)
        if cached is not None:
            return cached
        with self._read_lock:
            row = self._reader.execute('SELECT schedule FROM listeners WHERE listener = ?', (listener,)).fetchone()
        if row is None:
            return None
        schedule = [ScheduledPage(page, tuple(stimuli)) for page, stimuli in json.loads(row[0])]
        self._schedules[listener] = schedule
        return schedule

    def pages_done(self, listener: str) -> int:
        """How many pages the listener has submitted: the position they continue from."""
        with self._read_lock:
            return int(self._reader.execute('SELECT COUNT(*) FROM pages WHERE listener = ?', (listener,)).fetchone()[0])

    def submit_page(self, record: PageRecord) -> SubmitOutcome:
        """Store a page and its ratings in one transaction, unless that position is already stored or not next.

        Returns:
            'stored'; 'identical' or 'different' when the position was already stored (nothing is written either
            way, so a resend after a lost response is harmless); 'out_of_order' when earlier pages are missing.
        """
        with self._lock:
            connection = self._connection
            connection.execute('BEGIN IMMEDIATE')
            try:
                outcome = self._check(record)
                if outcome is None:
                    self._insert(record)
                    connection.execute('COMMIT')
                    outcome, commit = 'stored', self._group.committed()
                else:
                    connection.execute('ROLLBACK')
                    commit = self._group.latest()
            except BaseException:
                if connection.in_transaction:
                    connection.execute('ROLLBACK')
                raise
        self._group.wait(commit)  # a refusal too: "already stored" must not be said of a page still on its way to disk
        return outcome

    def _check(self, record: PageRecord) -> SubmitOutcome | None:
        """Why the page cannot go in (inside the write transaction), or None."""
        existing = self._connection.execute('SELECT answer FROM pages WHERE listener = ? AND position = ?', (record.listener, record.position)).fetchone()
        if existing is not None:
            return 'identical' if existing[0] == record.answer else 'different'
        done = self._connection.execute('SELECT COUNT(*) FROM pages WHERE listener = ?', (record.listener,)).fetchone()[0]
        return None if record.position == done else 'out_of_order'

    def _insert(self, record: PageRecord) -> None:
        self._connection.execute(
            'INSERT INTO pages VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
            (record.listener, record.position, record.page, record.item, _now(), record.seconds_on_page, record.reference_plays, record.browser, record.answer),
        )
        self._connection.executemany(
            'INSERT INTO ratings VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
            [(record.listener, record.position, rating.item, rating.condition, rating.stimulus, rating.value, rating.shown_position, rating.play_count)
             for rating in record.ratings],
        )


def read_rows(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every rating joined with its page and listener, ordered by listener, position and shown position.

    Opens its own connection, so results can be read while the server is running (WAL lets readers and the
    writer proceed at once).
    """
    path = Path(path)
    if not path.is_file():
        return []
    connection = sqlite3.connect(path, timeout=30)
    connection.row_factory = sqlite3.Row
    try:
        rows = connection.execute(
            """
            SELECT r.listener, r.position, r.item, r.condition, r.stimulus, r.value, r.shown_position, r.play_count,
                   p.page, p.submitted, p.seconds_on_page, p.reference_plays, p.browser, l.seed AS listener_seed
            FROM ratings r JOIN pages p USING (listener, position) JOIN listeners l USING (listener)
            ORDER BY l.created, r.listener, r.position, r.shown_position
            """
        ).fetchall()
    except sqlite3.DatabaseError as error:
        raise ListeningTestError(f'{path} is not a readable ratings database ({error})') from None
    finally:
        connection.close()
    return [dict(row) for row in rows]
