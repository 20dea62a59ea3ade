"""The plan of a listening test: what is rated on which page, on which scale, and each listener's own order.

`plan.json` is written once by `create_test` and only read afterwards. It names every stimulus by an opaque id
(16 random hex digits) that is all the browser ever sees: the server looks the id up here to find the file, so no
request can name a path, and a listener cannot tell from the page which condition a button plays (the hidden
reference has an id of its own, distinct from the reference's).

Each listener's order of pages, and of stimuli on each page, is drawn from a generator seeded by the test's seed
and the listener's id, so it can be recomputed, and it is also recorded in the database when the listener starts.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..errors import EtudeError

__all__ = [
    'HIDDEN_REFERENCE',
    'KINDS',
    'PLAN_FILE',
    'ListeningTestError',
    'Page',
    'Scale',
    'ScheduledPage',
    'Stimulus',
    'ListeningPlan',
    'anchor_condition',
    'listener_schedule',
    'listener_seed',
    'load_plan',
    'scale_for',
]

Kind = Literal['mushra', 'mos', 'ab']
KINDS: tuple[Kind, ...] = ('mushra', 'mos', 'ab')
PLAN_FILE = 'plan.json'
PLAN_FORMAT = 'etude-listening-test'
PLAN_FORMAT_VERSION = 1
HIDDEN_REFERENCE = 'hidden_reference'
STIMULUS_ID_PATTERN = re.compile(r'[0-9a-f]{16}')
QUALITY_LABELS = ('Excellent', 'Good', 'Fair', 'Poor', 'Bad')


class ListeningTestError(EtudeError):
    """A listening test folder, its input folders or a request about it is wrong."""


def anchor_condition(cutoff_hz: float) -> str:
    """The condition name of a low-pass anchor, e.g. 3500 → 'anchor_3500hz'."""
    return f'anchor_{round(cutoff_hz)}hz'


@dataclass(frozen=True)
class Scale:
    """How one stimulus is answered.

    Attributes:
        widget: 'slider' (continuous, MUSHRA and BS.2132 multi-stimulus), 'categories' (radio buttons, P.800 ACR)
            or 'choice' (A/B preference).
        minimum, maximum, step: the values a rating may take; a 'choice' stores 1 for the preferred stimulus, 0 for
            the other and 0.5 for both when there is no preference.
        labels: the scale's verbal anchors from best to worst, spread evenly over the range.
    """

    widget: Literal['slider', 'categories', 'choice']
    minimum: float
    maximum: float
    step: float
    labels: tuple[str, ...]


def scale_for(kind: Kind, multi_stimulus: bool) -> Scale:
    """BS.1534's 0–100 quality scale, P.800's five categories 5..1, or a two-way choice."""
    if kind == 'ab':
        return Scale('choice', 0, 1, 0.5, ())
    if kind == 'mos' and not multi_stimulus:
        return Scale('categories', 1, 5, 1, QUALITY_LABELS)
    return Scale('slider', 0, 100, 1, QUALITY_LABELS)


@dataclass(frozen=True)
class Stimulus:
    """One audio file of the test: `item` played by `condition`, stored at `file` (relative to the test folder)."""

    id: str
    item: str
    condition: str
    file: str


@dataclass(frozen=True)
class Page:
    """One page a listener answers: the stimuli to rate (ids, in canonical order) and, for MUSHRA, the open reference."""

    item: str
    stimuli: tuple[str, ...]
    reference: str | None = None


@dataclass(frozen=True)
class ScheduledPage:
    """A page as one listener sees it: `page` indexes `ListeningPlan.pages`, `stimuli` is the order shown."""

    page: int
    stimuli: tuple[str, ...]


@dataclass(frozen=True)
class ListeningPlan:
    """Everything `plan.json` holds (see the module docstring).

    Attributes:
        test_id: random id of this test (keys the listener's browser storage).
        kind: 'mushra', 'mos' or 'ab'.
        title: shown on the welcome page.
        seed: base of every listener's order.
        conditions: every condition rated, the generated ones (hidden reference, anchors) included.
        items: the items, in the folders' sorted order.
        stimuli: id → Stimulus.
        pages: the pages in canonical order.
        volume_check: id of the stimulus played for the volume check.
        must_play_all: a page cannot be submitted before each of its stimuli (and the reference) was played.
        multi_stimulus: MOS only: all conditions of an item on one page, on 0–100 sliders (BS.2132).
        no_preference: A/B only: offer "no preference".
        loudness_lufs: the integrated loudness every stimulus was normalised to, or None.
        sources: condition → folder the files came from, for the record.
        created: ISO time of creation.
    """

    test_id: str
    kind: Kind
    title: str
    seed: int
    conditions: tuple[str, ...]
    items: tuple[str, ...]
    stimuli: dict[str, Stimulus]
    pages: tuple[Page, ...]
    volume_check: str
    must_play_all: bool = True
    multi_stimulus: bool = False
    no_preference: bool = True
    loudness_lufs: float | None = None
    sources: dict[str, str] = field(default_factory=dict)
    created: str = ''

    @property
    def scale(self) -> Scale:
        return scale_for(self.kind, self.multi_stimulus)

    def to_json(self) -> dict[str, Any]:
        value = asdict(self)
        value['stimuli'] = {identifier: asdict(stimulus) for identifier, stimulus in sorted(self.stimuli.items())}
        return {'format': PLAN_FORMAT, 'format_version': PLAN_FORMAT_VERSION, **value}

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> ListeningPlan:
        if value.get('format') != PLAN_FORMAT:
            raise ValueError('not an etude listening-test plan')
        if value.get('format_version') != PLAN_FORMAT_VERSION:
            raise ValueError(f"plan format version {value.get('format_version')}, this etude reads {PLAN_FORMAT_VERSION}")
        value = {key: item for key, item in value.items() if key not in ('format', 'format_version')}
        stimuli = {identifier: Stimulus(**stimulus) for identifier, stimulus in value.pop('stimuli').items()}
        pages = tuple(Page(page['item'], tuple(page['stimuli']), page.get('reference')) for page in value.pop('pages'))
        plan = cls(
            stimuli=stimuli,
            pages=pages,
            conditions=tuple(value.pop('conditions')),
            items=tuple(value.pop('items')),
            **value,
        )
        if plan.kind not in KINDS:
            raise ValueError(f'unknown kind {plan.kind!r}')
        for page in plan.pages:
            for identifier in (*page.stimuli, *([page.reference] if page.reference else [])):
                if identifier not in stimuli:
                    raise ValueError(f'page of item {page.item!r} names unknown stimulus {identifier!r}')
        return plan

    def fingerprint(self) -> str:
        """sha256 of what the ratings depend on (ids, pages, conditions, seed; not the title): the database records it,
        so ratings never meet another plan, while a corrected title or setting keeps the database usable."""
        value = self.to_json()
        essential = {key: value[key] for key in ('test_id', 'kind', 'seed', 'conditions', 'items', 'stimuli', 'pages', 'multi_stimulus')}
        return hashlib.sha256(json.dumps(essential, sort_keys=True).encode()).hexdigest()

    def stimulus_path(self, directory: str | os.PathLike[str], identifier: str) -> Path | None:
        """The file of a registered stimulus id, or None: the only way a request reaches a file."""
        stimulus = self.stimuli.get(identifier) if STIMULUS_ID_PATTERN.fullmatch(identifier) else None
        return None if stimulus is None else Path(directory) / stimulus.file


def load_plan(directory: str | os.PathLike[str]) -> ListeningPlan:
    """Read `directory/plan.json`.

    Raises:
        ListeningTestError: the folder holds no plan, or the plan is unreadable.
    """
    path = Path(directory) / PLAN_FILE
    if not path.is_file():
        raise ListeningTestError(f'{directory} is not a listening test (no {PLAN_FILE}); create one with: etude listen create {directory} ...')
    try:
        return ListeningPlan.from_json(json.loads(path.read_text(encoding='utf-8')))
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise ListeningTestError(f'{path} is damaged ({error}); create the test again with etude listen create') from None


def listener_seed(test_seed: int, listener_id: str) -> int:
    """A 63-bit seed from the test's seed and the listener's id (stable across Python runs, unlike hash())."""
    digest = hashlib.sha256(f'{test_seed}:{listener_id}'.encode()).digest()
    return int.from_bytes(digest[:8], 'big') >> 1


def listener_schedule(plan: ListeningPlan, listener_id: str) -> list[ScheduledPage]:
    """The listener's order of pages and of the stimuli on each, drawn from `listener_seed`.

    Randomising per listener spreads order effects (the first pages are heard with fresher ears, the last compared
    against more memories) evenly over items and conditions, which a fixed order would confound with them.
    """
    import numpy as np

    generator = np.random.default_rng(listener_seed(plan.seed, listener_id))
    schedule = []
    for page_index in generator.permutation(len(plan.pages)).tolist():
        stimuli = plan.pages[page_index].stimuli
        shown = tuple(stimuli[position] for position in generator.permutation(len(stimuli)).tolist())
        schedule.append(ScheduledPage(page_index, shown))
    return schedule
