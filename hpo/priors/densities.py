"""Per-parameter priors: what the user believes about where the good values are.

A :class:`Prior` maps parameter names to densities: :class:`LogNormal` (``center``, ``sigma`` in ln
units), :class:`Normal` (``mean``, ``sd``), :class:`Uniform` (no preference, optionally a sub-range)
and :class:`Density` (a user ``logpdf`` callable; not storable as JSON). Densities are on the
parameter's *value* scale (``log_density(values)``, ``sample(rng, n)``); a study uses them in the
parameter's unit coordinate ``u`` (``param.encode``/``decode``), truncated to the parameter's bounds:

* Float, linear: ``x = low + u (high - low)``; log (Float or Int): ``ln x = ln low + u ln(high/low)``;
* Int (linear) and stepped Float: ``x = low - step/2 + u n step`` (``n`` grid values), so grid value
  ``i`` gets the prior's mass on ``[x_i - step/2, x_i + step/2]``.

Where a prior acts (:mod:`hpo.samplers`): the initial design of the model-based samplers and the
Sobol and random samplers draw their unit coordinates through the truncated prior's inverse CDF
(:meth:`Prior.transform_unit`); BO weights its acquisition by the prior (πBO, see
:mod:`hpo.priors.torch_prior`). Parameters without a density keep the uniform unit coordinate.

Categorical and Fixed parameters take no density (refused with :class:`~hpo.errors.PriorError`): a
choice has no order a density could describe. Validation (:meth:`Prior.validate`) runs before a study
is written: unknown names, Categorical/Fixed parameters and a prior with (numerically) no mass inside
the parameter's bounds are errors naming the parameter, its bounds and the prior.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import json
import math
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from hpo.errors import PriorError, short_repr
from hpo.validators import is_number

if TYPE_CHECKING:
    from hpo.encoding import SpaceEncoder
    from hpo.space import SearchSpace

__all__ = ["LogNormal", "Normal", "Uniform", "Density", "Prior", "as_prior", "MIN_MASS", "LOG_FLOOR"]

#: A prior whose mass inside a parameter's bounds is below this has (numerically) no support there.
MIN_MASS = 1e-9
#: Floor of a parameter's log density in its unit coordinate (the uniform density is 0): keeps logs finite.
LOG_FLOOR = math.log(1e-3)
_GRID = 4097  # unit-coordinate grid of densities without a CDF (user densities) and of the torch module
_LOG_2PI = math.log(2 * math.pi)


def _number(owner: str, field: str, value: Any, positive: bool = False) -> float:
    ok = is_number(value) and math.isfinite(float(value)) and (not positive or float(value) > 0)
    if not ok:
        need = "a positive, finite number" if positive else "a finite number"
        raise PriorError(f"{owner}: {field} must be {need}, but got {short_repr(value)}")
    return float(value)


class _Scalar(ABC):
    """Shared part of the densities with a closed-form CDF (:class:`LogNormal`, :class:`Normal`)."""

    kind: ClassVar[str]

    @abstractmethod
    def _z(self, x: np.ndarray) -> np.ndarray:
        """The standardised coordinate of values ``x`` (same shape)."""

    @abstractmethod
    def _from_z(self, z: np.ndarray) -> np.ndarray:
        """The inverse of :meth:`_z`."""

    @abstractmethod
    def log_density(self, values: Any) -> np.ndarray:
        """Log density at ``values`` (value scale), shape of ``values``; ``-inf`` outside the support."""

    def cdf(self, values: Any) -> np.ndarray:
        from scipy.special import ndtr

        return ndtr(self._z(np.asarray(values, dtype=float)))

    def sf(self, values: Any) -> np.ndarray:
        from scipy.special import ndtr

        return ndtr(-self._z(np.asarray(values, dtype=float)))

    def ppf(self, p: Any) -> np.ndarray:
        from scipy.special import ndtri

        return self._from_z(ndtri(np.asarray(p, dtype=float)))

    def isf(self, q: Any) -> np.ndarray:
        from scipy.special import ndtri

        return self._from_z(-ndtri(np.asarray(q, dtype=float)))

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` draws (untruncated), shape ``(n,)``."""
        return self._from_z(np.random.default_rng(rng).standard_normal(int(n)))

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.to_dict() == self.to_dict()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(repr(self))


