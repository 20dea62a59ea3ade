"""Dataset definitions built from real files in a temporary directory: FSDD names, a MAESTRO-style table, MIDI."""

import csv
import json
import os

import numpy as np
import pretty_midi
import pytest
import soundfile

from etude.data.dataset_layouts import audio_folder, audio_midi_pairs, metadata_table, midi_collection, score_performance_pairs
from etude.data.definitions import DatasetDefinition, Item, SkippedFileWarning, split_items
from etude.data.generators import spoken_digit_folder
from etude.errors import ConfigError, DataFileError, DatasetError

RATE = 8000
SPEAKERS = ('george', 'jackson', 'lucas', 'nicolas', 'theo', 'yweweler')
MAESTRO_COLUMNS = ('canonical_composer', 'canonical_title', 'split', 'year', 'midi_filename', 'audio_filename', 'duration')
SCORE = ('<?xml version="1.0" encoding="UTF-8"?>\n<score-partwise version="3.1"><part-list><score-part id="P1">'
         '<part-name>Piano</part-name></score-part></part-list><part id="P1"></part></score-partwise>\n')


def write_wav(path, seconds=0.05):
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, np.zeros(round(seconds * RATE), dtype=np.float32), RATE)


def write_midi(path, pitch=60):
    path.parent.mkdir(parents=True, exist_ok=True)
    midi = pretty_midi.PrettyMIDI()
    piano = pretty_midi.Instrument(program=0)
    piano.notes.append(pretty_midi.Note(velocity=80, pitch=pitch, start=0.0, end=0.5))
    midi.instruments.append(piano)
    midi.write(str(path))


@pytest.fixture
def fsdd(tmp_path):
    """Free Spoken Digit Dataset layout: recordings/{digit}_{speaker}_{index}.wav, 10 digits x 6 speakers x 2."""
    root = tmp_path / 'recordings'
    for digit in range(10):
        for speaker in SPEAKERS:
            for index in range(2):
                write_wav(root / f'{digit}_{speaker}_{index}.wav')
    (root / 'README.txt').write_text('not audio, ignored')
    return root


