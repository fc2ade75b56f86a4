"""The tuning-vs-test report of a study with a tuning protocol: :func:`protocol_report`.

Per incumbent (every trial with test evaluations, plus the best tuning trials, marked when they have
no test results yet) it gives the tuning score (the protocol's aggregate, ``settings["protocol"]
["aggregate"]``, default ``"mean"``, over the trial's COMPLETE tuning evaluations) and the test score,
each with a percentile-bootstrap confidence interval over seeds, and the generalisation gap
``test - tuning``. Over all trials with both, the rank correlation between the tuning and the test
ranking (Kendall's tau-b and Spearman's rho, :mod:`scipy.stats`). And the configuration to report:
the best on tuning data only (its test score is the number to publish), never the best on test data,
which would tune on the test seeds after all.

The report reads only the store: trials, evaluations and the study's settings.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hpo.errors import ProtocolError
from hpo.protocols.aggregate import aggregate, check_aggregate
from hpo.records import Direction, Objective, StudyRecord, TrialState
from hpo.validators import is_int, positive_int

if TYPE_CHECKING:
    import pandas as pd

    from hpo.store.base import Evaluation, StudyStore

__all__ = ["Incumbent", "ProtocolReport", "RankCorrelation", "bootstrap_interval", "protocol_report",
           "rank_correlation", "status_section"]

#: Fewer (tuning, test) pairs than this: no rank correlation.
MIN_PAIRS = 3


@dataclass(frozen=True)
class Incumbent:
    """One trial in the report. Scores are the protocol's aggregate over COMPLETE evaluations (None
    without any); ``*_low`` / ``*_high``: the bootstrap interval; ``*_n``: COMPLETE evaluations used;
    ``failed``: evaluations of this trial (both splits) that are not COMPLETE or have no finite value;
    ranks: 1 is best (``tuning_rank`` among the COMPLETE trials, ``test_rank`` among those with test scores)."""

    number: int
    params: dict[str, Any]
    tuning: float | None
    tuning_low: float | None
    tuning_high: float | None
    tuning_n: int
    test: float | None
    test_low: float | None
    test_high: float | None
    test_n: int
    failed: int
    tuning_rank: int | None
    test_rank: int | None = None

    @property
    def tested(self) -> bool:
        """Whether the trial has a test score."""
        return self.test is not None

    @property
    def gap(self) -> float | None:
        """``test - tuning`` (None without both)."""
        return None if self.test is None or self.tuning is None else self.test - self.tuning

    def as_dict(self) -> dict[str, Any]:
        return {"number": self.number, "params": dict(self.params), "tested": self.tested,
                "tuning": self.tuning, "tuning_low": self.tuning_low, "tuning_high": self.tuning_high,
                "tuning_n": self.tuning_n, "test": self.test, "test_low": self.test_low,
                "test_high": self.test_high, "test_n": self.test_n, "gap": self.gap, "failed": self.failed,
                "tuning_rank": self.tuning_rank, "test_rank": self.test_rank}


@dataclass(frozen=True)
class RankCorrelation:
    """Kendall's tau-b and Spearman's rho between the tuning and the test scores of ``n`` trials (with
    their two-sided p-values); all None, with ``reason``, when they cannot be computed."""

    n: int
    kendall_tau: float | None = None
    kendall_p: float | None = None
    spearman_rho: float | None = None
    spearman_p: float | None = None
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"n": self.n, "kendall_tau": self.kendall_tau, "kendall_p": self.kendall_p,
                "spearman_rho": self.spearman_rho, "spearman_p": self.spearman_p, "reason": self.reason}


def _clean(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def rank_correlation(tuning: Sequence[float], test: Sequence[float]) -> RankCorrelation:
    """Kendall's tau-b and Spearman's rho of paired scores (shape ``(n,)`` each)."""
    if len(tuning) != len(test):
        raise ProtocolError(f"rank_correlation: tuning and test scores must pair up, but got shapes "
                            f"({len(tuning)},) and ({len(test)},)")
    n = len(tuning)
    if n < MIN_PAIRS:
        return RankCorrelation(n, reason=f"needs at least {MIN_PAIRS} trials with both tuning and test scores, "
                                         f"but {n} have both")
    for which, scores in (("tuning", tuning), ("test", test)):
        if len(set(scores)) == 1:
            return RankCorrelation(n, reason=f"every {which} score is the same ({float(scores[0]):.6g}): no ranking")
    from scipy.stats import kendalltau, spearmanr

    tau = kendalltau(tuning, test)
    rho = spearmanr(tuning, test)
    return RankCorrelation(n, kendall_tau=_clean(tau.statistic), kendall_p=_clean(tau.pvalue),
                           spearman_rho=_clean(rho.statistic), spearman_p=_clean(rho.pvalue))


def _aggregate_rows(samples: np.ndarray, how: str) -> np.ndarray:
    """The aggregate of each row of ``samples`` (shape ``(n_boot, n)``) -> shape ``(n_boot,)``."""
    if how == "mean":
        return samples.mean(axis=1)
    if how == "median":
        return np.median(samples, axis=1)
    from scipy.stats import trim_mean

    return np.asarray(trim_mean(samples, 0.25, axis=1), dtype=float)


def bootstrap_interval(values: Sequence[float], how: str = "mean", *, confidence: float = 0.95,
                       n_boot: int = 2000, rng: np.random.Generator | None = None) -> tuple[float, float]:
    """The percentile-bootstrap interval of ``aggregate(values, how)`` over seeds (``values``: shape
    ``(n,)``): ``n_boot`` resamples of the seeds with replacement; one value gives ``(v, v)``."""
    arr = np.asarray(list(values), dtype=float).reshape(-1)
    point = aggregate(arr.tolist(), how)  # checks how, emptiness and finiteness
    if arr.size == 1:
        return point, point
    rng = rng if rng is not None else np.random.default_rng(0)
    samples = arr[rng.integers(0, arr.size, size=(n_boot, arr.size))]  # (n_boot, n)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(_aggregate_rows(samples, how), [alpha, 1.0 - alpha])
    return float(low), float(high)


@dataclass(frozen=True)
class ProtocolReport:
    """Tuning vs test for one objective of a study; see :func:`protocol_report`.

    ``rows``: the incumbents, best tuning score first; ``recommended``: the trial to report (best
    tuning score among COMPLETE trials; None without any), chosen on tuning data only.
    """

    study: str
    objective: str
    direction: str
    aggregate: str
    protocol: dict[str, Any] | None
    confidence: float
    n_boot: int
    seed: int
    rows: tuple[Incumbent, ...]
    correlation: RankCorrelation
    recommended: Incumbent | None
    n_trials: int
    n_tuning: int
    n_test: int
    notes: tuple[str, ...] = field(default=())

    @property
    def has_test(self) -> bool:
        """Whether any trial has a test score."""
        return any(r.tested for r in self.rows)

    @property
    def gap_meaning(self) -> str:
        """What the sign of the gap means for this objective."""
        worse = "negative" if self.direction == Direction.MAXIMIZE.value else "positive"
        return (f"gap = test - tuning; {self.objective} is {self.direction}d, so a {worse} gap means the "
                "configuration does worse on the held-out seeds / data than on the ones it was tuned on")

    @property
    def splits(self) -> tuple[str, str]:
        """How the two phases are named: seeds, or the tuning and evaluation data sets."""
        p = self.protocol or {}
        if p.get("kind") == "datasets":
            return f"tuning data set {p.get('tuning')!r}", f"evaluation data set {p.get('evaluation')!r}"
        if p.get("kind") == "seeds":
            return f"tuning seeds {p.get('tuning')}", f"test seeds {p.get('test')}"
        return "tuning seeds", "test seeds"

    def to_frame(self) -> pd.DataFrame:
        """One row per incumbent: ``number``, ``tested``, the scores and intervals, ``gap``, counts,
        ranks, ``recommended`` and one ``params_<name>`` column per parameter."""
        import pandas as pd

        columns = ["number", "tested", "recommended", "tuning", "tuning_low", "tuning_high", "tuning_n",
                   "test", "test_low", "test_high", "test_n", "gap", "failed", "tuning_rank", "test_rank"]
        records = []
        for r in self.rows:
            d = r.as_dict()
            d["recommended"] = self.recommended is not None and r.number == self.recommended.number
            params = d.pop("params")
            d.update({f"params_{k}": v for k, v in params.items()})
            records.append(d)
        frame = pd.DataFrame(records)
        if frame.empty:
            return pd.DataFrame(columns=columns)
        rest = [c for c in frame.columns if c not in columns]
        return frame[columns + rest]

    def as_dict(self) -> dict[str, Any]:
        """Everything, JSON-safe (no NaN or infinity: absent numbers are None)."""
        return {"study": self.study, "objective": self.objective, "direction": self.direction,
                "aggregate": self.aggregate, "protocol": self.protocol, "confidence": self.confidence,
                "n_boot": self.n_boot, "seed": self.seed, "n_trials": self.n_trials,
                "n_tuning_evaluations": self.n_tuning, "n_test_evaluations": self.n_test,
                "rows": [r.as_dict() for r in self.rows], "correlation": self.correlation.as_dict(),
                "recommended": self.recommended.as_dict() if self.recommended else None,
                "gap_meaning": self.gap_meaning, "notes": list(self.notes)}

    def summary_lines(self) -> list[str]:
        """The report's headline: protocol, correlation, recommendation and notes, as plain lines."""
        return _summary_lines(self)

    def to_markdown(self) -> str:
        """A Markdown section: the headline lines and the incumbents' table."""
        return _to_markdown(self)

    def plot(self, directory: str | Path) -> list[Path]:
        """Write the PNG figures into ``directory`` (created if missing); return their paths."""
        from hpo.protocols.report_plots import plot_report

        return plot_report(self, Path(directory))


