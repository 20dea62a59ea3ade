"""Where a sweep's state lives, checked before any trial: the sweep folder, a journal file, or a database URL.

`etude sweep` keeps its state in Optuna's storage: by default the journal file `sweep.journal` in the sweep folder,
or `--storage PATH` (another journal file), or `--storage URL` (a database that several machines share, through
SQLAlchemy). Each way it can be wrong is one line naming the fix, found before the first trial starts: a sweep folder
that is a file or cannot be written, a journal path that is a folder, a URL whose scheme no SQLAlchemy dialect
takes or whose driver is not installed, a SQLite file that cannot be written, a database that does not answer, and a
journal that is not one (random bytes, records Optuna cannot replay).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..atomic_files import unwritable_reason
from ..errors import ConfigError, MissingDependencyError, shown_url

__all__ = ['check_sweep_folder', 'open_storage', 'readable_journal']

# the package that provides each driver module SQLAlchemy imports for a database URL's scheme (and its +driver)
_DRIVER_PACKAGES = {'psycopg2': 'psycopg2-binary', 'psycopg': 'psycopg[binary]', 'MySQLdb': 'mysqlclient', 'pymysql': 'PyMySQL',
                    'mysql': 'mysql-connector-python', 'pyodbc': 'pyodbc', 'pymssql': 'pymssql', 'asyncpg': 'asyncpg', 'pg8000': 'pg8000',
                    'oracledb': 'oracledb', 'mariadb': 'mariadb'}
_EXAMPLES = 'sqlite:///sweeps.db, postgresql://user@host/sweeps or mysql://user@host/sweeps'


def check_sweep_folder(directory: Path, *, writing: bool = True) -> None:
    """The sweep folder (`--dir`) must be a folder, or makeable, and writable when the sweep runs: it holds the
    journal, the claim lock, the trials' run folders and best.yaml (`--status` only reads it)."""
    if directory.exists() and not directory.is_dir():
        raise ConfigError(f'The sweep folder {directory} is a file, not a folder; pass --dir a folder for the sweep (its journal, trials and best.yaml)')
    reason = unwritable_reason(directory) if writing else None
    if reason is not None:
        raise ConfigError(f'The sweep folder {directory} {reason}; pass --dir a folder you can write')


def open_storage(optuna: Any, url: str | None, directory: Path, *, create: bool = True) -> Any:
    """Optuna's storage for the sweep: a journal file (`url` a path, or None for DIR/sweep.journal) or a database;
    without `create` (`--status`) a journal that is not there yet is None, and nothing is made."""
    if url and '://' in url:
        return _database(optuna, url)
    journal = Path(url) if url else directory / 'sweep.journal'
    if journal.is_dir():
        raise ConfigError(f'--storage {journal} is a folder; give a journal file (e.g. {journal / "sweep.journal"}) or a database URL such as {_EXAMPLES}')
    if not create and not journal.is_file():
        return None
    reason = unwritable_reason(journal) if create else None
    if reason is not None:
        raise ConfigError(f'The sweep journal {journal} {reason}; pass --storage (or --dir) a place you can write')
    journal.parent.mkdir(parents=True, exist_ok=True)
    journals = optuna.storages.journal
    with readable_journal(journal):
        return optuna.storages.JournalStorage(journals.JournalFileBackend(str(journal), lock_obj=journals.JournalFileOpenLock(str(journal))))


@contextlib.contextmanager
def readable_journal(journal: Path | str | None) -> Iterator[None]:
    """What Optuna raises while replaying a journal that is not one (random bytes: UnicodeDecodeError; a record
    without its fields: KeyError) as one line; a database storage's errors pass through."""
    if journal is None:
        yield
        return
    try:
        yield
    except (ValueError, KeyError, TypeError, IndexError, AttributeError) as error:  # ValueError covers JSON and Unicode decoding
        reason = f'{type(error).__name__}: {error}'.splitlines()[0][:120]
        raise ConfigError(f'{journal} is not a sweep journal Optuna can read ({reason}); move it away to start the sweep afresh, '
                          'or restore it from a backup') from None


def _database(optuna: Any, url: str) -> Any:
    """Optuna's RDBStorage, once SQLAlchemy knows the scheme, its driver is installed, and a SQLite file can be written."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    shown = shown_url(url)
    try:
        parsed = make_url(url)
        dialect = parsed.get_dialect()
    except NoSuchModuleError:  # before ArgumentError, which it is a kind of
        scheme = url.split('://', 1)[0]
        raise ConfigError(f"--storage {shown}: no database has the scheme '{scheme}'; give a URL such as {_EXAMPLES}, or a journal file path") from None
    except (ArgumentError, ValueError):
        raise ConfigError(f'--storage {shown} is not a database URL; give a journal file path or a URL such as {_EXAMPLES}') from None
    try:
        dialect.import_dbapi()
    except ImportError as error:
        module = (getattr(error, 'name', None) or str(error)).split('.')[0]
        package = _DRIVER_PACKAGES.get(module, module)
        raise MissingDependencyError(f"--storage {shown} needs the database driver '{module}', which is not installed; "
                                     f'install it with: pip install "{package}"') from None
    if parsed.get_backend_name() == 'sqlite' and parsed.database and parsed.database != ':memory:':
        _check_sqlite_file(Path(parsed.database), shown)
    try:
        return optuna.storages.RDBStorage(url)
    except Exception as error:  # SQLAlchemy's OperationalError (no server, refused, bad password) and Optuna's own
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:160]
        raise ConfigError(f'--storage {shown}: the database cannot be opened ({reason}); check the URL and that its server runs') from None


def _check_sqlite_file(database: Path, shown: str) -> None:
    """SQLite makes the file but not its folder: the folder is made here, as a journal's is; and both must be writable."""
    for path in (database, database.parent) if database.exists() else (database,):  # SQLite writes its journal beside the file
        reason = unwritable_reason(path)
        if reason is not None:
            raise ConfigError(f'--storage {shown}: the SQLite file {database} cannot be written ({path} {reason}); give a path you can write')
    database.parent.mkdir(parents=True, exist_ok=True)
