"""Store integrity: no trial written into the wrong study, no told result overwritten, no worker lost
to a pause, leases for ask()/tell() trials, NUL text, and the migration that makes ids unique."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest
import sqlalchemy as sa

import hpo
from hpo.errors import ConfigError, LateResultWarning, ObjectiveError, SchemaVersionError, StudyNotFoundError
from hpo.errors import TrialStateError
from hpo.errors import WrongStudyError
from hpo.records import TrialState
from hpo.store.engine import get_engine, write_connection
from hpo.store.migrate import upgrade
from hpo.store.schema import Base
from hpo.store.text import NUL_REPLACEMENT

SPACE = {"x": hpo.Float(0.0, 1.0)}


def _study(url: str, name: str = "s", **kwargs: object) -> hpo.Study:
    kwargs.setdefault("space", SPACE)
    kwargs.setdefault("sampler", "random")
    kwargs.setdefault("seed", 0)
    return hpo.create_study(name=name, storage=url, **kwargs)


# -- 1. a deleted study's handle never writes into the next study -----------------------------------
def test_a_handle_on_a_deleted_study_never_writes_into_the_next_one(storage_url: str) -> None:
    keep = _study(storage_url, "keep")
    old = _study(storage_url, "old")
    running = old.ask()
    old.tell(old.ask(), 0.5)
    hpo.delete_study("old", storage_url)
    new = _study(storage_url, "new", space={"lr": hpo.Float(1e-4, 1e-1, log=True)})
    assert new.study_id not in (old.study_id, keep.study_id)
    for call in (old.ask, lambda: old.tell(running, 0.1), lambda: old.trials, lambda: old.enqueue({"x": 0.2})):
        with pytest.raises(StudyNotFoundError, match="deleted"):
            call()
    assert new.trials == []


def test_a_worker_of_a_deleted_study_stops_with_a_clear_error(storage_url: str) -> None:
    study = _study(storage_url, "doomed")
    seen: list[int] = []

    def objective(trial: hpo.Trial) -> float:
        seen.append(trial.number)
        if trial.number == 3:
            hpo.delete_study("doomed", storage_url)
            _study(storage_url, "successor", space={"lr": hpo.Float(0.1, 1.0)})
        return trial["x"]

    with pytest.raises(StudyNotFoundError):
        study.optimize(objective, n_trials=10, show_progress_bar=False)
    assert seen == [0, 1, 2, 3]
    assert hpo.load_study("successor", storage_url).trials == []


# -- 2. the reclaim race: a tell in flight is never overwritten ----------------------------------------
def test_a_reclaim_waits_for_a_tell_in_flight_and_leaves_it_complete(storage_url: str) -> None:
    study = _study(storage_url, heartbeat_interval=0.1, stale_after=0.5)
    trial = study.ask(heartbeat=True)
    store = study.store
    # The deterministic hook: a tell that has taken its locks and written COMPLETE but not yet committed,
    # exactly as finish_trial does it (study row first, then the trial row).
    conn = write_connection(store.engine)
    txn = conn.begin()
    conn.execute(sa.text("UPDATE studies SET seq = seq + 1 WHERE id = :sid"), {"sid": study.study_id})
    conn.execute(
        sa.text("UPDATE trials SET state = 'COMPLETE', \"values\" = :v, seq = (SELECT seq FROM studies WHERE id = :sid) "
                "WHERE study_id = :sid AND number = :n"),
        {"v": '{"value": 0.25}', "sid": study.study_id, "n": trial.number},
    )
    result: list[object] = []
    far = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)
    reclaimer = threading.Thread(target=lambda: result.append(store.reclaim_stale(study.study_id, far, True)))
    reclaimer.start()
    reclaimer.join(timeout=1.0)
    assert reclaimer.is_alive() or result == [[]]  # it waits for the tell (PostgreSQL) or saw it done
    txn.commit()
    conn.close()
    reclaimer.join(timeout=30)
    assert result == [[]]
    told = store.get_trial(study.study_id, trial.number)
    assert told.state is TrialState.COMPLETE and told.values == {"value": 0.25}
    assert study.get_trials([TrialState.WAITING]) == []


# -- 3. a trial handle carries its study -------------------------------------------------------------
def test_telling_another_studys_trial_is_refused(sqlite_url: str) -> None:
    a, b = _study(sqlite_url, "a"), _study(sqlite_url, "b")
    mine, theirs = a.ask(), b.ask()
    with pytest.raises(WrongStudyError, match="belongs to study 'b'"):
        a.tell(theirs, 1.0)
    frozen = b.store.get_trial(b.study_id, theirs.number)
    with pytest.raises(WrongStudyError):
        a.tell(frozen, 1.0)
    assert a.store.get_trial(a.study_id, mine.number).state is TrialState.RUNNING
    assert b.store.get_trial(b.study_id, theirs.number).state is TrialState.RUNNING
    b.tell(theirs, 1.0)


# -- 4. a paused worker survives and its late result is kept ----------------------------------------
PAUSED = textwrap.dedent(
    """
    import sys, time, warnings
    import hpo

    def objective(trial):
        if trial.number == 0:
            open(sys.argv[2], "w").close()  # the test pauses us now
            time.sleep(1.0)
        return trial["x"]

    study = hpo.load_study("paused", sys.argv[1])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        study.optimize(objective, n_trials=4, show_progress_bar=False)
    print("late warnings:", sum(issubclass(w.category, hpo.errors.LateResultWarning) for w in caught))
    """
)


@pytest.mark.slow
def test_a_paused_worker_goes_on_and_its_late_result_is_kept(storage_url: str, tmp_path) -> None:
    study = _study(storage_url, "paused", heartbeat_interval=0.1, stale_after=0.5)
    script, flag = tmp_path / "worker.py", tmp_path / "started"
    script.write_text(PAUSED)
    proc = subprocess.Popen([sys.executable, str(script), storage_url, str(flag)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not flag.exists():
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "the worker never started trial 0"
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGSTOP)  # laptop lid closed
        time.sleep(1.0)  # past stale_after
        assert study.reclaim_stale() == [0]
        os.kill(proc.pid, signal.SIGCONT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGCONT)
            proc.kill()
    assert proc.returncode == 0, err.decode()
    assert "late warnings: 1" in out.decode()
    old = study.store.get_trial(study.study_id, 0)
    assert old.state is TrialState.FAILED and old.attrs["late_result"]["state"] == "COMPLETE"
    retry = study.store.get_trial(study.study_id, old.attrs["requeued_as"])
    assert retry.state is TrialState.COMPLETE and retry.attrs["late_result_of"] == 0
    assert retry.values == {"value": old.params["x"]}
    assert study.count_done() == 4
    assert not study.get_trials([TrialState.RUNNING, TrialState.WAITING])


# -- 5. NUL in stored text ---------------------------------------------------------------------------
def test_an_objective_exception_with_nul_fails_the_trial_and_the_study_goes_on(storage_url: str) -> None:
    study = _study(storage_url)

    def objective(trial: hpo.Trial) -> float:
        if trial.number == 1:
            raise ValueError("bad byte \x00 in the data")
        return trial["x"]

    study.optimize(objective, n_trials=3, show_progress_bar=False)
    states = [t.state for t in study.trials]
    assert states == [TrialState.COMPLETE, TrialState.FAILED, TrialState.COMPLETE]
    assert f"bad byte {NUL_REPLACEMENT} in the data" in study.trials[1].error


def test_told_text_is_checked_and_stored_as_text(storage_url: str) -> None:
    study = _study(storage_url)
    trial = study.ask()
    with pytest.raises(ObjectiveError, match="error must be a string"):
        study.tell(trial, state="FAILED", error={"code": 3})
    assert study.store.get_trial(study.study_id, trial.number).state is TrialState.RUNNING
    study.tell(trial, state="FAILED", error=b"CUDA error \xff\x00")
    stored = study.store.get_trial(study.study_id, trial.number).error
    assert isinstance(stored, str) and stored.startswith("CUDA error") and NUL_REPLACEMENT in stored
    with pytest.raises(ConfigError, match="enqueue attrs"):
        study.enqueue({"x": 0.5}, attrs={"when": object()})
    with pytest.raises(ConfigError, match="enqueue attrs"):
        study.enqueue({"x": 0.5}, attrs={"score": float("nan")})
    assert study.get_trials([TrialState.WAITING]) == []


def test_a_report_after_the_trial_is_told_is_refused(sqlite_url: str) -> None:
    study = _study(sqlite_url)
    trial = study.ask()
    trial.report(1, 0.5)
    study.tell(trial, 0.4)
    with pytest.raises(TrialStateError, match="RUNNING"):
        trial.report(2, 0.3)
    assert [r.step for r in study.store.get_reports(study.study_id)] == [1.0]


# -- 6. heartbeat bounds -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "settings",
    [{"heartbeat_interval": 1e-3}, {"heartbeat_interval": 0.01}, {"heartbeat_interval": 0.2, "stale_after": 0.3},
     {"heartbeat_interval": 0.1, "stale_after": 0.2}, {"ask_lease": 0.1}, {"ask_lease": -1}],
)
def test_heartbeat_settings_that_would_reclaim_live_trials_are_refused(sqlite_url: str, settings: dict) -> None:
    with pytest.raises(ConfigError, match=f"{list(settings)[-1]}: must be (at least|a positive)"):
        _study(sqlite_url, **settings)
    assert hpo.list_studies(sqlite_url) == []


# -- 16. leases of ask()/tell() trials ----------------------------------------------------------------
def test_an_orphaned_ask_tell_trial_is_reclaimed_after_its_lease(sqlite_url: str) -> None:
    study = _study(sqlite_url, ask_lease=0.5)
    orphan = study.ask()  # its client is killed: no tell, no heartbeat
    kept = study.ask()
    time.sleep(0.3)
    kept.heartbeat()  # a live client extends its lease
    time.sleep(0.4)
    fresh = _study(sqlite_url, load_if_exists=True)
    retry = fresh.ask()  # ask reclaims expired trials now and then, so ask/tell studies need no optimize
    gone = fresh.store.get_trial(fresh.study_id, orphan.number)
    assert gone.state is TrialState.FAILED and "ask()/tell() lease" in gone.error
    assert retry.params == orphan.params and retry.number == gone.attrs["requeued_as"]
    assert fresh.store.get_trial(fresh.study_id, kept.number).state is TrialState.RUNNING
    with pytest.warns(LateResultWarning):
        study.tell(orphan, 0.5)  # the client was only slow: its result is kept on the trial
    fresh.tell(retry, 0.5)
    study.tell(kept, 0.7)


def test_ask_lease_none_means_never_reclaimed(sqlite_url: str) -> None:
    study = _study(sqlite_url, ask_lease=None)
    trial = study.ask()
    assert study.store.get_trial(study.study_id, trial.number).expires_at is None
    far = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=365)
    assert study.store.reclaim_stale(study.study_id, far, requeue=True) == []


# -- the migration -----------------------------------------------------------------------------------
def _old_store(url: str) -> sa.Engine:
    """A store at the first revision, with two studies (the newest deleted later) and RUNNING trials."""
    engine = get_engine(url)
    upgrade(engine, "0001_initial")
    stamp = "2026-01-01 00:00:00+00:00"
    with engine.begin() as conn:
        for sid, name, settings in ((1, "a", '{"stale_after": 5.0}'), (2, "b", "{}")):
            conn.execute(sa.text(
                "INSERT INTO studies (id, name, space, objectives, constraints, settings, next_number, seq, "
                "created_at) VALUES (:id, :name, '{}', :obj, '[]', :settings, 2, 0, :at)"),
                {"id": sid, "name": name, "settings": settings, "at": stamp,
                 "obj": '[{"name": "value", "direction": "minimize"}]'})
        conn.execute(sa.text(
            "INSERT INTO trials (id, study_id, number, state, params, attrs, created_at, started_at, heartbeat_at) "
            "VALUES (1, 1, 0, 'RUNNING', '{}', '{}', :at, :at, :at), (2, 1, 1, 'RUNNING', '{}', '{}', :at, :at, NULL),"
            " (3, 2, 0, 'COMPLETE', '{}', '{}', :at, :at, NULL)"), {"at": stamp})
        conn.execute(sa.text("INSERT INTO reports (trial_id, step, \"values\", created_at) VALUES (3, 1, '{}', :at)"),
                     {"at": stamp})
        if engine.dialect.name == "postgresql":  # explicit ids above: move the sequences past them
            for table in ("studies", "trials", "reports"):
                conn.execute(sa.text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                     f"(SELECT max(id) FROM {table}))"))
    return engine


def test_an_old_store_is_migrated_in_place_and_never_reuses_ids(storage_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = _old_store(storage_url)
    with pytest.raises(SchemaVersionError, match="hpo db upgrade"):  # a read never migrates
        hpo.store.open_store(storage_url, read_only=True)
    store = hpo.store.open_store(storage_url)  # the first open for writing migrates
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert [d for d in diff if d[0] != "modify_default"] == []
        leases = dict(conn.execute(sa.text("SELECT id, expires_at FROM trials WHERE state = 'RUNNING'")).all())
        assert conn.execute(sa.text("SELECT count(*) FROM reports")).scalar() == 1  # no cascade on the rebuild
    assert set(leases) == {1, 2} and all(v is not None for v in leases.values())
    a = store.get_study("a")
    trials = {t.number: t for t in store.get_trials(a.study_id)}
    assert (trials[0].expires_at - trials[0].heartbeat_at).total_seconds() == pytest.approx(5.0)
    assert (trials[1].expires_at - trials[1].started_at).total_seconds() == pytest.approx(86400.0)
    store.delete_study("b")
    new = store.create_study("c", {}, [{"name": "value", "direction": "minimize"}], [], None, {})
    assert new.study_id == 3
