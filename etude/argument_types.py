"""Value checkers for command-line options: each converts the text or refuses it with one line saying what it takes.

argparse shows an `ArgumentTypeError`'s message after the option's name (`argument --top: must be a whole number of
at least 1, got '0'`), and the `etude` command prints it as its one error line; the task kinds' `etude infer` options
and the commands' own use the same checkers, so one kind of value is refused in one wording everywhere.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

__all__ = ['open_probability', 'positive_number', 'probability', 'whole_number']


def whole_number(minimum: int) -> Callable[[str], int]:
    """A checker of whole numbers of at least `minimum`."""
    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum:
            raise argparse.ArgumentTypeError(f'must be a whole number of at least {minimum}, got {text!r}')
        return value
    return convert


def _number(text: str) -> float:
    """The text as a number, or NaN (which every range refuses)."""
    try:
        return float(text)
    except ValueError:
        return math.nan


def positive_number(text: str) -> float:
    """A finite number above 0."""
    value = _number(text)
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f'must be a positive number, got {text!r}')
    return value


def probability(text: str) -> float:
    """A probability in (0, 1], such as nucleus sampling's top-p."""
    value = _number(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f'must be in (0, 1], got {text!r}')
    return value


def open_probability(text: str) -> float:
    """A probability strictly between 0 and 1, such as a decoding threshold."""
    value = _number(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f'must be a number between 0 and 1, got {text!r}')
    return value
