"""The transcription routine's data: pianos drawn per piece, renders cached by content, (n)ASAP excerpts with their
pedal, the (n)ASAP split shared with the expressive-performance routine, and the groups' names."""

from __future__ import annotations

from pathlib import Path

import pretty_midi
import pytest
from conftest import needs_fluidsynth

from etude.errors import ConfigError, MissingDependencyError
from etude.music.transcription.pianos import (
    HELD_OUT_PIANO,
    HELD_OUT_SOUNDFONT,
    TRAINING_PIANOS,
    Piano,
    RenderSettings,
    draw_piano,
    draw_render_settings,
)
from etude.music.transcription.renders import render_all

needs_pianos = pytest.mark.skipif(not all(Path(piano.soundfont).is_file() for piano in (*TRAINING_PIANOS, HELD_OUT_PIANO)),
                                  reason='a soundfont of the default pianos is not installed (see the transcription README)')


def write_midi(path: Path, notes: list[tuple[int, float, float]], pedal: list[tuple[float, int]] = ()) -> Path:
    """A one-track piano MIDI file of (pitch, start, end) notes at velocity 80 and (time, value) sustain-pedal changes."""
    midi = pretty_midi.PrettyMIDI()
    piano = pretty_midi.Instrument(program=0)
    piano.notes = [pretty_midi.Note(80, pitch, start, end) for pitch, start, end in notes]
    piano.control_changes = [pretty_midi.ControlChange(64, value, time) for time, value in pedal]
    midi.instruments.append(piano)
    midi.write(str(path))
    return path


def test_the_held_out_piano_is_never_a_training_piano() -> None:
    assert all(piano.soundfont != HELD_OUT_SOUNDFONT for piano in TRAINING_PIANOS)
    assert all('sf_GMbank' not in piano.soundfont for piano in TRAINING_PIANOS)  # it plays TimGM6mb's piano
    drawn = {draw_piano(f'piece{index}', seed=3) for index in range(400)}
    assert drawn == set(TRAINING_PIANOS)  # every training piano is drawn, and nothing else
    assert HELD_OUT_PIANO.soundfont == HELD_OUT_SOUNDFONT and HELD_OUT_PIANO not in drawn


def test_piano_and_settings_draws_are_seeded_per_piece() -> None:
    assert draw_piano('bwv66.6', seed=1) == draw_piano('bwv66.6', seed=1)
    assert [draw_piano(f'p{index}', seed=1) for index in range(20)] != [draw_piano(f'p{index}', seed=2) for index in range(20)]
    settings = [draw_render_settings(f'p{index}', seed=0) for index in range(200)]
    assert settings[7] == draw_render_settings('p7', seed=0)
    assert 0.3 < sum(item.reverb for item in settings) / 200 < 0.7 and 0.15 < sum(item.chorus for item in settings) / 200 < 0.45
    assert all(0.1 <= item.room_size <= 0.8 and 0.1 <= item.reverb_level <= 0.6 for item in settings)
    assert RenderSettings().synth_settings() == {}
    assert set(RenderSettings(reverb=True, chorus=True).synth_settings()) == {'synth.reverb.room-size', 'synth.reverb.damp', 'synth.reverb.level',
                                                                               'synth.chorus.depth', 'synth.chorus.level'}


def test_a_missing_soundfont_is_one_line_naming_its_package() -> None:
    with pytest.raises(MissingDependencyError, match=r'^the ghost piano needs /nowhere/ghost.sf2; install it with: sudo apt-get install ghost-soundfont$'):
        Piano('/nowhere/ghost.sf2', 0, 'ghost-soundfont', 'ghost').path()


@needs_fluidsynth
@needs_pianos
def test_renders_are_cached_by_content(tmp_path: Path) -> None:
    first = write_midi(tmp_path / 'a.mid', [(60, 0.0, 0.4), (64, 0.2, 0.6)])
    second = write_midi(tmp_path / 'b.mid', [(67, 0.0, 0.3)])
    wet = RenderSettings(reverb=True, room_size=0.7)
    jobs = [(first, TRAINING_PIANOS[0], RenderSettings()), (first, TRAINING_PIANOS[0], wet), (second, TRAINING_PIANOS[1], RenderSettings()),
            (second, HELD_OUT_PIANO, RenderSettings())]
    paths, rendered = render_all(jobs, tmp_path / 'renders', workers=2)
    assert rendered == 4 and len(set(paths)) == 4 and all(path.is_file() for path in paths)
    assert paths[0].name.startswith('a-') and paths[2].name.startswith('b-')
    times = [path.stat().st_mtime_ns for path in paths]
    again, rendered_again = render_all(jobs, tmp_path / 'renders', workers=2)
    assert again == paths and rendered_again == 0 and [path.stat().st_mtime_ns for path in paths] == times
    write_midi(first, [(60, 0.0, 0.5)])  # new bytes: a new render beside the old one
    changed, rendered_changed = render_all(jobs[:1], tmp_path / 'renders')
    assert rendered_changed == 1 and changed[0] != paths[0]
    assert not list((tmp_path / 'renders').glob('.*tmp'))  # written atomically: no partial file left


