"""Best-response layers of a self-tuning network (``cnn/hypermodels/hyperlinear.py``, ``hyperconv2d.py``).

A layer holds elementary weights ``(W_e, b_e)``, response weights ``(W_h, b_h)`` and the hypernetwork gate
``V = Linear(H -> 2·out, no bias)``:

    y = s · (W_e·x + b_e) + (V·λ̂)[:out] ⊙ (W_h·x) + (V·λ̂)[out:] ⊙ b_h

with ``λ̂`` (B, H) the unconstrained hyperparameters. ``V`` starts at N(0, 0.01²) and ``s`` at 1 (STN);
Delta-STN (``delta=True``) starts ``V`` at zero and has no ``s``. Convolutions gate per output channel.
"""
from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from hpo.errors import StnError
from hpo.validators import positive_int

__all__ = ["StnConv2d", "StnLinear"]


def _check_hnet(layer: str, x: torch.Tensor, hnet_in: torch.Tensor, n_hyper: int) -> None:
    if hnet_in.dim() != 2 or hnet_in.shape[1] != n_hyper or hnet_in.shape[0] not in (1, x.shape[0]):
        raise StnError(f"{layer}: hnet_in must have shape (B, H) = ({x.shape[0]}, {n_hyper}) or (1, {n_hyper}), "
                       f"but got {tuple(hnet_in.shape)}")


def _positive(name: str, value: Any) -> int:
    return positive_int(name, value, StnError)


class _Gate(nn.Module):
    """The shared part: ``V`` and the elementary scalar ``s``."""

    def __init__(self, n_hyper: int, out: int, delta: bool) -> None:
        super().__init__()
        self.n_hyper, self.out, self.delta = _positive("n_hyper", n_hyper), out, bool(delta)
        self.hnet = nn.Linear(self.n_hyper, 2 * out, bias=False)  # V: (2·out, H)
        if self.delta:
            nn.init.zeros_(self.hnet.weight)
            self.register_parameter("elem_scalar", None)
        else:
            nn.init.normal_(self.hnet.weight, std=0.01)
            self.elem_scalar = nn.Parameter(torch.ones(1))

    def scalars(self, hnet_in: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(V·λ̂)[:out]`` and ``(V·λ̂)[out:]``, each (B, out)."""
        z = self.hnet(hnet_in)
        return z[:, :self.out], z[:, self.out:]

    def response_parameters(self) -> list[torch.Tensor]:
        return [self.hnet.weight]


class StnLinear(_Gate):
    """A best-response linear layer: ``forward(x (B, in), hnet_in (B, H)) -> (B, out)``."""

    def __init__(self, in_features: int, out_features: int, n_hyper: int, *, delta: bool = False) -> None:
        super().__init__(n_hyper, _positive("out_features", out_features), delta)
        self.in_features = _positive("in_features", in_features)
        bound = 1.0 / math.sqrt(self.in_features)
        self.elem_weight = nn.Parameter(torch.empty(out_features, in_features).uniform_(-bound, bound))
        self.elem_bias = nn.Parameter(torch.empty(out_features).uniform_(-bound, bound))
        self.hnet_weight = nn.Parameter(torch.empty(out_features, in_features).uniform_(-bound, bound))
        self.hnet_bias = nn.Parameter(torch.empty(out_features).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor, hnet_in: torch.Tensor) -> torch.Tensor:
        if x.dim() != 2 or x.shape[1] != self.in_features:
            raise StnError(f"StnLinear: x must have shape (B, {self.in_features}), but got {tuple(x.shape)}")
        _check_hnet("StnLinear", x, hnet_in, self.n_hyper)
        out = F.linear(x, self.elem_weight, self.elem_bias)
        if self.elem_scalar is not None:
            out = out * self.elem_scalar
        w_scale, b_scale = self.scalars(hnet_in)
        return out + w_scale * F.linear(x, self.hnet_weight) + b_scale * self.hnet_bias

    def response_parameters(self) -> list[torch.Tensor]:
        """The parameters that model the response to the hyperparameters: ``V``, ``W_h``, ``b_h``."""
        return [self.hnet.weight, self.hnet_weight, self.hnet_bias]


class StnConv2d(_Gate):
    """A best-response convolution gated per output channel:
    ``forward(x (B, C_in, H, W), hnet_in (B, H_hyper)) -> (B, C_out, H', W')``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int], n_hyper: int, *,
                 delta: bool = False, **conv_kwargs: Any) -> None:
        super().__init__(n_hyper, _positive("out_channels", out_channels), delta)
        self.in_channels = _positive("in_channels", in_channels)
        allowed = {"stride", "padding", "dilation"}
        if set(conv_kwargs) - allowed:
            raise StnError(f"StnConv2d: unknown option(s) {sorted(set(conv_kwargs) - allowed)}; allowed: "
                           f"{sorted(allowed)}")
        self.conv_kwargs = dict(conv_kwargs)
        elem = nn.Conv2d(in_channels, out_channels, kernel_size, **conv_kwargs)  # PyTorch's initialisation
        resp = nn.Conv2d(in_channels, out_channels, kernel_size, **conv_kwargs)
        self.elem_weight = nn.Parameter(elem.weight.detach().clone())
        self.elem_bias = nn.Parameter(elem.bias.detach().clone())  # type: ignore[union-attr]
        self.hnet_weight = nn.Parameter(resp.weight.detach().clone())
        self.hnet_bias = nn.Parameter(resp.bias.detach().clone())  # type: ignore[union-attr]

    def forward(self, x: torch.Tensor, hnet_in: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise StnError(f"StnConv2d: x must have shape (B, {self.in_channels}, H, W), but got {tuple(x.shape)}")
        _check_hnet("StnConv2d", x, hnet_in, self.n_hyper)
        out = F.conv2d(x, self.elem_weight, self.elem_bias, **self.conv_kwargs)
        if self.elem_scalar is not None:
            out = out * self.elem_scalar
        w_scale, b_scale = self.scalars(hnet_in)  # (B, C_out) each
        resp = F.conv2d(x, self.hnet_weight, None, **self.conv_kwargs)
        return out + w_scale[:, :, None, None] * resp + (b_scale * self.hnet_bias)[:, :, None, None]

    def response_parameters(self) -> list[torch.Tensor]:
        """The parameters that model the response to the hyperparameters: ``V``, ``W_h``, ``b_h``."""
        return [self.hnet.weight, self.hnet_weight, self.hnet_bias]
