"""A model step's numerical chatter (BoTorch, GPyTorch, linear_operator) is logged at DEBUG on
``hpo.samplers``, not printed; every other warning reaches the user unchanged (issue 24 point 7)."""

from __future__ import annotations

import logging
import warnings
from typing import Any

import pytest

import hpo
from hpo.samplers.base import SamplingContext, trial_rng
from hpo.samplers.model_based import ModelBasedSampler


class _Chatty(ModelBasedSampler):
    """Warns like BoTorch's optimiser and GPyTorch's Cholesky do, plus one warning of its own."""

    name = "chatty"
    n_initial = 1
    min_trials = 1

    def initial(self, context: SamplingContext, number: int) -> dict[str, Any]:
        return context.space.sample(trial_rng(context.seed, number, salt=0))

    def propose(self, context: SamplingContext, trials: list, pending: list, q: int, seed: int) -> list:
        from botorch.exceptions.warnings import OptimizationWarning
        from linear_operator.utils.warnings import NumericalWarning

        warnings.warn("A not p.d., added jitter of 1.0e-08 to the diagonal", NumericalWarning, stacklevel=1)
        warnings.warn("Optimization failed within `scipy.optimize.minimize` with status 2", OptimizationWarning,
                      stacklevel=1)
        warnings.warn("Optimization failed in `gen_candidates_scipy` with the following warning(s): ...",
                      RuntimeWarning, stacklevel=1)
        warnings.warn("the user's own warning", UserWarning, stacklevel=1)
        return [context.space.sample(trial_rng(context.seed, context.number + i, salt=3)) for i in range(q)]


def test_model_chatter_goes_to_debug_and_other_warnings_pass(tmp_path, caplog: pytest.LogCaptureFixture) -> None:
    study = hpo.create_study(name="chatter", space={"x": hpo.Float(0.0, 1.0)}, sampler=_Chatty(),
                             storage=f"sqlite:///{tmp_path / 's.db'}", seed=0)
    with caplog.at_level(logging.DEBUG, logger="hpo.samplers"), warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        study.optimize(lambda t: t["x"], n_trials=3, show_progress_bar=False)
    shown = [str(w.message) for w in seen]
    assert shown.count("the user's own warning") == 2, shown  # trials 1 and 2 ran the model step
    assert not [m for m in shown if "jitter" in m or "Optimization failed" in m], shown
    logged = [r.getMessage() for r in caplog.records if r.name == "hpo.samplers"]
    assert sum("NumericalWarning: A not p.d." in m for m in logged) == 2, logged
    assert any(m.startswith("chatty, trial 1: OptimizationWarning") for m in logged), logged
    assert any("RuntimeWarning: Optimization failed in `gen_candidates_scipy`" in m for m in logged), logged
