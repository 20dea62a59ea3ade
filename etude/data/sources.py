"""Where a routine's dataset comes from: a stored dataset, an official download, a kac_drumset folder, or a sampler.

`obtain_dataset` tries them in that order and never prompts: when it cannot find or make the data it raises a
DatasetError that says which command fixes it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm.auto import tqdm

from ..errors import DatasetError
from .store import DatasetWriter, StoredDataset, is_stored_dataset, read_dataset

if TYPE_CHECKING:
    from .samplers.base import Sampler

__all__ = ['generate_dataset', 'import_kac_dataset', 'is_kac_dataset', 'obtain_dataset']

ETUDE_FOLDER = 'etude-dataset'


def obtain_dataset(
    directory: str | Path,
    *,
    seed: int = 0,
    sampler: Sampler | None = None,
    official_name: str | None = None,
    strikes_per_drum: int = 5,
    progress: bool = True,
) -> StoredDataset:
    """Return the dataset for `directory`, making it once if needed.

    1. `directory` (or its `etude-dataset/` subfolder) holds an etude dataset: open it. A generated dataset whose
       fingerprint no longer matches the sampler's settings and seed is generated again.
    2. `directory` holds a kac_drumset dataset (`metadata.json` + `sample_NNNNN.wav`): convert it once.
    3. `official_name` is given: install it with the official-dataset installer, then convert it.
    4. `sampler` is given: generate the dataset into `directory`.
    """
    directory = Path(directory)
    for candidate in (directory, directory / ETUDE_FOLDER):
        if is_stored_dataset(candidate):
            stored = read_dataset(candidate)
            if sampler is None or stored.fingerprint == sampler.fingerprint(seed):
                return stored
            if candidate == directory and 'sampler' in stored.metadata.get('source', {}):
                return generate_dataset(sampler, directory, seed=seed, progress=progress)  # stale: other settings or seed
            raise DatasetError(f'{candidate} holds the dataset {stored.name}, which this sampler did not generate; '
                               'generate into another folder or drop the sampler to use it')
    if is_kac_dataset(directory):
        return import_kac_dataset(directory, directory / ETUDE_FOLDER, strikes_per_drum=strikes_per_drum, progress=progress)
    if official_name is not None:
        from .download import install_dataset

        installed = install_dataset(official_name, directory.parent, progress=progress)
        return import_kac_dataset(installed, directory / ETUDE_FOLDER, strikes_per_drum=strikes_per_drum, progress=progress)
    if sampler is not None:
        return generate_dataset(sampler, directory, seed=seed, progress=progress)
    raise DatasetError(f'No dataset in {directory}; install one with bin/install-dataset.sh NAME {directory.parent} or pass a sampler to generate one')


def generate_dataset(sampler: Sampler, directory: str | Path, *, seed: int = 0, progress: bool = True) -> StoredDataset:
    """Synthesise `sampler.size` items into `directory` (published atomically when complete)."""
    writer = DatasetWriter(directory, size=sampler.size, input_shape=sampler.input_shape, label_shapes=sampler.label_shapes)
    items_per_group = sampler.items_per_group
    for group in tqdm(range(sampler.number_of_groups), desc=f'generating {sampler.name}', unit='group', disable=None if progress else True):
        rng = np.random.default_rng([seed, group])
        for strike, (inputs, labels) in enumerate(sampler.generate_group(rng)):
            writer.write(group * items_per_group + strike, inputs, labels, group)
    return writer.finish({
        'name': f'{sampler.name}-{sampler.fingerprint(seed)[:8]}',
        'fingerprint': sampler.fingerprint(seed),
        'group_key': 'group',
        'sample_rate': getattr(sampler.settings, 'sample_rate', None),
        'source': {**sampler.describe(), 'seed': seed},
    })


def is_kac_dataset(directory: Path) -> bool:
    """kac_drumset's layout: a `metadata.json` with `dataset_size` and `sample_00000.wav` beside it."""
    return _kac_data_folder(directory, required=False) is not None


def import_kac_dataset(source: Path, destination: Path, *, strikes_per_drum: int = 5, progress: bool = True) -> StoredDataset:
    """Convert a kac_drumset dataset to etude's binary form, once.

    The audio comes from the `.wav` files and the labels from the `"y"` lines of `metadata.json`, streamed line by
    line: the `"x"` lines repeat the audio as JSON text, which is what made the original loader slow, so they are
    never parsed. kac_drumset's samplers change the drum every `strikes_per_drum` samples, which gives the groups.
    """
    import soundfile

    folder = _kac_data_folder(source)
    assert folder is not None
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
    writer = DatasetWriter(destination, size=size, input_shape=(info.frames,), label_shapes=label_shapes)
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
