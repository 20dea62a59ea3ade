"""Exceptions for mistakes a user can fix.

Every error that reaches a user from bad input (a config, a file, a checkpoint, a name) is an `EtudeError` whose
message is one line saying what was wrong and what to do. Scripts catch `EtudeError`, print the message and exit
with status 2; anything else is a bug in etude and keeps its traceback.
"""

__all__ = [
    'CheckpointError',
    'ConfigError',
    'DataFileError',
    'DatasetError',
    'DownloadError',
    'EtudeError',
    'MissingDependencyError',
    'RoutineError',
    'shown_url',
]


class EtudeError(Exception):
    """Base class: a problem with the user's input, described in one actionable line."""


class ConfigError(EtudeError):
    """A hyperparameter file, key or value is wrong."""


class DatasetError(EtudeError):
    """A dataset is missing, incomplete or of the wrong kind."""


class DataFileError(DatasetError):
    """One raw data file (audio, MIDI, MusicXML) is corrupt, empty or unsupported."""


class DownloadError(DatasetError):
    """An official dataset could not be downloaded, verified or extracted."""


class CheckpointError(EtudeError):
    """A checkpoint file is truncated, not an etude export, or belongs to another model."""


class MissingDependencyError(EtudeError):
    """A system program or package (espeak-ng, fluidsynth, a soundfont) is not installed."""


class RoutineError(EtudeError):
    """A routine was used out of order, e.g. trained before a model was set."""


def shown_url(url: str) -> str:
    """`url` as an error message may show it: a password in it (`postgresql://user:secret@host/db`) becomes `***`,
    since messages end up in logs and issue reports."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return url
    if not password:
        return url
    return parts._replace(netloc=parts.netloc.replace(f':{password}@', ':***@', 1)).geturl()
