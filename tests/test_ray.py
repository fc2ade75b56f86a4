"""The Ray backend on a real local Ray instance (one per module, started and stopped here)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import hpo
from hpo.errors import ConfigError, UnknownNameError
from hpo.records import TrialState
from hpo.samplers import RandomSampler
from hpo.schedulers import Decision, Plan, Scheduler, SchedulerState

ray = pytest.importorskip("ray")

from hpo.execution.ray_driver import RayExecutor, check_resources, ray_options  # noqa: E402
from hpo.testing.executor_suite import ExecutorConformance  # noqa: E402
from hpo.testing.ray_local import local_ray  # noqa: E402


@pytest.fixture(scope="module")
def ray_session() -> Iterator[Any]:
    with local_ray(num_cpus=2) as r:
        yield r


class TestRayExecutorConformance(ExecutorConformance):
    """The executor contract on the module's local Ray instance (two CPUs, half a CPU per trial)."""
    registered_name = "ray"

    not_applicable = {
        "ctrl_c": "Ray turns a KeyboardInterrupt raised in a task into a cancelled task; Ctrl-C reaches the "
                  "driver, tested by test_ctrl_c_stops_running_trials_and_keeps_completed_ones",
    }

    @pytest.fixture
    def executor_factory(self, ray_session: Any) -> Any:
        return lambda problem, **options: RayExecutor(resources={"cpu": 0.5}, stop_grace=2.0, **options)


def _study(url: str, name: str = "ray", **kwargs: Any) -> hpo.Study:
    kwargs.setdefault("sampler", "random")
    return hpo.create_study(name=name, space={"x": hpo.Float(0, 1), "k": hpo.Int(1, 4)}, storage=url, seed=0, **kwargs)


class PendingSpy(RandomSampler):
    """A random sampler that records how many trials were pending at each suggestion."""

    uses_pending = True
    suggests_in_transaction = False

    def __init__(self) -> None:
        super().__init__()
        self.pending: list[int] = []

    def suggest(self, context):  # type: ignore[no-untyped-def]
        self.pending.append(len(context.pending))
        return super().suggest(context)


def _reporting(trial: Any) -> float:
    for step in range(3):
        trial.report(step, {"value": trial["x"] + step, "aux": float("nan") if step == 1 else 1.0})
    time.sleep(0.2)
    return (trial["x"] - 0.3) ** 2 + trial["k"]


def test_parallel_trials_stream_reports_and_see_pending(ray_session: Any, storage_url: str) -> None:
    spy = PendingSpy()
    study = _study(storage_url, sampler=spy)
    study.optimize(_reporting, n_trials=8, n_workers=2, backend="ray", show_progress_bar=False)
    trials = study.trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 8
    for t in trials:
        assert t.values["value"] == pytest.approx((t.params["x"] - 0.3) ** 2 + t.params["k"])
    reports = study.store.get_reports(study.study_id)
    assert len(reports) == 24
    by_trial = {(r.trial_number, r.step): r.values for r in reports}
    assert by_trial[(0, 1)]["aux"] is None and by_trial[(0, 2)]["value"] == pytest.approx(trials[0].params["x"] + 2)
    assert max(spy.pending) >= 1  # asynchronous: a suggestion was made while another trial ran
    assert study.best_trial.number in range(8)


def _waits_for_its_report(trial: Any) -> float:
    # The driver must write the report while this trial is still running.
    trial.report(0, 0.5)
    seen = hpo.load_study(trial.attrs["study"], trial.attrs["url"], sampler=RandomSampler())
    for _ in range(600):
        if seen.store.get_reports(seen.study_id, [trial.number]):
            return 1.0
        time.sleep(0.05)
    raise RuntimeError("the report never reached the store while the trial ran")


def test_reports_reach_the_store_while_the_trial_runs(ray_session: Any, sqlite_url: str) -> None:
    study = _study(sqlite_url, name="stream")
    study.enqueue({"x": 0.5, "k": 2}, attrs={"study": "stream", "url": sqlite_url})
    study.optimize(_waits_for_its_report, n_trials=1, backend="ray", show_progress_bar=False)
    (trial,) = study.trials
    assert trial.state is TrialState.COMPLETE, trial.error


class StopAfterTwoReports(Scheduler):
    """A scheduler that stops a trial once it has reported step 2."""

    name = "stop-after-two"

    def plan(self, state: SchedulerState, number: int, rng: Any) -> Plan:
        return Plan(budget=state.fidelity.max)

    def decide(self, state: SchedulerState, number: int) -> Decision:
        curve = state.trials[number].curve
        return Decision.STOP if curve and curve[-1][0] >= 2 else Decision.CONTINUE


def _until_stopped(trial: Any) -> float:
    for step in range(600):
        trial.report(step, float(step))
        if trial.should_stop():
            raise hpo.TrialPruned()
        time.sleep(0.05)
    return 0.0


