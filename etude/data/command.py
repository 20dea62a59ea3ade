"""`etude data list | install`: the official datasets, their size, licence and source, and their installer.

    etude data list                                        # every official dataset: size, licence, source
    etude data install free-spoken-digit-dataset           # into data/free-spoken-digit-dataset/
    etude data install NAME --dir /scratch/data --url URL  # elsewhere, from a mirror of the same archive
    etude data install nasap --archive nasap-4097b45.tar.xz  # from a local archive, through the same checks

The work (a resumable download, checksum and archive checks, safe extraction) is `etude.data.download`'s;
bin/install-dataset.sh is a shim over this command. Imports nothing heavy: `etude -h` stays quick.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ['configure', 'run']


def configure(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest='data_command', metavar='ACTION', parser_class=type(parser))
    actions.add_parser('list', help='the official datasets: size, licence and source', description='List the official datasets: size, licence, source.')
    install = actions.add_parser('install', help='download, verify and unpack an official dataset into DIR/NAME',
                                 description='Download, verify and unpack an official etude dataset into DIR/NAME (a broken download resumes).')
    install.add_argument('name', metavar='NAME', help='dataset name (see etude data list)')
    install.add_argument('--dir', default='data', metavar='DIR', help='folder to install into (default data)')
    install.add_argument('--url', metavar='URL', help='download from this URL instead (a mirror serving the same archive)')
    install.add_argument('--archive', metavar='PATH', help='install from this local archive instead of downloading: one the registry knows '
                         '(the host\'s, or a copy with its own checksum; see etude data list), checked as a download is')
    install.add_argument('--quiet', action='store_true', help='no progress bar')


def run(arguments: argparse.Namespace) -> int:
    from ..errors import ConfigError, EtudeError

    if arguments.data_command is None:
        raise ConfigError('say what to do: etude data list, or etude data install NAME (see etude data -h)')
    if arguments.data_command == 'list':
        from .registry import describe_official_datasets

        print(describe_official_datasets())
        return 0
    from .download import install_dataset, installed_record

    part = Path(arguments.dir) / f'.{arguments.name}.part'
    try:
        folder = install_dataset(arguments.name, arguments.dir, url=arguments.url, archive=arguments.archive,
                                 progress=not arguments.quiet and sys.stderr.isatty())
    except EtudeError as error:
        print(f'error: {" ".join(str(error).split())}', file=sys.stderr)  # manual instructions span lines: one line here
        return 2
    except KeyboardInterrupt:
        print(f'interrupted: the partial {"copy" if arguments.archive else "download"} is kept in {part}; run the same command to resume',
              file=sys.stderr)
        return 130
    record = installed_record(folder)
    unavailable = record.get('checksum_unavailable')
    check = 'checksum verified' if record['checksum_verified'] else f'archive verified; {unavailable or "no published checksum"}'
    print(f'installed {arguments.name} in {folder} ({check})')
    return 0
