import pytest
import torch

from interinv.errors import InterInvError
from interinv.core.tokens import check_slug, splice, token_names


@pytest.mark.parametrize("bad", ["Kiss", "kiss hand", "[kiss]", "../kiss", "kiss/hand", "", "-kiss", "a" * 64])
def test_invalid_names_are_refused_with_the_rule(bad):
    with pytest.raises(InterInvError, match="a-z, 0-9"):
        check_slug(bad)


def test_token_names_are_one_per_role():
    assert token_names("kisshand") == {"p1": "kisshand_p1", "r": "kisshand_r", "p2": "kisshand_p2"}


def test_positions_follow_the_words_and_their_vector_counts(host):
    words = {"kh_p1": 1, "kh_r": 2, "kh_p2": 1}
    positions = host.token_positions("a man kh_p1 kh_r a woman kh_p2", words)
    assert positions == {"kh_p1": [3], "kh_r": [4, 5], "kh_p2": [8]}


@pytest.mark.parametrize("model", ["host", "sdxl_host"])
def test_text_around_words_tokenizes_as_without_them(model, request):
    host = request.getfixturevalue(model)
    tokenized = host._tokenize("a photo of a man and a woman", ())  # one per text encoder
    tokenizers = [host.pipe.tokenizer, getattr(host.pipe, "tokenizer_2", None)][: len(tokenized)]
    for prompt, tokenizer in zip(tokenized, tokenizers, strict=True):
        plain = tokenizer("a photo of a man and a woman").input_ids
        assert prompt.ids[: len(plain)] == plain


def test_splice_replaces_only_the_slots_and_grads_reach_only_the_table():
    embeds = torch.randn(2, 5, 3, requires_grad=True)
    table = torch.randn(2, 3, requires_grad=True)
    slots = torch.tensor([[-1, 0, -1, -1, -1], [-1, -1, 1, 0, -1]])
    out = splice(embeds, slots, table)
    assert torch.equal(out[0, 1], table[0]) and torch.equal(out[1, 2], table[1]) and torch.equal(out[0, 0], embeds[0, 0])
    out.sum().backward()
    assert torch.equal(embeds.grad[0, 1], torch.zeros(3)) and torch.equal(table.grad, torch.tensor([[2.0] * 3, [1.0] * 3]))


def test_a_prompt_that_would_cut_off_a_word_is_refused(host):
    long = "a " * 80 + "kh_r"
    with pytest.raises(InterInvError, match="Shorten"):
        host.token_positions(long, {"kh_r": 1})
