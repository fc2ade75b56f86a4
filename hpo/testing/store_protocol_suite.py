"""The tuning-protocol part of the store contract (a base of :class:`hpo.testing.store_suite.StoreConformance`):
in a study whose settings hold a protocol, ``add_evaluation`` refuses a test seed (or the evaluation data set)
in the tuning phase, a tuning seed in the test phase, a tuning evaluation of a finished trial and a test
evaluation of an unfinished one, each with :class:`~hpo.errors.ProtocolError` and nothing written."""

from __future__ import annotations

import pytest

from hpo.errors import ProtocolError, TrialStateError
from hpo.records import TrialState
from hpo.store import StudyStore

__all__ = ["ProtocolConformance"]

SEEDS = {"kind": "seeds", "tuning": [0, 1, 2], "test": [5, 6], "aggregate": "iqm"}
DATASETS = {"kind": "datasets", "tuning": "digits", "evaluation": "mnist1d", "seeds": [0, 1], "aggregate": "mean"}


class ProtocolConformance:
    """Tests of the store's protocol checks; needs the ``store`` fixture and ``make_study``."""

    def _study(self, store: StudyStore, protocol: dict) -> int:
        from hpo.testing.store_suite import make_study

        return int(make_study(store, f"protocol-{protocol['kind']}", settings={"seed": 1, "protocol": protocol})
                   .study_id)

    def test_test_seed_in_tuning_is_refused_and_nothing_written(self, store: StudyStore) -> None:
        sid = self._study(store, SEEDS)
        t = store.create_trial(sid, {"x": 0.5}, TrialState.RUNNING)
        store.add_evaluation(sid, t.number, 0, "tuning", TrialState.COMPLETE, {"loss": 1.0})
        with pytest.raises(ProtocolError, match="seed 5 is not one of the tuning seeds.*test seed"):
            store.add_evaluation(sid, t.number, 5, "tuning", TrialState.COMPLETE, {"loss": 0.1})
        with pytest.raises(ProtocolError, match="seed 99"):
            store.add_evaluation(sid, t.number, 99, "tuning", TrialState.COMPLETE, {"loss": 0.1})
        with pytest.raises(ProtocolError, match="needs a COMPLETE trial"):  # test phase of a running trial
            store.add_evaluation(sid, t.number, 5, "test", TrialState.COMPLETE, {"loss": 0.1})
        assert [(e.seed, e.split) for e in store.get_evaluations(sid)] == [(0, "tuning")]
        store.finish_trial(sid, t.number, TrialState.COMPLETE, {"loss": 1.0})
        with pytest.raises(ProtocolError, match="needs a RUNNING trial"):  # tuning after the trial was told
            store.add_evaluation(sid, t.number, 1, "tuning", TrialState.COMPLETE, {"loss": 0.1})
        with pytest.raises(ProtocolError, match="seed 1 is not one of the test seeds"):
            store.add_evaluation(sid, t.number, 1, "test", TrialState.COMPLETE, {"loss": 0.1})
        store.add_evaluation(sid, t.number, 5, "test", TrialState.COMPLETE, {"loss": 1.5})
        assert [(e.seed, e.split) for e in store.get_evaluations(sid)] == [(0, "tuning"), (5, "test")]

    def test_evaluation_data_set_in_tuning_is_refused(self, store: StudyStore) -> None:
        sid = self._study(store, DATASETS)
        t = store.create_trial(sid, {"x": 0.5}, TrialState.RUNNING)
        with pytest.raises(ProtocolError, match="data set 'digits'.*'mnist1d'"):
            store.add_evaluation(sid, t.number, 0, "tuning", TrialState.COMPLETE, {"loss": 1.0}, dataset="mnist1d")
        with pytest.raises(ProtocolError, match="data set 'digits'.*None"):
            store.add_evaluation(sid, t.number, 0, "tuning", TrialState.COMPLETE, {"loss": 1.0})
        assert store.get_evaluations(sid) == []
        store.add_evaluation(sid, t.number, 0, "tuning", TrialState.COMPLETE, {"loss": 1.0}, dataset="digits")
        store.finish_trial(sid, t.number, TrialState.COMPLETE, {"loss": 1.0})
        with pytest.raises(ProtocolError, match="data set 'mnist1d'.*'digits'"):
            store.add_evaluation(sid, t.number, 0, "test", TrialState.COMPLETE, {"loss": 2.0}, dataset="digits")
        store.add_evaluation(sid, t.number, 0, "test", TrialState.COMPLETE, {"loss": 2.0}, dataset="mnist1d")
        got = [(e.split, e.dataset, e.values) for e in store.get_evaluations(sid)]
        assert got == [("tuning", "digits", {"loss": 1.0}), ("test", "mnist1d", {"loss": 2.0})]

    def test_failed_evaluation_is_replaced_complete_one_kept(self, store: StudyStore) -> None:
        sid = self._study(store, SEEDS)
        t = store.create_trial(sid, {"x": 0.5}, TrialState.RUNNING)
        store.finish_trial(sid, t.number, TrialState.COMPLETE, {"loss": 1.0})
        store.add_evaluation(sid, t.number, 5, "test", TrialState.FAILED, error="worker died")
        store.add_evaluation(sid, t.number, 5, "test", TrialState.COMPLETE, {"loss": 1.25})  # the rerun
        with pytest.raises(TrialStateError, match="already recorded as COMPLETE"):
            store.add_evaluation(sid, t.number, 5, "test", TrialState.COMPLETE, {"loss": 9.0})
        (only,) = store.get_evaluations(sid)
        assert (only.seed, only.state, only.values, only.error) == (5, TrialState.COMPLETE, {"loss": 1.25}, None)
