"""Self-tuning MLP and CNN, and the regularisers their hyperparameters drive.

Hyperparameter names with a meaning (anything else must be declared in ``user_hyperparameters``, the
names your own code reads from the batch with ``batch.get(name)``):

- ``dropout_<i>``: dropout after hidden layer ``i`` (0-based; in a CNN the convolutions come first, then
  the fully connected hidden layers), with per-example rates;
- ``input_dropout``: dropout on the input;
- ``noise``: Gaussian input noise, its standard deviation;
- ``scale``: random input scaling ``x · (1 + a·u)``, ``u ~ U(-1, 1)``, with amplitude ``a``;
- ``cutout``: cutout-like masking of a random square (CNN) or window of features (MLP): a length in
  pixels / features for an ``hpo.Int``, a fraction of the side / of the features for an ``hpo.Float``;
- ``label_smoothing``: the training targets' smoothing (read by the trainer's cross-entropy).

Every regulariser acts only with ``train=True``; at validation (``train=False``) the network is
deterministic, so the validation loss depends on the hyperparameters only through the hypernetwork.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from hpo.errors import StnError
from hpo.stn.hyper import HyperBatch, StnHyperparameters
from hpo.stn.layers import StnConv2d, StnLinear
from hpo.validators import positive_int

__all__ = ["StnCNN", "StnMLP", "StnModel", "cutout", "dropout"]

_MAX_RATE = 0.99  # a dropout rate is clamped below 1 (the 1/(1-p) rescaling)
_INPUT_NAMES = ("input_dropout", "noise", "scale", "cutout")


def _uniform(shape: tuple[int, ...], like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    return torch.rand(shape, generator=generator, device=like.device, dtype=like.dtype)


def dropout(x: torch.Tensor, rate: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Inverted dropout with a rate per example: ``x`` (B, ...), ``rate`` (B,) in [0, 1)."""
    p = rate.detach().clamp(0.0, _MAX_RATE).reshape(-1, *([1] * (x.dim() - 1)))
    keep = (_uniform(tuple(x.shape), x, generator) >= p).to(x.dtype)
    return x * keep / (1.0 - p)


