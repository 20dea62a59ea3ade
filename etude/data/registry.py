"""The official datasets etude knows how to install, as typed, immutable records.

Keeping the facts about each dataset (where it lives, how big it is, how to check it, what licence binds it, how its
archive is laid out) in one table means the installer, the `--list` output and the dataset loaders all agree, and a
wrong or moved URL is fixed in exactly one place. A checksum or size is only recorded when it was published by the
host or checked by us: an invented value would make every honest download fail, so unknown values stay `None` and
`approx_size_bytes` carries a size that is only good for telling a user how much disk to free.
"""

import difflib
import re
from dataclasses import dataclass
from typing import Literal

from etude.errors import DatasetError

__all__ = [
    'ARCHIVE_FORMATS', 'OFFICIAL_DATASETS', 'ArchiveCopy', 'ArchiveFormat', 'OfficialDataset', 'describe_official_datasets', 'get_official_dataset',
]

ArchiveFormat = Literal['zip', 'tar.gz', 'tar.xz']
ARCHIVE_FORMATS: tuple[str, ...] = ('zip', 'tar.gz', 'tar.xz')

_CHECKSUM_PATTERN = re.compile(r'^(md5:[0-9a-f]{32}|sha256:[0-9a-f]{64})$')


@dataclass(frozen=True)
class ArchiveCopy:
    """Another archive known to hold a dataset: a repackaged copy (a mirror kept for machines that cannot reach the
    host), with its own bytes, format and top folder. `etude data install NAME --archive PATH` installs one through the
    same checks as a download; its checksum was measured on the copy itself, so a damaged or different file is refused.

    `subdirectory` names the folder inside the archive whose contents become `<target>/<name>/` (a `*` in its last
    part matches one folder: a GitHub archive's folder carries the full commit hash)."""

    name: str
    checksum: str
    archive_format: ArchiveFormat
    subdirectory: str | None
    description: str
    size_bytes: int | None = None

    def __post_init__(self) -> None:
        if self.archive_format not in ARCHIVE_FORMATS:
            raise ValueError(f'{self.name}: unsupported archive format {self.archive_format!r}')
        if not _CHECKSUM_PATTERN.match(self.checksum):
            raise ValueError(f'{self.name}: checksum must look like md5:<32 hex> or sha256:<64 hex>')


@dataclass(frozen=True)
class OfficialDataset:
    """Everything needed to fetch, verify, unpack and credit one dataset.

    `subdirectory` names the folder inside the archive whose *contents* become `<target>/<name>/`, so every dataset
    is installed without the host's wrapper folders. `url` is None for datasets that cannot be fetched without an
    account; `manual_instructions` then says how to get them (`{target}` is replaced by the folder to fill). A `*` in
    the last part of `subdirectory` matches one folder (GitHub names a commit's archive folder by the full hash).
    `copies` are other archives known to hold the same files (`ArchiveCopy`), installed with `--archive PATH`.
    """

    name: str
    url: str | None
    size_bytes: int | None
    checksum: str | None
    licence: str
    citation: str
    archive_format: ArchiveFormat
    layout: str
    subdirectory: str | None
    description: str
    approx_size_bytes: int | None = None
    manual_instructions: str | None = None
    zenodo_record: str | None = None  # the installer asks Zenodo's API for this record's published md5 and size
    copies: tuple[ArchiveCopy, ...] = ()
    required_files: tuple[str, ...] = ()  # files the dataset folder must hold, or its archive's layout changed

    def __post_init__(self) -> None:
        # Catching a malformed entry at import time is far cheaper than a user discovering it after a 100 GB download.
        if self.archive_format not in ARCHIVE_FORMATS:
            raise ValueError(f'{self.name}: unsupported archive format {self.archive_format!r}')
        if self.checksum is not None and not _CHECKSUM_PATTERN.match(self.checksum):
            raise ValueError(f'{self.name}: checksum must look like md5:<32 hex> or sha256:<64 hex>')
        if self.url is None and not self.manual_instructions:
            raise ValueError(f'{self.name}: an entry without a url needs manual_instructions')


_KAC_RECORD = 'https://zenodo.org/records/7274474/files'  # size and md5 come from Zenodo's API at install time
_KAC_CITATION = (
    'Lewis Wolstanholme. kac_drumset: A dataset generator for arbitrarily shaped drums. Zenodo, 2022. '
    'https://doi.org/10.5281/zenodo.7274474'
)
# The kac_drumset project declares CC-BY; the Zenodo record itself could not be consulted when this was written.
_KAC_LICENCE = 'CC-BY (as declared by the kac_drumset project; confirm on the Zenodo record)'


def _kac(name: str, description: str) -> OfficialDataset:
    """Build one of the three kac_drumset entries, which differ only in name and description."""
    return OfficialDataset(
        name=name,
        url=f'{_KAC_RECORD}/{name}.zip?download=1',
        size_bytes=None,
        checksum=None,
        licence=_KAC_LICENCE,
        citation=_KAC_CITATION,
        archive_format='zip',
        layout='kac_drumset',
        # The archive holds `<name>/data/` with metadata.json next to the .wav files; installing that folder's
        # contents makes `<target>/<name>/` directly loadable.
        subdirectory=f'{name}/data',
        description=description,
        zenodo_record='7274474',
    )