def test_scheduler_stop_reaches_the_running_trial(ray_session: Any, sqlite_url: str) -> None:
    study = _study(sqlite_url, fidelity=hpo.Fidelity("steps", 1, 600), scheduler=StopAfterTwoReports())
    study.optimize(_until_stopped, n_trials=2, n_workers=2, backend="ray", show_progress_bar=False)
    for t in study.trials:
        assert t.state is TrialState.PRUNED
        steps = [r.step for r in study.store.get_reports(study.study_id, [t.number])]
        assert 2 <= max(steps) < 599


def _segment(trial: Any) -> float:
    """Trains a stand-in model from its checkpoint (if it resumes one) to its budget, then saves it."""
    import json as _json

    state = {"loss": 1.0, "steps": []}
    if (folder := trial.load_checkpoint()) is not None:
        state = _json.loads((folder / "state.json").read_text())
    for step in range(int(trial.start_step) + 1, int(trial.budget) + 1):
        state["loss"] *= 0.5 + 0.4 * abs(trial["x"] - 0.3)
        state["steps"].append(step)
        trial.report(step, state["loss"])
    (trial.checkpoint_dir / "state.json").write_text(_json.dumps(state))
    return state["loss"]


@pytest.mark.parametrize("scheduler", [
    {"name": "pbt", "options": {"population_size": 3, "interval": 3}},
    {"name": "asha", "options": {"type": "promotion"}},
])
def test_resuming_schedulers_on_ray(ray_session: Any, sqlite_url: str, tmp_path: Path, scheduler: Any) -> None:
    """Promotions and PBT segments run as Ray tasks and resume the checkpoints their parents saved."""
    study = _study(sqlite_url, fidelity=hpo.Fidelity("epochs", 1, 9), scheduler=scheduler,
                   checkpoint_root=str(tmp_path / "ckpt"))
    n_trials = None if scheduler["name"] == "pbt" else 12
    study.optimize(_segment, n_trials=n_trials, n_workers=2, backend="ray", show_progress_bar=False)
    trials = {t.number: t for t in study.trials}
    assert all(t.state is TrialState.COMPLETE for t in trials.values()), [t.error for t in trials.values()]
    resumed = [t for t in trials.values() if "resume_from" in t.attrs]
    assert resumed
    for t in resumed:
        import json as _json

        saved = _json.loads(Path(t.attrs["checkpoint_dir"], "state.json").read_text())
        parent = trials[t.attrs["resume_from"]]
        assert saved["steps"] == list(range(1, int(t.attrs["budget"]) + 1))  # continued, not restarted
        assert t.attrs["start_step"] == parent.attrs["budget"]
    if scheduler["name"] == "pbt":
        assert len(trials) == 9  # 3 members x 3 segments


def _at_budget(trial: Any) -> float:
    return (trial["x"] - 0.3) ** 2 + 1.0 / trial.budget


def test_mfbo_budgets_reach_the_ray_workers(ray_session: Any, sqlite_url: str) -> None:
    """The budget a multi-fidelity sampler chooses is the one the remote objective reads."""
    study = _study(sqlite_url, fidelity=hpo.Fidelity("epochs", 1, 9),
                   sampler={"name": "mfbo", "options": {"n_initial": 4}})
    study.optimize(_at_budget, n_trials=4, n_workers=2, backend="ray", show_progress_bar=False)
    for t in study.trials:
        assert t.state is TrialState.COMPLETE
        assert t.value == pytest.approx((t.params["x"] - 0.3) ** 2 + 1.0 / t.attrs["budget"])
    assert len({t.attrs["budget"] for t in study.trials}) > 1


def _faulty(trial: Any) -> float:
    mode = trial.attrs.get("mode") if trial.attrs.get("retries", 0) == 0 else None
    if mode == "raise":
        raise ValueError(f"bad x={trial['x']}")
    if mode == "exit":
        os._exit(3)
    if mode == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    return trial["x"]


def _enqueue_faults(study: hpo.Study) -> None:
    for i, mode in enumerate(("raise", "exit", "kill")):
        study.enqueue({"x": i / 4, "k": 1}, attrs={"mode": mode})


