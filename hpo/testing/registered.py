"""Tie a conformance-suite subclass to the registry name it tests.

Every conformance base class (:mod:`~hpo.testing.sampler_suite`,
:mod:`~hpo.testing.surrogate_suite`, :mod:`~hpo.testing.scheduler_suite`,
:mod:`~hpo.testing.executor_suite`) has a ``registered_name`` class attribute. A
subclass that sets it gets one more test: the registry builds, from that name, the
same kind of object as the subclass's factory (so the attribute cannot drift from
what is tested). ``tests/test_conformance_coverage.py`` then checks that every
registered name of every seam is claimed by some suite subclass.
"""

from __future__ import annotations

from typing import Any

__all__ = ["implementation_key", "check_registered"]


def implementation_key(obj: Any) -> tuple[str, ...]:
    """What makes two plug-ins "the same implementation": class, ``name``, an Optuna algorithm,
    a surrogate's name (options aside)."""
    surrogate = getattr(obj, "surrogate", None)
    return (
        f"{type(obj).__module__}.{type(obj).__qualname__}",
        str(getattr(obj, "name", "")),
        str(getattr(obj, "algorithm", "")),
        str(getattr(surrogate, "name", "")),
    )


def check_registered(kind: str, registered_name: str | None, built_by_name: Any, built_by_factory: Any) -> None:
    """Fail (AssertionError, this is a test helper) unless both objects are the same implementation."""
    by_name, by_factory = implementation_key(built_by_name), implementation_key(built_by_factory)
    if by_name != by_factory:
        raise AssertionError(f"{kind} {registered_name!r}: the registry builds {by_name}, but the suite's factory "
                             f"builds {by_factory}; registered_name does not name what this suite tests")
