"""The data layer: readers and writers for raw data, representations, the binary dataset store, splits, samplers.

Every name a routine or a script needs is here (`from etude.data import FeatureCache, audio_folder, Crop`); the
modules below are the implementation. Submodules import their heavy dependencies (soundfile, pretty_midi, music21,
torchaudio) themselves and each name loads on first use, so importing `etude.data` stays cheap.
"""

from typing import TYPE_CHECKING

from ..lazy import lazy_names

if TYPE_CHECKING:
    from .audio import AUDIO_FORMATS, AudioInfo, audio_info, read_audio, resample, write_audio
    from .augment import AddNoise, BatchAugmentation, BatchAugmentor, FrequencyMasking, Gain, PitchShift, TimeMasking
    from .cache import BuildInterrupted, BuildReport, FeatureCache, build_feature_cache
    from .dataset_layouts import audio_folder, audio_midi_pairs, match_performances, metadata_table, midi_collection, score_performance_pairs
    from .definitions import DatasetDefinition, Item, SkippedFileWarning, split_items
    from .download import install_dataset
    from .generators import chorale_names, export_chorales, find_soundfont, generate_spoken_digits, render_midi, render_pairs, spoken_digit_folder
    from .layout import is_stored_dataset
    from .match import MatchLines, MatchPair, read_match, read_match_lines
    from .midi import midi_to_notes, notes_to_midi, piano_roll_targets, piano_roll_to_notes, read_midi
    from .registry import OFFICIAL_DATASETS, OfficialDataset, describe_official_datasets, get_official_dataset
    from .representations import Featuriser, RepresentationSettings, featurise, num_frames, output_shape
    from .samplers import CircularDrumSampler, CircularDrumSettings, RectangularDrumSampler, RectangularDrumSettings, Sampler
    from .score import read_score
    from .sequences import NoteSequences, SequenceCache, WindowSettings
    from .sources import generate_dataset, import_kac_dataset, obtain_dataset
    from .split import SPLIT_NAMES, split_by_column, split_by_groups, stratified_group_split
    from .store import DatasetWriter, StoredDataset, read_dataset
    from .torch_dataset import Crop, StoredTorchDataset

# names load on first use (PEP 562): `etude.data.store` alone does not pay for the builders' imports (tqdm, workers)
_SOURCES = {
    **dict.fromkeys(['AUDIO_FORMATS', 'AudioInfo', 'audio_info', 'read_audio', 'resample', 'write_audio'], '.audio'),
    **dict.fromkeys(['AddNoise', 'BatchAugmentation', 'BatchAugmentor', 'FrequencyMasking', 'Gain', 'PitchShift', 'TimeMasking'], '.augment'),
    **dict.fromkeys(['BuildInterrupted', 'BuildReport', 'FeatureCache', 'build_feature_cache'], '.cache'),
    **dict.fromkeys(['DatasetDefinition', 'Item', 'SkippedFileWarning', 'split_items'], '.definitions'),
    **dict.fromkeys(['audio_folder', 'audio_midi_pairs', 'match_performances', 'metadata_table', 'midi_collection', 'score_performance_pairs'],
                    '.dataset_layouts'),
    **dict.fromkeys(['install_dataset'], '.download'),
    **dict.fromkeys(['chorale_names', 'export_chorales', 'find_soundfont', 'generate_spoken_digits', 'render_midi', 'render_pairs',
                    'spoken_digit_folder'], '.generators'),
    **dict.fromkeys(['is_stored_dataset'], '.layout'),
    **dict.fromkeys(['midi_to_notes', 'notes_to_midi', 'piano_roll_targets', 'piano_roll_to_notes', 'read_midi'], '.midi'),
    **dict.fromkeys(['OFFICIAL_DATASETS', 'OfficialDataset', 'describe_official_datasets', 'get_official_dataset'], '.registry'),
    **dict.fromkeys(['Featuriser', 'RepresentationSettings', 'featurise', 'num_frames', 'output_shape'], '.representations'),
    **dict.fromkeys(['CircularDrumSampler', 'CircularDrumSettings', 'RectangularDrumSampler', 'RectangularDrumSettings', 'Sampler'], '.samplers'),
    **dict.fromkeys(['read_score'], '.score'),
    **dict.fromkeys(['NoteSequences', 'SequenceCache', 'WindowSettings'], '.sequences'),
    **dict.fromkeys(['MatchLines', 'MatchPair', 'read_match', 'read_match_lines'], '.match'),
    **dict.fromkeys(['generate_dataset', 'import_kac_dataset', 'obtain_dataset'], '.sources'),
    **dict.fromkeys(['SPLIT_NAMES', 'split_by_column', 'split_by_groups', 'stratified_group_split'], '.split'),
    **dict.fromkeys(['DatasetWriter', 'StoredDataset', 'read_dataset'], '.store'),
    **dict.fromkeys(['Crop', 'StoredTorchDataset'], '.torch_dataset'),
}

__all__ = [
    'MatchLines', 'MatchPair', 'read_match', 'read_match_lines',
    'AUDIO_FORMATS', 'AddNoise', 'AudioInfo', 'BatchAugmentation', 'BatchAugmentor', 'BuildInterrupted', 'BuildReport', 'CircularDrumSampler',
    'CircularDrumSettings', 'Crop', 'DatasetDefinition', 'DatasetWriter', 'FeatureCache', 'Featuriser', 'FrequencyMasking', 'Gain', 'Item', 'NoteSequences',
    'OFFICIAL_DATASETS', 'OfficialDataset', 'PitchShift', 'RectangularDrumSampler', 'RectangularDrumSettings',
    'RepresentationSettings', 'SPLIT_NAMES', 'Sampler', 'SequenceCache', 'SkippedFileWarning', 'StoredDataset', 'StoredTorchDataset', 'TimeMasking',
    'WindowSettings', 'audio_folder', 'audio_info', 'audio_midi_pairs', 'build_feature_cache', 'chorale_names', 'describe_official_datasets',
    'export_chorales', 'featurise', 'find_soundfont', 'generate_dataset', 'generate_spoken_digits', 'get_official_dataset', 'import_kac_dataset',
    'install_dataset', 'is_stored_dataset', 'match_performances', 'metadata_table', 'midi_collection', 'midi_to_notes', 'notes_to_midi',
    'num_frames', 'obtain_dataset',
    'output_shape', 'piano_roll_targets', 'piano_roll_to_notes', 'read_audio', 'read_dataset', 'read_midi', 'read_score', 'render_midi', 'render_pairs',
    'resample', 'score_performance_pairs', 'split_by_column', 'split_by_groups', 'split_items', 'stratified_group_split', 'spoken_digit_folder', 'write_audio',
]


# what moved to a music task's own package (etude.music.<task>), refused with one line naming its new home
_MOVED = {
    **dict.fromkeys(['PERFORMANCE_FEATURES', 'PERFORMANCE_TARGETS', 'SCORE_FEATURES', 'EncodedPerformance', 'RulePerformer', 'deadpan_targets',
                     'encode_performance', 'export_rule_performances', 'performance_to_midi', 'read_pedal', 'render_performance', 'score_features',
                     'Alignment', 'align_score_to_performance', 'PerformanceSequences'], 'etude.music.performance'),
}

__getattr__, __dir__ = lazy_names(__name__, _SOURCES, __all__, _MOVED)
