"""hpo.priors: Step Law's published numbers, its check on the released dense runs, the batch-size rules,
and fit_law's recovery of known exponents (with honest bootstrap intervals) from synthetic runs."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import hpo
from hpo.errors import ExtrapolationWarning, PriorError
from hpo.priors import (
    fit_law,
    linear_rule,
    power_scheduler_rule,
    sqrt_rule,
    step_law,
    transfer_lr,
    transformer_params,
)


def test_step_law_published_numbers() -> None:
    with pytest.warns(ExtrapolationWarning, match=r"N=7e\+09 \(fitted on 2.15e\+08..1.07e\+09\)"):
        p = step_law(7e9, 1.4e12)
    assert p.lr == pytest.approx(9.35e-4, rel=1e-3)
    assert p.lr_interval == pytest.approx((7.65e-4, 1.14e-3), rel=5e-3)
    assert p.batch_tokens == pytest.approx(5.00e6, rel=1e-3)
    assert p.batch_sequences == pytest.approx(2440, rel=1e-3)
    assert p.batch_tokens_interval[0] < p.batch_tokens < p.batch_tokens_interval[1]
    assert not p.in_range and "EXTRAPOLATES" in p.note
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # inside the fitted range: no warning
        q = step_law(1e9, 1e11)
    assert q.lr == pytest.approx(1.662e-3, rel=1e-3) and q.batch_tokens == pytest.approx(1.107e6, rel=1e-3)
    assert q.in_range and q.values["lr"] == q.lr and q.intervals["batch_tokens"] == q.batch_tokens_interval
    assert step_law(1e9, 1e11, seq_len=4096).batch_sequences == pytest.approx(q.batch_tokens / 4096)
    assert transformer_params(7, 960, 9368) == 214_663_680


@pytest.mark.parametrize("kwargs, name", [
    ({"N": 0, "D": 1e10}, "N"), ({"N": -1e9, "D": 1e10}, "N"), ({"N": 1e9, "D": math.nan}, "D"),
    ({"N": 1e9, "D": math.inf}, "D"), ({"N": True, "D": 1e10}, "N"), ({"N": "1e9", "D": 1e10}, "N"),
    ({"N": 1e9, "D": 1e10, "seq_len": 0}, "seq_len"),
])
def test_step_law_rejects_bad_inputs_naming_them(kwargs: dict, name: str) -> None:
    with pytest.raises(PriorError, match=rf"^{name}: must be"):
        step_law(**kwargs)
    with pytest.raises(PriorError, match="hidden"):
        transformer_params(7, 0, 9368)


def test_step_law_on_the_released_dense_runs() -> None:
    from hpo.bench.priors_bench import load_dense, step_law_gaps

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every released cell is inside the fitted range
        rows = step_law_gaps(load_dense())
    gaps = np.array([r.gap for r in rows])
    assert len(rows) == 17 and sum(r.runs for r in rows) == 1911
    assert gaps.mean() == pytest.approx(0.00097, abs=0.00003)
    assert gaps.max() == pytest.approx(0.0031, abs=0.0001)


def test_dense_csv_refit_gives_the_documented_exponents() -> None:
    """The shipped coefficients came from more runs than were released: refitting the released ones
    with Step Law's own procedure gives about N^-0.766 D^0.197 and D^0.613 (the data README)."""
    from hpo.bench.priors_bench import STEP_LAW_FEATURES, load_dense

    law = fit_law(load_dense(), targets=STEP_LAW_FEATURES, objective="smooth loss", n_bootstrap=300)
    assert law.n_cells == 17
    assert law.coefficients["lr"]["N"] == pytest.approx(-0.766, abs=0.01)
    assert law.coefficients["lr"]["D"] == pytest.approx(0.197, abs=0.01)
    assert law.coefficients["batch"]["D"] == pytest.approx(0.613, abs=0.01)


