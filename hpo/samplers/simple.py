"""Model-free samplers: random, scrambled Sobol and grid.

All three are deterministic functions of (study seed, trial number), so a
seeded study replays the same configurations, also with several workers.
"""

from __future__ import annotations

import itertools
import json
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from scipy.stats import qmc

from hpo.errors import SamplerError, SamplerExhausted
from hpo.samplers.base import Sampler, SamplingContext
from hpo.validators import is_int

if TYPE_CHECKING:
    from hpo.space import SearchSpace

__all__ = ["RandomSampler", "SobolSampler", "GridSampler"]


class RandomSampler(Sampler):
    """Independent uniform (log-uniform for ``log=True``) sampling; with a study prior, the parameters
    that have a density are drawn from it (truncated to their bounds), the others as without."""

    name: ClassVar[str] = "random"
    uses_history: ClassVar[bool] = False
    suggests_in_transaction: ClassVar[bool] = True

    def suggest(self, context: SamplingContext) -> dict[str, Any]:
        if context.prior:
            return context.prior.sample(context.space, context.rng)
        return context.space.sample(context.rng)


class SobolSampler(Sampler):
    """Scrambled Sobol points in the unit cube, decoded into the space.

    Trial ``n`` gets the ``n``-th point of the sequence scrambled with the
    study seed; conditional parameters take the point's coordinates when active. With a study
    prior, the coordinates of the parameters that have a density go through the truncated prior's
    inverse CDF (:meth:`hpo.priors.Prior.transform_unit`), so the design concentrates where the
    prior puts its mass and stays low-discrepancy in the prior's quantiles.
    """

    name: ClassVar[str] = "sobol"
    uses_history: ClassVar[bool] = False
    suggests_in_transaction: ClassVar[bool] = True

    def __init__(self, scramble: bool = True) -> None:
        self.scramble = bool(scramble)
        self._fallback_seed: int | None = None

    def options(self) -> dict[str, Any]:
        return {"scramble": self.scramble}

    def suggest(self, context: SamplingContext) -> dict[str, Any]:
        encoder = context.space.encoder(onehot=False)
        if encoder.dim == 0:  # every parameter is fixed
            return context.space.validate({})
        seed = context.seed
        if seed is None:  # one random scramble per sampler, so the points stay a Sobol sequence
            if self._fallback_seed is None:
                self._fallback_seed = int(np.random.default_rng().integers(2**31))
            seed = self._fallback_seed
        engine = qmc.Sobol(d=encoder.dim, scramble=self.scramble, seed=seed)
        if context.number:
            engine.fast_forward(context.number)
        point = engine.random(1)  # (1, dim)
        if context.prior:
            point = context.prior.transform_unit(encoder, point)
        return encoder.decode(point)[0]


class GridSampler(Sampler):
    """Exhaustive grid, visited in a seeded random order.

    Categorical and Int parameters contribute all their values (Int ranges with
    more than ``resolution`` values, and continuous Floats, contribute
    ``resolution`` evenly spaced values; stepped Floats their grid). Trial ``n``
    gets grid point ``n``; when the grid is used up the sampler raises
    ``SamplerExhausted`` and ``optimize`` stops.
    """

    name: ClassVar[str] = "grid"
    uses_history: ClassVar[bool] = False
    suggests_in_transaction: ClassVar[bool] = True

    def __init__(self, resolution: int = 5, shuffle: bool = True) -> None:
        if not is_int(resolution) or resolution < 2:
            raise SamplerError(f"grid: `resolution >= 2` must hold, but got resolution={resolution!r}")
        self.resolution = resolution
        self.shuffle = bool(shuffle)
        self._grids: dict[str, list[dict[str, Any]]] = {}

    def options(self) -> dict[str, Any]:
        return {"resolution": self.resolution, "shuffle": self.shuffle}

    def _axis(self, param: Any) -> list[Any]:
        from hpo.space import Categorical, Fixed, Float, Int

        if isinstance(param, Fixed):
            return [param.value]
        if isinstance(param, Categorical):
            return list(param.choices)
        if isinstance(param, Int) or (isinstance(param, Float) and param.step is not None):
            count = int(round((param.high - param.low) / param.step)) + 1
            if count <= self.resolution:
                return [param.low + i * param.step for i in range(count)]
            idx = np.unique(np.round(np.linspace(0, count - 1, self.resolution)).astype(int))
            return [param.low + int(i) * param.step for i in idx]
        if param.log:
            return [float(v) for v in np.geomspace(param.low, param.high, self.resolution)]
        return [float(v) for v in np.linspace(param.low, param.high, self.resolution)]

    def grid(self, space: SearchSpace, seed: int | None) -> list[dict[str, Any]]:
        key = json.dumps(space.to_dict(), sort_keys=True) + f"|{seed}"
        if key not in self._grids:
            names = list(space.names)
            axes = [self._axis(space[n]) for n in names]
            seen: set[str] = set()
            points: list[dict[str, Any]] = []
            for combo in itertools.product(*axes):
                full = dict(zip(names, combo))
                active = {n: full[n] for n in space.active_names(full)}
                config = space.validate(active)
                fingerprint = repr(sorted(config.items(), key=lambda kv: kv[0]))
                if fingerprint not in seen:
                    seen.add(fingerprint)
                    points.append(config)
            if self.shuffle:
                order = np.random.default_rng(seed if seed is not None else 0).permutation(len(points))
                points = [points[i] for i in order]
            self._grids[key] = points
        return self._grids[key]

    def suggest(self, context: SamplingContext) -> dict[str, Any]:
        points = self.grid(context.space, context.seed)
        if context.number >= len(points):
            raise SamplerExhausted(f"grid: all {len(points)} grid points have been suggested")
        return dict(points[context.number])