def _maestro(name: str, file_name: str, approx_size_bytes: int, description: str) -> OfficialDataset:
    """One of MAESTRO v3's archives (audio + MIDI, or MIDI only), which share host, licence, citation and layout."""
    return OfficialDataset(
        name=name,
        url=f'https://storage.googleapis.com/magentadata/datasets/maestro/v3.0.0/{file_name}',
        size_bytes=None,
        checksum=None,
        licence='CC BY-NC-SA 4.0',
        citation='Curtis Hawthorne et al. Enabling Factorized Piano Music Modeling and Generation with the MAESTRO Dataset. ICLR 2019.',
        archive_format='zip',
        layout='maestro',
        subdirectory='maestro-v3.0.0',
        description=description,
        approx_size_bytes=approx_size_bytes,
    )


_FSDD_TAG = '1.0.10'
_NASAP_COMMIT = '4097b45'

_ENTRIES: tuple[OfficialDataset, ...] = (
    _kac(
        '2000-convex-polygonal-drums-of-varying-size',
        'kac_drumset: 2000 simulated strikes of convex polygonal drums of varying size.',
    ),
    _kac(
        '5000-circular-drums-of-varying-size',
        'kac_drumset: 5000 simulated strikes of circular drums of varying size.',
    ),
    _kac(
        '5000-rectangular-drums-of-varying-dimension',
        'kac_drumset: 5000 simulated strikes of rectangular drums of varying dimension.',
    ),
    OfficialDataset(
        name='free-spoken-digit-dataset',
        url=f'https://github.com/Jakobovski/free-spoken-digit-dataset/archive/refs/tags/v{_FSDD_TAG}.tar.gz',
        # GitHub builds tag archives on demand and does not promise identical bytes, so no checksum is pinned;
        # the archive is still verified structurally. 3000 recordings, about 21 MB of files uncompressed.
        size_bytes=None,
        checksum=None,
        licence='CC BY-SA 4.0',
        citation=(
            'Zohar Jackson et al. Free Spoken Digit Dataset (FSDD), v1.0.10. '
            'https://github.com/Jakobovski/free-spoken-digit-dataset'
        ),
        archive_format='tar.gz',
        layout='fsdd',
        subdirectory=f'free-spoken-digit-dataset-{_FSDD_TAG}',
        description='Spoken digits 0-9, 8 kHz mono wav, 6 speakers: recordings/{digit}_{speaker}_{index}.wav.',
        approx_size_bytes=15_000_000,
    ),
    _maestro(
        'maestro-v3', 'maestro-v3.0.0.zip', 101_000_000_000,
        'MAESTRO v3.0.0: ~200 h of piano audio with aligned MIDI; maestro-v3.0.0.csv has a split column.',
    ),
    _maestro(
        'maestro-v3-midi', 'maestro-v3.0.0-midi.zip', 57_000_000,
        'MAESTRO v3.0.0, MIDI and metadata only (no audio); maestro-v3.0.0.csv has a split column.',
    ),
    OfficialDataset(
        name='asap',
        url='https://github.com/fosfrancesco/asap-dataset/archive/refs/heads/master.zip',
        # GitHub builds branch archives on demand: neither bytes nor size are stable, so none is pinned
        size_bytes=None,
        checksum=None,
        licence="unverified: see the LICENSE of https://github.com/fosfrancesco/asap-dataset before use",
        citation=('Francesco Foscarin, Andrew McLeod, Philippe Rigaux, Florent Jacquemard, Masahiko Sakai. ASAP: a dataset of aligned scores '
                  'and performances for piano transcription. ISMIR 2020.'),
        archive_format='zip',
        layout='score_performance_folders',
        subdirectory='asap-dataset-master',
        description=('ASAP: 222 MusicXML scores with 1068 MIDI performances of classical piano music, one folder per piece '
                     '(composer/work/piece/xml_score.musicxml beside the performers\' MIDI; midi_score.mid is the score, not a performance). '
                     'Train with dataset=<target>/asap pair_by=folder.'),
    ),
    OfficialDataset(
        name='nasap',
        # the repository at the commit the project measured its figures on; GitHub builds the archive on demand and its
        # bytes were not measured here (no network), so a download is verified by reading the archive end to end and
        # by its layout, and pinned with ETUDE_DATASET_CHECKSUM_NASAP once known; the copy below carries its md5
        url=f'https://github.com/CPJKU/asap-dataset/archive/{_NASAP_COMMIT}.tar.gz',
        size_bytes=None,
        checksum=None,
        licence='CC BY-NC-SA 4.0',
        citation=('Silvan David Peter, Carlos Eduardo Cancino-Chacón, Francesco Foscarin, Andrew Philip McLeod, Florian Henkel, Emmanouil '
                  'Karystinaios, Gerhard Widmer. Automatic Note-Level Score-to-Performance Alignments in the ASAP Dataset. TISMIR 2023; '
                  'and Foscarin et al., ASAP, ISMIR 2020.'),
        archive_format='tar.gz',
        layout='nasap',
        subdirectory=f'asap-dataset-{_NASAP_COMMIT}*',
        description=('(n)ASAP: about 1,060 piano performances of about 240 pieces (MusicXML scores) by 16 composers, each performance with a match file '
                     'aligning every score note to its performed note (composer/work/piece/<performer>.match beside <performer>.mid and '
                     'xml_score.musicxml; metadata.csv lists them). Train with dataset=nasap.'),
        approx_size_bytes=800_000_000,
        required_files=('metadata.csv',),
        copies=(ArchiveCopy(
            name=f'nasap-{_NASAP_COMMIT}.tar.xz', checksum='md5:0630ae3a78b0b39c3863567904eca560', archive_format='tar.xz', subdirectory='nasap',
            size_bytes=93_016_220,
            description=('the repository at 4097b45 repackaged under nasap/, without the parangonada_data folders, the '
                         'note_alignment.tsv files (the match files hold the same alignments), asap_annotations.json, two pieces '
                         '(Chopin op. 10 no. 3, Ballade op. 38) and three MusicXML scores (Liszt\'s Mephisto Waltz and Sonata, '
                         'Schubert\'s Wanderer Fantasy): their rows stay in metadata.csv and are skipped on reading'),
        ),),
    ),
    OfficialDataset(
        name='vienna-4x22',
        url=None,
        size_bytes=None,
        checksum=None,
        licence="unverified: see https://github.com/CPJKU/vienna4x22 before use",
        citation=('Werner Goebl. The Vienna 4x22 Piano Corpus. 1999; match files rematched and corrected by the Institute of Computational '
                  'Perception, JKU Linz (https://github.com/CPJKU/vienna4x22).'),
        archive_format='zip',
        layout='match_files',
        subdirectory=None,
        description=('Vienna 4x22: 22 pianists each playing 4 excerpts (Chopin op. 10 no. 3 and op. 38, Schubert D783, Mozart K331), as match '
                     'files (score, performance and hand-checked note alignment, with pedal) under match/; read one with etude.data.match.read_match.'),
        manual_instructions=('vienna-4x22 is a git repository without a published archive: run '
                             'git clone https://github.com/CPJKU/vienna4x22 {target}'),
    ),
    OfficialDataset(
        name='classical-music-midi',
        url=None,
        size_bytes=None,
        checksum=None,
        licence='unverified: check the Kaggle dataset page before use',
        citation='soumikrakshit. Classical Music MIDI. Kaggle. https://www.kaggle.com/datasets/soumikrakshit/classical-music-midi',
        archive_format='zip',
        layout='midi_collection',
        subdirectory=None,
        description='Classical piano MIDI files in one folder per composer (the collection used by seed 002).',
        manual_instructions=(
            'classical-music-midi needs a Kaggle account, so it cannot be downloaded automatically: sign in at '
            'https://www.kaggle.com/datasets/soumikrakshit/classical-music-midi, click Download, and unzip the '
            'archive so that its composer folders sit directly in {target}'
        ),
    ),
)

