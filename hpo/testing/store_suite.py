"""Conformance suite for :class:`hpo.store.StudyStore` implementations.

Subclass :class:`StoreConformance` in a test module and provide a ``store``
fixture that returns a fresh, empty store::

    class TestMyStore(StoreConformance):
        @pytest.fixture
        def store(self):
            return MyStore(...)

Every test below then runs against it. hpo runs it on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest

from hpo.errors import ValidationError, DuplicateStudyError, StudyNotFoundError, TrialNotFoundError, TrialStateError
from hpo.records import TrialState
from hpo.store import StudyStore

__all__ = ["StoreConformance", "make_study"]

OBJ = [{"name": "loss", "direction": "minimize"}]
SPACE = {"x": {"type": "float", "low": 0.0, "high": 1.0, "log": False, "step": None, "active_if": None}}


def make_study(store: StudyStore, name: str = "s", **overrides: Any) -> Any:
    kwargs: dict[str, Any] = dict(space=SPACE, objectives=OBJ, constraints=[], fidelity=None, settings={"seed": 1})
    kwargs.update(overrides)
    return store.create_study(name, **kwargs)


class StoreConformance:
    """The contract of a study store. Override the ``store`` fixture."""

    @pytest.fixture
    def store(self) -> StudyStore:  # pragma: no cover - overridden
        pytest.fail("subclasses of StoreConformance provide a `store` fixture returning an empty store")

    # -- studies ---------------------------------------------------------------
    def test_study_round_trip(self, store: StudyStore) -> None:
        rec = make_study(
            store,
            "round-trip",
            constraints=[{"name": "mem", "op": "<=", "bound": 16.0}],
            fidelity={"name": "epochs", "min": 1, "max": 81},
            settings={"seed": 7, "sampler": {"name": "tpe", "options": {"n_startup_trials": 3}}},
        )
        got = store.get_study("round-trip")
        assert got == rec
        assert got.space == SPACE
        assert [o.name for o in got.objectives] == ["loss"]
        assert got.constraints[0].bound == 16.0
        assert got.fidelity == {"name": "epochs", "min": 1, "max": 81}
        assert got.settings["sampler"]["options"] == {"n_startup_trials": 3}

    def test_duplicate_study_name_is_rejected(self, store: StudyStore) -> None:
        make_study(store, "dup")
        with pytest.raises(DuplicateStudyError, match="dup"):
            make_study(store, "dup")

    def test_missing_study_names_those_present(self, store: StudyStore) -> None:
        make_study(store, "present")
        with pytest.raises(StudyNotFoundError, match="present"):
            store.get_study("absent")

    def test_list_and_delete(self, store: StudyStore) -> None:
        a = make_study(store, "a")
        make_study(store, "b")
        t = store.create_trial(a.study_id, {"x": 0.5}, TrialState.RUNNING)
        store.finish_trial(a.study_id, t.number, TrialState.COMPLETE, {"loss": 1.0})
        store.create_trial(a.study_id, {"x": 0.1}, TrialState.WAITING)
        store.add_report(a.study_id, t.number, 1, {"loss": 2.0})
        store.add_evaluation(a.study_id, t.number, 3, "test", TrialState.COMPLETE, {"loss": 1.5})
        summaries = {s.name: s for s in store.list_studies()}
        assert summaries["a"].n_trials == 2
        assert summaries["a"].states == {"COMPLETE": 1, "WAITING": 1}
        assert summaries["b"].n_trials == 0
        store.delete_study("a")
        assert [s.name for s in store.list_studies()] == ["b"]
        with pytest.raises(StudyNotFoundError):
            store.get_study("a")

    # -- trials ----------------------------------------------------------------
    def test_numbers_are_consecutive_and_unique(self, store: StudyStore) -> None:
        s = make_study(store)
        numbers = [store.create_trial(s.study_id, {"x": 0.1}, TrialState.RUNNING).number for _ in range(5)]
        first = store.reserve_numbers(s.study_id, 3)
        numbers.append(store.create_trial(s.study_id, {"x": 0.2}, TrialState.RUNNING, number=first + 1).number)
        numbers.append(store.create_trial(s.study_id, {"x": 0.3}, TrialState.RUNNING).number)
        assert numbers == [0, 1, 2, 3, 4, 6, 8]

    def test_numbers_are_per_study(self, store: StudyStore) -> None:
        a, b = make_study(store, "a"), make_study(store, "b")
        assert store.create_trial(a.study_id, {"x": 0.1}, TrialState.RUNNING).number == 0
        assert store.create_trial(b.study_id, {"x": 0.1}, TrialState.RUNNING).number == 0

    def test_trial_fields_round_trip(self, store: StudyStore) -> None:
        s = make_study(store)
        t = store.create_trial(s.study_id, {"x": 0.25, "c": "adam", "n": 3, "b": True}, TrialState.RUNNING,
                               worker_id="w1", attrs={"enqueued": True}, heartbeat=True)
        assert t.state is TrialState.RUNNING and t.started_at is not None and t.heartbeat_at is not None
        done = store.finish_trial(s.study_id, t.number, TrialState.COMPLETE, {"loss": 0.5}, {"mem": 3.0})
        got = store.get_trial(s.study_id, t.number)
        assert got == done
        assert got.params == {"x": 0.25, "c": "adam", "n": 3, "b": True}
        assert got.values == {"loss": 0.5} and got.constraint_values == {"mem": 3.0}
        assert got.worker_id == "w1" and got.attrs == {"enqueued": True}
        assert got.finished_at is not None and got.finished_at.tzinfo is not None
        assert got.finished_at >= got.started_at

    def test_a_trial_is_told_once(self, store: StudyStore) -> None:
        s = make_study(store)
        t = store.create_trial(s.study_id, {"x": 0.1}, TrialState.RUNNING)
        store.finish_trial(s.study_id, t.number, TrialState.COMPLETE, {"loss": 1.0})
        with pytest.raises(TrialStateError, match="COMPLETE"):
            store.finish_trial(s.study_id, t.number, TrialState.FAILED)
        assert store.get_trial(s.study_id, t.number).values == {"loss": 1.0}

    def test_waiting_cannot_complete_directly(self, store: StudyStore) -> None:
        s = make_study(store)
        t = store.create_trial(s.study_id, {"x": 0.1}, TrialState.WAITING)
        with pytest.raises(TrialStateError, match="WAITING"):
            store.finish_trial(s.study_id, t.number, TrialState.COMPLETE, {"loss": 1.0})
        store.finish_trial(s.study_id, t.number, TrialState.FAILED, error="cancelled")

    def test_unknown_trial(self, store: StudyStore) -> None:
        s = make_study(store)
        with pytest.raises(TrialNotFoundError):
            store.get_trial(s.study_id, 42)
        with pytest.raises(TrialNotFoundError):
            store.finish_trial(s.study_id, 42, TrialState.COMPLETE, {"loss": 1.0})
        with pytest.raises(TrialNotFoundError):
            store.add_report(s.study_id, 42, 1, {"loss": 1.0})

    def test_new_trials_must_be_waiting_or_running(self, store: StudyStore) -> None:
        s = make_study(store)
        with pytest.raises(TrialStateError):
            store.create_trial(s.study_id, {"x": 0.1}, TrialState.COMPLETE)

    def test_claim_waiting_in_number_order_once(self, store: StudyStore) -> None:
        s = make_study(store)
        assert store.claim_waiting(s.study_id, "w") is None
        w0 = store.create_trial(s.study_id, {"x": 0.1}, TrialState.WAITING)
        w1 = store.create_trial(s.study_id, {"x": 0.2}, TrialState.WAITING)
        c0 = store.claim_waiting(s.study_id, "w", heartbeat=True)
        c1 = store.claim_waiting(s.study_id, "w")
        assert (c0.number, c1.number) == (w0.number, w1.number)
        assert c0.state is TrialState.RUNNING and c0.params == {"x": 0.1} and c0.heartbeat_at is not None
        assert store.claim_waiting(s.study_id, "w") is None

    @pytest.mark.parametrize("in_transaction", [False, True])
    def test_start_trial_claims_waiting_first_then_suggests(self, store: StudyStore, in_transaction: bool) -> None:
        s = make_study(store)
        waiting = store.create_trial(s.study_id, {"x": 0.9}, TrialState.WAITING)
        seen: list[int] = []

        def suggest(number: int) -> dict[str, Any]:
            seen.append(number)
            return {"x": number / 10}

        first = store.start_trial(s.study_id, "w", suggest, heartbeat=True, in_transaction=in_transaction)
        second = store.start_trial(s.study_id, "w", suggest, in_transaction=in_transaction)
        assert (first.number, first.params) == (waiting.number, {"x": 0.9}) and seen == [1]
        assert second.state is TrialState.RUNNING and second.params == {"x": 0.1} and second.number == 1
        assert store.get_trial(s.study_id, 1).params == {"x": 0.1}

        def broken(number: int) -> dict[str, Any]:
            raise RuntimeError("sampler failed")

        with pytest.raises(RuntimeError):
            store.start_trial(s.study_id, "w", broken, in_transaction=in_transaction)
        assert len(store.get_trials(s.study_id)) == 2  # no trial without params

    def test_concurrent_claims_never_share_a_trial(self, store: StudyStore) -> None:
        s = make_study(store)
        for i in range(40):
            store.create_trial(s.study_id, {"x": i / 40}, TrialState.WAITING)
        claimed: list[int] = []
        lock = threading.Lock()

        def claim() -> None:
            while (t := store.claim_waiting(s.study_id, threading.current_thread().name)) is not None:
                with lock:
                    claimed.append(t.number)

        threads = [threading.Thread(target=claim) for _ in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert sorted(claimed) == list(range(40))

    def test_get_trials_filters_by_state(self, store: StudyStore) -> None:
        s = make_study(store)
        a = store.create_trial(s.study_id, {"x": 0.1}, TrialState.RUNNING)
        store.create_trial(s.study_id, {"x": 0.2}, TrialState.RUNNING)
        store.finish_trial(s.study_id, a.number, TrialState.PRUNED)
        assert [t.number for t in store.get_trials(s.study_id)] == [0, 1]
        assert [t.number for t in store.get_trials(s.study_id, [TrialState.PRUNED])] == [0]
        assert [t.number for t in store.get_trials(s.study_id, ["RUNNING"])] == [1]

    # -- incremental reads -------------------------------------------------------
    def test_finished_since_returns_only_what_changed(self, store: StudyStore) -> None:
        s = make_study(store)
        trials = [store.create_trial(s.study_id, {"x": i / 10}, TrialState.RUNNING) for i in range(5)]
        assert store.finished_since(s.study_id, 0) == ([], 0)
        for t in trials[:3]:
            store.finish_trial(s.study_id, t.number, TrialState.COMPLETE, {"loss": float(t.number)})
        new, seq = store.finished_since(s.study_id, 0)
        assert [t.number for t in new] == [0, 1, 2]
        assert store.finished_since(s.study_id, seq) == ([], seq)
        store.finish_trial(s.study_id, trials[4].number, TrialState.FAILED, error="boom")
        new, seq2 = store.finished_since(s.study_id, seq)
        assert [(t.number, t.state) for t in new] == [(4, TrialState.FAILED)]
        assert seq2 > seq

    # -- heartbeats ---------------------------------------------------------------
    def test_reclaim_stale_requeues_with_same_params(self, store: StudyStore) -> None:
        s = make_study(store)
        alive = store.create_trial(s.study_id, {"x": 0.1}, TrialState.RUNNING, heartbeat=True)
        dead = store.create_trial(s.study_id, {"x": 0.2}, TrialState.RUNNING, heartbeat=True)
        manual = store.create_trial(s.study_id, {"x": 0.3}, TrialState.RUNNING)  # no heartbeat: never reclaimed
        future = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=60)
        store.heartbeat(s.study_id, [alive.number])
        cutoff_between = store.get_trial(s.study_id, alive.number).heartbeat_at - dt.timedelta(microseconds=1)
        assert store.reclaim_stale(s.study_id, cutoff_between, requeue=True) == [dead.number]
        old = store.get_trial(s.study_id, dead.number)
        assert old.state is TrialState.FAILED and "heartbeat" in old.error
        retry = store.get_trial(s.study_id, old.attrs["requeued_as"])
        assert retry.state is TrialState.WAITING and retry.params == {"x": 0.2}
        assert retry.attrs["retry_of"] == dead.number and retry.attrs["retries"] == 1
        assert store.get_trial(s.study_id, manual.number).state is TrialState.RUNNING
        assert store.reclaim_stale(s.study_id, future, requeue=False) == [alive.number]
        assert store.get_trial(s.study_id, alive.number).state is TrialState.FAILED

    # -- reports and evaluations ----------------------------------------------------
    def test_reports(self, store: StudyStore) -> None:
        s = make_study(store)
        t = store.create_trial(s.study_id, {"x": 0.1}, TrialState.RUNNING)
        u = store.create_trial(s.study_id, {"x": 0.2}, TrialState.RUNNING)
        for step in (3, 1, 2):
            store.add_report(s.study_id, t.number, step, {"loss": 1.0 / step, "acc": None})
        store.add_report(s.study_id, u.number, 0.5, {"loss": 9.0})
        reports = store.get_reports(s.study_id, [t.number])
        assert [r.step for r in reports] == [1, 2, 3]
        assert reports[0].values == {"loss": 1.0, "acc": None}
        assert len(store.get_reports(s.study_id)) == 4

    def test_reports_since_a_cursor(self, store: StudyStore) -> None:
        s = make_study(store)
        other = make_study(store, name="other")
        t = store.create_trial(s.study_id, {"x": 0.1}, TrialState.RUNNING)
        o = store.create_trial(other.study_id, {"x": 0.1}, TrialState.RUNNING)
        store.add_report(s.study_id, t.number, 2, {"loss": 0.5})
        store.add_report(s.study_id, t.number, 1, {"loss": 1.0})
        store.add_report(other.study_id, o.number, 1, {"loss": 7.0})
        first, cursor = store.reports_since(s.study_id, 0)
        assert [(r.trial_number, r.step) for r in first] == [(t.number, 2), (t.number, 1)]  # in writing order
        assert store.reports_since(s.study_id, cursor) == ([], cursor)
        store.add_report(s.study_id, t.number, 3, {"loss": 0.25})
        later, cursor2 = store.reports_since(s.study_id, cursor)
        assert [r.values for r in later] == [{"loss": 0.25}] and cursor2 > cursor

    def test_evaluations_keyed_by_seed_and_split(self, store: StudyStore) -> None:
        s = make_study(store)
        t = store.create_trial(s.study_id, {"x": 0.1}, TrialState.RUNNING)
        store.add_evaluation(s.study_id, t.number, 0, "tuning", TrialState.COMPLETE, {"loss": 1.0})
        store.add_evaluation(s.study_id, t.number, 100, "test", TrialState.COMPLETE, {"loss": 1.2})
        store.add_evaluation(s.study_id, t.number, 101, "test", TrialState.FAILED, error="diverged")
        with pytest.raises(TrialStateError):
            store.add_evaluation(s.study_id, t.number, 0, "tuning", TrialState.COMPLETE, {"loss": 1.0})
        with pytest.raises(ValidationError, match="split"):
            store.add_evaluation(s.study_id, t.number, 5, "validation", TrialState.COMPLETE, {"loss": 1.0})
        evals = store.get_evaluations(s.study_id)
        assert [(e.seed, e.split, e.state) for e in evals] == [
            (0, "tuning", TrialState.COMPLETE),
            (100, "test", TrialState.COMPLETE),
            (101, "test", TrialState.FAILED),
        ]
