"""Cross-attention probe on selected attn2 layers, and the cross-attention loss (Eq. 6-8)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Iterator, Sequence

import torch

NORM_EPS = 1e-8  # a map that is all zero stays zero after normalisation


@dataclass(frozen=True)
class ProbedLayer:
    """An attention module with `to_q`, `to_k` and `heads`, its spatial size (h, w), and its softmax scale (None: the
    module's own `scale`; Forge's CrossAttention has none)."""

    name: str
    module: torch.nn.Module
    size: tuple[int, int]
    scale: float | None = None

    @property
    def softmax_scale(self) -> float:
        return self.module.scale if self.scale is None else self.scale


def select_layers(layers: Sequence[ProbedLayer], side: int) -> list[ProbedLayer]:
    """The layers whose height is closest to `side` (all of that size)."""
    if not layers:
        return []
    best = min(abs(layer.size[0] - side) for layer in layers)
    closest = [layer for layer in layers if abs(layer.size[0] - side) == best]
    size = max(layer.size for layer in closest)
    return [layer for layer in closest if layer.size == size]


def token_probabilities(
    q: torch.Tensor, k: torch.Tensor, heads: int, scale: float, columns: torch.Tensor
) -> torch.Tensor:
    """softmax(q·kᵀ·scale) over all keys in fp32, keeping only `columns` [B, C]; mean over heads -> [B, N, C]."""
    batch, queries, inner = q.shape
    q = q.float().view(batch, queries, heads, inner // heads).transpose(1, 2)
    k = k.float().view(batch, k.shape[1], heads, inner // heads).transpose(1, 2)
    probabilities = torch.softmax(torch.matmul(q, k.transpose(-1, -2)) * scale, dim=-1)  # fused backward, unlike logsumexp's
    index = columns.to(q.device)[:, None, None, :].expand(batch, heads, queries, columns.shape[1])
    return probabilities.gather(-1, index).mean(dim=1)


class AttentionProbe:
    """Hooks `to_q`/`to_k` of the given layers; the layer outputs still come from the host's backend."""

    def __init__(self, layers: Sequence[ProbedLayer]):
        self.layers = list(layers)
        self._columns: torch.Tensor | None = None
        self._queries: dict[int, torch.Tensor] = {}
        self._maps: list[torch.Tensor] = []

    def _on_query(self, index: int):
        def hook(_module, _inputs, output):
            self._queries[index] = output

        return hook

    def _on_key(self, index: int):
        def hook(_module, _inputs, output):
            query = self._queries.pop(index, None)
            if query is None or self._columns is None or output.shape[0] != query.shape[0]:
                return
            layer = self.layers[index]
            probs = token_probabilities(query, output, layer.module.heads, layer.softmax_scale, self._columns)
            h, w = layer.size
            self._maps.append(probs.transpose(1, 2).reshape(probs.shape[0], -1, h, w))

        return hook

    @contextlib.contextmanager
    def capture(self, columns: torch.Tensor) -> Iterator["AttentionProbe"]:
        """Record maps of key `columns` [B, C] for every forward pass inside the block."""
        self._columns, self._maps, self._queries = columns, [], {}
        handles = []
        for index, layer in enumerate(self.layers):
            handles.append(layer.module.to_q.register_forward_hook(self._on_query(index)))
            handles.append(layer.module.to_k.register_forward_hook(self._on_key(index)))
        try:
            yield self
        finally:
            for handle in handles:
                handle.remove()
            self._columns, self._queries = None, {}

    def maps(self) -> torch.Tensor:
        """The recorded maps averaged over layers: [B, C, h, w]."""
        if not self._maps:
            raise RuntimeError("The attention probe recorded nothing: no probed layer ran in the captured block.")
        return torch.stack(self._maps).mean(dim=0)


def normalize_map(maps: torch.Tensor) -> torch.Tensor:
    """Norm(·): divide each map by its spatial maximum."""
    peak = maps.flatten(-2).amax(dim=-1)[..., None, None]
    return maps / (peak + NORM_EPS)


def relation_target(p1_map: torch.Tensor, p2_map: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """G = Norm((CA(P1) + CA(P2)) · Mask), detached (Eq. 6-7)."""
    return normalize_map((p1_map + p2_map) * mask).detach()


def cross_attention_loss(r_map: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L_CA = mean((Norm(CA(R)) − G)²) (Eq. 8)."""
    return torch.mean((normalize_map(r_map) - target) ** 2)