def test_failures_are_stored_and_retried(ray_session: Any, sqlite_url: str) -> None:
    study = _study(sqlite_url)
    _enqueue_faults(study)
    study.optimize(_faulty, n_trials=5, n_workers=2, backend="ray", max_retries=1, show_progress_bar=False)
    trials = {t.number: t for t in study.trials}
    failed = [t for t in trials.values() if t.state is TrialState.FAILED]
    assert sorted(t.number for t in failed) == [0, 1, 2]
    assert "ValueError: bad x=" in trials[0].error
    for t in failed[1:]:
        assert "Worker" in t.error or "worker" in t.error  # WorkerCrashedError / worker died
    for t in failed:
        retry = next(r for r in trials.values() if r.attrs.get("retry_of") == t.number)
        assert retry.params == t.params and retry.state is TrialState.COMPLETE and retry.attrs["retries"] == 1
        assert f"re-queued as trial {retry.number}" in t.error
    assert len([t for t in trials.values() if t.state is TrialState.COMPLETE]) == 5  # retries do not eat n_trials
    assert study.count_done() == 5


def test_without_retries_the_study_goes_on(ray_session: Any, sqlite_url: str) -> None:
    study = _study(sqlite_url)
    _enqueue_faults(study)
    study.optimize(_faulty, n_trials=4, n_workers=2, backend="ray", show_progress_bar=False)
    states = [t.state for t in study.trials]
    assert states == [TrialState.FAILED] * 3 + [TrialState.COMPLETE]


def _raises_key_error(trial: Any) -> float:
    raise KeyError("not caught")


def test_exception_outside_catch_fails_the_trial_and_propagates(ray_session: Any, sqlite_url: str) -> None:
    study = _study(sqlite_url)
    with pytest.raises(KeyError):
        study.optimize(_raises_key_error, n_trials=3, backend="ray", catch=(), show_progress_bar=False)
    (trial,) = study.trials
    assert trial.state is TrialState.FAILED and "not caught" in trial.error


def _for_interrupt(trial: Any) -> float:
    if trial.number == 0:
        return 0.0
    Path(trial.attrs["flags"], str(trial.number)).touch()
    if trial.number == 1:  # cooperative: stops when the driver says so
        while not trial.should_stop():
            time.sleep(0.05)
        raise hpo.TrialPruned()
    time.sleep(300)  # not cooperative: cancelled
    return 1.0


def test_ctrl_c_stops_running_trials_and_keeps_completed_ones(ray_session: Any, sqlite_url: str, tmp_path: Path) -> None:
    study = _study(sqlite_url)
    for x in (0.1, 0.2, 0.3):
        study.enqueue({"x": x, "k": 1}, attrs={"flags": str(tmp_path)})

    def interrupt(study: Any, frozen: Any) -> None:
        for _ in range(1200):  # wait for trials 1 and 2 to run, then press Ctrl-C
            if (tmp_path / "1").exists() and (tmp_path / "2").exists():
                raise KeyboardInterrupt
            time.sleep(0.05)

    executor = RayExecutor(resources={"cpu": 0.5}, stop_grace=2.0)
    with pytest.raises(KeyboardInterrupt):
        study.optimize(_for_interrupt, n_trials=3, n_workers=3, backend=executor, callbacks=[interrupt],
                       show_progress_bar=False)
    trials = study.trials
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAILED]
    assert "interrupted (KeyboardInterrupt)" in trials[2].error
    assert not study.get_trials([TrialState.RUNNING, TrialState.WAITING])


def test_local_backend_ctrl_c_asks_running_trials_to_stop(sqlite_url: str, tmp_path: Path) -> None:
    study = _study(sqlite_url)
    for x in (0.1, 0.2):
        study.enqueue({"x": x, "k": 1}, attrs={"flags": str(tmp_path)})

    def cooperative(trial: Any) -> float:
        if trial.number == 0:
            for _ in range(1200):  # finish once trial 1 runs
                if (tmp_path / "1").exists():
                    return 0.0
                time.sleep(0.05)
            raise RuntimeError("trial 1 never started")
        (tmp_path / "1").touch()
        while not trial.should_stop():
            time.sleep(0.05)
        raise hpo.TrialPruned()

    def interrupt(study: Any, frozen: Any) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        study.optimize(cooperative, n_trials=2, n_workers=2, callbacks=[interrupt], show_progress_bar=False)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE, TrialState.PRUNED]


DRIVER = textwrap.dedent(
    """
    import sys, time
    import hpo, ray

    FLAG = sys.argv[3]  # the objective is shipped to a worker by value, with this global


    def objective(trial):
        if trial.number == 2:  # tell the test we are mid-trial, then hang until the driver is killed
            open(FLAG, "w").close()
            time.sleep(600)
        return trial["x"]

    ray.init(address=sys.argv[2])
    study = hpo.create_study(name="driver", space={"x": hpo.Float(0, 1)}, storage=sys.argv[1], sampler="random",
                             seed=1, load_if_exists=True, heartbeat_interval=0.2, stale_after=1.0)
    study.optimize(objective, n_trials=100, backend="ray", show_progress_bar=False)
    """
)


