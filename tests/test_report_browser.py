"""Each report as a reader sees it, in headless Chromium (issue 26 §6): a title as a person writes it, the figures
the run recorded beside the recomputed ones in one table (not a row each under the run's facts), learning curves
ticked at whole epochs, every figure drawn. The screenshots are kept beside the report (`report.png`) for a person
to look at; the test reads the page's own text and the figures' pixels.

Debian's /usr/bin/chromium and /usr/bin/chromedriver are driven by Selenium with the driver path given and
SE_OFFLINE set, as in test_listening_browser.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import test_inference_runs
from conftest import headless_chromium, needs_chromium
from test_inference_runs import TrainedRun

from etude.cli import main
from etude.evaluation.command import report_title
from etude.figures import draw_learning_curves

digits_run = test_inference_runs.digits_run  # the shared session fixtures
drum_run = test_inference_runs.drum_run



@pytest.fixture(scope='module')
def browser() -> Iterator[Any]:
    with headless_chromium(1280, 900) as driver:
        yield driver


def test_a_reports_title_reads_as_a_person_writes_it() -> None:
    assert report_title('expressive_performance', '20260101-120000-abc') == 'Expressive performance run 20260101-120000-abc'
    assert report_title('classification', 'x') == 'Classification run x'


def test_learning_curves_of_a_short_run_tick_whole_epochs() -> None:
    records = [{'epoch': epoch, 'training_loss': 1.0 / epoch, 'validation_loss': 1.2 / epoch, 'validation_metrics': {'accuracy': 0.5 + epoch / 10}}
               for epoch in (1, 2)]
    figure = draw_learning_curves(records)
    figure.canvas.draw()  # ticks are placed when the figure is drawn
    for axes in figure.axes:
        low, high = axes.get_xlim()
        ticks = [tick for tick in axes.get_xticks() if low <= tick <= high]
        assert ticks and all(float(tick).is_integer() for tick in ticks), (axes.get_title(), ticks)
        assert all('.' not in label.get_text() for label in axes.get_xticklabels() if label.get_text()), 'no 1.0, 1.2, ...'


def read_page(browser: Any, report: Path) -> dict[str, Any]:
    """The page's title, headings, table rows and images as Chromium laid them out; a full-page screenshot beside it."""
    from selenium.webdriver.common.by import By

    browser.get(report.as_uri())
    height = browser.execute_script('return document.body.scrollHeight')
    browser.set_window_size(1280, min(max(900, height + 100), 8000))
    browser.save_screenshot(str(report.with_name('report.png')))
    rows = [[cell.text for cell in row.find_elements(By.CSS_SELECTOR, 'th, td')] for row in browser.find_elements(By.TAG_NAME, 'tr')]
    images = browser.execute_script('return [...document.images].map(image => [image.naturalWidth, image.naturalHeight, image.width])')
    return {'title': browser.find_element(By.TAG_NAME, 'h1').text, 'document_title': browser.title, 'rows': rows, 'images': images,
            'headings': [heading.text for heading in browser.find_elements(By.TAG_NAME, 'h2')]}


@pytest.mark.slow
@needs_chromium
@pytest.mark.parametrize('which', ['classification', 'regression'])
def test_each_report_reads_well_in_a_browser(which: str, browser: Any, digits_run: TrainedRun, drum_run: TrainedRun, tmp_path: Path) -> None:
    trained = {'classification': digits_run, 'regression': drum_run}[which]
    run = Path(shutil.copytree(trained.directory, tmp_path / trained.directory.name))
    assert main(['evaluate', str(run)]) == 0
    page = read_page(browser, run / 'evaluation' / 'report.html')
    assert page['title'] == page['document_title'] == f'{which.capitalize()} run {trained.summary["run_id"]}'
    assert page['headings'][:3] == ['Run', 'Test metrics', 'Learning curves']
    assert not [row for row in page['rows'] if row and row[0].startswith('recorded by the run')], 'the recorded figures are not run facts'
    header = next(row for row in page['rows'] if row and row[0] == 'metric')
    assert header[:3] == ['metric', 'model', 'recorded by the run'], header
    test = trained.summary['test']
    by_metric = {row[0]: row for row in page['rows'] if row and row[0] in test}
    assert set(by_metric) == set(test) and all(by_metric[name][2] == f'{value:.4g}' for name, value in test.items()), by_metric
    assert page['images'] and all(width > 100 and height > 100 and shown > 100 for width, height, shown in page['images']), page['images']
    screenshot = run / 'evaluation' / 'report.png'
    from PIL import Image

    pixels = np.asarray(Image.open(screenshot).convert('L'))
    assert pixels.shape[0] >= 900 and pixels.std() > 10, 'the page drew something'