OFFICIAL_DATASETS: dict[str, OfficialDataset] = {entry.name: entry for entry in _ENTRIES}


def get_official_dataset(name: str) -> OfficialDataset:
    """Look up an official dataset, turning a typo into an actionable message instead of a KeyError."""
    try:
        return OFFICIAL_DATASETS[name]
    except KeyError:
        pass
    # difflib's default cutoff (0.6): a suggestion only for a near miss ('maestro' -> 'maestro-v3'), never for 'nope'
    nearest = difflib.get_close_matches(name, OFFICIAL_DATASETS, n=1)
    hint = f'did you mean {nearest[0]!r}? ' if nearest else f'the official datasets are {", ".join(OFFICIAL_DATASETS)}; '
    raise DatasetError(
        f'unknown dataset {name!r}: {hint}run etude data list to see the official datasets'
    )


def _format_size(entry: OfficialDataset) -> str:
    """Human-readable size; a leading `~` marks an approximate figure that the installer never checks against."""
    exact, prefix = (entry.size_bytes, '') if entry.size_bytes else (entry.approx_size_bytes, '~')
    if not exact:
        return 'unknown'
    size = float(exact)
    for unit in ('B', 'KB', 'MB', 'GB'):
        if size < 1000:
            return f'{prefix}{size:.0f} {unit}' if unit == 'B' else f'{prefix}{size:.1f} {unit}'
        size /= 1000
    return f'{prefix}{size:.1f} TB'


def describe_official_datasets() -> str:
    """The `--list` text: name, size, licence and source of every dataset, so users can check terms before fetching."""
    blocks = []
    for entry in OFFICIAL_DATASETS.values():
        source = entry.url or 'manual download (needs an account)'
        copies = ''.join(f'\n    or --archive {copy.name} ({copy.checksum})' for copy in entry.copies)
        blocks.append(
            f'{entry.name}\n    size: {_format_size(entry)}\n    licence: {entry.licence}\n    source: {source}{copies}'
        )
    return '\n'.join(blocks)