def _scores(evaluations: Sequence[Evaluation], name: str) -> tuple[dict[tuple[int, str], list[float]],
                                                                     dict[int, int]]:
    """COMPLETE finite values of ``name`` per (trial, split), and per trial the evaluations not usable."""
    values: dict[tuple[int, str], list[float]] = {}
    failed: dict[int, int] = {}
    for e in sorted(evaluations, key=lambda e: (e.trial_number, e.split, e.seed)):
        v = (e.values or {}).get(name)
        ok = e.state is TrialState.COMPLETE and isinstance(v, (int, float)) and math.isfinite(v)
        if ok:
            values.setdefault((e.trial_number, e.split), []).append(float(v))  # type: ignore[arg-type]
        else:
            failed[e.trial_number] = failed.get(e.trial_number, 0) + 1
    return values, failed


def _record(store: StudyStore, study_id: int) -> StudyRecord:
    from hpo.errors import StudyNotFoundError
    from hpo.store.reads import SQLReads

    if isinstance(store, SQLReads):
        return store.get_study("", _study_id=study_id)
    for summary in store.list_studies():
        record = store.get_study(summary.name)
        if record.study_id == study_id:
            return record
    raise StudyNotFoundError(f"no study with id {study_id} in {store.url}")


def _pick_objective(record: StudyRecord, objective: str | None) -> Objective:
    if objective is None:
        return record.objectives[0]
    names = [o.name for o in record.objectives]
    if objective not in names:
        raise ProtocolError(f"objective must be one of the study's objectives {names}, but got {str(objective)[:60]!r}")
    return record.objectives[names.index(objective)]


