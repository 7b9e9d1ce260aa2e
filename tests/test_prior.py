import math

import pytest
import torch

from interinv.errors import InterInvError
from interinv.core.prior import adain, load_vocabulary, vocab_stats


def test_vocabularies_ship_with_their_counts():
    assert len(load_vocabulary("swig_verbs")) == 504
    assert len(set(load_vocabulary("swig_verbs"))) == 504
    assert len(load_vocabulary("psg_predicates")) == 56
    assert 45 <= len(load_vocabulary("prepositions")) <= 60


def test_vocab_stats_single_mode_keeps_only_single_token_words():
    rows = [torch.tensor([[1.0, 2.0]]), torch.tensor([[3.0, 6.0]]), torch.tensor([[100.0, 100.0], [0.0, 0.0]])]
    stats = vocab_stats(rows, "single")
    assert stats.words_used == 2 and stats.words_total == 3
    assert torch.allclose(stats.mean, torch.tensor([2.0, 4.0]))
    assert torch.allclose(stats.std, torch.tensor([1.0, 2.0]))  # population std of (1, 3) and (2, 6)


def test_vocab_stats_mean_mode_averages_sub_tokens():
    rows = [torch.tensor([[1.0, 2.0]]), torch.tensor([[4.0, 8.0], [6.0, 8.0]])]
    stats = vocab_stats(rows, "mean")
    assert stats.words_used == 2
    assert torch.allclose(stats.mean, torch.tensor([3.0, 5.0]))  # words (1, 2) and (5, 8)


def test_adain_matches_hand_computed_values():
    stats = vocab_stats([torch.tensor([[0.0, 10.0, 0.0]]), torch.tensor([[2.0, 14.0, 4.0]])])
    # mu_S = (1, 12, 2), sigma_S = (1, 2, 2); P = (1, 2, 3): mean 2, population std sqrt(2/3)
    p = torch.tensor([[1.0, 2.0, 3.0]])
    z = (torch.tensor([-1.0, 0.0, 1.0]) / (2.0 / 3.0) ** 0.5)
    expected = torch.tensor([1.0, 2.0, 2.0]) * z + torch.tensor([1.0, 12.0, 2.0])
    assert torch.allclose(adain(p, stats), expected[None], atol=1e-5)


def test_adain_ignores_the_scale_and_shift_of_the_raw_vector():
    stats = vocab_stats([torch.randn(1, 8) for _ in range(10)])
    p = torch.randn(2, 8)
    assert torch.allclose(adain(p, stats), adain(5.0 * p + 3.0, stats), atol=1e-4)


def test_too_few_single_token_words_is_an_error_that_suggests_mean_mode():
    with pytest.raises(InterInvError, match="subwords='mean'"):
        vocab_stats([torch.zeros(2, 4), torch.zeros(1, 4)], "single")


def test_host_vocabulary_statistics_log_how_many_words_were_used(host, job):
    from interinv.engine.stages import priors

    stats = priors(host, "swig_verbs", subwords="single", job=job)
    assert 200 < stats["clip_l"].words_used < 504
    assert any("of 504 words used" in line for line in job.logs)


def test_steering_loss_matches_the_infonce_formula_by_hand():
    from interinv.core.prior import steering_loss

    r = torch.tensor([1.0, 0.0])
    positives = torch.tensor([[1.0, 0.0], [0.0, 1.0]])  # cosines 1, 0
    negatives = torch.tensor([[-1.0, 0.0]])  # cosine -1
    tau = 0.5
    expected = -math.log((math.exp(2) + math.exp(0)) / (math.exp(2) + math.exp(0) + math.exp(-2)))
    assert float(steering_loss(r, positives, negatives, tau)) == pytest.approx(expected, rel=1e-5)


def test_a_vocabulary_can_be_a_text_file(tmp_path):
    path = tmp_path / "verbs.txt"
    path.write_text("# my verbs\nhug\n\npush\n", encoding="utf-8")
    assert load_vocabulary(str(path)) == ["hug", "push"]


def test_an_unknown_vocabulary_names_the_choices():
    with pytest.raises(InterInvError, match="swig_verbs"):
        load_vocabulary("klingon_verbs")