class LogNormal(_Scalar):
    """ln(value) ~ Normal(ln(center), sigma): ``center`` is the median, ``sigma`` in ln units.

    A prediction with a 95% interval ``[low, high]`` gives ``sigma = ln(high/low) / (2 * 1.96)``;
    :meth:`around` floors it at ``min_sigma`` (default 0.25: on the released Step Law runs the best
    learning rate of a cell sits about 0.22 in ln from the law, the fitted interval is much narrower).
    """

    kind: ClassVar[str] = "lognormal"

    def __init__(self, center: float, sigma: float) -> None:
        self.center = _number("LogNormal", "center", center, positive=True)
        self.sigma = _number("LogNormal", "sigma", sigma, positive=True)
        self._mu = math.log(self.center)

    @classmethod
    def around(cls, value: float, low: float | None = None, high: float | None = None,
               sigma: float | None = None, min_sigma: float = 0.25) -> LogNormal:
        """A log-normal centred on ``value``: ``sigma`` if given, else from the 95% interval ``[low, high]``
        (floored at ``min_sigma``), else 0.3."""
        value = _number("LogNormal.around", "value", value, positive=True)
        if sigma is not None:
            return cls(value, sigma)
        if low is None or high is None:
            return cls(value, max(0.3, min_sigma))
        lo = _number("LogNormal.around", "low", low, positive=True)
        hi = _number("LogNormal.around", "high", high, positive=True)
        if not lo <= value <= hi or lo == hi:
            raise PriorError(f"LogNormal.around: `low <= value <= high` and `low < high` must hold, but got "
                             f"low={low!r}, value={value!r}, high={high!r}")
        return cls(value, max(math.log(hi / lo) / (2 * 1.959964), min_sigma))

    @classmethod
    def from_prediction(cls, pred: Any, spread: float = 1.0, min_sigma: float = 0.25) -> LogNormal:
        """From anything with ``value``, ``low`` and ``high`` (a LawPrediction's entry): ``sigma`` is
        ``spread`` times the interval's, floored at ``min_sigma``."""
        value, low, high = _prediction(pred, "LogNormal")
        spread = _number("LogNormal.from_prediction", "spread", spread, positive=True)
        if low is None or high is None:
            return cls.around(value, min_sigma=min_sigma)
        base = cls.around(value, low, high, min_sigma=0.0)
        return cls(value, max(base.sigma * spread, min_sigma))

    def _z(self, x: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(x > 0, (np.log(np.where(x > 0, x, 1.0)) - self._mu) / self.sigma, -np.inf)

    def _from_z(self, z: np.ndarray) -> np.ndarray:
        return np.exp(self._mu + self.sigma * z)

    def log_density(self, values: Any) -> np.ndarray:
        x = np.asarray(values, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            lx = np.log(np.where(x > 0, x, 1.0))
            out = -0.5 * ((lx - self._mu) / self.sigma) ** 2 - lx - math.log(self.sigma) - 0.5 * _LOG_2PI
        return np.where(x > 0, out, -np.inf)

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.kind, "center": self.center, "sigma": self.sigma}

    def __repr__(self) -> str:
        return f"LogNormal(center={self.center!r}, sigma={self.sigma!r})"


class Normal(_Scalar):
    """value ~ Normal(mean, sd) (on the value scale, also for a log-scaled parameter)."""

    kind: ClassVar[str] = "normal"

    def __init__(self, mean: float, sd: float) -> None:
        self.mean = _number("Normal", "mean", mean)
        self.sd = _number("Normal", "sd", sd, positive=True)

    @classmethod
    def from_prediction(cls, pred: Any, spread: float = 1.0) -> Normal:
        """From anything with ``value``, ``low`` and ``high``: ``sd = spread * (high - low) / (2 * 1.96)``."""
        value, low, high = _prediction(pred, "Normal")
        spread = _number("Normal.from_prediction", "spread", spread, positive=True)
        if low is None or high is None or not low < high:
            raise PriorError(f"Normal.from_prediction: needs an interval with low < high, but got "
                             f"low={low!r}, high={high!r}")
        return cls(value, spread * (high - low) / (2 * 1.959964))

    def _z(self, x: np.ndarray) -> np.ndarray:
        return (x - self.mean) / self.sd

    def _from_z(self, z: np.ndarray) -> np.ndarray:
        return self.mean + self.sd * z

    def log_density(self, values: Any) -> np.ndarray:
        z = self._z(np.asarray(values, dtype=float))
        return -0.5 * z**2 - math.log(self.sd) - 0.5 * _LOG_2PI

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.kind, "mean": self.mean, "sd": self.sd}

    def __repr__(self) -> str:
        return f"Normal(mean={self.mean!r}, sd={self.sd!r})"


