"""Every registered sampler, surrogate, scheduler and backend runs its seam's conformance suite.

A suite subclass claims a name with ``registered_name = "..."``; the suite itself checks that
the registry builds, from that name, what the subclass tests (``hpo.testing.registered``).
Here we check that no registered name is left without a suite.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from hpo.execution import EXECUTORS
from hpo.registry import Registry
from hpo.samplers.registry import SAMPLERS
from hpo.schedulers.registry import SCHEDULERS
from hpo.surrogates.registry import SURROGATES

TESTS = Path(__file__).parent
SEAMS: dict[str, Registry] = {
    "SamplerConformance": SAMPLERS,
    "SurrogateConformance": SURROGATES,
    "SchedulerConformance": SCHEDULERS,
    "ExecutorConformance": EXECUTORS,
}


def claimed_names() -> dict[str, dict[str, str]]:
    """suite base class -> {registered name: "test module::class"} over every test module."""
    claimed: dict[str, dict[str, str]] = {base: {} for base in SEAMS}
    for path in sorted(TESTS.glob("test_*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if not isinstance(node, ast.ClassDef):
                continue
            bases = {getattr(b, "id", getattr(b, "attr", None)) for b in node.bases} & set(SEAMS)
            for statement in node.body:
                if (isinstance(statement, ast.Assign) and len(statement.targets) == 1
                        and getattr(statement.targets[0], "id", None) == "registered_name"
                        and isinstance(statement.value, ast.Constant)):
                    for base in bases:
                        claimed[base][statement.value.value] = f"{path.name}::{node.name}"
    return claimed


@pytest.mark.parametrize("base", sorted(SEAMS))
def test_every_registered_name_runs_the_conformance_suite(base: str) -> None:
    claimed = claimed_names()[base]
    registry = SEAMS[base]
    missing = sorted(set(registry.names()) - set(claimed))
    assert not missing, f"{registry.kind} name(s) {missing} have no {base} subclass with registered_name"
    unknown = sorted(set(claimed) - set(registry.names()))
    assert not unknown, f"{base} subclasses claim unregistered names {unknown}: {[claimed[n] for n in unknown]}"
