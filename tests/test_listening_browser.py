"""Headless Chromium takes a MUSHRA and an A/B test as a listener would: clicks play, moves sliders, submits; SQLite checked.

Debian's /usr/bin/chromium and /usr/bin/chromedriver are driven by Selenium with the driver path given, and
SE_OFFLINE set, so Selenium Manager never looks for a browser or driver to download.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import headless_chromium, needs_chromium
from test_listening_design import make_folders

from etude.listening.design import create_test
from etude.listening.plan import ListeningPlan
from etude.listening.server import create_app
from etude.listening.simulate import running_server

pytestmark = [
    pytest.mark.slow,
    needs_chromium,
]
TARGETS = {'modelA': 70, 'modelB': 40, 'hidden_reference': 100, 'anchor_7000hz': 30, 'anchor_3500hz': 10}


@pytest.fixture(scope='module')
def browser() -> Iterator[Any]:
    with headless_chromium(1100, 760) as driver:
        yield driver


def wait_for(driver, condition: Callable[[], object], seconds: float = 15) -> object:  # noqa: ANN001
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, seconds, poll_frequency=0.05).until(lambda _: condition())


def element(driver, selector: str):  # noqa: ANN001, ANN201
    from selenium.webdriver.common.by import By

    return wait_for(driver, lambda: (found := driver.find_elements(By.CSS_SELECTOR, selector)) and found[0])


def elements(driver, selector: str) -> list:  # noqa: ANN001
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, selector)


def start(driver, url: str, expected_button: str) -> None:  # noqa: ANN001
    driver.get(url)
    button = element(driver, '#start')
    assert button.text.startswith(expected_button)
    time.sleep(0.3)
    assert driver.execute_script('return window.etudeDebug.contextState()') == 'none', 'no audio before a click'
    assert driver.execute_script('return window.etudeDebug.sourcesStarted') == 0
    button.click()
    element(driver, '#volume-play').click()
    wait_for(driver, lambda: driver.execute_script('return window.etudeDebug.sourcesStarted') > 0)
    assert driver.execute_script('return window.etudeDebug.contextState()') == 'running'
    element(driver, '#begin').click()


def page_number(driver) -> str:  # noqa: ANN001
    """The progress line of the page shown, once there is one (read by script: the page is redrawn, never navigated)."""
    return str(wait_for(driver, lambda: driver.execute_script("const node = document.querySelector('.progress'); return node && node.textContent")))


def wait_for_page(driver, number: int, total: int) -> None:  # noqa: ANN001
    wait_for(driver, lambda: page_number(driver).endswith(f'Page {number} of {total}'))


def answer_mushra_page(driver, plan: ListeningPlan, screenshot: Path | None = None) -> dict[str, float]:  # noqa: ANN001
    from selenium.webdriver.common.keys import Keys

    submit = element(driver, '#submit')
    assert not submit.is_enabled() and 'Play every sound' in element(driver, '#status').text
    sliders = elements(driver, 'input.rating')
    assert len(sliders) == len(TARGETS)
    chosen: dict[str, float] = {}
    for slider in sliders:
        stimulus = plan.stimuli[slider.get_attribute('data-stimulus')]
        value = TARGETS[stimulus.condition] - 3 * plan.items.index(stimulus.item)
        slider.send_keys(Keys.HOME + Keys.ARROW_UP * value)
        assert int(slider.get_property('value')) == value
        chosen[stimulus.id] = value
    buttons = elements(driver, 'button.play')
    assert buttons[0].get_attribute('id') == 'reference'
    for button in buttons[:-1]:
        button.click()
        assert not submit.is_enabled(), 'every sound, the reference included, must be played first'
    buttons[-1].click()
    wait_for(driver, submit.is_enabled)
    if screenshot is not None:
        driver.save_screenshot(str(screenshot))
    return chosen


def stored(directory: Path) -> dict[str, dict[str, float]]:
    with sqlite3.connect(directory / 'ratings.sqlite') as connection:
        rows = connection.execute('SELECT listener, stimulus, value FROM ratings').fetchall()
    by_listener: dict[str, dict[str, float]] = {}
    for listener, stimulus, value in rows:
        by_listener.setdefault(listener, {})[stimulus] = value
    return by_listener


def test_mushra_in_chromium(browser, tmp_path: Path) -> None:  # noqa: ANN001
    folders = make_folders(tmp_path / 'sources', {'modelA': 0.01, 'modelB': 0.1}, items=2, seconds=2.0)
    plan = create_test(tmp_path / 'test', kind='mushra', reference=folders['refs'], conditions={'modelA': folders['modelA'], 'modelB': folders['modelB']})
    with running_server(create_app(tmp_path / 'test')) as url:
        start(browser, url + '/', 'Start')
        assert page_number(browser).endswith('Page 1 of 2')
        chosen = answer_mushra_page(browser, plan, screenshot=tmp_path / 'mushra-item-page.png')
        first, second = elements(browser, 'button.play')[1:3]
        first.click()
        time.sleep(0.4)
        second.click()
        assert browser.execute_script('return window.etudeDebug.playing()') == second.get_attribute('data-stimulus')
        assert browser.execute_script('return window.etudeDebug.position()') > 0.3, 'switching carries on at the same point'
        element(browser, '#submit').click()
        wait_for_page(browser, 2, 2)
        assert browser.execute_script('return window.etudeDebug.playing()') is None, 'sound stops when the page changes'
        (listener, ratings), = stored(tmp_path / 'test').items()
        assert ratings == chosen, 'page 1 is in the database before page 2 is answered'

        browser.refresh()  # the listener closes the window and opens the link again
        start(browser, browser.current_url, 'Continue (page 2 of 2)')
        assert page_number(browser).endswith('Page 2 of 2')
        chosen.update(answer_mushra_page(browser, plan))
        element(browser, '#submit').click()
        assert element(browser, '#finished').text == 'Thank you!'
    assert stored(tmp_path / 'test') == {listener: chosen}
    assert (tmp_path / 'mushra-item-page.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    with sqlite3.connect(tmp_path / 'test' / 'ratings.sqlite') as connection:
        browsers = {row[0] for row in connection.execute('SELECT browser FROM pages')}
        plays = connection.execute('SELECT MIN(play_count) FROM ratings').fetchone()[0]
    assert len(browsers) == 1 and 'Chrome' in browsers.pop() and plays >= 1


def test_ab_in_chromium(browser, tmp_path: Path) -> None:  # noqa: ANN001
    folders = make_folders(tmp_path / 'sources', {'model': 0.05}, items=2, seconds=1.0)
    plan = create_test(tmp_path / 'test', kind='ab', conditions={'human': folders['refs'], 'model': folders['model']})
    expected: dict[str, float] = {}
    with running_server(create_app(tmp_path / 'test')) as url:
        browser.delete_all_cookies()
        browser.get(url + '/')
        browser.execute_script('window.localStorage.clear()')
        start(browser, url + '/', 'Start')
        for number, answer in ((1, 'model'), (2, 'none')):
            wait_for_page(browser, number, 2)
            submit = element(browser, '#submit')
            for button in elements(browser, 'button.play'):
                button.click()
            assert not submit.is_enabled(), 'a choice is needed'
            shown = [button.get_attribute('data-stimulus') for button in elements(browser, 'button.play')]
            value = 'none' if answer == 'none' else next(identifier for identifier in shown if plan.stimuli[identifier].condition == answer)
            next(radio for radio in elements(browser, 'input[name=choice]') if radio.get_attribute('value') == value).click()
            expected.update({identifier: 0.5 if answer == 'none' else float(identifier == value) for identifier in shown})
            wait_for(browser, submit.is_enabled)
            submit.click()
        assert element(browser, '#finished').text == 'Thank you!'
    (ratings,) = stored(tmp_path / 'test').values()
    assert ratings == expected


def test_mos_in_chromium(browser, tmp_path: Path) -> None:  # noqa: ANN001
    folders = make_folders(tmp_path / 'sources', {'model': 0.05}, items=1, seconds=1.0)
    plan = create_test(tmp_path / 'test', kind='mos', conditions={'human': folders['refs'], 'model': folders['model']})
    expected: dict[str, float] = {}
    with running_server(create_app(tmp_path / 'test')) as url:
        browser.get(url + '/')
        browser.execute_script('window.localStorage.clear()')
        start(browser, url + '/', 'Start')
        for number in (1, 2):
            wait_for_page(browser, number, 2)
            (play,) = elements(browser, 'button.play')
            identifier = play.get_attribute('data-stimulus')
            value = 5 if plan.stimuli[identifier].condition == 'human' else 2
            next(radio for radio in elements(browser, 'input[name=rating]') if radio.get_attribute('value') == str(value)).click()
            submit = element(browser, '#submit')
            assert not submit.is_enabled(), 'the stimulus must be played first'
            play.click()
            wait_for(browser, submit.is_enabled)
            expected[identifier] = value
            submit.click()
        assert element(browser, '#finished').text == 'Thank you!'
    (ratings,) = stored(tmp_path / 'test').values()
    assert ratings == expected