def _ranks(scores: dict[int, float], sign: float) -> dict[int, int]:
    """1 for the best score (``sign * score`` smallest; ties broken by trial number)."""
    order = sorted(scores, key=lambda n: (sign * scores[n], n))
    return {n: i + 1 for i, n in enumerate(order)}


def protocol_report(store: StudyStore, study_id: int, *, objective: str | None = None, confidence: float = 0.95,
                    n_boot: int = 2000, seed: int = 0, top_k: int = 5,
                    record: StudyRecord | None = None) -> ProtocolReport:
    """Tuning vs test scores of a study's incumbents, read from ``store``.

    Args:
        store: the study's store; study_id: the study's id in it.
        objective: which objective (default: the study's first).
        confidence: the bootstrap intervals' level, in (0, 1).
        n_boot: bootstrap resamples per interval; seed: the bootstrap's seed (each trial and split
            gets its own stream, so an interval does not depend on which other trials are shown).
        top_k: the best tuning trials always shown (with or without test results), besides every
            trial with test results.
        record: the study's record if the caller has it (saves one read).

    Works without test evaluations (the test columns are then None, and a note says so).
    """
    if not (isinstance(confidence, (int, float)) and not isinstance(confidence, bool)
            and math.isfinite(confidence) and 0 < confidence < 1):
        raise ProtocolError(f"confidence must be a number in (0, 1), but got {confidence!r}")
    n_boot = positive_int("n_boot", n_boot, ProtocolError)
    top_k = positive_int("top_k", top_k, ProtocolError)
    if not is_int(seed) or seed < 0:
        raise ProtocolError(f"seed must be a non-negative integer, but got {seed!r}")
    record = record if record is not None else _record(store, study_id)
    chosen = _pick_objective(record, objective)
    protocol = record.settings.get("protocol")
    protocol = dict(protocol) if isinstance(protocol, dict) else None
    how = check_aggregate((protocol or {}).get("aggregate", "mean"), 'settings["protocol"]["aggregate"]')
    trials = {t.number: t for t in store.get_trials(study_id)}
    evaluations = store.get_evaluations(study_id)
    values, failed = _scores(evaluations, chosen.name)
    tuning = {n: aggregate(v, how) for (n, split), v in values.items() if split == "tuning"}
    test = {n: aggregate(v, how) for (n, split), v in values.items() if split == "test"}
    sign = chosen.sign
    complete = {n for n, t in trials.items() if t.state is TrialState.COMPLETE}
    tuning_rank = _ranks({n: v for n, v in tuning.items() if n in complete}, sign)  # finished trials only
    test_rank = _ranks(test, sign)
    best = sorted(tuning_rank, key=lambda n: tuning_rank[n])
    shown = sorted(set(best[:top_k]) | set(test), key=lambda n: (tuning_rank.get(n, math.inf), n))

    def interval(number: int, split: str) -> tuple[float | None, float | None]:
        v = values.get((number, split))
        if not v:
            return None, None
        rng = np.random.default_rng([seed, number, 0 if split == "tuning" else 1])
        return bootstrap_interval(v, how, confidence=confidence, n_boot=n_boot, rng=rng)

    rows = []
    for n in shown:
        t_low, t_high = interval(n, "tuning")
        s_low, s_high = interval(n, "test")
        params = dict(trials[n].params) if n in trials else {}
        rows.append(Incumbent(
            number=n, params=params, tuning=tuning.get(n), tuning_low=t_low, tuning_high=t_high,
            tuning_n=len(values.get((n, "tuning"), [])), test=test.get(n), test_low=s_low, test_high=s_high,
            test_n=len(values.get((n, "test"), [])), failed=failed.get(n, 0), tuning_rank=tuning_rank.get(n),
            test_rank=test_rank.get(n)))
    both = sorted(n for n in test if n in tuning)
    correlation = rank_correlation([tuning[n] for n in both], [test[n] for n in both])
    recommended = next((r for r in rows if best and r.number == best[0]), None)
    notes = _notes(rows, test, tuning, complete, recommended, chosen)
    n_tuning = sum(1 for e in evaluations if e.split == "tuning")
    return ProtocolReport(
        study=record.name, objective=chosen.name, direction=chosen.direction.value, aggregate=how,
        protocol=protocol, confidence=float(confidence), n_boot=n_boot, seed=int(seed), rows=tuple(rows),
        correlation=correlation, recommended=recommended, n_trials=len(trials), n_tuning=n_tuning,
        n_test=len(evaluations) - n_tuning, notes=tuple(notes))