def test_an_excerpt_carries_the_pedal_in_and_cuts_notes_at_its_edges(tmp_path: Path) -> None:
    from etude.music.transcription.performances import Performance, excerpt_start, performance_excerpt

    notes = [(60, 0.5, 1.5), (62, 3.0, 4.0), (64, 5.0, 30.0)] + [(70, float(second), second + 0.5) for second in range(6, 30)]
    source = write_midi(tmp_path / 'pianist.mid', notes, pedal=[(0.2, 127), (2.0, 0), (5.5, 100)])
    performance = Performance(source, 'Bach/Prelude', 'train')
    start = excerpt_start(performance, 30.0, seconds=6.0, seed=5)
    assert 5.5 < start < 24 and start == excerpt_start(performance, 30.0, seconds=6.0, seed=5) != excerpt_start(performance, 30.0, seconds=6.0, seed=6)
    excerpt = performance_excerpt(performance, tmp_path / 'excerpts', seconds=6.0, seed=5)
    assert excerpt == performance_excerpt(performance, tmp_path / 'excerpts', seconds=6.0, seed=5)  # written once, found again
    midi = pretty_midi.PrettyMIDI(str(excerpt))
    kept = midi.instruments[0].notes
    pedal = sorted((round(change.time, 2), change.value) for change in midi.instruments[0].control_changes if change.number == 64)
    assert all(note.start >= 0 and note.end <= 6.0 + 1e-3 for note in kept) and kept
    assert sorted(round(note.start + start, 2) for note in kept) == [second for second in range(6, 30) if start <= second < start + 6]
    assert 64 not in {note.pitch for note in kept}  # struck before the window: left out
    crossing = [note for note in kept if round(note.start + start) == int(start + 6)]  # struck inside, released after the end
    assert all(note.end == pytest.approx(min(note.start + 0.5, 6.0), abs=3e-3) for note in kept) and len(crossing) == 1
    assert pedal[0] == (0.0, 100) and pedal[-1] == (6.0, 0)  # the pedal held when the excerpt starts, lifted at its end
    whole = pretty_midi.PrettyMIDI(str(performance_excerpt(performance, tmp_path / 'excerpts', seconds=0, seed=4)))
    assert len(whole.instruments[0].notes) == len(notes)


def test_an_old_export_s_other_soundfont_is_read_as_the_held_out_piano() -> None:
    from etude.music.transcription import Transcription

    task = Transcription(pieces={'train': [['a.wav', 'a.mid']], 'test': [['b.wav', 'b.mid']], 'other_soundfont': [['c.wav', 'c.mid']]})
    assert task.pieces == {'train': [['a.wav', 'a.mid']], 'test': [['b.wav', 'b.mid']], 'held_out_piano': [['c.wav', 'c.mid']]}


def test_the_routine_names_the_install_when_nasap_is_missing(tmp_path: Path) -> None:
    from etude.music.transcription.routine import DEFAULTS, pieces

    parameters = DEFAULTS.from_dict({**DEFAULTS.to_dict(), 'nasap_directory': str(tmp_path / 'nasap'), 'data_directory': str(tmp_path / 'data')})
    with pytest.raises(ConfigError) as raised:
        pieces(parameters)
    message = str(raised.value)
    assert '\n' not in message and 'etude data install nasap' in message and 'dataset=chorales' in message
    assert not (tmp_path / 'data').exists()  # refused before anything was rendered


def test_the_nasap_test_pieces_are_the_performance_routine_s(nasap_folder: Path) -> None:
    from etude.data import match_performances
    from etude.music.performance.routine import DEFAULTS as PERFORMANCE_DEFAULTS
    from etude.music.transcription.performances import NASAP_SPLIT, nasap_performances

    assert tuple(PERFORMANCE_DEFAULTS.dataset_split) == NASAP_SPLIT
    for seed in (0, 5):
        ours = nasap_performances(nasap_folder, seed=seed, per_piece=1)
        theirs = match_performances(nasap_folder, fractions=PERFORMANCE_DEFAULTS.dataset_split, seed=seed,
                                    pieces=PERFORMANCE_DEFAULTS.number_of_pieces or None)
        for split in ('train', 'validation', 'test'):
            assert {item.piece for item in ours if item.split == split} == {item.group for item in theirs.items if item.split == split}
        assert len({item.piece for item in ours}) == len(ours)  # one performance per piece
