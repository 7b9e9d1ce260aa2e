import pytest
import torch

from interinv.core.attention import (
    AttentionProbe,
    cross_attention_loss,
    normalize_map,
    relation_target,
    select_layers,
)


def _explicit_maps(layer, q, k, columns):
    """Full attention probabilities the diffusers way (baddbmm + softmax over all keys), then the columns."""
    attn = layer.module
    probs = attn.get_attention_scores(attn.head_to_batch_dim(q), attn.head_to_batch_dim(k))  # [B*h, N, L]
    b = q.shape[0]
    probs = probs.view(b, attn.heads, probs.shape[1], probs.shape[2]).mean(dim=1)  # [B, N, L]
    picked = torch.stack([probs[i][:, columns[i]] for i in range(b)])  # [B, N, C]
    h, w = layer.size
    return picked.transpose(1, 2).reshape(b, -1, h, w)


@pytest.mark.parametrize("model", ["host", "sdxl_host"])
def test_probe_equals_explicit_full_attention(model, request):
    host = request.getfixturevalue(model)
    layers = select_layers(host.cross_attention_layers((16, 16)), 8)
    captured = {}
    hooks = [l.module.to_q.register_forward_hook(lambda m, i, o, n=l.name: captured.__setitem__((n, "q"), o)) for l in layers]
    hooks += [l.module.to_k.register_forward_hook(lambda m, i, o, n=l.name: captured.__setitem__((n, "k"), o)) for l in layers]
    vectors = {"kh_r": {key: torch.randn(1, width) for key, width in host.embedding_dims.items()}}
    cond = host.encode_prompts(["a man kh_r a woman", "a cat and kh_r a dog"], vectors)
    columns = torch.tensor([[3, 1], [4, 2]])
    probe = AttentionProbe(layers)
    x = torch.randn(2, 4, 16, 16)
    with torch.no_grad(), probe.capture(columns):
        host.predict(x, torch.tensor([500, 20]), cond)
    for hook in hooks:
        hook.remove()
    explicit = torch.stack([_explicit_maps(l, captured[(l.name, "q")], captured[(l.name, "k")], columns) for l in layers]).mean(0)
    assert probe.maps().shape == (2, 2, 8, 8)
    assert torch.allclose(probe.maps(), explicit, atol=1e-5)


def test_probe_keeps_the_layer_outputs_unchanged(host):
    layers = select_layers(host.cross_attention_layers((16, 16)), 8)
    cond = host.encode_prompts(["a man and a woman"], {})
    x, t = torch.randn(1, 4, 16, 16), torch.tensor([300])
    with torch.no_grad():
        plain = host.predict(x, t, cond)
        with AttentionProbe(layers).capture(torch.tensor([[2]])):
            probed = host.predict(x, t, cond)
    assert torch.equal(plain, probed)


def test_norm_divides_by_the_spatial_maximum():
    m = torch.tensor([[[[1.0, 2.0], [4.0, 0.0]]]])
    assert torch.allclose(normalize_map(m), m / 4.0)


def test_target_is_masked_normalised_and_carries_no_gradient():
    p1 = torch.rand(2, 4, 4, requires_grad=True)
    p2 = torch.rand(2, 4, 4, requires_grad=True)
    mask = torch.zeros(2, 4, 4)
    mask[:, :2] = 1.0
    g = relation_target(p1, p2, mask)
    assert not g.requires_grad
    assert torch.all(g[:, 2:] == 0) and torch.allclose(g.flatten(1).amax(1), torch.ones(2))


def test_ca_loss_is_the_mean_squared_difference_of_normalised_maps():
    r = torch.tensor([[[2.0, 0.0], [0.0, 0.0]]])
    g = torch.tensor([[[1.0, 1.0], [0.0, 0.0]]])
    assert torch.isclose(cross_attention_loss(r, g), torch.tensor(0.25))
