"""Evaluation figures draw what they are given, and the report is one self-contained, escaped page embedding them all."""

from __future__ import annotations

import base64
import struct
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import ROOT
from matplotlib.patches import Rectangle
from sklearn.metrics import confusion_matrix, mean_absolute_error

from etude.evaluation.report import write_report
from etude.figures import (
    confusion_matrix_figure,
    draw_confusion_matrix,
    draw_learning_curves,
    draw_regression,
    learning_curves_figure,
    regression_figures,
)

RECORDS: list[dict[str, Any]] = [
    {'epoch': epoch, 'training_loss': 2.0 / epoch, 'validation_loss': 2.2 / epoch, 'seconds': 1.5,
     'validation_metrics': {'accuracy': 0.1 * epoch, 'macro_f1': 0.09 * epoch}}
    for epoch in range(1, 7)
]
RECORDS[2]['validation_loss'] = None  # a gap, as a run written by an older version might have


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from the PNG's IHDR chunk, read by hand (independent of matplotlib)."""
    data = path.read_bytes()
    assert data[:8] == b'\x89PNG\r\n\x1a\n' and data[12:16] == b'IHDR', f'{path} is not a PNG'
    width, height = struct.unpack('>II', data[16:24])
    return int(width), int(height)


def decoded(path: Path) -> np.ndarray:
    """The pixels, decoded by matplotlib's PNG reader."""
    from matplotlib import image

    return image.imread(path)


def assert_plausible_png(path: Path) -> None:
    width, height = png_size(path)
    assert 300 <= width <= 2500 and 250 <= height <= 2500, (width, height)
    pixels = decoded(path)
    assert pixels.shape[:2] == (height, width) and pixels.std() > 0.01, 'a drawn figure, not a blank canvas'