@pytest.fixture
def maestro(tmp_path):
    """A MAESTRO-like folder: year folders with .wav + .midi and a CSV naming them, with a split column."""
    root = tmp_path / 'maestro'
    rows = []
    pieces = [('Bach', 'Prelude in C', 'train', 2004), ('Bach', 'Prelude in C', 'train', 2006),
              ('Chopin', 'Ballade No. 1', 'train', 2006), ('Chopin', 'Etude Op. 10', 'validation', 2008),
              ('Liszt', 'La Campanella', 'test', 2009), ('Liszt', 'Mephisto Waltz', 'test', 2011)]
    for number, (composer, title, split, year) in enumerate(pieces):
        stem = f'{year}/MIDI-Unprocessed_{number:02d}'
        write_wav(root / f'{stem}.wav')
        write_midi(root / f'{stem}.midi', 60 + number)
        rows.append({'canonical_composer': composer, 'canonical_title': title, 'split': split, 'year': year,
                     'midi_filename': f'{stem}.midi', 'audio_filename': f'{stem}.wav', 'duration': 0.05})
    with open(root / 'maestro-v3.0.0.csv', 'w', newline='') as file:
        writer = csv.DictWriter(file, MAESTRO_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return root, rows


def test_audio_folder_parses_labels_and_groups(fsdd):
    definition = spoken_digit_folder(fsdd)
    assert len(definition) == 120 and definition.name == 'recordings' and definition.group_key == 'speaker'
    assert definition.classes() == {'digit': [str(digit) for digit in range(10)]}
    first = definition.items[0]
    assert first == Item('0_george_0.wav', {'digit': '0'}, 'george')
    labels = definition.label_arrays()['digit']
    assert labels.dtype == np.int64 and labels.shape == (120,)
    np.testing.assert_array_equal(labels, [int(item.path[0]) for item in definition.items])
    groups, names = definition.group_ids()
    assert names == sorted(SPEAKERS) and groups.shape == (120,)
    assert all(names[group] == item.group for group, item in zip(groups, definition.items, strict=True))


def test_audio_folder_number_labels_and_nested_pattern(tmp_path):
    for speaker in ('anna', 'ben'):
        for digit in (2, 10):
            write_wav(tmp_path / speaker / f'{digit}.wav')
    definition = audio_folder(tmp_path, '{speaker}/{digit}.wav', label_types={'digit': 'number'})
    assert [item.path for item in definition.items] == ['anna/2.wav', 'anna/10.wav', 'ben/2.wav', 'ben/10.wav']
    assert definition.label_arrays()['digit'].tolist() == [2.0, 10.0, 2.0, 10.0]
    assert definition.classes() == {}
    with pytest.raises(ConfigError, match="'digits' is not a field"):
        audio_folder(tmp_path, '{speaker}/{digit}.wav', label_types={'digits': 'class'})


def test_audio_folder_knows_no_dataset_and_says_which_argument_names_a_missing_field(tmp_path):
    for shape in ('sine', 'square'):
        for index in range(2):
            write_wav(tmp_path / f'{shape}_{index}.wav')
    definition = audio_folder(tmp_path, '{shape}_{index}.wav')  # a user's own layout: no digit, no speaker
    assert definition.classes() == {'shape': ['sine', 'square'], 'index': ['0', '1']} and definition.group_key == 'file'
    assert len({item.group for item in definition.items}) == 4, 'every file its own group'
    assert audio_folder(tmp_path, '{shape}_{index}.wav', label_types={'shape': 'class'}, group_by='index').classes() == {'shape': ['sine', 'square']}
    with pytest.raises(ConfigError, match=r"^'digit' is not a field of the pattern '\{shape\}_\{index\}.wav' \(fields: shape, index\); pass label_types="):
        audio_folder(tmp_path, '{shape}_{index}.wav', label_types={'digit': 'class'})
    with pytest.raises(ConfigError, match=r"^'speaker' is not a field .*; pass group_by= naming fields of the pattern"):
        audio_folder(tmp_path, '{shape}_{index}.wav', group_by='speaker')
    with pytest.raises(TypeError):
        audio_folder(tmp_path)  # type: ignore[call-arg]  # the pattern is the dataset's, so it is always given


def test_a_dangling_symbolic_link_is_skipped_with_a_line(fsdd):
    (fsdd / '3_gone_0.wav').symlink_to(fsdd / 'deleted.wav')
    with pytest.warns(SkippedFileWarning, match=r"skipped .*3_gone_0\.wav: a symbolic link to .*deleted\.wav, which does not exist"):
        definition = spoken_digit_folder(fsdd)
    assert len(definition) == 120


def test_non_matching_names_raise_or_are_skipped_by_name(fsdd):
    write_wav(fsdd / 'take2.wav')
    write_wav(fsdd / 'x_bad name.wav')
    with pytest.raises(DataFileError, match=r"take2\.wav: name does not match the pattern .*on_error='skip'"):
        spoken_digit_folder(fsdd)
    with pytest.warns(SkippedFileWarning) as caught:
        definition = spoken_digit_folder(fsdd, on_error='skip')
    messages = [str(warning.message) for warning in caught]
    assert any('take2.wav' in message for message in messages) and any('x_bad name.wav' in message for message in messages)
    assert messages[-1].startswith('skipped 2 of 122 files: ')
    assert len(definition) == 120 and [path for path, _ in definition.skipped] == ['take2.wav', 'x_bad name.wav']


def test_grouped_split_keeps_speakers_together(fsdd):
    definition = spoken_digit_folder(fsdd)
    split = split_items(definition, (0.5, 0.25, 0.25), seed=3)
    assert sorted(np.concatenate(list(split.values())).tolist()) == list(range(120))
    speakers = {name: {definition.items[i].group for i in indices} for name, indices in split.items()}
    assert all(speakers[name] for name in speakers)
    assert not (speakers['train'] & speakers['validation'] or speakers['train'] & speakers['test'] or speakers['validation'] & speakers['test'])
    again = split_items(definition, (0.5, 0.25, 0.25), seed=3)
    assert all(np.array_equal(split[name], again[name]) for name in split)


def test_maestro_csv_labels_groups_companions_and_split_column(maestro):
    root, rows = maestro
    definition = metadata_table(root, 'maestro-v3.0.0.csv', label_columns=['canonical_composer', 'year'],
                                group_column='canonical_title', companion_columns={'midi': 'midi_filename'})
    assert definition.label_types == {'canonical_composer': 'class', 'year': 'number'}
    assert definition.files == [row['audio_filename'] for row in rows]  # table order is kept
    assert definition.classes() == {'canonical_composer': ['Bach', 'Chopin', 'Liszt']}
    assert definition.label_arrays()['year'].tolist() == [row['year'] for row in rows]
    assert definition.items[0].companions == {'midi': rows[0]['midi_filename']}
    assert definition.items[0].group == definition.items[1].group == 'Prelude in C'
    assert definition.has_split
    for seed in (0, 1):  # the column decides, not the seed or the fractions
        split = split_items(definition, (0.34, 0.33, 0.33), seed=seed)
        assert {name: part.tolist() for name, part in split.items()} == {'train': [0, 1, 2], 'validation': [3], 'test': [4, 5]}


def test_maestro_json_columns_and_missing_files(maestro):
    root, rows = maestro
    columns = {column: {str(i): row[column] for i, row in enumerate(rows)} for column in MAESTRO_COLUMNS}
    (root / 'maestro-v3.0.0.json').write_text(json.dumps(columns))
    definition = metadata_table(root, 'maestro-v3.0.0.json', label_columns={'canonical_composer': 'class'})
    assert len(definition) == 6 and definition.group_key == 'file'
    (root / rows[4]['midi_filename']).unlink()
    with pytest.raises(DataFileError, match='MIDI-Unprocessed_04.midi'):
        metadata_table(root, 'maestro-v3.0.0.csv', companion_columns={'midi': 'midi_filename'})
    with pytest.warns(SkippedFileWarning) as caught:
        definition = metadata_table(root, 'maestro-v3.0.0.csv', companion_columns={'midi': 'midi_filename'}, on_error='skip')
    assert [str(warning.message).split(':')[0] for warning in caught] == [f'skipped {rows[4]["audio_filename"]}', 'skipped 1 of 6 files']
    assert len(definition) == 5 and definition.skipped[0][0] == rows[4]['audio_filename']
    with pytest.raises(ConfigError, match="no column 'composer'"):
        metadata_table(root, 'maestro-v3.0.0.csv', label_columns=['composer'])
    with pytest.raises(ConfigError, match="no column 'fold'"):
        metadata_table(root, 'maestro-v3.0.0.csv', split_column='fold')


def test_audio_midi_pairs_same_folder_and_separate_folders(maestro, tmp_path):
    root, rows = maestro
    definition = audio_midi_pairs(root, group_by='folder')
    assert len(definition) == 6
    assert definition.items[0].companions == {'midi': definition.items[0].path.replace('.wav', '.midi')}
    assert definition.items[0].group == '2004'
    renders = tmp_path / 'renders'
    for name in ('a', 'b', 'c'):
        write_midi(renders / 'midi' / 'set1' / f'{name}.mid')
    for name in ('a', 'b'):
        write_wav(renders / 'audio' / 'set1' / f'{name}.wav')
    with pytest.raises(DataFileError, match=r'c\.mid: no audio file'):
        audio_midi_pairs(renders, audio_subfolder='audio', midi_subfolder='midi')
    with pytest.warns(SkippedFileWarning, match='midi/set1/c.mid'):
        pairs = audio_midi_pairs(renders, audio_subfolder='audio', midi_subfolder='midi', on_error='skip')
    assert [(item.path, item.companions['midi']) for item in pairs.items] == [
        ('audio/set1/a.wav', 'midi/set1/a.mid'), ('audio/set1/b.wav', 'midi/set1/b.mid')]


def test_score_performance_pairs_by_stem_and_by_folder(tmp_path):
    (tmp_path / 'op1').mkdir()
    (tmp_path / 'op1' / 'score.musicxml').write_text(SCORE)
    for performer in ('alice', 'bob'):
        write_midi(tmp_path / 'op1' / f'{performer}.mid')
    by_folder = score_performance_pairs(tmp_path, pair_by='folder')
    assert [(item.path, item.group) for item in by_folder.items] == [('op1/alice.mid', 'op1/score.musicxml'), ('op1/bob.mid', 'op1/score.musicxml')]
    assert by_folder.items[0].companions == {'score': 'op1/score.musicxml'}
    with pytest.raises(DataFileError, match=r'alice\.mid: no score'):
        score_performance_pairs(tmp_path)
    (tmp_path / 'op1' / 'alice.musicxml').write_text(SCORE)
    with pytest.warns(SkippedFileWarning):
        by_stem = score_performance_pairs(tmp_path, on_error='skip')
    assert [item.path for item in by_stem.items] == ['op1/alice.mid']
    assert {path for path, _ in by_stem.skipped} == {'op1/bob.mid', 'op1/score.musicxml'}


def test_midi_collection_groups_by_composer(tmp_path):
    for composer, pieces in (('bach', ('bwv772', 'bwv773')), ('mozart', ('k545',))):
        for piece in pieces:
            write_midi(tmp_path / composer / 'keyboard' / f'{piece}.mid')
    definition = midi_collection(tmp_path, group_by='composer', label_types={'composer': 'class'})
    assert [item.group for item in definition.items] == ['bach', 'bach', 'mozart']
    assert definition.classes() == {'composer': ['bach', 'mozart']}
    assert midi_collection(tmp_path).items[0].group == 'bach/keyboard'
    write_midi(tmp_path / 'loose.mid')
    with pytest.raises(DataFileError, match=r'loose\.mid: is not in a composer folder'):
        midi_collection(tmp_path, group_by='composer')
    assert len(midi_collection(tmp_path, group_by='file')) == 4


def test_definition_checks_its_items(tmp_path):
    with pytest.raises(DatasetError, match='not a folder'):
        audio_folder(tmp_path / 'absent', '{name}.wav')
    with pytest.raises(DatasetError, match="label 'digit' is 3"):
        DatasetDefinition(tmp_path, [Item('a.wav', {'digit': 3})], {'digit': 'class'})
    with pytest.raises(DatasetError, match='some items have a split'):
        DatasetDefinition(tmp_path, [Item('a.wav', split='train'), Item('b.wav')])
    with pytest.raises(ConfigError, match="on_error is 'ignore'"):
        audio_folder(tmp_path, '{name}.wav', on_error='ignore')


def test_numerically_equal_names_order_the_same_in_every_process(tmp_path):
    """'01' and '1' tie as numbers; the order of classes and groups (so the split) must not depend on hash seeds."""
    import subprocess
    import sys

    for name in ('1_spk01_0.wav', '01_spk1_0.wav', '2_spk2_0.wav', '1_spk1_1.wav'):
        (tmp_path / name).write_bytes(b'')
    script = ('import sys; from etude.data import audio_folder, split_items; '
              'd = audio_folder(sys.argv[1], "{digit}_{speaker}_{index}.wav", group_by="speaker"); '
              'print(d.classes()["digit"], d.group_ids()[1], {k: v.tolist() for k, v in split_items(d, seed=0).items()})')
    outputs = {subprocess.run([sys.executable, '-c', script, str(tmp_path)], capture_output=True, text=True, check=True,
                              env={**os.environ, 'PYTHONHASHSEED': str(seed)}).stdout for seed in range(6)}
    assert len(outputs) == 1, outputs