def _notes(rows: list[Incumbent], test: dict[int, float], tuning: dict[int, float], complete: set[int],
           recommended: Incumbent | None, objective: Objective) -> list[str]:
    notes = []
    if not tuning:
        notes.append(f"no COMPLETE tuning evaluation of {objective.name!r} yet: nothing to rank")
    if not test:
        notes.append("no test evaluations yet: the test columns are empty; run study.evaluate(objective, "
                     "top_k=...) or `hpo evaluate study.yaml` to re-run the best configurations on the test "
                     "seeds / evaluation data")
    elif recommended is not None and not recommended.tested:
        notes.append(f"the recommended trial {recommended.number} has no test score yet: evaluate it before "
                     "reporting")
    untested = [r.number for r in rows if not r.tested]
    if test and untested:
        notes.append(f"trials among the best on tuning without test results: {untested}")
    if test:
        best_test = min(test, key=lambda n: (objective.sign * test[n], n))
        if recommended is not None and best_test != recommended.number:
            notes.append(f"trial {best_test} has the best test score, but choosing it would select on the test "
                         f"data; report trial {recommended.number}, the best on tuning data")
    return notes


def status_section(store: StudyStore, record: StudyRecord) -> str | None:
    """The "Tuning protocol" section of ``hpo status`` (one block per objective), or None when the
    study has neither a protocol nor evaluations."""
    if not record.settings.get("protocol") and not store.get_evaluations(record.study_id):
        return None
    parts = [_status_text(protocol_report(store, record.study_id, objective=o.name, record=record))
             for o in record.objectives]
    return "\n".join(parts)