def test_batch_rules() -> None:
    assert linear_rule(1e-3, 256, 1024).lr == pytest.approx(4e-3)
    s = sqrt_rule(1e-3, 256, 1024)
    assert s.lr == pytest.approx(2e-3) and s.factor == pytest.approx(2.0) and "Adam" in s.note
    assert power_scheduler_rule(1e-3, 256, 1024).lr == pytest.approx(4e-3)  # fixed tokens: linear in B
    p = power_scheduler_rule(1e-3, 256, 512, tokens=1e9, new_tokens=4e9)
    assert p.lr == pytest.approx(1e-3 * 2 * 4 ** -0.51) and "UNVERIFIED" in p.note
    assert transfer_lr(1e-3, 256, 1024, rule="linear").lr == pytest.approx(4e-3)
    with pytest.raises(PriorError, match="new_batch"):
        sqrt_rule(1e-3, 256, 0)
    with pytest.raises(PriorError, match="give both or neither"):
        power_scheduler_rule(1e-3, 256, 512, tokens=1e9)
    with pytest.raises(PriorError, match="rule: must be one of"):
        transfer_lr(1e-3, 256, 512, rule="cubic")


TRUE = {"intercept": 1.5, "N": -0.7, "D": 0.3}


def _synthetic_runs(rng: np.random.Generator, runs_per_cell: int = 12) -> pd.DataFrame:
    """Cells on a 4 x 3 (N, D) grid; in each, runs at random ln lr around the true optimum
    ln lr* = 1.5 - 0.7 ln N + 0.3 ln D, loss quadratic in the log-distance (runs within 0.25% of the
    cell's best are those within about 0.5 of the optimum in ln lr)."""
    rows = []
    for n in (1e7, 3e7, 1e8, 3e8):
        for d in (1e9, 4e9, 1.6e10):
            opt = TRUE["intercept"] + TRUE["N"] * math.log(n) + TRUE["D"] * math.log(d)
            ln_lr = opt + rng.uniform(-1.0, 1.0, runs_per_cell)
            loss = 3.0 * (1 + 0.01 * (ln_lr - opt) ** 2)
            rows += [{"N": n, "D": d, "lr": math.exp(x), "loss": y} for x, y in zip(ln_lr, loss)]
    return pd.DataFrame(rows)


def test_fit_law_recovers_exponents_and_its_intervals_cover_the_truth() -> None:
    rng = np.random.default_rng(0)
    law = fit_law(_synthetic_runs(rng, 40), targets=("lr",), n_bootstrap=200)
    assert law.coefficients["lr"]["N"] == pytest.approx(TRUE["N"], abs=0.05)
    assert law.coefficients["lr"]["D"] == pytest.approx(TRUE["D"], abs=0.05)
    centre = law.predict(N=1e8, D=4e9).values["lr"]  # the intercept, where the data pins it down
    assert centre == pytest.approx(math.exp(TRUE["intercept"] - 0.7 * math.log(1e8) + 0.3 * math.log(4e9)), rel=0.05)
    covered = {"N": 0, "D": 0, "predict": 0}
    truth = math.exp(TRUE["intercept"] + TRUE["N"] * math.log(1e9) + TRUE["D"] * math.log(1e11))
    for rep in range(100):
        law = fit_law(_synthetic_runs(rng), targets=("lr",), n_bootstrap=200, seed=rep)
        for name in ("N", "D"):
            lo, hi = law.interval("lr", name)
            covered[name] += lo <= TRUE[name] <= hi
        with pytest.warns(ExtrapolationWarning):
            lo, hi = law.predict(N=1e9, D=1e11).intervals["lr"]
        covered["predict"] += lo <= truth <= hi
    assert all(85 <= c <= 100 for c in covered.values()), covered


def test_cell_bootstrap_covers_when_cells_scatter_around_the_law() -> None:
    """Each cell's optimum off the law by N(0, 0.2) in ln lr (the released runs scatter by about 0.22):
    resampling whole cells keeps the nominal coverage; resampling runs (Step Law's) falls short."""
    rng = np.random.default_rng(3)
    covered = {"runs": {"N": 0, "D": 0}, "cells": {"N": 0, "D": 0}}
    for rep in range(100):
        frame = _synthetic_runs(rng)
        shift = {cell: rng.normal(0.0, 0.2) for cell in frame.groupby(["N", "D"]).groups}
        frame["lr"] *= np.exp([shift[(n, d)] for n, d in zip(frame["N"], frame["D"])])
        for resample, counts in covered.items():
            law = fit_law(frame, targets=("lr",), n_bootstrap=200, seed=rep, resample=resample)
            for name in counts:
                lo, hi = law.interval("lr", name)
                counts[name] += lo <= TRUE[name] <= hi
    assert all(85 <= c for c in covered["cells"].values()), covered
    assert all(covered["runs"][k] < covered["cells"][k] for k in ("N", "D")), covered
    with pytest.raises(PriorError, match="resample: must be 'runs' or 'cells'"):
        fit_law(frame, targets=("lr",), resample="rows")