@pytest.mark.slow
def test_dead_driver_trials_are_reclaimed_and_rerun(ray_session: Any, sqlite_url: str, tmp_path: Path) -> None:
    script, flag = tmp_path / "driver.py", tmp_path / "mid-trial"
    script.write_text(DRIVER)
    address = ray_session.get_runtime_context().gcs_address
    proc = subprocess.Popen([sys.executable, str(script), sqlite_url, address, str(flag)], stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 180
        while not flag.exists():
            assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
            assert time.monotonic() < deadline, "the driver did not reach trial 2"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    study = hpo.load_study("driver", sqlite_url)
    (running,) = study.get_trials([TrialState.RUNNING])
    assert running.number == 2
    time.sleep(1.3)  # longer than stale_after
    study.optimize(lambda t: t["x"], n_trials=2, backend="ray", show_progress_bar=False)
    trials = {t.number: t for t in study.trials}
    killed = trials[2]
    assert killed.state is TrialState.FAILED and "heartbeat" in killed.error
    retry = trials[killed.attrs["requeued_as"]]
    assert retry.params == running.params and retry.state is TrialState.COMPLETE
    assert not study.get_trials([TrialState.RUNNING, TrialState.WAITING])


def test_gpu_request_on_a_cluster_without_gpus_is_refused(ray_session: Any, sqlite_url: str) -> None:
    if ray_session.cluster_resources().get("GPU"):
        pytest.skip("this cluster has GPUs")
    study = _study(sqlite_url)
    with pytest.raises(ConfigError, match=r"requests \{'GPU': 0.5\}"):
        study.optimize(lambda t: 0.0, n_trials=1, backend="ray", resources={"cpu": 1, "gpu": 0.5})
    assert study.trials == []


# -- validation (no Ray needed) -------------------------------------------------------
@pytest.mark.parametrize(
    ("resources", "match"),
    [
        ({"gpu": 1.5}, r"resources\['gpu'\]: a request above 1 GPU must be whole, but got 1.5"),
        ({"cpu": -1}, r"resources\['cpu'\]: must be a non-negative, finite number, but got -1"),
        ({"cpu": "1"}, r"but got '1'"),
        ({"cpu": 1, "CPU": 2}, r"'CPU' is given twice"),
        ([1], r"expected a mapping"),
    ],
)
def test_bad_resources_are_refused(resources: Any, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        check_resources(resources)


def test_resources_map_to_ray_options() -> None:
    checked = check_resources({"GPU": 0.5, "memory": 2e9, "accelerator_type:A100": 1})
    assert ray_options(checked) == {
        "num_gpus": 0.5, "memory": 2_000_000_000, "num_cpus": 1.0, "resources": {"accelerator_type:A100": 1.0}
    }


def test_backend_options_are_validated(sqlite_url: str) -> None:
    study = _study(sqlite_url)
    with pytest.raises(ConfigError, match=r"backend 'local': unknown option\(s\) \['resources'\]; valid options: "
                       r"\['max_retries'\]; they are for backend='ray'"):
        study.optimize(lambda t: 0.0, n_trials=1, resources={"cpu": 1})
    with pytest.raises(ConfigError, match=r"max_retries: must be a non-negative integer, but got -1"):
        study.optimize(lambda t: 0.0, n_trials=1, backend="ray", max_retries=-1)
    with pytest.raises(UnknownNameError, match=r"backend: unknown name 'dask'; valid names: \['local', 'ray'\]"):
        study.optimize(lambda t: 0.0, n_trials=1, backend="dask")
    assert study.trials == []


def test_config_execution_block() -> None:
    from hpo.config import parse_config

    base = {"name": "c", "objective": "m:f", "space": {"x": {"type": "float", "low": 0, "high": 1}}}
    cfg = parse_config({**base, "execution": {"backend": "ray", "address": "auto", "n_workers": 4,
                                              "resources": {"cpu": 1, "gpu": 0.5}, "max_retries": 2}})
    executor = cfg.executor()
    assert isinstance(executor, RayExecutor)
    assert executor.address == "auto" and executor.max_retries == 2 and executor.resources == {"cpu": 1.0, "gpu": 0.5}
    with pytest.raises(ConfigError, match=r"execution\.resources\['gpu'\]: a request above 1 GPU must be whole"):
        parse_config({**base, "execution": {"backend": "ray", "resources": {"gpu": 2.5}}})
    with pytest.raises(ConfigError, match=r"execution: \['resources'\] need backend: ray, but got backend: 'local'"):
        parse_config({**base, "execution": {"backend": "local", "resources": {"cpu": 1}}})
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['gpus'\]"):
        parse_config({**base, "execution": {"backend": "ray", "gpus": 1}})


def test_import_hpo_does_not_import_ray() -> None:
    code = ("import sys, hpo, hpo.study, hpo.execution, hpo.execution.ray_driver, hpo.execution.ray_worker, hpo.config, hpo.cli\n"
            "print('ray' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
