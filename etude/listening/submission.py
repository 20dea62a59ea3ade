"""What a submitted page must hold, checked completely before anything is stored.

A page arrives as JSON:

    {"listener": ID, "ratings": {STIMULUS: VALUE, ...}, "play_counts": {STIMULUS: N, ...}, "seconds_on_page": S}

or, on an A/B page, `"choice": STIMULUS` (or `"none"` where "no preference" is offered) in place of `"ratings"`.
The stimuli must be exactly those the listener's schedule put on that page (an id from another page, another
listener's page or a path is refused), values must lie on the test's scale, and with `must_play_all` every stimulus
and the reference must have been played. Any problem raises a `RequestError` carrying the HTTP status to answer.
"""

from __future__ import annotations

import json
import math
from typing import Any

from .plan import ListeningPlan, ListeningTestError, ScheduledPage
from .storage import PageRecord, RatingRecord

__all__ = ['MAX_PLAY_COUNT', 'MAX_SECONDS_ON_PAGE', 'RequestError', 'page_record']

MAX_PLAY_COUNT = 100_000
MAX_SECONDS_ON_PAGE = 7 * 24 * 3600.0
NO_PREFERENCE = 'none'


class RequestError(ListeningTestError):
    """A request the server refuses: `status` is the HTTP status (4xx), the message says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_PLAY_COUNT


def page_record(plan: ListeningPlan, schedule: list[ScheduledPage], listener: str, position: int, payload: Any, browser: str) -> PageRecord:
    """Check a page submission against the plan and the listener's schedule and turn it into rows to store.

    Args:
        plan: the test.
        schedule: the listener's recorded order.
        listener: the listener id of the request's path.
        position: the page's position in the schedule, from the path.
        payload: the parsed JSON body.
        browser: the request's User-Agent.

    Raises:
        RequestError: 400 for a malformed or out-of-scale submission, 403 for another listener's id, 404 for a
            position past the schedule.
    """
    if not 0 <= position < len(schedule):
        raise RequestError(404, f'no page {position}: this test has pages 0 to {len(schedule) - 1}')
    if not isinstance(payload, dict):
        raise RequestError(400, 'the body must be a JSON object')
    answer_key = 'choice' if plan.kind == 'ab' else 'ratings'
    expected = {'listener', answer_key, 'play_counts', 'seconds_on_page'}
    if set(payload) != expected:
        unknown, missing = sorted(set(payload) - expected), sorted(expected - set(payload))
        details = (f'; unknown {unknown}' if unknown else '') + (f'; missing {missing}' if missing else '')
        raise RequestError(400, f'the body must hold exactly {sorted(expected)}{details}')
    if payload['listener'] != listener:
        raise RequestError(403, "the body's listener id is not the listener of this page; submit only your own pages")
    scheduled = schedule[position]
    page = plan.pages[scheduled.page]
    shown = scheduled.stimuli
    values = _ratings(plan, shown, payload[answer_key]) if answer_key == 'ratings' else _choice(plan, shown, payload['choice'])
    plays = _play_counts(plan, shown, page.reference, payload['play_counts'])
    seconds = payload['seconds_on_page']
    if not _number(seconds) or not 0 <= seconds <= MAX_SECONDS_ON_PAGE:
        raise RequestError(400, f'seconds_on_page must be a number from 0 to {MAX_SECONDS_ON_PAGE:g}')
    answer = json.dumps({answer_key: payload[answer_key], 'play_counts': plays, 'seconds_on_page': seconds}, sort_keys=True)
    ratings = tuple(
        RatingRecord(page.item, plan.stimuli[identifier].condition, identifier, float(values[identifier]), index, plays[identifier])
        for index, identifier in enumerate(shown)
    )
    return PageRecord(
        listener=listener,
        position=position,
        page=scheduled.page,
        item=page.item,
        seconds_on_page=float(seconds),
        reference_plays=plays.get(page.reference) if page.reference else None,
        browser=browser[:500],
        answer=answer,
        ratings=ratings,
    )


def _ratings(plan: ListeningPlan, shown: tuple[str, ...], ratings: Any) -> dict[str, float]:
    scale = plan.scale
    if not isinstance(ratings, dict):
        raise RequestError(400, 'ratings must be an object of stimulus id → value')
    for identifier, value in ratings.items():
        if identifier not in shown:
            raise RequestError(400, f'stimulus {str(identifier)[:40]!r} is not on this page; rate only the stimuli shown')
        if not _number(value) or not scale.minimum <= value <= scale.maximum:
            raise RequestError(400, f'rating {str(value)[:20]!r} is not a number from {scale.minimum:g} to {scale.maximum:g}')
        if scale.widget == 'categories' and value != round(value):
            raise RequestError(400, f'rating {value!r} is not one of the categories {scale.minimum:g} to {scale.maximum:g}')
    missing = [identifier for identifier in shown if identifier not in ratings]
    if missing:
        raise RequestError(400, f'{len(missing)} stimulus(es) on this page have no rating; rate every stimulus')
    return {identifier: float(value) for identifier, value in ratings.items()}


def _choice(plan: ListeningPlan, shown: tuple[str, ...], choice: Any) -> dict[str, float]:
    if choice == NO_PREFERENCE and plan.no_preference:
        return dict.fromkeys(shown, 0.5)
    if not isinstance(choice, str) or choice not in shown:
        allowed = ' or "none"' if plan.no_preference else ''
        raise RequestError(400, f'choice must be the id of one of the two stimuli on this page{allowed}')
    return {identifier: 1.0 if identifier == choice else 0.0 for identifier in shown}


def _play_counts(plan: ListeningPlan, shown: tuple[str, ...], reference: str | None, counts: Any) -> dict[str, int]:
    playable = (*shown, *([reference] if reference else []))
    if not isinstance(counts, dict):
        raise RequestError(400, 'play_counts must be an object of stimulus id → count')
    for identifier, count in counts.items():
        if identifier not in playable:
            raise RequestError(400, f'play_counts names {str(identifier)[:40]!r}, which is not on this page')
        if not _count(count):
            raise RequestError(400, f'play count {str(count)[:20]!r} is not a whole number from 0 to {MAX_PLAY_COUNT}')
    plays = {identifier: int(counts.get(identifier, 0)) for identifier in playable}
    if plan.must_play_all and any(count < 1 for count in plays.values()):
        raise RequestError(400, 'every stimulus on the page (and the reference) must be played before the page is submitted')
    return plays
