"""A study process killed with SIGKILL mid-run leaves a store that resumes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

import hpo
from hpo.records import TrialState

SCRIPT = textwrap.dedent(
    """
    import sys, time
    import hpo

    def objective(trial):
        if trial.number == 20:  # tell the test we are mid-trial, then hang until killed
            open(sys.argv[2], "w").close()
            time.sleep(600)
        time.sleep(0.01)
        return (trial["x"] - 0.3) ** 2

    study = hpo.create_study(name="crash", space={"x": hpo.Float(0, 1)}, storage=sys.argv[1],
                             sampler="random", seed=3, load_if_exists=True,
                             heartbeat_interval=0.2, stale_after=1.0)
    study.optimize(objective, n_trials=100000, show_progress_bar=False)
    """
)


def _wait_for(flag, proc: subprocess.Popen, limit: float = 120.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"study process exited early: {proc.stderr.read().decode()}")
        if flag.exists():
            return
        time.sleep(0.05)
    raise AssertionError(f"the study did not reach trial 20 within {limit}s")


@pytest.mark.slow
def test_sigkill_mid_run_then_resume(storage_url: str, tmp_path) -> None:
    script = tmp_path / "study.py"
    script.write_text(SCRIPT)
    flag = tmp_path / "mid-trial"
    proc = subprocess.Popen([sys.executable, str(script), storage_url, str(flag)], stderr=subprocess.PIPE)
    try:
        _wait_for(flag, proc)
        os.kill(proc.pid, signal.SIGKILL)  # trial 20 is RUNNING, 0..19 are COMPLETE
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    study = hpo.load_study("crash", storage_url)
    before = {t.number: t for t in study.get_trials([TrialState.COMPLETE])}
    running = study.get_trials([TrialState.RUNNING])
    assert sorted(before) == list(range(20))
    assert [t.number for t in running] == [20]

    time.sleep(1.3)  # longer than stale_after: the dead worker's trial is now stale
    resumed = []
    study.optimize(lambda t: resumed.append(t.number) or (t["x"] - 0.3) ** 2, n_trials=5, show_progress_bar=False)

    after = {t.number: t for t in study.trials}
    for number, trial in before.items():  # every completed trial is still there, unchanged
        assert after[number].state is TrialState.COMPLETE
        assert after[number].values == trial.values
    killed = after[running[0].number]
    assert killed.state is TrialState.FAILED and "heartbeat" in killed.error
    retry = after[killed.attrs["requeued_as"]]
    assert retry.params == running[0].params and retry.state is TrialState.COMPLETE
    assert retry.number in resumed
    assert not study.get_trials([TrialState.RUNNING, TrialState.WAITING])
