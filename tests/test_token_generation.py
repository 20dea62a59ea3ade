"""The metrical representation, the token LSTM, its fused sampler, the token baselines and issue 23's measures."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from etude.music.generation.fused import FusedLSTM
from etude.music.generation.metrical_measures import copy_tokens, in_key_shares, metrical_figures, metrical_histograms
from etude.music.generation.sampling import SamplingSettings
from etude.music.generation.token_baselines import TokenNgram
from etude.music.generation.token_data import BOS, TokenSequences, TokenTiles
from etude.music.generation.token_model import TokenLSTM
from etude.music.generation.token_sampling import Grammar, sample_tokens, sample_tokens_naive
from etude.music.generation.tokens import Representation
from etude.music.generation.transformer import TokenTransformer

REMI = Representation()


def four_voices(path: Path, *, numerator: int = 3) -> Path:
    """A two-bar piece in numerator/4 of four voices (soprano in quarters, the rest held), with a 16th in the alto."""
    import symusic

    score = symusic.Score(480)
    score.time_signatures.append(symusic.TimeSignature(0, numerator, 4))
    lines = [[(0, 480, 72), (480, 480, 74), (960, 480, 76)], [(0, 120, 67), (120, 840, 65)], [(0, 960, 60)], [(0, 1440, 48)]]
    for voice, notes in enumerate(lines):
        track = symusic.Track(name=f'voice {voice}')
        for start, length, pitch in notes:
            track.notes.append(symusic.Note(start, length, pitch, 80))
            track.notes.append(symusic.Note(start + numerator * 480, length, pitch - 2, 80))
        score.tracks.append(track)
    score.dump_midi(str(path))
    return path


def test_remi_with_voices_round_trips_a_four_voice_piece_through_tokens_and_midi(tmp_path: Path) -> None:
    ids = REMI.encode_file(four_voices(tmp_path / 'piece.mid'))
    tokens = REMI.tokenizer()._ids_to_tokens(ids.tolist())  # miditok's names, to read the stream
    assert tokens[:6] == ['Bar_None', 'TimeSig_3/4', 'Position_0', 'Program_0', 'Pitch_72', 'Duration_1.0.4']
    notes = REMI.voiced_notes(ids)
    assert len(notes) == 14 and sorted(set(notes[:, 3].tolist())) == [0, 1, 2, 3]
    alto = notes[notes[:, 3] == 1]
    assert alto[:2, [0, 1, 2]].tolist() == [[67, 0.0, 0.25], [65, 0.25, 1.75]]
    assert notes[notes[:, 1] == 3.0][:, 4].tolist() == [0.0] * 4  # the second bar of 3/4 starts at quarter 3
    written = REMI.write_midi(ids, tmp_path / 'again.mid')
    assert np.array_equal(REMI.encode_file(written), ids)


def test_the_written_midi_holds_the_time_signature_bars_and_four_named_voices(tmp_path: Path) -> None:
    import pretty_midi
    import symusic

    written = REMI.write_midi(REMI.encode_file(four_voices(tmp_path / 'piece.mid', numerator=3)), tmp_path / 'out.mid')
    midi = pretty_midi.PrettyMIDI(str(written))
    assert [(change.numerator, change.denominator) for change in midi.time_signature_changes] == [(3, 4)]
    assert [instrument.name for instrument in midi.instruments] == ['Soprano', 'Alto', 'Tenor', 'Bass']
    assert midi.get_downbeats()[:2].tolist() == pytest.approx([0.0, 1.5])  # 3/4 at 120 a minute: a bar is 1.5 s
    assert [marker.text for marker in symusic.Score(str(written)).markers] == ['bar 1', 'bar 2']


def test_a_file_that_is_not_midi_is_one_line(tmp_path: Path) -> None:
    from etude.errors import DataFileError

    bad = tmp_path / 'bad.mid'
    bad.write_text('no MIDI here')
    with pytest.raises(DataFileError) as raised:
        REMI.encode_file(bad)
    assert '\n' not in str(raised.value) and 'bad.mid' in str(raised.value)


def test_the_grammar_admits_every_chorale_and_tiles_cover_every_token(tmp_path: Path) -> None:
    ids = REMI.encode_file(four_voices(tmp_path / 'piece.mid'))
    grammar, previous, position = Grammar(REMI), BOS, -1
    for token in ids.tolist():
        assert grammar.after[previous, token] and grammar.rising[position + 1, token], (grammar.types[previous], grammar.types[token])
        position = -1 if grammar.is_bar[token] else int(grammar.position[token]) if grammar.position[token] >= 0 else position
        previous = token
    windows = list(TokenSequences(REMI, 16).windows({'tokens': ids}))
    tiles = TokenTiles(np.stack([tile for _, tile, _ in windows]), np.array([start == 0 for start, _, _ in windows]), np.zeros(len(windows)),
                       np.array([start for start, _, _ in windows]), np.array([int(labels['length']) for _, _, labels in windows]))
    assert np.array_equal(tiles.piece_sequences()[0], ids)
    assert tiles.weights().sum() == len(ids) - (len(windows) - 1)  # each tile's first token but the piece's first is context only


def test_the_fused_lstm_step_equals_torch_lstm() -> None:
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(6, 10, num_layers=3, batch_first=True)
    inputs, start = torch.randn(2, 7, 6), (torch.randn(3, 2, 10), torch.randn(3, 2, 10))
    step = FusedLSTM(lstm, batch=2)
    step.reset(start)
    with torch.no_grad():
        expected, (h, c) = lstm(inputs, start)
        outputs = torch.stack([step(inputs[:, t]).clone() for t in range(7)], dim=1)
    assert torch.allclose(outputs, expected, atol=1e-5) and torch.allclose(step.state()[0], h, atol=1e-5) and torch.allclose(step.state()[1], c, atol=1e-5)


@pytest.mark.parametrize('weights', ['int8', 'bf16'])
def test_the_reduced_precision_step_equals_the_fp32_step_within_its_rounding(weights: str) -> None:
    # int8: one scale per output row (max |w| / 127) and [x | h] rounded to uint8 per call; bf16: 8 bits of mantissa.
    # Over 20 steps of a 2 x 32 LSTM, h stays within 0.005 of fp32's and c within 0.01 (measured: 6.5e-4 and 3.1e-3
    # for int8, 4.3e-4 and 1.5e-3 for bf16).
    tolerance = 0.005
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(8, 32, num_layers=2, batch_first=True)
    inputs = torch.randn(1, 20, 8)
    exact, reduced = FusedLSTM(lstm, batch=1), FusedLSTM(lstm, batch=1, weights=weights)  # type: ignore[arg-type]
    exact.reset(), reduced.reset()
    with torch.no_grad():
        gaps = [float((exact(inputs[:, t]) - reduced(inputs[:, t])).abs().max()) for t in range(20)]
    assert 0 < max(gaps) < tolerance, gaps  # not 0: the weights really are rounded
    assert float((exact.cells - reduced.cells).abs().max()) < 2 * tolerance


def test_reduced_weights_sample_reproducibly_and_bad_weights_are_one_line() -> None:
    from etude.errors import ConfigError

    model = tiny_token_model()
    for weights in ('int8', 'bf16'):
        settings = SamplingSettings(count=2, length_notes=20, top_p=0.9, seed=3, weights=weights)
        first = sample_tokens(model, REMI, settings)
        assert all(np.array_equal(one, two) for one, two in zip(first, sample_tokens(model, REMI, settings), strict=True))
    with pytest.raises(ConfigError) as raised:
        SamplingSettings(weights='int4')
    assert '\n' not in str(raised.value) and 'int4' in str(raised.value)
    transformer = TokenTransformer(TokenTransformer.Parameters(vocabulary_size=REMI.vocabulary_size, transformer_width=16, transformer_layers=1,
                                                                transformer_heads=2))
    with pytest.raises(ConfigError):
        sample_tokens(transformer, REMI, SamplingSettings(count=1, length_notes=5, weights='int8'))


def tiny_token_model() -> TokenLSTM:
    torch.manual_seed(0)
    return TokenLSTM(TokenLSTM.Parameters(vocabulary_size=REMI.vocabulary_size, token_hidden_size=16, token_embedding_size=8, token_layers=2))


def test_token_sampling_is_seeded_follows_the_grammar_and_the_incremental_sampler_equals_the_naive_one() -> None:
    model = tiny_token_model()
    settings = SamplingSettings(count=3, length_notes=25, temperature=1.2, top_p=0.95, seed=4)
    first = sample_tokens(model, REMI, settings)
    assert all(np.array_equal(one, two) for one, two in zip(first, sample_tokens(model, REMI, settings), strict=True))
    assert all(np.array_equal(one, two) for one, two in zip(first, sample_tokens_naive(model, REMI, settings), strict=True))
    assert not np.array_equal(first[0], sample_tokens(model, REMI, SamplingSettings(count=3, length_notes=25, seed=5))[0])
    grammar = Grammar(REMI)
    for piece in first:
        assert grammar.is_bar[piece[0]] and int(grammar.is_pitch[piece].sum()) == 25 and grammar.types[piece[-1]] == 'Duration'
        assert all(grammar.after[previous, token] for previous, token in zip(piece[:-1].tolist(), piece[1:].tolist(), strict=True))
        assert len(REMI.voiced_notes(piece)) == 25


def test_a_primed_token_piece_starts_with_its_primer_and_seconds_end_at_a_bar(tmp_path: Path) -> None:
    model = tiny_token_model()
    primer = REMI.encode_file(four_voices(tmp_path / 'piece.mid'))
    pieces = sample_tokens(model, REMI, SamplingSettings(count=2, length_notes=5, seed=1), [primer])
    assert all(np.array_equal(piece[:len(primer)], primer) for piece in pieces)
    assert all(int(Grammar(REMI).is_pitch[piece[len(primer):]].sum()) == 5 for piece in pieces)
    timed = sample_tokens(model, REMI, SamplingSettings(count=2, length_notes=None, length_seconds=4.0, seed=1))
    for piece in timed:
        notes = REMI.voiced_notes(piece)
        assert len(notes) and (notes[:, 1] - notes[:, 4]).max() < 8.0  # 4 s is 8 quarters: no bar of the piece begins at or after it


def test_the_markov_chain_over_tokens_equals_its_closed_form() -> None:
    # one tile A B A B (first), vocabulary of 6: order 1, beta 2
    a, b = 4, 5
    tiles = TokenTiles(np.array([[a, b, a, b]]), np.array([True]), np.zeros(1), np.zeros(1, dtype=np.int64), np.array([4]))
    chain = TokenNgram.fit(tiles, 6, order=1, concentration=2.0)
    unigram = (np.bincount([a, b, a, b], minlength=6) + 1.0) / 10
    assert chain.unigram.tolist() == pytest.approx(unigram.tolist())
    test = TokenTiles(np.array([[a, a]]), np.array([True]), np.zeros(1), np.zeros(1, dtype=np.int64), np.array([2]))
    # P(a | BOS): BOS was followed by a once; P(a | a): a was followed by b twice, never by a
    expected = [math.log((1 + 2 * unigram[a]) / (1 + 2)), math.log((0 + 2 * unigram[a]) / (2 + 2))]
    assert chain.log_probabilities(test).tolist() == pytest.approx(expected)
    assert chain.distribution([BOS, a])[a] == pytest.approx(math.exp(expected[1]))


def voiced(rows: list[tuple[float, float, float, float]], *, bar: float = 4.0) -> np.ndarray:
    """Voiced notes from (pitch, onset, duration, voice), bar positions in bars of `bar` quarters."""
    table = np.array(rows, dtype=np.float64)
    return np.column_stack([table, np.mod(table[:, 1], bar)])


def test_the_measures_equal_hand_computed_values() -> None:
    # C major triad then a D minor chord with an F# in the soprano (out of C major); one onset off the grid
    piece = voiced([(72, 0, 1, 0), (67, 0, 1, 1), (64, 0, 1, 2), (48, 0, 1, 3), (78, 1, 1, 0), (69, 1, 1, 1), (65, 1, 1, 2), (50, 1, 1, 3),
                    (76, 2.1, 0.5, 0)])
    histograms = metrical_histograms([piece])
    assert histograms['voice_interval'][24 + 6] == 1 and histograms['voice_interval'][24 - 2] == 1  # soprano 72→78→76
    assert histograms['voice_interval'].sum() == 5  # soprano 2, the other voices 1 each
    assert histograms['onset_interval'][4] == 1 and histograms['onset_interval'][34] == 1  # a quarter, then 1.1 (off the grid)
    assert histograms['bar_position'][0] == 4 and histograms['bar_position'][4] == 4 and histograms['bar_position'][24] == 1
    assert histograms['duration'][4] == 8 and histograms['duration'][2] == 1
    figures = metrical_figures([piece], [piece])
    assert figures['jsd_pitch_class'] == pytest.approx(0.0, abs=1e-12)
    assert figures['notes_per_onset'] == pytest.approx(9 / 3) and figures['pitch_range'] == 78 - 48
    assert figures['on_grid_share'] == pytest.approx(2 / 3)
    assert in_key_shares([piece])[0] == pytest.approx(8 / 9)  # C major is its best key; F# is the one note outside it
    scale = voiced([(60 + step, index, 1, 0) for index, step in enumerate((0, 2, 4, 5, 7, 9, 11, 12))])
    assert in_key_shares([scale])[0] == 1.0


def test_the_longest_copied_run_counts_notes_in_onset_order() -> None:
    training = voiced([(60 + index % 7, index * 0.5, 0.5, 0) for index in range(30)])
    copied = np.concatenate([voiced([(90, 4.5, 0.5, 0)]), training[10:22], voiced([(91, 11.0, 0.5, 0)])])  # notes 10..21 at their own times
    figures = metrical_figures([copied], [training], [training])
    assert figures['longest_copied_run'] == 12
    assert len(copy_tokens(copied)) == 14


def test_a_chorales_pickup_gets_the_rest_that_completes_its_bar(tmp_path: Path) -> None:
    import symusic

    from etude.data.generators.chorales import export_chorales

    # bwv347 (4/4) opens with a one-beat pickup: music21 writes it at tick 0, a beat before the bar line
    plain, = export_chorales(tmp_path / 'plain', names=['bach/bwv347'])
    padded, = export_chorales(tmp_path / 'padded', names=['bach/bwv347'], pad_pickup=True)
    onsets = [min(note.time for track in symusic.Score(str(path)).tracks for note in track.notes) / symusic.Score(str(path)).tpq
              for path in (plain, padded)]
    assert onsets == [0.0, 3.0]
    score = symusic.Score(str(padded))
    assert (score.time_signatures[0].time, score.time_signatures[0].numerator) == (0, 4)
    tokens = REMI.tokenizer()._ids_to_tokens(REMI.encode_file(padded)[:3].tolist())
    assert tokens == ['Bar_None', 'TimeSig_4/4', 'Position_12']  # the pickup on the bar's last beat


def tiny_transformer() -> TokenTransformer:
    torch.manual_seed(0)
    return TokenTransformer(TokenTransformer.Parameters(vocabulary_size=REMI.vocabulary_size, transformer_width=16, transformer_layers=2,
                                                        transformer_heads=2)).eval()


def test_the_transformers_kv_cache_gives_what_a_whole_run_gives() -> None:
    model = tiny_transformer()
    tokens = torch.randint(4, REMI.vocabulary_size, (2, 12))
    with torch.no_grad():
        whole = model.run(tokens)[0]['logits']
        outputs, cache = model.run(tokens[:, :5])
        pieces = [outputs['logits']]
        for position in range(5, 12):
            outputs, cache = model.run(tokens[:, position:position + 1], cache)
            pieces.append(outputs['logits'])
    assert torch.allclose(torch.cat(pieces, dim=1), whole, atol=1e-5)
    shifted = torch.roll(tokens, 1, dims=1)
    assert not torch.allclose(model.run(shifted)[0]['logits'][:, -1], whole[:, -1])  # order matters: positions reach attention


def test_transformer_sampling_with_its_cache_equals_the_naive_sampler_and_continues_primers(tmp_path: Path) -> None:
    model = tiny_transformer()
    settings = SamplingSettings(count=2, length_notes=15, seed=2)
    cached = sample_tokens(model, REMI, settings)
    assert all(np.array_equal(one, two) for one, two in zip(cached, sample_tokens_naive(model, REMI, settings), strict=True))
    primer = REMI.encode_file(four_voices(tmp_path / 'piece.mid'))
    primed = sample_tokens(model, REMI, SamplingSettings(count=2, length_notes=4, seed=2), [primer, primer[:20]])
    assert len(primed) == 4 and np.array_equal(primed[0][:len(primer)], primer) and np.array_equal(primed[2][:20], primer[:20])
