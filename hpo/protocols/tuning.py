"""The tuning phase of a protocol: per-seed results of a trial and the one value the sampler sees.

In a study with a protocol (:mod:`hpo.protocols.splits`) the objective runs the trial on ``trial.seeds``
(the tuning seeds; on ``trial.dataset`` for a data-set split) and either calls
``trial.report_seed(seed, value)`` for each, or returns a ``{seed: value}`` mapping (int keys). Each
per-seed result is stored as a ``"tuning"`` evaluation (the store refuses a test seed), and the trial's
value is the protocol's aggregate of its COMPLETE per-seed values, per objective
(:func:`tuning_values`), with ``attrs["seed_spread"]`` = ``{objective: Spread.as_dict()}``. Samplers and
schedulers only ever see that value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from hpo.errors import ObjectiveError, ProtocolError, short_repr
from hpo.protocols.aggregate import aggregate, spread
from hpo.protocols.splits import Protocol, check_evaluation
from hpo.records import TrialState
from hpo.validators import is_int

if TYPE_CHECKING:
    from hpo.records import Constraint, Objective
    from hpo.store import StudyStore

__all__ = ["is_seed_mapping", "seed_values", "record_seed", "tuning_values", "check_protocol_state", "SPREAD_ATTR"]

#: The trial attribute holding the spread of the per-seed values, per objective.
SPREAD_ATTR = "seed_spread"


def is_seed_mapping(value: Any) -> bool:
    """Whether an objective's return value is a ``{seed: value}`` mapping (every key an int, not a bool)."""
    return isinstance(value, Mapping) and bool(value) and all(is_int(k) for k in value)


def seed_values(
    number: int, seed: Any, value: Any, objectives: tuple[Objective, ...], constraints: tuple[Constraint, ...]
) -> tuple[TrialState, dict[str, float] | None, str | None]:
    """One seed's result as a stored evaluation: ``(state, values, error)``. ``value`` is a number (the
    first objective) or a mapping of objective (and constraint) names to numbers; a non-finite value
    makes the evaluation FAILED."""
    from hpo.values import check_values

    if not is_int(seed):
        raise ObjectiveError(f"trial {number}: a seed must be an integer, but got {short_repr(seed, 60)}")
    checked = check_values(value, objectives, constraints)
    values = dict(checked.values) | dict(checked.constraint_values or {})
    if checked.not_finite:
        return TrialState.FAILED, None, f"non-finite value(s) for seed {seed}: " + ", ".join(
            f"{n}={values[n]}" for n in checked.not_finite)
    return TrialState.COMPLETE, values, None


def record_seed(store: StudyStore, study_id: int, protocol: Protocol, number: int, seed: int, value: Any,
                objectives: tuple[Objective, ...], constraints: tuple[Constraint, ...]) -> None:
    """Store one tuning seed's result of RUNNING trial ``number`` (the store checks the protocol)."""
    state, values, error = seed_values(number, seed, value, objectives, constraints)
    store.add_evaluation(study_id, number, int(seed), "tuning", state, values, error,
                         dataset=protocol.dataset_for("tuning"))


def tuning_values(
    store: StudyStore,
    study_id: int,
    protocol: Protocol,
    number: int,
    returned: Any,
    objectives: tuple[Objective, ...],
    constraints: tuple[Constraint, ...],
) -> tuple[dict[str, float], dict[str, Any]]:
    """The values to tell for trial ``number`` of a protocol study, and its ``seed_spread`` attribute.

    ``returned`` is what the objective returned: a ``{seed: value}`` mapping (stored first, every seed
    checked against the protocol before any is written) or None (the seeds were reported with
    ``trial.report_seed``). The values are the protocol's aggregate of the COMPLETE tuning evaluations.

    Raises:
        ProtocolError: a seed of the mapping is not a tuning seed (nothing written).
        ObjectiveError: the objective returned a plain value (a protocol study aggregates per-seed
            results), or no seed completed.
    """
    evaluations = [e for e in store.get_evaluations(study_id, [number]) if e.split == "tuning"]
    if returned is not None:
        if not is_seed_mapping(returned):
            raise ObjectiveError(
                f"trial {number}: in a study with a tuning protocol the objective reports one result per seed "
                "(trial.report_seed(seed, value), or return {seed: value} with int seeds), but it returned "
                f"{short_repr(returned, 80)}"
            )
        dataset = protocol.dataset_for("tuning")
        for seed in returned:  # every seed checked before any is written
            check_evaluation(protocol, number, "tuning", int(seed), dataset, TrialState.RUNNING.value)
        done = {e.seed for e in evaluations}
        new = [(int(seed), value) for seed, value in returned.items() if int(seed) not in done]
        for seed, value in new:
            record_seed(store, study_id, protocol, number, seed, value, objectives, constraints)
        if new:  # read back what was written (one read when every seed was already reported)
            evaluations = [e for e in store.get_evaluations(study_id, [number]) if e.split == "tuning"]
    complete = [e for e in evaluations if e.state is TrialState.COMPLETE and e.values]
    if not complete:
        raise ObjectiveError(
            f"trial {number}: no tuning seed completed (seeds {list(protocol.seeds_for('tuning'))}); report "
            "them with trial.report_seed(seed, value) or return {seed: value}"
        )
    names = [o.name for o in objectives] + [c.name for c in constraints]
    values: dict[str, float] = {}
    spreads: dict[str, Any] = {}
    for name in names:
        per_seed = [float(e.values[name]) for e in complete if e.values and e.values.get(name) is not None]
        per_seed = [v for v in per_seed if math.isfinite(v)]
        if not per_seed:
            raise ObjectiveError(f"trial {number}: no tuning seed reported a value for {name!r}")
        values[name] = aggregate(per_seed, protocol.aggregate)
        spreads[name] = spread(per_seed).as_dict()
    return values, spreads


def check_protocol_state(protocol: Protocol | None, where: str) -> Protocol:
    """``protocol``, or :class:`ProtocolError` when ``where`` needs a protocol and the study has none."""
    if protocol is None:
        raise ProtocolError(f"{where}: the study has no tuning protocol; create it with "
                            "protocol=hpo.SeedSplit(tuning=[...], test=[...]) or hpo.DatasetSplit(...)")
    return protocol
