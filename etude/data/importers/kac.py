"""kac_drumset datasets (the official circular-drum downloads) converted to etude's binary form, once.

kac_drumset writes one `sample_NNNNN.wav` per strike beside a `metadata.json` that repeats every waveform as JSON
floats (`"x"` lines) next to its labels (`"y"` lines). The audio is read from the `.wav` files and the labels from
the `"y"` lines, streamed line by line: the `"x"` lines are what made the original loader slow, so they are never
parsed. kac_drumset's samplers change the drum every `strikes_per_drum` samples, which gives the groups.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from ...errors import ConfigError, DatasetError
from ..builder import build_or_reuse
from ..files import check_folder
from ..store import DatasetWriter, StoredDataset, is_stored_dataset, read_dataset

__all__ = ['convert', 'detect', 'import_kac_dataset', 'is_kac_dataset']


def is_kac_dataset(directory: Path) -> bool:
    """kac_drumset's layout: a `metadata.json` with `dataset_size` and `sample_00000.wav` beside it."""
    return _kac_data_folder(Path(directory), required=False) is not None


detect = is_kac_dataset


def import_kac_dataset(source: Path, destination: Path, *, strikes_per_drum: int = 5, progress: bool = True) -> StoredDataset:
    """Convert the kac_drumset dataset in `source` into `destination`, or open the conversion already there.

    Safe from any number of processes at once: one converts, holding the destination's lock, and the others wait
    and open its result. A conversion of the same folder with the same `strikes_per_drum` is reused, anything else
    in `destination` that is an etude dataset is replaced, and anything that is not is refused.
    """
    if isinstance(strikes_per_drum, bool) or not isinstance(strikes_per_drum, int) or strikes_per_drum < 1:
        raise ConfigError(f'strikes_per_drum is {strikes_per_drum!r}; it must be a positive whole number of strikes per drum')
    destination = check_folder(destination)
    folder = _kac_data_folder(Path(source))
    assert folder is not None

    def reuse() -> StoredDataset | None:
        if not is_stored_dataset(destination):
            return None
        existing = read_dataset(destination)
        origin = existing.metadata.get('source') or {}
        same = origin.get('layout') == 'kac_drumset' and origin.get('path') == str(folder) and origin.get('strikes_per_drum') == strikes_per_drum
        return existing if same else None

    dataset, _ = build_or_reuse(destination, '', lambda: _convert(Path(source), folder, destination, strikes_per_drum, progress),
                                reuse=reuse, progress=progress)
    return dataset


def convert(directory: Path, destination: Path, *, progress: bool = True, strikes_per_drum: int = 5) -> StoredDataset:
    """The importer interface of `etude.data.importers`: `import_kac_dataset(directory, destination, ...)`."""
    return import_kac_dataset(directory, destination, strikes_per_drum=strikes_per_drum, progress=progress)


def _convert(source: Path, folder: Path, destination: Path, strikes_per_drum: int, progress: bool) -> StoredDataset:
    import soundfile

    header, labels = _read_kac_metadata(folder / 'metadata.json')
    size = int(header['dataset_size'])
    if len(labels) != size:
        raise DatasetError(f'{folder}/metadata.json lists {len(labels)} samples but says dataset_size {size}; the download is incomplete, install it again')
    first_path = folder / 'sample_00000.wav'
    try:
        info = soundfile.info(first_path)
    except (RuntimeError, OSError) as error:
        raise DatasetError(f'{first_path} is not readable audio ({error}); install the dataset again') from None
    label_names = sorted(labels[0])
    label_shapes = {name: np.shape(labels[0][name]) for name in label_names}
    with DatasetWriter(destination, size=size, input_shape=(info.frames,), label_shapes=label_shapes) as writer:
        for index in tqdm(range(size), desc=f'converting {folder.name}', unit='sample', disable=None if progress else True):
            path = folder / f'sample_{index:05d}.wav'
            try:
                audio, _ = soundfile.read(path, dtype='float32', always_2d=True)
            except (RuntimeError, OSError) as error:
                raise DatasetError(f'{path} is missing or not readable audio ({error}); install the dataset again') from None
            waveform = np.zeros(info.frames, dtype=np.float32)
            waveform[: min(len(audio), info.frames)] = audio[: info.frames, 0]
            writer.write(index, waveform, labels[index], index // strikes_per_drum)
        name = source.name if source.name != 'data' else source.parent.name
        return writer.finish({
            'name': name,
            'fingerprint': f'kac:{name}:{size}',
            'group_key': 'drum',
            'sample_rate': info.samplerate,
            'num_samples': info.frames,
            'source': {'layout': 'kac_drumset', 'path': str(folder), 'sampler': header.get('sampler'), 'settings': header.get('sampler_settings'),
                       'strikes_per_drum': strikes_per_drum},
        })


def _kac_data_folder(directory: Path, *, required: bool = True) -> Path | None:
    """The folder holding `metadata.json` + wavs: `directory`, or its `data/` as in kac_drumset's archives."""
    for candidate in (directory, directory / 'data', *sorted(directory.glob('*/data'))):
        if (candidate / 'metadata.json').is_file() and (candidate / 'sample_00000.wav').is_file():
            return candidate
    if required:
        raise DatasetError(f'{directory} does not hold a kac_drumset dataset (metadata.json and sample_00000.wav); install it again')
    return None


def _read_kac_metadata(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Header fields and the per-sample labels, without parsing the per-sample audio."""
    header: dict[str, Any] = {}
    labels: list[dict[str, Any]] = []
    try:
        for line in _lines(path):
            key, _, value = line.strip().partition(':')
            key = key.strip('"')
            if key == 'y':
                labels.append({name: np.asarray(v, dtype=np.float32) for name, v in json.loads(value.strip().rstrip(',')).items()})
            elif key in ('dataset_size', 'representation_settings', 'sampler', 'sampler_settings'):
                header[key] = json.loads(value.strip().rstrip(','))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DatasetError(f'{path} is corrupt ({error}); install the dataset again') from None
    if 'dataset_size' not in header or not labels:
        raise DatasetError(f'{path} is not a kac_drumset metadata file (no dataset_size or labels); install the dataset again')
    return header, labels


def _lines(path: Path) -> Iterator[str]:
    with open(path, encoding='utf-8') as file:
        yield from file
