"""Tuning protocols: which seeds or which data set tuning may use, and which are kept for the test.

- :class:`SeedSplit`: tuning seeds and disjoint test seeds (RL: tune on 5 seeds, report on 5 others);
- :class:`DatasetSplit`: a tuning data set and a different evaluation data set (continual learning:
  tune on digits, evaluate the fixed choice on MNIST-1D), each run on ``seeds``.

A protocol is stored in the study's settings under ``"protocol"`` (:meth:`SeedSplit.as_settings`,
:func:`protocol_from_settings`), and the store enforces it on every evaluation it writes
(:func:`check_evaluation`): a test seed or the evaluation data set in the tuning phase is refused with
:class:`~hpo.errors.ProtocolError`, and nothing is written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hpo.errors import ProtocolError
from hpo.protocols.aggregate import check_aggregate

__all__ = [
    "SeedSplit",
    "DatasetSplit",
    "Protocol",
    "PHASES",
    "protocol_from_settings",
    "protocol_from_config",
    "check_evaluation",
]

#: The phases of a protocol (the ``split`` of a stored evaluation).
PHASES = ("tuning", "test")


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _seeds(value: object, where: str) -> tuple[int, ...]:
    """``value`` as a non-empty tuple of distinct ints (booleans refused)."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise ProtocolError(f"{where} must be a non-empty list of integer seeds, but got {_short(value)}")
    seeds = tuple(value)
    if not seeds:
        raise ProtocolError(f"{where} must be a non-empty list of integer seeds, but got []")
    bad = [s for s in seeds if isinstance(s, bool) or not isinstance(s, int)]
    if bad:
        raise ProtocolError(f"{where} must hold integer seeds only, but got {_short(bad[:3])}")
    if len(set(seeds)) != len(seeds):
        dupes = sorted({s for s in seeds if seeds.count(s) > 1})
        raise ProtocolError(f"{where} must not repeat a seed, but {_short(dupes[:5])} appear twice")
    return tuple(int(s) for s in seeds)