def cutout(x: torch.Tensor, length: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Zero a random square of side ``length`` (B,) pixels in images (B, C, H, W), or a random window of
    ``length`` features in vectors (B, D); centres uniform, holes clipped at the borders."""
    n = x.shape[0]
    size = length.detach().round().clamp(min=0).reshape(n, 1)
    dims = x.shape[2:] if x.dim() == 4 else x.shape[1:]
    inside = torch.ones(n, *dims, dtype=torch.bool, device=x.device)
    for axis, extent in enumerate(dims):
        centre = torch.floor(_uniform((n, 1), x, generator) * extent)
        start = centre - torch.floor(size / 2)
        pos = torch.arange(extent, device=x.device, dtype=x.dtype).reshape(1, extent)
        hit = (pos >= start) & (pos < start + size)  # (B, extent)
        shape = [n] + [extent if a == axis else 1 for a in range(len(dims))]
        inside = inside & hit.reshape(shape)
    mask = (~inside).to(x.dtype)
    return x * (mask.unsqueeze(1) if x.dim() == 4 else mask)


class StnModel(nn.Module):
    """The shared part of the STN models: the hyperparameter check, input regularisers, dropout.

    Args:
        hyper: the tuned hyperparameters (a submodule of the model, so ``model.parameters()`` includes
            them; the trainer separates them).
        delta: Delta-STN layers and the centred hypernetwork input ``h̃ - sg(h)``.
        user_hyperparameters: names your own code reads (``batch.get(name)``); they are not applied here.
    """

    def __init__(self, hyper: StnHyperparameters, n_dropout: int, *, delta: bool,
                 user_hyperparameters: Sequence[str] = ()) -> None:
        super().__init__()
        if not isinstance(hyper, StnHyperparameters):
            raise StnError(f"hyper must be an hpo.stn.StnHyperparameters, but got {type(hyper).__name__}")
        self.hyper, self.delta = hyper, bool(delta)
        self.user_hyperparameters = tuple(str(n) for n in user_hyperparameters)
        known = {f"dropout_{i}" for i in range(n_dropout)} | set(_INPUT_NAMES) | {"label_smoothing"}
        for name in hyper.names:
            if name not in known and name not in self.user_hyperparameters:
                raise StnError(f"hyperparameter {name!r} is not used by the model (it uses dropout_0 .. "
                               f"dropout_{n_dropout - 1}, {', '.join(_INPUT_NAMES)}, label_smoothing); declare "
                               "names your own code reads in user_hyperparameters")
        self.n_dropout = n_dropout
        self.generator: torch.Generator | None = None  # set by the trainer, for reproducible masks

    def hnet_input(self, batch: HyperBatch, n: int) -> torch.Tensor:
        """What the layers' gates read, (n, H): ``h̃`` (STN) or ``h̃ - sg(h)`` (Delta-STN)."""
        z = batch.unconstrained
        if self.delta:
            z = z - self.hyper.h.detach()
        if z.shape[0] not in (1, n):
            raise StnError(f"the hyperparameter batch has {z.shape[0]} rows, but the input has {n}")
        return z.expand(n, -1)

    def _values(self, batch: HyperBatch, name: str, n: int) -> torch.Tensor | None:
        return batch.get(name).expand(n) if name in batch else None

    def augment(self, x: torch.Tensor, batch: HyperBatch) -> torch.Tensor:
        """Apply the input regularisers (training only): input dropout, noise, scaling, cutout."""
        n, gen = x.shape[0], self.generator
        shape = (n,) + (1,) * (x.dim() - 1)
        if (v := self._values(batch, "scale", n)) is not None:
            u = 2 * _uniform((n,), x, gen) - 1
            x = x * (1 + v.detach() * u).reshape(shape)
        if (v := self._values(batch, "noise", n)) is not None:
            eps = torch.randn(tuple(x.shape), generator=gen, device=x.device, dtype=x.dtype)
            x = x + v.detach().reshape(shape) * eps
        if (v := self._values(batch, "cutout", n)) is not None:
            dims = x.shape[2:] if x.dim() == 4 else x.shape[1:]
            length = v if self._integer("cutout") else v * min(dims)
            x = cutout(x, length, gen)
        if (v := self._values(batch, "input_dropout", n)) is not None:
            x = dropout(x, v, gen)
        return x

    def _integer(self, name: str) -> bool:
        return self.hyper._reps[self.hyper.names.index(name)].discrete

    def _drop(self, x: torch.Tensor, batch: HyperBatch, i: int, train: bool) -> torch.Tensor:
        if train and (v := self._values(batch, f"dropout_{i}", x.shape[0])) is not None:
            return dropout(x, v, self.generator)
        return x

    def label_smoothing(self, batch: HyperBatch, n: int) -> torch.Tensor | None:
        """The per-example label smoothing (n,), or None when it is not tuned."""
        return self._values(batch, "label_smoothing", n)


class StnMLP(StnModel):
    """A ReLU MLP of best-response layers: ``forward(x (B, in), batch, train=...) -> (B, out)``.

    Args:
        in_features: the input width.
        hidden: the hidden widths; ``dropout_<i>`` acts after hidden layer ``i``.
        out_features: the output width (classes, or 1 for regression).
        hyper: the tuned hyperparameters.
        delta: Delta-STN (zero-initialised gates, centred hypernetwork input).
        user_hyperparameters: names your own code reads.
    """

    def __init__(self, in_features: int, hidden: Sequence[int], out_features: int, hyper: StnHyperparameters, *,
                 delta: bool = False, user_hyperparameters: Sequence[str] = ()) -> None:
        widths = [positive_int("in_features", in_features, StnError)]
        widths += [positive_int(f"hidden[{i}]", w, StnError) for i, w in enumerate(hidden)]
        widths.append(positive_int("out_features", out_features, StnError))
        super().__init__(hyper, len(widths) - 2, delta=delta, user_hyperparameters=user_hyperparameters)
        self.layers = nn.ModuleList(StnLinear(a, b, hyper.n, delta=delta) for a, b in zip(widths, widths[1:]))

    def forward(self, x: torch.Tensor, batch: HyperBatch, *, train: bool) -> torch.Tensor:
        x = x.reshape(x.shape[0], -1)
        if train:
            x = self.augment(x, batch)
        z = self.hnet_input(batch, x.shape[0])
        for i, layer in enumerate(self.layers):
            x = layer(x, z)
            if i < len(self.layers) - 1:
                x = self._drop(F.relu(x), batch, i, train)
        return x


class StnCNN(StnModel):
    """A CNN of best-response layers: 3x3 convolutions (ReLU, 2x2 max-pooling), then fully connected
    hidden layers: ``forward(x (B, C, H, W) or (B, C·H·W), batch, train=...) -> (B, out)``.

    Args:
        in_channels: input channels.
        image_size: ``H`` (square) or ``(H, W)``.
        channels: output channels of each convolution; ``dropout_<i>`` for ``i < len(channels)`` acts
            after convolution ``i``.
        hidden: widths of the fully connected hidden layers (an int for one); their dropouts are
            ``dropout_<len(channels) + j>``.
        out_features: the number of classes.
        hyper: the tuned hyperparameters.
        delta: Delta-STN.
        user_hyperparameters: names your own code reads.
    """

    def __init__(self, in_channels: int, image_size: int | tuple[int, int], channels: Sequence[int],
                 hidden: int | Sequence[int], out_features: int, hyper: StnHyperparameters, *, delta: bool = False,
                 user_hyperparameters: Sequence[str] = ()) -> None:
        size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
        if len(size) != 2:
            raise StnError(f"image_size must be an int or (H, W), but got {image_size!r:.60}")
        self.image_size = (positive_int("image_size[0]", size[0], StnError),
                           positive_int("image_size[1]", size[1], StnError))
        self.in_channels = positive_int("in_channels", in_channels, StnError)
        chans = [positive_int(f"channels[{i}]", c, StnError) for i, c in enumerate(channels)]
        fcs = [hidden] if isinstance(hidden, int) else list(hidden)
        fcs = [positive_int(f"hidden[{i}]", w, StnError) for i, w in enumerate(fcs)]
        super().__init__(hyper, len(chans) + len(fcs), delta=delta, user_hyperparameters=user_hyperparameters)
        self.convs = nn.ModuleList(StnConv2d(a, b, 3, hyper.n, delta=delta, padding=1)
                                   for a, b in zip([self.in_channels] + chans, chans))
        h, w = self.image_size
        for _ in chans:
            h, w = max(h // 2, 1), max(w // 2, 1)
        widths = [(chans[-1] if chans else self.in_channels) * h * w] + fcs
        widths.append(positive_int("out_features", out_features, StnError))
        self.fcs = nn.ModuleList(StnLinear(a, b, hyper.n, delta=delta) for a, b in zip(widths, widths[1:]))

    def forward(self, x: torch.Tensor, batch: HyperBatch, *, train: bool) -> torch.Tensor:
        x = x.reshape(x.shape[0], self.in_channels, *self.image_size)
        if train:
            x = self.augment(x, batch)
        z = self.hnet_input(batch, x.shape[0])
        for i, conv in enumerate(self.convs):
            x = F.relu(conv(x, z))
            if min(x.shape[2:]) >= 2:
                x = F.max_pool2d(x, 2)
            x = self._drop(x, batch, i, train)
        x = x.reshape(x.shape[0], -1)
        for j, fc in enumerate(self.fcs):
            x = fc(x, z)
            if j < len(self.fcs) - 1:
                x = self._drop(F.relu(x), batch, len(self.convs) + j, train)
        return x