def test_importing_the_evaluation_modules_does_not_import_matplotlib() -> None:
    check = 'import sys, etude.figures, etude.evaluation.report; assert "matplotlib" not in sys.modules, "eager matplotlib"'
    result = subprocess.run([sys.executable, '-c', check], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr


def test_confusion_matrix_colours_rows_by_recall_and_labels_the_classes(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    names = ['zero', 'one', 'two', 'three']
    truth = rng.choice(4, 300, p=[0.7, 0.1, 0.1, 0.1])
    predicted = np.where(rng.uniform(size=300) < 0.7, truth, rng.integers(0, 4, 300))
    counts = confusion_matrix(truth, predicted, labels=range(4))
    figure = draw_confusion_matrix(counts, names)
    axes = figure.axes[0]
    assert np.allclose(np.asarray(axes.images[0].get_array()), confusion_matrix(truth, predicted, labels=range(4), normalize='true'))
    assert [label.get_text() for label in axes.get_xticklabels()] == names and [label.get_text() for label in axes.get_yticklabels()] == names
    assert [text.get_text() for text in axes.texts] == [str(count) for count in counts.ravel()]
    path = confusion_matrix_figure(counts, names, tmp_path / 'evaluation' / 'confusion.png')
    assert path == tmp_path / 'evaluation' / 'confusion.png'
    assert_plausible_png(path)
    with pytest.raises(ValueError, match='must be \\(3, 3\\)'):
        draw_confusion_matrix(counts, names[:3])


def test_regression_figures_scatter_every_item_and_histogram_every_error(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    truth = rng.uniform(0.1, 2.0, (120, 2))
    predicted = truth + rng.normal(0, 0.1, truth.shape)
    figure = draw_regression(predicted[:, 0], truth[:, 0], name='drum_size', unit='m')
    scatter, histogram = figure.axes
    assert np.allclose(scatter.collections[0].get_offsets(), np.stack([truth[:, 0], predicted[:, 0]], axis=1))
    assert sum(patch.get_height() for patch in histogram.patches if isinstance(patch, Rectangle)) == 120
    assert f'MAE {mean_absolute_error(truth[:, 0], predicted[:, 0]):.4g}' in histogram.get_title()
    assert scatter.get_xlabel() == 'true drum_size (m)'
    paths = regression_figures(predicted, truth, tmp_path, names=['drum_size', 'aspect_ratio'], units={'drum_size': 'm'})
    assert list(paths) == ['drum_size', 'aspect_ratio'] and paths['aspect_ratio'] == tmp_path / 'regression_aspect_ratio.png'
    for path in paths.values():
        assert_plausible_png(path)
    with pytest.raises(ValueError, match='3 target names'):
        regression_figures(predicted, truth, tmp_path, names=['a', 'b', 'c'])


def test_learning_curves_follow_the_records(tmp_path: Path) -> None:
    figure = draw_learning_curves(list(reversed(RECORDS)))
    losses = figure.axes[0]
    (epochs, training), (_, validation) = ((np.asarray(line.get_xdata()), np.asarray(line.get_ydata())) for line in losses.get_lines())
    assert epochs.tolist() == list(range(1, 7)) and np.allclose(training, [2.0 / epoch for epoch in range(1, 7)])
    assert np.isnan(validation[2]) and validation[3] == pytest.approx(2.2 / 4)
    assert [axes.get_title() for axes in figure.axes if axes.get_visible()] == ['loss', 'validation accuracy', 'validation macro_f1']
    assert_plausible_png(learning_curves_figure(RECORDS, tmp_path / 'curves.png'))
    assert_plausible_png(learning_curves_figure([{'epoch': 1, 'training_loss': 0.5}], tmp_path / 'one_epoch.png'))


class PageParser(HTMLParser):
    """The page's tags, image sources, links and table rows, parsed by the standard library."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.sources: list[str] = []
        self.links: list[str] = []
        self.rows: list[list[str]] = []
        self.cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        values = dict(attrs)
        if tag == 'img':
            self.sources.append(values.get('src') or '')
        self.links += [value or '' for name, value in attrs if name in ('href', 'src') and tag != 'img']
        if tag == 'tr':
            self.rows.append([])
        if tag in ('td', 'th'):
            self.cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ('td', 'th') and self.cell is not None:
            self.rows[-1].append(''.join(self.cell))
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def test_the_report_is_self_contained_escaped_and_embeds_every_figure(tmp_path: Path) -> None:
    curves = learning_curves_figure(RECORDS, tmp_path / 'curves.png')
    hostile = 'cat <script>alert("x")</script> & dog'
    confusion = confusion_matrix_figure(np.array([[5, 1], [2, 7]]), ['yes', hostile], tmp_path / 'confusion.png')
    regression = regression_figures(np.array([[0.1], [0.5]]), np.array([[0.2], [0.4]]), tmp_path, names=['size'])['size']
    figures = {f'confusion of {hostile}': confusion, 'size': regression}
    report = write_report(
        tmp_path / 'evaluation' / 'report.html',
        title=f'Run <b>{hostile}</b>',
        run={'id': '2024-01-01_120000', 'best_epoch': 5, 'wall_seconds': 12.3456789},
        config={'learning_rate': 0.001, 'channels': [16, 32], 'note': hostile, 'nested': {'depth': 'tiny'}},
        dataset={'name': 'spoken-digits', 'fingerprint': 'ab12cd34', 'size': 100},
        split_sizes={'train': 80, 'validation': 10, 'test': 10},
        learning_curves=curves,
        test_metrics={'accuracy': 0.971234, 'macro_f1': 0.9687},
        baselines={'majority class': {'accuracy': 0.1}, 'chance': {'accuracy': 0.1, 'macro_f1': 0.1}},
        figures=figures,
    )
    page = report.read_text(encoding='utf-8')
    parser = PageParser()
    parser.feed(page)
    assert 'http' not in page.lower() and parser.links == [] and 'script' not in parser.tags and 'link' not in parser.tags
    assert all(source.startswith('data:image/png;base64,') for source in parser.sources)
    embedded = sorted(base64.b64decode(source.split(',', 1)[1]) for source in parser.sources)
    assert embedded == sorted(path.read_bytes() for path in (curves, *figures.values())), 'every figure, byte for byte, and nothing else'
    assert '<script>' not in page and '&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; dog' in page
    assert '<b>' not in page
    rows = {row[0]: row[1:] for row in parser.rows if row}
    assert rows['metric'] == ['model', 'majority class', 'chance']
    assert rows['accuracy'] == ['0.9712', '0.1', '0.1'] and rows['macro_f1'] == ['0.9687', '–', '0.1']
    assert rows['learning_rate'] == ['0.001'] and rows['channels'] == ['[16, 32]'] and rows['nested.depth'] == ['tiny'] and rows['note'] == [hostile]
    assert rows['fingerprint'] == ['ab12cd34'] and rows['train'] == ['80', '80.0%'] and rows['test'] == ['10', '10.0%']
    again = write_report(tmp_path / 'again.html', title=f'Run <b>{hostile}</b>', run={'id': '2024-01-01_120000', 'best_epoch': 5, 'wall_seconds': 12.3456789},
                         config={'learning_rate': 0.001, 'channels': [16, 32], 'note': hostile, 'nested': {'depth': 'tiny'}},
                         dataset={'name': 'spoken-digits', 'fingerprint': 'ab12cd34', 'size': 100}, split_sizes={'train': 80, 'validation': 10, 'test': 10},
                         learning_curves=curves, test_metrics={'accuracy': 0.971234, 'macro_f1': 0.9687},
                         baselines={'majority class': {'accuracy': 0.1}, 'chance': {'accuracy': 0.1, 'macro_f1': 0.1}}, figures=figures)
    assert again.read_bytes() == report.read_bytes(), 'the same inputs give the same page'


def test_the_report_leaves_out_empty_sections_and_refuses_non_images(tmp_path: Path) -> None:
    page = write_report(tmp_path / 'report.html', title='bare', test_metrics={'mae_cm': 4.2}).read_text(encoding='utf-8')
    assert '<h2>Test metrics</h2>' in page and '<h2>Configuration</h2>' not in page and '<img' not in page
    (tmp_path / 'notes.txt').write_text('not a picture')
    with pytest.raises(ValueError, match='not a PNG or JPEG'):
        write_report(tmp_path / 'broken.html', title='x', figures={'notes': tmp_path / 'notes.txt'})
    assert not (tmp_path / 'broken.html').exists(), 'a failed report writes nothing'