def _name(value: object, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ProtocolError(f"{where} must be a non-empty data set name, but got {_short(value)}")
    if len(value) > 256:
        raise ProtocolError(f"{where} must be at most 256 characters, but got {len(value)}")
    return value


@dataclass(frozen=True)
class SeedSplit:
    """Tune on ``tuning`` seeds, test on the disjoint ``test`` seeds; a trial's value is the
    ``aggregate`` (``"mean"``, ``"median"`` or ``"iqm"``) of its per-seed results.

    >>> SeedSplit(tuning=[0, 1, 2], test=[3, 4]).seeds_for("test")
    (3, 4)
    """

    tuning: Sequence[int]
    test: Sequence[int]
    aggregate: str = "iqm"

    def __post_init__(self) -> None:
        tuning = _seeds(self.tuning, "SeedSplit.tuning")
        test = _seeds(self.test, "SeedSplit.test")
        both = sorted(set(tuning) & set(test))
        if both:
            raise ProtocolError(
                f"SeedSplit: tuning and test seeds must be disjoint, but {_short(both[:5])} are in both"
            )
        object.__setattr__(self, "tuning", tuning)
        object.__setattr__(self, "test", test)
        check_aggregate(self.aggregate, "SeedSplit.aggregate")

    kind = "seeds"

    def seeds_for(self, phase: str) -> tuple[int, ...]:
        """The seeds of ``phase`` (``"tuning"`` or ``"test"``)."""
        return tuple(self.tuning) if _phase(phase) == "tuning" else tuple(self.test)

    def dataset_for(self, phase: str) -> str | None:
        """A seed split has no data sets: None."""
        _phase(phase)
        return None

    def as_settings(self) -> dict[str, Any]:
        """The JSON form stored in the study's settings under ``"protocol"``."""
        return {"kind": "seeds", "tuning": list(self.tuning), "test": list(self.test), "aggregate": self.aggregate}


@dataclass(frozen=True)
class DatasetSplit:
    """Tune on the data set named ``tuning``, evaluate on the different one named ``evaluation``;
    each phase runs on ``seeds``, and a trial's value is their ``aggregate``.

    >>> DatasetSplit(tuning="digits", evaluation="mnist1d", seeds=[0, 1]).dataset_for("test")
    'mnist1d'
    """

    tuning: str
    evaluation: str
    seeds: Sequence[int] = (0,)
    aggregate: str = "mean"

    def __post_init__(self) -> None:
        tuning = _name(self.tuning, "DatasetSplit.tuning")
        evaluation = _name(self.evaluation, "DatasetSplit.evaluation")
        if tuning == evaluation:
            raise ProtocolError(
                f"DatasetSplit: the tuning and evaluation data sets must differ, but both are {_short(tuning)}"
            )
        object.__setattr__(self, "seeds", _seeds(self.seeds, "DatasetSplit.seeds"))
        check_aggregate(self.aggregate, "DatasetSplit.aggregate")

    kind = "datasets"

    def seeds_for(self, phase: str) -> tuple[int, ...]:
        """The seeds of either phase: ``seeds``."""
        _phase(phase)
        return tuple(self.seeds)

    def dataset_for(self, phase: str) -> str | None:
        """The tuning data set for ``"tuning"``, the evaluation data set for ``"test"``."""
        return self.tuning if _phase(phase) == "tuning" else self.evaluation

    def as_settings(self) -> dict[str, Any]:
        """The JSON form stored in the study's settings under ``"protocol"``."""
        return {"kind": "datasets", "tuning": self.tuning, "evaluation": self.evaluation,
                "seeds": list(self.seeds), "aggregate": self.aggregate}


#: Either kind of protocol.
Protocol = SeedSplit | DatasetSplit


def _phase(phase: str) -> str:
    if phase not in PHASES:
        raise ProtocolError(f"phase must be one of {PHASES}, but got {_short(phase)}")
    return phase


def protocol_from_config(value: object, where: str = "protocol") -> Protocol | None:
    """A protocol from its JSON / YAML form (None for None); a protocol object is returned as is.

    The form: ``{kind: seeds, tuning: [...], test: [...], aggregate: iqm}`` or
    ``{kind: datasets, tuning: NAME, evaluation: NAME, seeds: [...], aggregate: mean}``; ``kind`` may be
    left out (a ``test`` key means seeds, an ``evaluation`` key means data sets).
    """
    if value is None or isinstance(value, (SeedSplit, DatasetSplit)):
        return value
    if not isinstance(value, Mapping):
        raise ProtocolError(
            f"{where} must be a SeedSplit, a DatasetSplit or a mapping with kind 'seeds' or 'datasets', "
            f"but got {_short(value)}"
        )
    doc = dict(value)
    kind = doc.pop("kind", "datasets" if "evaluation" in doc else "seeds")
    allowed = {"seeds": ("tuning", "test", "aggregate"),
               "datasets": ("tuning", "evaluation", "seeds", "aggregate")}
    if kind not in allowed:
        raise ProtocolError(f"{where}.kind must be 'seeds' or 'datasets', but got {_short(kind)}")
    unknown = sorted(str(k) for k in doc if k not in allowed[kind])
    if unknown:
        raise ProtocolError(f"{where}: unknown key(s) {_short(unknown)} for kind {kind!r}; allowed: {allowed[kind]}")
    missing = [k for k in allowed[kind][:2] if k not in doc]
    if missing:
        raise ProtocolError(f"{where}: kind {kind!r} needs the key(s) {missing}")
    try:
        return SeedSplit(**doc) if kind == "seeds" else DatasetSplit(**doc)
    except ProtocolError as exc:
        raise ProtocolError(f"{where}: {exc}") from None


def protocol_from_settings(settings: Mapping[str, Any] | None) -> Protocol | None:
    """The protocol stored in a study's settings (``settings["protocol"]``), or None."""
    if not settings:
        return None
    return protocol_from_config(settings.get("protocol"), "settings['protocol']")


def check_evaluation(
    protocol: Protocol | None, number: int, split: str, seed: int, dataset: str | None, trial_state: str
) -> None:
    """Refuse (:class:`ProtocolError`) an evaluation the study's ``protocol`` does not allow.

    A ``"tuning"`` evaluation must be of a RUNNING trial, on a tuning seed (seed split) or on the tuning
    data set (data-set split); a ``"test"`` evaluation of a COMPLETE trial, on a test seed or on the
    evaluation data set. Without a protocol everything is allowed. The store calls this before it writes.
    """
    if protocol is None:
        return
    _phase(split)
    need = "RUNNING" if split == "tuning" else "COMPLETE"
    if trial_state != need:
        raise ProtocolError(
            f"trial {number}: a {split} evaluation needs a {need} trial, but the trial is {trial_state}; "
            "nothing was written"
        )
    seeds = protocol.seeds_for(split)
    if int(seed) not in seeds:
        other = " (it is a test seed)" if split == "tuning" and int(seed) in protocol.seeds_for("test") else ""
        raise ProtocolError(
            f"trial {number}: seed {seed} is not one of the {split} seeds {_short(list(seeds))}{other}; "
            "nothing was written"
        )
    want = protocol.dataset_for(split)
    if dataset != want:
        raise ProtocolError(
            f"trial {number}: a {split} evaluation must be on the data set {want!r}, but got {_short(dataset)}; "
            "nothing was written"
        )
