"""Stand-in of backend/nn/unet.py: CrossAttention as Forge has it (to_q/to_k/to_v/to_out, heads, dim_head, no
`scale`; SDPA inside) and IntegratedUNet2DConditionModel (forward(x, timesteps, context, ..., transformer_options)).

The UNet's blocks are a tiny diffusers UNet2DConditionModel's, with every attn2 replaced by Forge's CrossAttention
carrying the same weights; diffusers' transformer block calls it with `encoder_hidden_states=`, which is taken as
`context` (the one addition to the real signature). SDXL's `y` goes into a projection class embedding, which is what
Forge's `label_emb` (Linear, SiLU, Linear, added to the time embedding) is; as in Forge, `y` is required exactly when
the UNet has one. Timestep is the parameter-free sinusoidal embedder the SDXL engine makes its size features with. Each transformer block runs in Forge's order with Forge's
in-place adds (`x += n`), which break a backward unless the LayerNorms' saved inputs are kept apart (the real Forge
showed this).
"""

import math

import torch
from torch import nn


def timestep_embedding(timesteps, dim, max_period=10000):
    """Sinusoidal features, cosines first: [len(timesteps), dim]."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32) / half)
    args = timesteps[:, None].float() * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class Timestep(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.dim = dim

    def forward(self, t):
        return timestep_embedding(t, self.dim)


class CrossAttention(nn.Module):
    def __init__(self, query_dim, context_dim=None, heads=8, dim_head=64, dropout=0.):
        super().__init__()
        inner_dim = dim_head * heads
        context_dim = query_dim if context_dim is None else context_dim
        self.heads = heads
        self.dim_head = dim_head
        self.to_q = nn.Linear(query_dim, inner_dim, bias=False)
        self.to_k = nn.Linear(context_dim, inner_dim, bias=False)
        self.to_v = nn.Linear(context_dim, inner_dim, bias=False)
        self.to_out = nn.Sequential(nn.Linear(inner_dim, query_dim), nn.Dropout(dropout))

    def forward(self, x, context=None, value=None, mask=None, transformer_options={}, encoder_hidden_states=None,
                **_diffusers_kwargs):
        context = encoder_hidden_states if context is None else context
        q = self.to_q(x)
        context = x if context is None else context
        k = self.to_k(context)
        v = self.to_v(context if value is None else value)
        batch = q.shape[0]
        q, k, v = (t.view(batch, -1, self.heads, self.dim_head).transpose(1, 2) for t in (q, k, v))
        out = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # backend.attention's pytorch path
        return self.to_out(out.transpose(1, 2).reshape(batch, -1, self.heads * self.dim_head))


def _forge_attention(attn) -> CrossAttention:
    """diffusers' Attention as Forge's CrossAttention, with its weights."""
    heads = attn.heads
    layer = CrossAttention(query_dim=attn.to_q.in_features, context_dim=attn.to_k.in_features, heads=heads,
                           dim_head=attn.to_q.out_features // heads)
    layer.to_q.load_state_dict(attn.to_q.state_dict())
    layer.to_k.load_state_dict(attn.to_k.state_dict())
    layer.to_v.load_state_dict(attn.to_v.state_dict())
    layer.to_out[0].load_state_dict(attn.to_out[0].state_dict())
    return layer


def _forge_block_forward(block):
    """BasicTransformerBlock._forward's order, with its in-place adds: `x += n` goes into the tensor that norm1 and
    then norm2 saved for backward, and the feed-forward's output takes the skip in place."""
    def forward(hidden_states, attention_mask=None, encoder_hidden_states=None, **_diffusers_kwargs):
        x = hidden_states
        n = block.attn1(block.norm1(x))
        x += n
        n = block.attn2(block.norm2(x), context=encoder_hidden_states)
        x += n
        x_skip = x
        x = block.ff(block.norm3(x))
        x += x_skip
        return x

    return forward


class IntegratedUNet2DConditionModel(nn.Module):
    def __init__(self, unet, storage_dtype=torch.float32, computation_dtype=torch.float32):
        super().__init__()
        for block in [m for m in unet.modules() if hasattr(m, "attn2") and m.attn2 is not None]:
            block.attn2 = _forge_attention(block.attn2)
            block.forward = _forge_block_forward(block)
        self.unet = unet
        self.storage_dtype, self.computation_dtype = storage_dtype, computation_dtype
        self.load_device = self.offload_device = self.initial_device = torch.device("cpu")

    @property
    def dtype(self):
        return self.storage_dtype

    def forward(self, x, timesteps=None, context=None, y=None, control=None, transformer_options={}, **kwargs):
        assert (y is not None) == (self.unet.class_embedding is not None), "must specify y if and only if the model is class-conditional"
        return self.unet(x, timesteps, encoder_hidden_states=context, class_labels=y).sample
