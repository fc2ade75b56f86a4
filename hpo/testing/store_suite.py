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
from hpo.records import Direction, Objective, TrialState, parse_constraints
from hpo.store import StudyStore
from hpo.store.base import TrialColumns, TrialFields, columns_of
from hpo.testing.store_protocol_suite import ProtocolConformance
from hpo.testing.store_user_attrs_suite import UserAttrsConformance

__all__ = ["StoreConformance", "make_study"]

OBJ = [{"name": "loss", "direction": "minimize"}]
SPACE = {"x": {"type": "float", "low": 0.0, "high": 1.0, "log": False, "step": None, "active_if": None}}
LOSS = Objective("loss", Direction.MINIMIZE)


def make_study(store: StudyStore, name: str = "s", **overrides: Any) -> Any:
    kwargs: dict[str, Any] = dict(space=SPACE, objectives=OBJ, constraints=[], fidelity=None, settings={"seed": 1})
    kwargs.update(overrides)
    return store.create_study(name, **kwargs)


class StoreConformance(UserAttrsConformance, ProtocolConformance):
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
        store.add_report(a.study_id, t.number, 1, {"loss": 2.0})
        store.finish_trial(a.study_id, t.number, TrialState.COMPLETE, {"loss": 1.0})
        store.create_trial(a.study_id, {"x": 0.1}, TrialState.WAITING)
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

    # -- column and aggregate reads ----------------------------------------------------
    def test_column_reads_agree_with_the_frozen_trials(self, store: StudyStore) -> None:
        """columns_since / live_columns read what ``columns_of`` reads from get_trials / finished_since: odd
        names, missing fields, booleans, attrs; timestamps as datetimes or ISO text; only what changed."""
        odd = 'p"q\\ \u00e9'
        space = {"x": SPACE["x"], odd: SPACE["x"],
                 "flag": {"type": "categorical", "choices": [True, False, 2], "active_if": None}}
        objectives = [{"name": "loss", "direction": "minimize"}, {"name": 'a"b', "direction": "maximize"}]
        s = make_study(store, space=space, objectives=objectives, constraints=[{"name": "mem", "op": "<=", "bound": 4}])
        fields = TrialFields.of(s, attrs=("decision", "missing"))
        assert fields.boolean_params == frozenset({"flag"}) and fields.params == ("x", odd, "flag")
        params = [{"x": 0.5, odd: 0.25, "flag": True}, {"x": 0.1, "flag": False}, {"x": 0.2, "flag": 2}, {}, {"x": 1.0}]
        made = [store.create_trial(s.study_id, p, TrialState.RUNNING, worker_id=f"w{i}",
                                   attrs={"decision": "stop" if i == 0 else i}) for i, p in enumerate(params)]
        store.create_trial(s.study_id, {"x": 0.9}, TrialState.WAITING)
        store.finish_trial(s.study_id, made[2].number, TrialState.COMPLETE, {"loss": 2.5, 'a"b': 1}, {"mem": 3.0})
        store.finish_trial(s.study_id, made[0].number, TrialState.COMPLETE, {"loss": -1.0})
        store.finish_trial(s.study_id, made[1].number, TrialState.FAILED, error="Traceback: boom")
        got, seq = store.columns_since(s.study_id, 0, fields)
        want, want_seq = store.finished_since(s.study_id, 0)
        assert seq == want_seq and _plain(got) == _plain(columns_of(want, fields))
        assert list(got.number) == [2, 0, 1] and list(got.params["flag"]) == [2, True, False]
        assert type(got.params["flag"][1]) is bool and list(got.attrs["missing"]) == [None] * 3
        live = store.live_columns(s.study_id, fields)
        assert _plain(live) == _plain(columns_of(store.get_trials(s.study_id, [TrialState.RUNNING,
                                                                               TrialState.WAITING]), fields))
        assert list(live.number) == [3, 4, 5] and list(live.state) == ["RUNNING", "RUNNING", "WAITING"]
        assert store.columns_since(s.study_id, seq, fields)[0].number in ([], ())
        store.finish_trial(s.study_id, made[4].number, TrialState.PRUNED)
        new, seq2 = store.columns_since(s.study_id, seq, fields)
        assert list(new.number) == [4] and list(new.state) == ["PRUNED"] and seq2 > seq
        assert store.columns_since(s.study_id, seq2, fields)[1] == seq2

    def test_best_value_over_feasible_complete_trials(self, store: StudyStore) -> None:
        s = make_study(store, objectives=[{"name": "loss", "direction": "minimize"},
                                          {"name": "acc", "direction": "maximize"}],
                       constraints=[{"name": "mem", "op": "<=", "bound": 4.0}])
        acc = Objective("acc", Direction.MAXIMIZE)
        assert store.best_value(s.study_id, LOSS, s.constraints) is None
        outcomes = [
            (TrialState.COMPLETE, {"loss": 3.0, "acc": 0.5}, {"mem": 1.0}),
            (TrialState.COMPLETE, {"loss": 0.5, "acc": 0.9}, {"mem": 9.0}),  # best, but infeasible
            (TrialState.COMPLETE, {"loss": 2.0, "acc": 0.7}, {"mem": 4.0}),
            (TrialState.PRUNED, {"loss": 0.1, "acc": 1.0}, {"mem": 0.0}),  # not COMPLETE
            (TrialState.FAILED, None, None),
        ]
        for state, values, cvs in outcomes:
            t = store.create_trial(s.study_id, {"x": 0.5}, TrialState.RUNNING)
            store.finish_trial(s.study_id, t.number, state, values, cvs)
        assert store.best_value(s.study_id, LOSS, s.constraints) == 2.0
        assert store.best_value(s.study_id, acc, s.constraints) == 0.7
        assert store.best_value(s.study_id, LOSS) == 0.5 and store.best_value(s.study_id, acc) == 0.9
        cons = parse_constraints([{"name": "mem", "op": ">=", "bound": 2.0}], ("loss", "acc"))
        assert store.best_value(s.study_id, LOSS, cons) == 0.5

    def test_report_counts(self, store: StudyStore) -> None:
        s = make_study(store)
        a, b, _ = (store.create_trial(s.study_id, {"x": 0.1}, TrialState.RUNNING) for _ in range(3))
        assert store.report_counts(s.study_id) == {}
        for step in range(3):
            store.add_report(s.study_id, a.number, step, {"loss": 1.0})
        store.add_report(s.study_id, b.number, 0, {"loss": None})
        assert store.report_counts(s.study_id) == {a.number: 3, b.number: 1}
        other = make_study(store, "other")
        assert store.report_counts(other.study_id) == {}

    # -- leases ----------------------------------------------------------------------
    def test_reclaim_expired_requeues_with_same_params(self, store: StudyStore) -> None:
        s = make_study(store)
        alive = store.create_trial(s.study_id, {"x": 0.1}, TrialState.RUNNING, heartbeat=True, lease=60)
        dead = store.create_trial(s.study_id, {"x": 0.2}, TrialState.RUNNING, heartbeat=True, lease=60)
        forever = store.create_trial(s.study_id, {"x": 0.3}, TrialState.RUNNING)  # no lease: never reclaimed
        store.heartbeat(s.study_id, [alive.number], lease=600)
        between = dead.expires_at + dt.timedelta(seconds=1)
        assert store.get_trial(s.study_id, alive.number).expires_at > between
        assert store.reclaim_stale(s.study_id, between, requeue=True) == [dead.number]
        old = store.get_trial(s.study_id, dead.number)
        assert old.state is TrialState.FAILED and "lease" in old.error and old.attrs["reclaimed"] is True
        retry = store.get_trial(s.study_id, old.attrs["requeued_as"])
        assert retry.state is TrialState.WAITING and retry.params == {"x": 0.2}
        assert retry.attrs["retry_of"] == dead.number and retry.attrs["retries"] == 1
        assert "reclaimed" not in retry.attrs
        far = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=3650)
        assert store.reclaim_stale(s.study_id, far, requeue=False) == [alive.number]
        assert store.get_trial(s.study_id, alive.number).state is TrialState.FAILED
        assert store.get_trial(s.study_id, forever.number).state is TrialState.RUNNING

    def test_a_claimed_trial_gets_its_lease(self, store: StudyStore) -> None:
        s = make_study(store)
        store.create_trial(s.study_id, {"x": 0.1}, TrialState.WAITING)
        claimed = store.claim_waiting(s.study_id, "w", lease=30)
        assert claimed.expires_at is not None and claimed.expires_at > claimed.started_at
        started = store.start_trial(s.study_id, "w", lambda n: {"x": 0.5}, lease=30)
        assert started.expires_at is not None

    def test_a_told_trial_is_never_reclaimed(self, store: StudyStore) -> None:
        s = make_study(store)
        t = store.create_trial(s.study_id, {"x": 0.1}, TrialState.RUNNING, heartbeat=True, lease=1)
        store.finish_trial(s.study_id, t.number, TrialState.COMPLETE, {"loss": 1.0})
        far = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)
        assert store.reclaim_stale(s.study_id, far, requeue=True) == []
        assert store.get_trial(s.study_id, t.number).values == {"loss": 1.0}

    def test_concurrent_reclaimers_requeue_each_trial_once(self, store: StudyStore) -> None:
        s = make_study(store)
        expired = [store.create_trial(s.study_id, {"x": i / 30}, TrialState.RUNNING, lease=0.001).number
                   for i in range(30)]
        far = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)
        got: list[int] = []
        errors: list[BaseException] = []
        barrier = threading.Barrier(4)

        def reclaim() -> None:
            try:
                barrier.wait()
                for _ in range(3):
                    got.extend(store.reclaim_stale(s.study_id, far, requeue=True))
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=reclaim) for _ in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert errors == []
        assert sorted(got) == expired
        retries = [t.attrs["retry_of"] for t in store.get_trials(s.study_id) if "retry_of" in t.attrs]
        assert sorted(retries) == expired

    def test_late_result_completes_a_waiting_retry(self, store: StudyStore) -> None:
        s = make_study(store)
        t = store.create_trial(s.study_id, {"x": 0.4}, TrialState.RUNNING, worker_id="paused", lease=0.001)
        far = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)
        store.reclaim_stale(s.study_id, far, requeue=True)
        store.add_report(s.study_id, t.number, 1, {"loss": 0.9})  # a late report is still accepted
        with pytest.raises(TrialStateError, match="told once"):
            store.finish_trial(s.study_id, t.number, TrialState.COMPLETE, {"loss": 0.5})
        done = store.record_late_result(s.study_id, t.number, TrialState.COMPLETE, {"loss": 0.5})
        old = store.get_trial(s.study_id, t.number)
        assert done.number == old.attrs["requeued_as"] and done.state is TrialState.COMPLETE
        assert done.values == {"loss": 0.5} and done.attrs["late_result_of"] == t.number
        assert old.state is TrialState.FAILED and old.attrs["late_result"]["values"] == {"loss": 0.5}
        assert done.number in [x.number for x in store.finished_since(s.study_id, 0)[0]]
        with pytest.raises(TrialStateError):
            store.record_late_result(s.study_id, t.number, TrialState.COMPLETE, {"loss": 0.5})

    def test_late_result_is_kept_when_the_retry_runs(self, store: StudyStore) -> None:
        s = make_study(store)
        t = store.create_trial(s.study_id, {"x": 0.4}, TrialState.RUNNING, lease=0.001)
        far = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)
        store.reclaim_stale(s.study_id, far, requeue=True)
        retry = store.claim_waiting(s.study_id, "other")
        kept = store.record_late_result(s.study_id, t.number, TrialState.COMPLETE, {"loss": 0.5})
        assert kept.number == t.number and kept.attrs["late_result"]["state"] == "COMPLETE"
        assert store.get_trial(s.study_id, retry.number).state is TrialState.RUNNING
        live = store.create_trial(s.study_id, {"x": 0.1}, TrialState.RUNNING)
        with pytest.raises(TrialStateError):  # only a reclaimed trial takes a late result
            store.record_late_result(s.study_id, live.number, TrialState.COMPLETE, {"loss": 0.5})

    # -- deleted studies -----------------------------------------------------------------
    def test_ids_are_never_reused_and_a_deleted_study_refuses_every_call(self, store: StudyStore) -> None:
        make_study(store, "keep")
        gone = make_study(store, "gone")
        t = store.create_trial(gone.study_id, {"x": 0.1}, TrialState.RUNNING, heartbeat=True, lease=60)
        store.delete_study("gone")
        new = make_study(store, "new", space={"lr": SPACE["x"]})
        assert new.study_id != gone.study_id
        sid = gone.study_id
        calls = {
            "create_trial": lambda: store.create_trial(sid, {"x": 0.2}, TrialState.RUNNING),
            "start_trial": lambda: store.start_trial(sid, "w", lambda n: {"x": 0.3}),
            "finish_trial": lambda: store.finish_trial(sid, t.number, TrialState.COMPLETE, {"loss": 1.0}),
            "add_report": lambda: store.add_report(sid, t.number, 1, {"loss": 1.0}),
            "heartbeat": lambda: store.heartbeat(sid, [t.number], lease=60),
            "get_trials": lambda: store.get_trials(sid),
            "finished_since": lambda: store.finished_since(sid, 0),
            "columns_since": lambda: store.columns_since(sid, 0, TrialFields(values=("loss",))),
            "live_columns": lambda: store.live_columns(sid, TrialFields(values=("loss",))),
            "best_value": lambda: store.best_value(sid, LOSS),
            "report_counts": lambda: store.report_counts(sid),
            "reserve_numbers": lambda: store.reserve_numbers(sid),
        }
        for _name, call in calls.items():
            with pytest.raises(StudyNotFoundError, match="deleted"):
                call()
        assert store.get_trials(new.study_id) == []

    # -- text ----------------------------------------------------------------------------
    def test_nul_is_stored_alike_in_every_text_field(self, store: StudyStore) -> None:
        nul, shown = "a\x00b", "a\u2400b"
        s = make_study(store, "nul", settings={"seed": 1, "note": nul, nul: 1},
                       objectives=[{"name": nul, "direction": "minimize"}])
        assert s.objectives[0].name == shown and s.settings["note"] == shown and shown in s.settings
        t = store.create_trial(s.study_id, {"x": 0.1, "c": nul}, TrialState.RUNNING, worker_id=nul,
                               attrs={nul: [nul]})
        store.add_report(s.study_id, t.number, 1, {nul: 1.0})
        store.add_evaluation(s.study_id, t.number, 0, "tuning", TrialState.FAILED, error=nul)
        store.finish_trial(s.study_id, t.number, TrialState.FAILED, error=f"Traceback: {nul}")
        got = store.get_trial(s.study_id, t.number)
        assert got.params["c"] == shown and got.worker_id == shown and got.attrs == {shown: [shown]}
        assert got.error == f"Traceback: {shown}"
        assert store.get_reports(s.study_id)[0].values == {shown: 1.0}
        assert store.get_evaluations(s.study_id)[0].error == shown

    def test_reports_only_while_running(self, store: StudyStore) -> None:
        s = make_study(store)
        waiting = store.create_trial(s.study_id, {"x": 0.1}, TrialState.WAITING)
        done = store.create_trial(s.study_id, {"x": 0.2}, TrialState.RUNNING)
        store.finish_trial(s.study_id, done.number, TrialState.COMPLETE, {"loss": 1.0})
        for number in (waiting.number, done.number):
            with pytest.raises(TrialStateError, match="RUNNING"):
                store.add_report(s.study_id, number, 1, {"loss": 0.5})
        assert store.get_reports(s.study_id) == []

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


def _plain(columns: TrialColumns) -> dict[str, Any]:
    """A :class:`TrialColumns` as plain lists, timestamps as aware datetimes (ISO text parsed)."""

    def stamp(value: Any) -> Any:
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value)
        if isinstance(value, dt.datetime) and value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return value

    out: dict[str, Any] = {}
    for name in ("number", "state", "worker_id", "error"):
        out[name] = list(getattr(columns, name))
    for name in ("started_at", "finished_at"):
        out[name] = [stamp(v) for v in getattr(columns, name)]
    for name in ("values", "constraints", "params", "attrs"):
        out[name] = {k: list(v) for k, v in getattr(columns, name).items()}
    return out
