"""What the tuning-protocol examples (:mod:`hpo.protocols.rl`, :mod:`~hpo.protocols.continual`,
:mod:`~hpo.protocols.morl`) share: checking a configuration against its space, and the torch threads a
training run uses."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from typing import Any

from hpo.errors import ConfigError, SpaceError, short_repr
from hpo.params import Param

__all__ = ["validate_params", "rl_threads", "torch_threads"]


def validate_params(params: Mapping[str, Any], space: Mapping[str, Param], what: str,
                    defaults: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``params`` over ``defaults`` (none: only the given names), every name in ``space`` and every
    value inside its parameter; ``what`` names the hyperparameters in errors ("ppo", "MORL", ...).

    Raises:
        ConfigError: ``params`` is not a mapping, a name is unknown, or a value is outside the space.
    """
    if not isinstance(params, Mapping):
        raise ConfigError(f"params must be a mapping of {what} hyperparameters, but got {short_repr(params, 60)}")
    unknown = sorted(set(params) - set(space))
    if unknown:
        raise ConfigError(f"params: unknown {what} hyperparameter(s) {unknown[:5]}; known: {sorted(space)}")
    out: dict[str, Any] = dict(defaults or {})
    for name, value in params.items():
        try:
            out[name] = space[name].validate(value, name)
        except SpaceError as exc:  # the param's own error, restated as a config error of these params
            raise ConfigError(f"params[{name!r}]: {exc}") from exc
    return out


def rl_threads() -> int | None:
    """``$HPO_THREADS`` as an int (the torch threads a run trains with), or None when it is unset."""
    from hpo.demo import THREADS_ENV, demo_threads

    return demo_threads() if os.environ.get(THREADS_ENV, "").strip() else None


@contextlib.contextmanager
def torch_threads() -> Iterator[None]:
    """Run the block with torch on :func:`rl_threads` threads (unchanged when ``$HPO_THREADS`` is unset)."""
    threads = rl_threads()
    if threads is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