def _tell_all(study: hpo.Study, cell: pd.DataFrame, params: tuple[str, ...]) -> None:
    for row in cell.itertuples():
        study.enqueue({"lr": row.lr, **{k: getattr(row, k) for k in params}}, attrs={"budget": row.D})
        trial = study.ask()
        study.tell(trial, row.loss)


def test_fit_law_from_studies_and_a_csv(tmp_path: Path) -> None:
    frame = _synthetic_runs(np.random.default_rng(1), 15)
    csv = tmp_path / "runs.csv"
    frame.to_csv(csv, index=False)
    from_csv = fit_law(csv, targets=("lr",), n_bootstrap=50)
    assert from_csv.n_cells == 12 and from_csv.coefficients["lr"]["N"] == pytest.approx(-0.7, abs=0.1)
    storage = f"sqlite:///{tmp_path / 'hpo.db'}"
    fidelity = hpo.Fidelity("D", min=1e9, max=1.6e10, log=True, integer=False)
    lr = hpo.Float(1e-8, 100.0, log=True)
    # one study: N a parameter, D the fidelity (each trial's budget)
    study = hpo.create_study(name="proxies", storage=storage, objectives={"loss": "minimize"}, fidelity=fidelity, sampler="random",
                             space={"lr": lr, "N": hpo.Categorical(sorted(frame["N"].unique().tolist()))})
    _tell_all(study, frame, ("N",))
    # one study per model size: N a Fixed parameter
    per_n = []
    for n, cell in frame.groupby("N"):
        s = hpo.create_study(name=f"n{int(n)}", storage=storage, objectives={"loss": "minimize"}, fidelity=fidelity, sampler="random",
                             space={"lr": lr, "N": hpo.Fixed(float(n))})
        _tell_all(s, cell, ())
        per_n.append(s)
    for data in (study, per_n):
        law = fit_law(data, targets=("lr",), n_bootstrap=50)
        assert law.n_cells == 12 and law.n_runs == from_csv.n_runs
        assert law.coefficients["lr"] == pytest.approx(from_csv.coefficients["lr"], rel=1e-9)


def test_fit_law_errors(tmp_path: Path) -> None:
    frame = _synthetic_runs(np.random.default_rng(2), 6)
    with pytest.raises(PriorError, match=r"targets\['lr'\]: a law in \['N', 'D'\] needs at least 3 distinct cells, "
                       r"but the data has 2"):
        fit_law(frame[frame["D"] == 1e9].loc[lambda f: f["N"] <= 3e7], targets=("lr",))
    bad = frame.copy()
    bad.loc[3, "N"] = -1.0
    with pytest.raises(PriorError, match=r"'N': every value must be finite and > 0 .* row 3 has -1.0"):
        fit_law(bad, targets=("lr",))
    with pytest.raises(PriorError, match=r"target 'batch': no such column"):
        fit_law(frame)
    with pytest.raises(PriorError, match="objective: name the loss column"):
        fit_law(frame.rename(columns={"loss": "ppl"}), targets=("lr",))
    with pytest.raises(PriorError, match="no CSV file"):
        fit_law(tmp_path / "missing.csv", targets=("lr",))
    with pytest.raises(PriorError, match=r"targets\['lr'\]: must name scale variables"):
        fit_law(frame, targets={"lr": ("steps",)})
    with pytest.raises(PriorError, match="tolerance"):
        fit_law(frame, targets=("lr",), tolerance=0)
    law = fit_law(frame, targets=("lr",), n_bootstrap=20)
    with pytest.raises(PriorError, match=r"predict: needs exactly the scale variables \['N', 'D'\]"):
        law.predict(N=1e8)
    with pytest.raises(PriorError, match="^D: must be a finite number > 0"):
        law.predict(N=1e8, D=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert law.predict(N=1e8, D=4e9).in_range
