"""What makes a folder a stored dataset: the name of its metadata file and the format it declares.

A leaf of the data layer, so that the code that builds a dataset (`etude.data.partial`) and the code that reads and
writes one (`etude.data.store`) both know what "complete" means without importing each other.
"""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ['DATASET_FORMAT', 'METADATA_FILE', 'is_stored_dataset']

DATASET_FORMAT = 'etude-dataset'
METADATA_FILE = 'metadata.json'


def is_stored_dataset(directory: str | Path) -> bool:
    """True when `directory` holds a complete etude dataset (its metadata file is written last)."""
    metadata_path = Path(directory) / METADATA_FILE
    if not metadata_path.is_file():
        return False
    try:
        return json.loads(metadata_path.read_text()).get('format') == DATASET_FORMAT
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
        return False
