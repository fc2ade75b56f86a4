"""The tuning-protocol report (:mod:`hpo.protocols.report`): aggregates and bootstrap intervals on
hand-computed cases, rank correlations equal to SciPy's, the recommended trial chosen on tuning data,
a study without test results, the PNG figures and the "Tuning protocol" section of ``hpo status``.

Each study is a real SQLite file; evaluations are written with the store's ``add_evaluation``.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pytest

import hpo
from hpo.cli import main
from hpo.errors import ProtocolError
from hpo.protocols.report import ProtocolReport, protocol_report
from hpo.records import TrialState

SPACE = {"x": {"type": "float", "low": 0.0, "high": 1.0}}


def _study(url: str, name: str = "proto", protocol: Mapping[str, Any] | None = None,
           objectives: Mapping[str, str] | None = None) -> Any:
    """A study whose settings hold ``protocol`` (stored the way create_study stores its settings)."""
    objectives = dict(objectives or {"score": "maximize"})
    template = hpo.create_study(name=f"{name}-template", space=SPACE, storage=url, sampler="random", seed=0,
                                objectives=objectives)
    record = template.record
    settings = dict(record.settings)
    if protocol is not None:
        settings["protocol"] = dict(protocol)
    template.store.create_study(name, record.space, [o.to_dict() for o in record.objectives], [], None, settings)
    return hpo.load_study(name, url)


def _trial(study: Any, tuning: Mapping[int, float | Mapping[str, float]],
           test: Mapping[int, float | Mapping[str, float] | None] | None = None, state: str = "COMPLETE") -> int:
    """One trial: its tuning evaluations while RUNNING, then told, then its test evaluations (None: FAILED)."""
    name = study.objectives[0].name
    trial = study.ask()

    def values(v: float | Mapping[str, float]) -> dict[str, float]:
        return dict(v) if isinstance(v, Mapping) else {name: float(v)}

    protocol = study.protocol
    on = {split: protocol.dataset_for(split) if protocol is not None else None for split in ("tuning", "test")}
    for seed, v in tuning.items():
        study.store.add_evaluation(study.study_id, trial.number, seed, "tuning", TrialState.COMPLETE, values(v),
                                   dataset=on["tuning"])
    if state == "COMPLETE":
        if protocol is not None:
            study.tell(trial)  # the store aggregates the tuning evaluations written above
        else:
            told = {o.name: float(np.mean([values(v)[o.name] for v in tuning.values()])) for o in study.objectives}
            study.tell(trial, told if len(told) > 1 else told[name])
    else:
        study.tell(trial, state=state)
    for seed, v in (test or {}).items():
        if v is None:
            study.store.add_evaluation(study.study_id, trial.number, seed, "test", TrialState.FAILED, error="crashed",
                                       dataset=on["test"])
        else:
            study.store.add_evaluation(study.study_id, trial.number, seed, "test", TrialState.COMPLETE, values(v),
                                       dataset=on["test"])
    return int(trial.number)


def _report(study: Any, **kwargs: Any) -> ProtocolReport:
    return protocol_report(study.store, study.study_id, **kwargs)


def _row(report: ProtocolReport, number: int) -> Any:
    return next(r for r in report.rows if r.number == number)


def _seeds(aggregate: str = "mean") -> dict[str, Any]:
    return {"kind": "seeds", "tuning": [0, 1, 2, 3], "test": [10, 11, 12, 13], "aggregate": aggregate}


@pytest.mark.parametrize(("how", "tuning", "test"), [("mean", 26.5, 4.0), ("median", 2.5, 3.5), ("iqm", 2.5, 3.5)])
def test_hand_computed_aggregates_and_gap(sqlite_url: str, how: str, tuning: float, test: float) -> None:
    study = _study(sqlite_url, protocol=_seeds(how))
    n = _trial(study, {0: 1.0, 1: 2.0, 2: 3.0, 3: 100.0}, {10: 3.0, 11: 4.0, 12: 3.0, 13: 6.0})
    row = _row(_report(study), n)
    assert (row.tuning, row.test) == (pytest.approx(tuning), pytest.approx(test))
    assert row.gap == pytest.approx(test - tuning)
    assert (row.tuning_n, row.test_n, row.failed, row.tested) == (4, 4, 0, True)
    assert row.tuning_low <= row.tuning <= row.tuning_high and 1.0 <= row.tuning_low and row.tuning_high <= 100.0
    assert _report(study).aggregate == how


def test_bootstrap_interval_is_the_percentile_interval_over_seeds(sqlite_url: str) -> None:
    """The interval of the mean of [1, 2, 3, 4] against the exact bootstrap distribution: all 4**4
    equally likely resamples of the seeds, enumerated by hand."""
    study = _study(sqlite_url, protocol=_seeds("mean"))
    n = _trial(study, {0: 1.0, 1: 2.0, 2: 3.0, 3: 4.0}, {10: 7.0})
    exact = [float(np.mean(s)) for s in itertools.product([1.0, 2.0, 3.0, 4.0], repeat=4)]
    low, high = np.quantile(exact, [0.05, 0.95])
    row = _row(_report(study, confidence=0.9, n_boot=40000), n)
    assert row.tuning_low == pytest.approx(low, abs=0.25) and row.tuning_high == pytest.approx(high, abs=0.25)
    assert (row.test_low, row.test_high) == (7.0, 7.0)  # one seed: no spread to resample
    again = _row(_report(study, confidence=0.9, n_boot=40000), n)
    assert (again.tuning_low, again.tuning_high) == (row.tuning_low, row.tuning_high)  # seeded
    wide = _row(_report(study, confidence=0.99, n_boot=40000), n)
    assert wide.tuning_low <= row.tuning_low and wide.tuning_high >= row.tuning_high


def test_iqm_point_estimate_matches_rliable(sqlite_url: str) -> None:
    metrics = pytest.importorskip("rliable.metrics")
    values = [0.5, 9.0, 3.0, 4.5, -20.0, 6.0, 7.5, 100.0]
    study = _study(sqlite_url, protocol={"kind": "seeds", "tuning": list(range(8)), "test": [8], "aggregate": "iqm"})
    n = _trial(study, dict(enumerate(values)))
    row = _row(_report(study), n)
    assert row.tuning == pytest.approx(float(metrics.aggregate_iqm(np.array(values).reshape(-1, 1))))
    assert row.tuning == pytest.approx(np.mean(sorted(values)[2:6]))  # the middle half: 3, 4.5, 6, 7.5


def test_rank_correlation_equals_scipy_on_a_hand_made_case(sqlite_url: str) -> None:
    from scipy.stats import kendalltau, spearmanr

    study = _study(sqlite_url, protocol=_seeds("mean"))
    tuning, test = [1.0, 2.0, 3.0, 4.0, 5.0], [2.0, 1.0, 4.0, 3.0, 5.0]
    for a, b in zip(tuning, test):
        _trial(study, {0: a, 1: a}, {10: b, 11: b})
    _trial(study, {0: 0.5})  # tuning only: not in the correlation
    c = _report(study).correlation
    # 2 of the 10 pairs are discordant: tau = (8 - 2) / 10; sum of squared rank differences 4: rho = 1 - 6*4/120.
    assert (c.n, c.reason) == (5, None)
    assert c.kendall_tau == pytest.approx(0.6) and c.spearman_rho == pytest.approx(0.8)
    assert c.kendall_tau == pytest.approx(kendalltau(tuning, test).statistic)
    assert c.spearman_rho == pytest.approx(spearmanr(tuning, test).statistic)
    assert c.kendall_p == pytest.approx(kendalltau(tuning, test).pvalue)
    assert c.spearman_p == pytest.approx(spearmanr(tuning, test).pvalue)


def test_fewer_than_three_pairs_give_no_correlation_and_say_why(sqlite_url: str) -> None:
    study = _study(sqlite_url, protocol=_seeds())
    _trial(study, {0: 1.0}, {10: 1.0})
    _trial(study, {0: 2.0}, {10: 3.0})
    _trial(study, {0: 3.0})
    c = _report(study).correlation
    assert (c.n, c.kendall_tau, c.spearman_rho) == (2, None, None)
    assert "at least 3" in c.reason and "2 have both" in c.reason


def test_recommended_is_the_tuning_best_even_when_another_trial_tests_better(sqlite_url: str) -> None:
    """Minimised objective: the lowest tuning score is recommended, a better test score elsewhere is not
    a reason to pick another trial (that would select on the test seeds); a FAILED trial is never
    recommended, however good its tuning evaluations."""
    study = _study(sqlite_url, protocol=_seeds(), objectives={"loss": "minimize"})
    failed = _trial(study, {0: 0.01, 1: 0.01}, state="FAILED")
    best = _trial(study, {0: 1.0, 1: 1.2}, {10: 2.0, 11: 2.2})
    lucky = _trial(study, {0: 1.5, 1: 1.7}, {10: 1.0, 11: 1.2})
    report = _report(study)
    assert report.recommended is not None and report.recommended.number == best
    assert report.recommended.test == pytest.approx(2.1) and report.recommended.gap == pytest.approx(1.0)
    assert [r.number for r in report.rows] == [best, lucky]  # by tuning score; the FAILED trial is no incumbent
    assert failed not in {r.number for r in report.rows}
    assert (_row(report, best).tuning_rank, _row(report, lucky).tuning_rank) == (1, 2)
    assert _row(report, lucky).test_rank == 1 and _row(report, best).test_rank == 2
    assert "positive gap means" in report.gap_meaning
    assert any(f"trial {lucky} has the best test score" in note for note in report.notes)
    frame = report.to_frame()
    assert frame.set_index("number")["recommended"].to_dict() == {best: True, lucky: False}


def test_without_test_evaluations_the_test_columns_are_empty(sqlite_url: str, tmp_path: Any) -> None:
    study = _study(sqlite_url, protocol=_seeds("median"))
    numbers = [_trial(study, {0: float(i), 1: float(i) + 1, 2: float(i) + 5}) for i in range(7)]
    report = _report(study, top_k=3)
    assert not report.has_test
    assert [r.number for r in report.rows] == numbers[::-1][:3]  # the 3 best tuning trials, best first
    assert all(r.test is None and r.test_low is None and r.gap is None and not r.tested for r in report.rows)
    assert report.recommended is not None and report.recommended.number == numbers[-1]
    assert report.correlation.reason is not None and report.correlation.kendall_tau is None
    assert any("no test evaluations yet" in note for note in report.notes)
    data = report.as_dict()
    assert json.loads(json.dumps(data, allow_nan=False)) == data
    assert "not tested" in report.to_markdown()
    paths = report.plot(tmp_path / "figures")
    assert [p.name for p in paths] == ["proto_score_tuning_vs_test.png"]  # no rank figure without test scores


def test_failed_evaluations_are_counted_and_left_out_of_the_scores(sqlite_url: str, tmp_path: Any) -> None:
    study = _study(sqlite_url, protocol=_seeds())
    numbers = [_trial(study, {0: v, 1: v + 1}, {10: v - 1, 11: None, 12: v - 2}) for v in (1.0, 2.0, 3.0)]
    report = _report(study)
    row = _row(report, numbers[0])
    assert (row.test, row.test_n, row.failed) == (pytest.approx(-0.5), 2, 1)
    assert report.correlation.kendall_tau == pytest.approx(1.0)
    paths = report.plot(tmp_path)
    assert len(paths) == 2 and all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in paths)
    table = report.to_markdown()
    assert "Kendall tau 1" in table and f"| {numbers[-1]}* |" in table


def test_objective_argument_picks_one_of_several(sqlite_url: str) -> None:
    study = _study(sqlite_url, protocol=_seeds(), objectives={"ret": "maximize", "cost": "minimize"})
    a = _trial(study, {0: {"ret": 10.0, "cost": 5.0}}, {10: {"ret": 9.0, "cost": 6.0}})
    b = _trial(study, {0: {"ret": 5.0, "cost": 1.0}}, {10: {"ret": 4.0, "cost": 2.0}})
    assert _report(study).objective == "ret" and _report(study).recommended.number == a
    cost = _report(study, objective="cost")
    assert cost.recommended.number == b and cost.direction == "minimize"
    with pytest.raises(ProtocolError, match=r"objective must be one of .*'nope'"):
        _report(study, objective="nope")
    for bad in ({"confidence": 1.0}, {"n_boot": 0}, {"top_k": 0}, {"seed": -1}):
        with pytest.raises(ProtocolError):
            _report(study, **bad)


def test_dataset_protocol_names_the_two_data_sets(sqlite_url: str) -> None:
    protocol = {"kind": "datasets", "tuning": "digits", "evaluation": "mnist1d", "seeds": [0, 1], "aggregate": "mean"}
    study = _study(sqlite_url, protocol=protocol)
    _trial(study, {0: 0.9, 1: 0.8}, {0: 0.6, 1: 0.7})
    text = _report(study).to_markdown()
    assert "tuning data set 'digits' vs evaluation data set 'mnist1d'" in text


def _status(capsys: pytest.CaptureFixture[str], name: str, url: str) -> str:
    assert main(["status", name, "--storage", url]) == 0
    return capsys.readouterr().out


def test_hpo_status_shows_the_tuning_protocol_section(sqlite_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    study = _study(sqlite_url, protocol=_seeds())
    numbers: Sequence[int] = [_trial(study, {0: v, 1: v * 2}, {10: v + 0.5, 11: v}) for v in (1.0, 3.0, 2.0)]
    out = _status(capsys, "proto", sqlite_url)
    assert "Tuning protocol (score):" in out
    assert "tuning seeds [0, 1, 2, 3] vs test seeds [10, 11, 12, 13]" in out
    assert "Kendall tau 1" in out and "Spearman rho 1" in out
    assert f"recommended (best on tuning data only): trial {numbers[1]}" in out
    assert "negative gap means" in out
    plain = hpo.create_study(name="plain", space=SPACE, storage=sqlite_url, sampler="random", seed=0)
    plain.optimize(lambda t: t.suggest_float("x", 0.0, 1.0), n_trials=2, show_progress_bar=False)
    assert "Tuning protocol" not in _status(capsys, "plain", sqlite_url)
    _study(sqlite_url, name="declared", protocol=_seeds())  # a protocol, no evaluations yet: the section says so
    assert "no test evaluations yet" in _status(capsys, "declared", sqlite_url)