class Uniform:
    """No preference: uniform in the parameter's own unit coordinate (log-uniform for a log parameter),
    optionally restricted to ``[low, high]`` (value scale). ``log_density`` is 0 inside, ``-inf`` outside
    (relative to the parameter's own scale)."""

    kind: ClassVar[str] = "uniform"

    def __init__(self, low: float | None = None, high: float | None = None) -> None:
        self.low = None if low is None else _number("Uniform", "low", low)
        self.high = None if high is None else _number("Uniform", "high", high)
        if self.low is not None and self.high is not None and not self.low < self.high:
            raise PriorError(f"Uniform: `low < high` must hold, but got low={low!r}, high={high!r}")

    def log_density(self, values: Any) -> np.ndarray:
        x = np.asarray(values, dtype=float)
        inside = np.ones(x.shape, dtype=bool)
        if self.low is not None:
            inside &= x >= self.low
        if self.high is not None:
            inside &= x <= self.high
        return np.where(inside, 0.0, -np.inf)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` uniform draws on ``[low, high]`` (needs both bounds; a study samples in unit coordinates)."""
        if self.low is None or self.high is None:
            raise PriorError("Uniform.sample: needs low and high (in a study it is uniform in the parameter's bounds)")
        return np.random.default_rng(rng).uniform(self.low, self.high, int(n))

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.kind, "low": self.low, "high": self.high}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Uniform) and other.to_dict() == self.to_dict()

    def __hash__(self) -> int:
        return hash(repr(self))

    def __repr__(self) -> str:
        return f"Uniform(low={self.low!r}, high={self.high!r})"


class Density:
    """A user density: ``logpdf(values: ndarray) -> ndarray`` on the value scale (unnormalised is fine).

    Not storable as JSON: the study records ``{"type": "density", "name": ...}`` and
    :func:`hpo.load_study` must be given the prior again (``prior=...``).
    """

    kind: ClassVar[str] = "density"

    def __init__(self, logpdf: Callable[[np.ndarray], Any], name: str | None = None) -> None:
        if not callable(logpdf):
            raise PriorError(f"Density: logpdf must be callable, but got {short_repr(logpdf)}")
        self.logpdf = logpdf
        self.name = name or getattr(logpdf, "__qualname__", type(logpdf).__name__)

    def log_density(self, values: Any) -> np.ndarray:
        x = np.asarray(values, dtype=float)
        try:
            out = np.asarray(self.logpdf(x), dtype=float)
        except Exception as exc:  # the user's function: report it as a prior error
            raise PriorError(f"Density {self.name!r}: logpdf failed on an array of shape {x.shape}: "
                             f"{type(exc).__name__}: {str(exc)[:200]}") from None
        if out.shape != x.shape:
            raise PriorError(f"Density {self.name!r}: logpdf must return the shape of its input {x.shape}, "
                             f"but returned shape {out.shape}")
        return np.where(np.isnan(out), -np.inf, out)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        raise PriorError(f"Density {self.name!r}: sampling needs bounds; a study samples it in a parameter's bounds")

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.kind, "name": self.name}

    def __repr__(self) -> str:
        return f"Density({self.name})"


_KINDS: dict[str, Any] = {"lognormal": LogNormal, "normal": Normal, "uniform": Uniform}


def density_from_dict(data: Any, field: str = "prior") -> Any:
    """A density from its ``to_dict`` form (a user density cannot be rebuilt: :class:`PriorError`)."""
    if isinstance(data, (LogNormal, Normal, Uniform, Density)):
        return data
    if not isinstance(data, Mapping) or "type" not in data:
        raise PriorError(f"{field}: expected a density (hpo.priors.LogNormal, Normal, Uniform, Density) or its "
                         f"dict form {{'type': 'lognormal', 'center': ..., 'sigma': ...}}, but got {short_repr(data)}")
    kind = data["type"]
    if kind == "density":
        raise PriorError(f"{field}: the user density {data.get('name')!r} is not stored as JSON; pass the prior "
                         "again (load_study(..., prior=...))")
    if kind not in _KINDS:
        raise PriorError(f"{field}: unknown density type {short_repr(kind)}; valid: {sorted(_KINDS)}")
    args = {k: v for k, v in data.items() if k != "type"}
    try:
        return _KINDS[kind](**args)
    except TypeError as exc:
        raise PriorError(f"{field}: bad arguments for {kind!r}: {exc}") from None


def _prediction(pred: Any, owner: str) -> tuple[float, float | None, float | None]:
    if not hasattr(pred, "value"):
        raise PriorError(f"{owner}.from_prediction: expected an object with `value`, `low` and `high` (e.g. a "
                         f"LawPrediction's lr or batch entry), but got {short_repr(pred)}")
    low, high = getattr(pred, "low", None), getattr(pred, "high", None)
    return float(pred.value), None if low is None else float(low), None if high is None else float(high)


# -- the unit coordinate -------------------------------------------------------------------------------
class _Axis:
    """The value of unit coordinate ``u`` of a Float/Int: ``a + u w`` (linear) or ``exp(a + u w)`` (log)."""

    def __init__(self, param: Any) -> None:
        self.log = bool(param.log)
        if self.log:
            self.a, self.w = math.log(param.low), math.log(param.high) - math.log(param.low)
        elif param.grid_size is not None:
            self.a, self.w = param.low - param.step / 2, param.grid_size * param.step
        else:
            self.a, self.w = float(param.low), float(param.high - param.low)

    def value(self, u: np.ndarray) -> np.ndarray:
        return np.exp(self.a + u * self.w) if self.log else self.a + u * self.w

    def unit(self, x: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.log(np.maximum(x, 1e-300)) if self.log else x
        return np.clip((t - self.a) / self.w, 0.0, 1.0)

    def log_jacobian(self, u: np.ndarray) -> np.ndarray:  # ln |dx/du|
        return math.log(self.w) + (self.a + u * self.w if self.log else 0.0 * u)


class _Column:
    """One parameter's prior in its unit coordinate, truncated to [0, 1]."""

    def __init__(self, name: str, param: Any, density: Any) -> None:
        self.name, self.param, self.density, self.axis = name, param, density, _Axis(param)
        self._grid_cdf: np.ndarray | None = None
        shown = f"prior[{name!r}]={density!r} for {type(param).__name__}(low={param.low!r}, high={param.high!r})"
        if isinstance(density, Uniform):
            lo = 0.0 if density.low is None else float(self.axis.unit(np.array(density.low)))
            hi = 1.0 if density.high is None else float(self.axis.unit(np.array(density.high)))
            self.mass, self.u_range = hi - lo, (lo, hi)
        elif isinstance(density, _Scalar):
            x0, x1 = self.axis.value(np.array(0.0)), self.axis.value(np.array(1.0))
            self.f0, self.s0 = float(density.cdf(x0)), float(density.sf(x0))
            self.mass = self.s0 - float(density.sf(x1)) if self.f0 > 0.5 else float(density.cdf(x1)) - self.f0
        else:  # a user density: normalised on a grid
            u = np.linspace(0.0, 1.0, _GRID)
            lp = density.log_density(self.axis.value(u)) + self.axis.log_jacobian(u)
            top = np.max(lp) if np.any(np.isfinite(lp)) else -np.inf
            if not np.isfinite(top):
                self.mass = 0.0
            else:
                p = np.exp(lp - top)
                cdf = np.concatenate([[0.0], np.cumsum((p[1:] + p[:-1]) / 2) / (_GRID - 1)])
                self.mass = float(cdf[-1])
                self._log_norm = top + math.log(self.mass)
                self._grid_cdf = cdf / cdf[-1] + np.linspace(0.0, 1e-12, _GRID)  # strictly increasing
        if not self.mass > MIN_MASS:
            raise PriorError(f"{shown}: the prior has (numerically) no mass inside the parameter's bounds "
                             f"(mass {self.mass:.3g} < {MIN_MASS:g}); centre it inside the bounds or widen it")
        self._log_mass = math.log(self.mass)

    def transform(self, s: np.ndarray) -> np.ndarray:
        """Uniform ``s`` in [0, 1] -> unit coordinates distributed as the truncated prior (inverse CDF)."""
        s = np.clip(s, 0.0, 1.0)
        d = self.density
        if isinstance(d, Uniform):
            return self.u_range[0] + s * self.mass
        if isinstance(d, _Scalar):
            with np.errstate(all="ignore"):
                x = d.isf(self.s0 - s * self.mass) if self.f0 > 0.5 else d.ppf(self.f0 + s * self.mass)
            return self.axis.unit(np.nan_to_num(x, nan=self.axis.value(np.array(0.5))))
        return np.interp(s, self._grid_cdf, np.linspace(0.0, 1.0, _GRID))

    def log_density(self, u: np.ndarray) -> np.ndarray:
        """Log density of the truncated prior in the unit coordinate, floored at :data:`LOG_FLOOR`."""
        u = np.asarray(u, dtype=float)
        d = self.density
        if isinstance(d, Uniform):
            lo, hi = self.u_range
            out = np.where((u >= lo) & (u <= hi), -self._log_mass, -np.inf)
        else:
            with np.errstate(all="ignore"):
                out = d.log_density(self.axis.value(u)) + self.axis.log_jacobian(u)
            out = out - (self._log_mass if isinstance(d, _Scalar) else self._log_norm)
        return np.maximum(np.nan_to_num(out, nan=-np.inf), LOG_FLOOR)


# -- the prior ----------------------------------------------------------------------------------------
class Prior(Mapping):
    """Parameter name -> density (a read-only mapping). Build it from a dict of densities or its JSON form."""

    def __init__(self, densities: Mapping[str, Any] | None = None) -> None:
        if densities is not None and not isinstance(densities, Mapping):
            raise PriorError(f"prior: expected a mapping parameter name -> density, but got {short_repr(densities)}")
        self._d: dict[str, Any] = {}
        for name, spec in (densities or {}).items():
            if not isinstance(name, str):
                raise PriorError(f"prior: parameter names must be strings, but got {short_repr(name)}")
            self._d[name] = density_from_dict(spec, f"prior[{name!r}]")
        self._columns: dict[tuple[str, bool], dict[int, _Column]] = {}

    def __getitem__(self, name: str) -> Any:
        return self._d[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._d)

    def __len__(self) -> int:
        return len(self._d)

    def __repr__(self) -> str:
        return f"Prior({self._d!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Mapping) and dict(self.items()) == dict(other.items())

    __hash__ = None  # type: ignore[assignment]

    @property
    def storable(self) -> bool:
        """Whether :meth:`to_dict` rebuilds it (False with a user :class:`Density`)."""
        return not any(isinstance(d, Density) for d in self._d.values())

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """The JSON form (a user density is recorded by name only)."""
        return {name: d.to_dict() for name, d in self._d.items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Prior:
        return cls(data)

    def validate(self, space: SearchSpace) -> Prior:
        """Check the prior against ``space`` (names, parameter kinds, mass inside the bounds); returns self."""
        from hpo.space import Categorical, Fixed

        unknown = sorted(set(self._d) - set(space.names))
        if unknown:
            raise PriorError(f"prior: names {unknown} are not parameters of the space; valid names: {list(space.names)}")
        for name in self._d:
            param = space[name]
            if isinstance(param, (Categorical, Fixed)):
                raise PriorError(f"prior[{name!r}]: {type(param).__name__} parameters take no density (only Float and "
                                 f"Int do), but got {self._d[name]!r} for {short_repr(param.to_dict())}")
        self.columns(space.encoder(onehot=False))
        return self

    def columns(self, encoder: SpaceEncoder) -> dict[int, _Column]:
        """Encoder column -> the truncated prior of its parameter (cached per encoder)."""
        key = (json.dumps(encoder.space.to_dict(), sort_keys=True), encoder.onehot)
        if key not in self._columns:
            index = {c.name: j for j, c in enumerate(encoder.columns) if c.kind in ("float", "int")}
            self._columns[key] = {index[n]: _Column(n, encoder.space[n], d) for n, d in self._d.items() if n in index}
        return self._columns[key]

    def transform_unit(self, encoder: SpaceEncoder, U: np.ndarray) -> np.ndarray:
        """Uniform points ``U`` (``n x dim``, e.g. Sobol) -> points whose prior columns follow the prior."""
        out = np.array(U, dtype=float, copy=True).reshape(-1, encoder.dim)
        for j, col in self.columns(encoder).items():
            out[:, j] = col.transform(out[:, j])
        return out

    def unit_log_density(self, encoder: SpaceEncoder, U: np.ndarray) -> np.ndarray:
        """Log prior density of unit-cube points ``U`` (``n x dim``) -> ``(n,)`` (columns without a prior: 0)."""
        U = np.asarray(U, dtype=float).reshape(-1, encoder.dim)
        out = np.zeros(len(U))
        for j, col in self.columns(encoder).items():
            out += col.log_density(U[:, j])
        return out

    def sample(self, space: SearchSpace, rng: np.random.Generator) -> dict[str, Any]:
        """One configuration: prior parameters from the truncated prior, the others uniform as ``space.sample``."""
        encoder = space.encoder(onehot=False)
        if encoder.dim == 0:
            return space.validate({})
        return encoder.decode(self.transform_unit(encoder, np.random.default_rng(rng).random((1, encoder.dim))))[0]


def as_prior(value: Any, space: SearchSpace | None = None) -> Prior | None:
    """``value`` (None, a :class:`Prior`, a mapping of densities or its JSON form) as a validated Prior."""
    if value is None:
        return None
    prior = value if isinstance(value, Prior) else Prior(value)
    return prior.validate(space) if space is not None else prior
