"""A study as a Ray cluster batch job: `ray start --head`, `ray job submit -- hpo run study.yaml`,
PostgreSQL as the shared store (the README's path, on a single-node cluster started here)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import hpo
from hpo.records import TrialState

pytest.importorskip("ray")

from hpo.testing.ray_local import RayHead, _session_pids  # noqa: E402

STUDY = textwrap.dedent(
    """
    name: cluster-job
    storage: {storage}
    objective: job_objective:objective
    objectives: {{loss: minimize}}
    space:
      x: {{type: float, low: -2.0, high: 2.0}}
      width: {{type: int, low: 8, high: 64, log: true}}
    sampler: {{name: tpe, options: {{n_startup_trials: 3}}}}
    seed: 0
    n_trials: 6
    execution: {{backend: ray, address: auto, n_workers: 2, resources: {{cpu: 1}}, max_retries: 1}}
    settings: {{heartbeat_interval: 5}}
    """
)

OBJECTIVE = textwrap.dedent(
    """
    import os

    def objective(trial):
        for epoch in range(2):
            trial.report(epoch, {"loss": trial["x"] ** 2 / (epoch + 1)})
        return {"loss": trial["x"] ** 2 + 1.0 / trial["width"]}
    """
)


@pytest.fixture(scope="module")
def ray_head() -> Iterator[RayHead]:
    head = RayHead(num_cpus=2).start()
    try:
        yield head
    finally:
        sid = head.proc.pid if head.proc is not None else None
        head.stop()
        if sid is not None:
            assert not _session_pids(sid), "the test cluster left processes behind"


@pytest.mark.slow
def test_ray_job_submit_hpo_run_on_a_cluster(ray_head: RayHead, postgres_url: str, tmp_path: Path) -> None:
    job = tmp_path / "job"
    job.mkdir()
    (job / "study.yaml").write_text(STUDY.format(storage=postgres_url))
    (job / "job_objective.py").write_text(OBJECTIVE)
    ray_bin = Path(sys.executable).parent / "ray"
    deadline = time.monotonic() + 90
    while True:  # the job agent may start a little after the dashboard answers
        proc = subprocess.run(
            [str(ray_bin), "job", "submit", "--address", ray_head.dashboard_url, "--working-dir", str(job),
             "--", "hpo", "run", "study.yaml", "--no-progress"],
            env=ray_head.env(), capture_output=True, text=True, timeout=600,
        )
        if "No available agent to submit job" not in proc.stderr or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "of 6 completed trials" in proc.stdout, proc.stdout[-3000:]

    study = hpo.load_study("cluster-job", postgres_url)
    trials = study.trials
    assert len(trials) == 6 and all(t.state is TrialState.COMPLETE for t in trials)
    assert len(study.store.get_reports(study.study_id)) == 12
    assert all(t.values["loss"] == pytest.approx(t.params["x"] ** 2 + 1 / t.params["width"]) for t in trials)

    # Following progress from outside the cluster: `hpo status` on the shared store.
    status = subprocess.run([str(Path(sys.executable).parent / "hpo"), "status", "cluster-job", "--storage", postgres_url],
                            capture_output=True, text=True, timeout=300)
    assert status.returncode == 0 and "COMPLETE=6" in status.stdout, status.stdout + status.stderr