# -- text ------------------------------------------------------------------------------------------
def _fmt(x: float | None, digits: int = 4) -> str:
    return "n/a" if x is None else f"{x:.{digits}g}"


def _score(value: float | None, low: float | None, high: float | None) -> str:
    return "n/a" if value is None else f"{_fmt(value)} [{_fmt(low)}, {_fmt(high)}]"


def _params(params: dict[str, Any], limit: int = 120) -> str:
    text = ", ".join(f"{k}={_fmt(v) if isinstance(v, float) else v}" for k, v in params.items())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _correlation_line(c: RankCorrelation) -> str:
    if c.reason is not None:
        return f"rank correlation tuning vs test: n/a ({c.reason})"
    return (f"rank correlation tuning vs test over {c.n} trials: Kendall tau {_fmt(c.kendall_tau, 3)} "
            f"(p {_fmt(c.kendall_p, 2)}), Spearman rho {_fmt(c.spearman_rho, 3)} (p {_fmt(c.spearman_p, 2)})")


def _summary_lines(report: ProtocolReport) -> list[str]:
    tuning_name, test_name = report.splits
    kind = (report.protocol or {}).get("kind", "none declared")
    lines = [f"protocol: {kind}; {tuning_name} vs {test_name}; objective {report.objective} "
             f"({report.direction}); aggregate {report.aggregate} over seeds, "
             f"{report.confidence:.0%} percentile-bootstrap intervals ({report.n_boot} resamples, seed {report.seed})",
             f"evaluations: {report.n_tuning} tuning, {report.n_test} test, over {report.n_trials} trial(s)",
             _correlation_line(report.correlation)]
    rec = report.recommended
    if rec is None:
        lines.append("recommended: none (no COMPLETE trial with tuning evaluations)")
    else:
        lines.append(f"recommended (best on tuning data only): trial {rec.number} ({_params(rec.params)}): tuning "
                     f"{_score(rec.tuning, rec.tuning_low, rec.tuning_high)}, test "
                     f"{_score(rec.test, rec.test_low, rec.test_high)}"
                     + (f", gap {_fmt(rec.gap)}" if rec.gap is not None else "")
                     + (" - report its test score" if rec.tested else ""))
    lines.append(report.gap_meaning)
    lines.extend(f"note: {n}" for n in report.notes)
    return lines


_HEADER = ("trial", "tuning [interval]", "n", "test [interval]", "n", "gap", "rank tuning/test", "params")


def _table_rows(report: ProtocolReport) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    for r in report.rows:
        mark = "*" if report.recommended is not None and r.number == report.recommended.number else ""
        ranks = f"{r.tuning_rank if r.tuning_rank is not None else '-'}/{r.test_rank if r.test_rank is not None else '-'}"
        out.append((f"{r.number}{mark}", _score(r.tuning, r.tuning_low, r.tuning_high), str(r.tuning_n),
                    _score(r.test, r.test_low, r.test_high) if r.tested else "not tested", str(r.test_n),
                    _fmt(r.gap), ranks, _params(r.params, 60)))
    return out


def _escape(cell: str) -> str:
    return cell.replace("|", "\\|").replace("\n", " ")


def _to_markdown(report: ProtocolReport) -> str:
    lines = [f"### Tuning protocol: {_escape(report.study)}, {_escape(report.objective)}", ""]
    lines += [f"- {_escape(line)}" for line in _summary_lines(report)]
    lines += ["", "| " + " | ".join(_HEADER) + " |", "|" + "---|" * len(_HEADER)]
    lines += ["| " + " | ".join(_escape(c) for c in row) + " |" for row in _table_rows(report)]
    lines += ["", "`*`: the recommended trial. Ranks: 1 is best."]
    return "\n".join(lines) + "\n"


def _status_text(report: ProtocolReport) -> str:
    lines = [f"Tuning protocol ({report.objective}):"] + [f"  {line}" for line in _summary_lines(report)]
    rows = [_HEADER] + _table_rows(report)
    widths = [max(len(row[i]) for row in rows) for i in range(len(_HEADER))]
    lines += ["  " + "  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    return "\n".join(lines)
