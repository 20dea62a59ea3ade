"""The note LSTM, its likelihood, the baselines, the samplers and the generated-set measures (issue 13 §2, §3, §5, §7)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from etude.music.generation.baselines import MarkovNotes, UnigramNotes, encode_notes
from etude.music.generation.likelihood import CALIBRATION_PRIOR, TIME_BINS, TIME_EDGES, calibrated_log_probability, calibration_counts, quantise_time
from etude.music.generation.measures import histogram_divergences, jensen_shannon_bits, longest_copied_runs, relative_measures
from etude.music.generation.model import BEGIN_PITCH, NoteLSTM, teacher_forcing
from etude.music.generation.sampling import SamplingSettings, filter_logits, sample_notes, sample_notes_naive


def tiny_model(**changes: float) -> NoteLSTM:
    torch.manual_seed(0)
    values = {'num_rnn_layers': 2, 'hidden_size': 16, 'embedding_size': 8, 'pitch_hidden_size': 12, **changes}
    return NoteLSTM(NoteLSTM.Parameters(**values))  # type: ignore[arg-type]


def test_the_seed_architecture_at_3_by_512_has_5736029_trainable_parameters() -> None:
    model = NoteLSTM(NoteLSTM.Parameters(num_rnn_layers=3, hidden_size=512))
    assert sum(parameter.numel() for parameter in model.parameters() if parameter.requires_grad) == 5_736_029


def test_teacher_forced_loss_equals_an_independent_computation() -> None:
    model = tiny_model(step_weight=0.5, duration_weight=2.0)
    notes = torch.tensor([[[60, 0.5, 0.4], [64, 0.0, 0.5], [67, 0.25, 1.0]], [[50, 0.1, 0.1], [52, 0.2, 0.2], [55, 0.0, 0.3]]])
    first = torch.tensor([1.0, 0.0])
    inputs, targets = teacher_forcing(notes, first)
    assert inputs[:, 0, 0].tolist() == [BEGIN_PITCH, BEGIN_PITCH] and torch.equal(inputs[:, 1:], notes[:, :-1])
    predictions = model(inputs)
    # by hand: each scored note's cross-entropy from a log-softmax, plus the weighted squared errors; the second
    # sequence's first note is not scored (it does not open its piece)
    terms = []
    for row in range(2):
        for position in range(3):
            if row == 1 and position == 0:
                continue
            logits = predictions['pitch_logits'][row, position]
            pitch = -(logits - logits.exp().sum().log())[int(notes[row, position, 0])]
            step = (predictions['step'][row, position] - notes[row, position, 1]) ** 2
            duration = (predictions['duration'][row, position] - notes[row, position, 2]) ** 2
            terms.append(pitch + 0.5 * step + 2.0 * duration)
    assert torch.allclose(model.loss(predictions, targets), torch.stack(terms).mean(), atol=1e-6)
    assert bool((predictions['step'] >= 0).all() and (predictions['duration'] >= 0).all())


def test_calibrated_probabilities_follow_the_counts_and_sum_to_one_over_the_true_bins() -> None:
    representatives = torch.tensor([0.0, *(edge * 1.01 for edge in TIME_EDGES)])  # one value in each bin
    assert quantise_time(representatives.numpy()).tolist() == list(range(TIME_BINS))
    # predictions of 0.2 s (bin 3) were followed three times by a zero step (bin 0) and once by 0.5 s (bin 5)
    predicted, actual = torch.tensor([0.2, 0.2, 0.2, 0.2]), torch.tensor([0.0, 0.0, 0.0, 0.5])
    table = calibration_counts(predicted, actual, torch.ones(4))
    assert table[3, 0] == 3 and table[3, 5] == 1 and table.sum() == 4
    log_probability = calibrated_log_probability(torch.tensor([0.2]), torch.tensor([0.0]), table)
    assert math.isclose(float(log_probability.exp()), (3 + CALIBRATION_PRIOR) / (4 + TIME_BINS * CALIBRATION_PRIOR), rel_tol=1e-12)
    total = calibrated_log_probability(torch.full((TIME_BINS,), 0.2), representatives, table).exp().sum()
    assert math.isclose(float(total), 1.0, abs_tol=1e-12)


def test_the_baselines_nll_equals_the_closed_form_on_a_tiny_corpus() -> None:
    # two training tiles of two notes; A = (60, bin 0, bin 3), B = (62, bin 3, bin 3)
    a, b = [60, 0.0, 0.25], [62, 0.25, 0.25]
    train = np.array([[a, b], [a, a]], dtype=np.float32)
    weights = np.ones((2, 2), dtype=np.float32)
    unigram = UnigramNotes.fit(train, weights)
    pitch = {60: (3 + 1) / (4 + 128), 62: (1 + 1) / (4 + 128)}
    step = {0: (3 + 1) / (4 + TIME_BINS), 3: (1 + 1) / (4 + TIME_BINS)}
    duration3 = (4 + 1) / (4 + TIME_BINS)
    test = np.array([[b, a]], dtype=np.float32)
    expected = -(math.log(pitch[62] * step[3] * duration3) + math.log(pitch[60] * step[0] * duration3)) / 2
    assert math.isclose(unigram.nll_terms(test, np.ones((1, 2)))['nll_per_note'], expected, rel_tol=1e-9)

    markov = MarkovNotes.fit(train, weights, concentration=2.0)
    token_a, token_b = encode_notes(np.array([a, b]))
    prior = unigram.token_probabilities()
    # from the begin state the chain saw A twice; after B nothing (so only the prior)
    begin_to_b = (0 + 2.0 * prior[token_b]) / (2 + 2.0)
    b_to_a = (0 + 2.0 * prior[token_a]) / (0 + 2.0)
    expected_markov = -(math.log(begin_to_b) + math.log(b_to_a)) / 2
    assert math.isclose(markov.nll_terms(test, np.ones((1, 2)))['nll_per_note'], expected_markov, rel_tol=1e-9)


def test_jensen_shannon_divergence_is_0_for_identical_and_1_for_disjoint_histograms() -> None:
    assert jensen_shannon_bits(np.array([1, 2, 3, 0]), np.array([2, 4, 6, 0])) == pytest.approx(0.0, abs=1e-12)
    assert jensen_shannon_bits(np.array([1, 1, 0, 0]), np.array([0, 0, 5, 1])) == pytest.approx(1.0, abs=1e-12)
    piece = np.array([[60, 0.0, 0.5], [64, 0.5, 0.5], [67, 0.5, 1.0]], dtype=np.float32)
    assert all(value == pytest.approx(0.0, abs=1e-12) for value in histogram_divergences([piece], [piece, piece]).values())


def test_relative_measures_of_a_set_against_itself_overlap_and_of_a_shifted_set_do_not() -> None:
    generator = np.random.default_rng(0)
    pieces = [np.stack([generator.integers(55, 75, 40), generator.choice([0.0, 0.25, 0.5], 40), np.full(40, 0.5)], axis=1) for _ in range(12)]
    same = relative_measures(pieces, pieces)
    assert same['pitch_range']['overlap_area'] > 0.5
    far = [piece * np.array([1.0, 8.0, 1.0]) for piece in pieces]  # eight times slower
    assert relative_measures(far, pieces)['inter_onset_interval']['overlap_area'] < same['inter_onset_interval']['overlap_area']


def test_the_longest_copied_run_finds_a_copied_passage() -> None:
    generator = np.random.default_rng(1)
    training = [np.stack([generator.integers(40, 90, 100), np.full(100, 0.25), np.full(100, 0.25)], axis=1).astype(np.float32)]
    copied = np.concatenate([np.array([[20, 0.25, 0.25]]), training[0][30:50], np.array([[21, 0.25, 0.25]])]).astype(np.float32)
    assert longest_copied_runs([copied, copied[:1]], training).tolist() == [20, 0]


def test_nucleus_and_top_k_keep_the_most_likely_pitches() -> None:
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    assert filter_logits(logits, top_p=0.7)[0].tolist() == pytest.approx([0.5 / 0.8, 0.3 / 0.8, 0, 0])
    assert filter_logits(logits, top_k=1)[0].tolist() == pytest.approx([1, 0, 0, 0])
    assert filter_logits(logits, top_p=0.1)[0].tolist() == pytest.approx([1, 0, 0, 0])


def test_seeded_sampling_is_reproducible_and_the_incremental_sampler_equals_the_naive_one() -> None:
    model = tiny_model()
    settings = SamplingSettings(count=3, length_notes=20, temperature=1.3, top_k=40, seed=7)
    first, again = sample_notes(model, settings), sample_notes(model, settings)
    assert all(np.array_equal(one, two) for one, two in zip(first, again, strict=True))
    assert [piece.shape for piece in first] == [(20, 3)] * 3
    assert not np.array_equal(first[0], sample_notes(model, SamplingSettings(count=3, length_notes=20, temperature=1.3, top_k=40, seed=8))[0])
    naive = sample_notes_naive(model, settings)
    for incremental, rerun in zip(first, naive, strict=True):
        assert np.array_equal(incremental[:, 0], rerun[:, 0])
        assert np.allclose(incremental[:, 1:], rerun[:, 1:], atol=1e-5)
    assert all(((piece[:, 0] >= 0) & (piece[:, 0] < BEGIN_PITCH)).all() for piece in first)


def test_primed_pieces_start_with_their_primer_and_a_length_in_seconds_is_kept() -> None:
    model = tiny_model()
    primers = [np.array([[60, 0.0, 0.5], [62, 0.5, 0.5]], dtype=np.float32), np.array([[70, 0.0, 1.0]], dtype=np.float32)]
    pieces = sample_notes(model, SamplingSettings(count=2, length_notes=5, seed=1), primers)
    assert len(pieces) == 4
    assert np.array_equal(pieces[0][:2], primers[0]) and np.array_equal(pieces[1][:2], primers[0])
    assert np.array_equal(pieces[2][:1], primers[1]) and len(pieces[2]) == 6
    timed = sample_notes(model, SamplingSettings(count=2, length_notes=None, length_seconds=3.0, seed=1))
    assert all(len(piece) > 0 and np.cumsum(piece[:, 1])[-1] < 3.0 for piece in timed)


def test_bad_sampling_settings_are_one_line_each() -> None:
    from etude.errors import ConfigError

    for changes in ({'temperature': 0.0}, {'temperature': -1.0}, {'top_p': 0.0}, {'top_p': 1.5}, {'top_k': -1}, {'count': 0}):
        with pytest.raises(ConfigError) as raised:
            SamplingSettings(**changes)  # type: ignore[arg-type]
        assert '\n' not in str(raised.value)


def test_drawn_times_come_from_the_calibration_table_and_are_reproducible() -> None:
    model = tiny_model()
    # the table says: whatever the prediction's bin, the true step is a quaver (0.25 s, bin 3) and the duration 0.5 s (bin 5)
    model.step_calibration.zero_()[:, 3] = 1e6
    model.duration_calibration.zero_()[:, 5] = 1e6
    settings = SamplingSettings(count=2, length_notes=30, seed=3, draw_times=True)
    pieces = sample_notes(model, settings)
    assert all(np.array_equal(one, two) for one, two in zip(pieces, sample_notes(model, settings), strict=True))
    assert {int(value) for piece in pieces for value in quantise_time(piece[:, 1])} == {3}
    assert {int(value) for piece in pieces for value in quantise_time(piece[:, 2])} == {5}
