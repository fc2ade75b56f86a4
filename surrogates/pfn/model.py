"""The PFN: a transformer over context points ``(x, y)`` and query points ``x``.

Tokens: a context point is ``enc_x(x) + enc_y(y)``, a query point ``enc_x(x)``.
Each layer is a pre-norm transformer block in which *every* token attends to the
context tokens only (keys and values come from the context), so context points
see each other and queries see the context but never each other or themselves:
predictions for one query do not depend on the other queries, and any number of
queries can be scored in one forward pass. The output head maps each query
token to the ``K`` logits of a :class:`~hpo.surrogates.pfn.bar_distribution.BarDistribution`.

Inputs have up to ``max_dim`` features; a data set with ``d < max_dim`` is
zero-padded, and the used features are scaled by ``max_dim / d`` (as PFNs do),
so the input encoder sees inputs of about the same magnitude for every ``d``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from hpo.errors import ValidationError
from hpo.surrogates.pfn.bar_distribution import BarDistribution

__all__ = ["ModelConfig", "PFN"]


@dataclass
class ModelConfig:
    """Transformer sizes."""

    max_dim: int = 8
    d_model: int = 256
    n_heads: int = 4
    n_layers: int = 6
    d_ff: int = 1024
    n_buckets: int = 1000
    dropout: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Block(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        if cfg.d_model % cfg.n_heads:
            raise ValidationError(f"pfn: d_model ({cfg.d_model}) must be divisible by n_heads ({cfg.n_heads})")
        self.h = cfg.n_heads
        self.norm1 = nn.LayerNorm(cfg.d_model)
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.out = nn.Linear(cfg.d_model, cfg.d_model)
        self.norm2 = nn.LayerNorm(cfg.d_model)
        self.ff = nn.Sequential(nn.Linear(cfg.d_model, cfg.d_ff), nn.GELU(), nn.Linear(cfg.d_ff, cfg.d_model))
        self.dropout = cfg.dropout

    def _heads(self, t: Tensor) -> Tensor:
        B, T, E = t.shape
        return t.reshape(B, T, self.h, E // self.h).transpose(1, 2)

    def _attend(self, h: Tensor, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        B, T, E = h.shape
        drop = self.dropout if self.training else 0.0
        a = F.scaled_dot_product_attention(self._heads(q), k, v, dropout_p=drop)  # B x H x T x E/H
        h = h + self.out(a.transpose(1, 2).reshape(B, T, E))
        return h + self.ff(self.norm2(h))

    def forward(self, h: Tensor, n_ctx: int) -> Tensor:
        """``h``: ``B x T x E`` with the context first (``T = n_ctx + n_query``)."""
        E = h.shape[-1]
        q, k, v = self.qkv(self.norm1(h)).split(E, dim=-1)
        return self._attend(h, q, self._heads(k[:, :n_ctx]), self._heads(v[:, :n_ctx]))

    def context(self, h: Tensor) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """Context tokens only: (their next hidden states, this layer's keys and values ``B x H x n x E/H``)."""
        E = h.shape[-1]
        q, k, v = self.qkv(self.norm1(h)).split(E, dim=-1)
        kv = (self._heads(k), self._heads(v))
        return self._attend(h, q, *kv), kv

    def query(self, h: Tensor, kv: tuple[Tensor, Tensor]) -> Tensor:
        """Query tokens against cached context keys and values."""
        E = h.shape[-1]
        q = F.linear(self.norm1(h), self.qkv.weight[:E], self.qkv.bias[:E])  # queries need no keys or values
        return self._attend(h, q, *kv)


class PFN(nn.Module):
    """Prior-data fitted network with a bar-distribution head.

    Args:
        cfg: sizes.
        borders: ``n_buckets + 1`` bucket borders (from prior samples).
    """

    def __init__(self, cfg: ModelConfig, borders: Tensor) -> None:
        super().__init__()
        if borders.numel() != cfg.n_buckets + 1:
            raise ValidationError(f"pfn: expected {cfg.n_buckets + 1} borders for {cfg.n_buckets} buckets, "
                                  f"but got {borders.numel()}")
        self.cfg = cfg
        self.enc_x = nn.Linear(cfg.max_dim, cfg.d_model)
        self.enc_y = nn.Sequential(nn.Linear(1, cfg.d_model), nn.GELU(), nn.Linear(cfg.d_model, cfg.d_model))
        self.blocks = nn.ModuleList(_Block(cfg) for _ in range(cfg.n_layers))
        self.norm = nn.LayerNorm(cfg.d_model)
        self.head = nn.Sequential(nn.Linear(cfg.d_model, cfg.d_ff), nn.GELU(), nn.Linear(cfg.d_ff, cfg.n_buckets))
        self.bar = BarDistribution(borders)

    def _features(self, x: Tensor, dims: Tensor | int) -> Tensor:
        D = self.cfg.max_dim
        d = x.shape[-1]
        if d > D:
            raise ValidationError(f"pfn: inputs have {d} dimensions, but the model was trained for at most {D}")
        if d < D:
            x = F.pad(x, (0, D - d))
        if isinstance(dims, int):
            scale = torch.full(x.shape[:1], D / dims, dtype=x.dtype, device=x.device)
        else:
            scale = D / dims.to(x.dtype)
        return x * scale.reshape(-1, *([1] * (x.ndim - 1)))

    def forward(self, x_ctx: Tensor, y_ctx: Tensor, x_qry: Tensor, dims: Tensor | int | None = None) -> Tensor:
        """Logits of the predictive distributions at the queries.

        Args:
            x_ctx: ``B x n x d`` context inputs in the unit cube (``d <= max_dim``).
            y_ctx: ``B x n`` standardised context targets.
            x_qry: ``B x m x d`` query inputs.
            dims: number of used features per data set (``B`` tensor or int;
                default: ``d``).

        Returns:
            ``B x m x n_buckets`` logits.
        """
        if x_ctx.ndim != 3 or y_ctx.shape != x_ctx.shape[:2] or x_qry.ndim != 3 or x_qry.shape[0] != x_ctx.shape[0] \
                or x_qry.shape[-1] != x_ctx.shape[-1]:
            raise ValidationError(f"pfn: expected x_ctx B x n x d, y_ctx B x n, x_qry B x m x d, but got shapes "
                                  f"{tuple(x_ctx.shape)}, {tuple(y_ctx.shape)}, {tuple(x_qry.shape)}")
        n = x_ctx.shape[1]
        if dims is None:
            dims = x_ctx.shape[-1]
        fx = self._features(torch.cat([x_ctx, x_qry], 1), dims)
        h = self.enc_x(fx)
        h = torch.cat([h[:, :n] + self.enc_y(y_ctx.unsqueeze(-1).to(h.dtype)), h[:, n:]], 1)
        for block in self.blocks:
            h = block(h, n)
        return self.head(self.norm(h[:, n:]))

    def encode_context(self, x_ctx: Tensor, y_ctx: Tensor, dims: Tensor | int | None = None) -> list[tuple[Tensor, Tensor]]:
        """Per-layer keys and values of the context (``x_ctx``: ``B x n x d``, ``y_ctx``: ``B x n``).

        The context does not depend on the queries, so this cache scores any
        number of query batches with :meth:`predict` at the cost of the queries alone.
        """
        dims = x_ctx.shape[-1] if dims is None else dims
        h = self.enc_x(self._features(x_ctx, dims)) + self.enc_y(y_ctx.unsqueeze(-1).to(x_ctx.dtype))
        cache = []
        for block in self.blocks:
            h, kv = block.context(h)
            cache.append(kv)
        return cache

    def predict(self, cache: list[tuple[Tensor, Tensor]], x_qry: Tensor, dims: Tensor | int | None = None) -> Tensor:
        """Logits ``B x m x n_buckets`` at queries ``x_qry`` (``B x m x d``) given an :meth:`encode_context` cache."""
        dims = x_qry.shape[-1] if dims is None else dims
        h = self.enc_x(self._features(x_qry, dims))
        for block, kv in zip(self.blocks, cache):
            h = block.query(h, kv)
        return self.head(self.norm(h))

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
