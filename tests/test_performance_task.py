"""The expressive-performance task on a score with what real scores have: a pickup, repeats, two parts, tempo and
dynamic marks, a grace note and an ornament it cannot play; and a file that is not a score."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from etude.music.performance import ExpressivePerformance, PerformanceHAN, PerformanceLSTM, UnsupportedScoreElement
from etude.tasks.base import InferenceContext


def write_piece(path: Path) -> Path:
    """Two staves in 3/4: a pickup, a repeated bar with a grace note and a trill, then a forte bar."""
    from music21 import bar, clef, dynamics, expressions, meter, note, stream, tempo

    upper, lower = stream.Part(), stream.Part()
    pickup = stream.Measure(number=0)
    pickup.append([meter.TimeSignature('3/4'), tempo.MetronomeMark(number=90), dynamics.Dynamic('p'), note.Note('G4')])
    pickup.paddingLeft = 2
    repeated = stream.Measure(number=1)
    repeated.leftBarline, repeated.rightBarline = bar.Repeat(direction='start'), bar.Repeat(direction='end')
    trilled = note.Note('C5')
    trilled.expressions.append(expressions.Trill())
    repeated.append([note.Note('B4').getGrace(), trilled, note.Note('D5'), note.Note('E5')])
    last = stream.Measure(number=2)
    last.append([dynamics.Dynamic('f'), note.Note('F5', quarterLength=3)])
    upper.append([pickup, repeated, last])
    bass_pickup = stream.Measure(number=0)
    bass_pickup.append([clef.BassClef(), meter.TimeSignature('3/4'), note.Rest()])
    bass_pickup.paddingLeft = 2
    bass_repeated = stream.Measure(number=1)
    bass_repeated.leftBarline, bass_repeated.rightBarline = bar.Repeat(direction='start'), bar.Repeat(direction='end')
    bass_repeated.append(note.Note('C3', quarterLength=3))
    bass_last = stream.Measure(number=2)
    bass_last.append(note.Note('G2', quarterLength=3))
    lower.append([bass_pickup, bass_repeated, bass_last])
    score = stream.Score()
    score.insert(0, upper)
    score.insert(0, lower)
    score.write('musicxml', fp=str(path))
    return path


@pytest.mark.parametrize('model_class', [PerformanceLSTM, PerformanceHAN])
def test_a_score_with_repeats_parts_pickup_and_grace_notes_is_played(model_class, tmp_path: Path) -> None:
    piece = write_piece(tmp_path / 'piece.musicxml')
    bad = tmp_path / 'shopping.musicxml'
    bad.write_text('eggs, milk')
    task = ExpressivePerformance(sequence_length=8)
    context = InferenceContext(export={}, checkpoint='none', device=torch.device('cpu'))
    model = model_class(model_class.Parameters(hidden_size=8))
    with pytest.warns(UnsupportedScoreElement, match='Trill is played as plain notes'):
        outcomes = list(task.infer(model, [str(bad), str(piece)], context))
    assert outcomes[0].result is None and 'shopping.musicxml' in str(outcomes[0].error) and '\n' not in str(outcomes[0].error)
    played = outcomes[1]
    assert played.result is not None and played.result['grace_notes'] == 2, 'the grace note, once per time through the repeat'
    notes, deadpan = played.artefacts['notes'], played.artefacts['deadpan']
    assert len(notes) == len(deadpan) == 1 + 2 * (3 + 1) + 2 + 2, 'the pickup, the repeated bar twice in both parts, the last bar, two grace notes'
    assert np.all(notes['start'] >= 0) and np.all(notes['end'] > notes['start'])
    written = task.write(played, tmp_path, context)
    assert [path.name for path in written] == ['piece.mid', 'piece.deadpan.mid']
    assert all(path.stat().st_size > 0 for path in written)
