"""A node that goes away mid-trial: the trial is FAILED with the error and its retry runs on another node.

A multi-node cluster on this machine (``ray.cluster_utils.Cluster``: a head, where the driver and its hub
are, and two worker nodes, each its own raylet), started and shut down here.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import hpo
from hpo.records import TrialState

ray = pytest.importorskip("ray")

from ray.cluster_utils import Cluster  # noqa: E402

from hpo.testing.ray_local import ray_env  # noqa: E402


def _slow_first_attempt(trial: Any) -> float:
    if trial.attrs.get("retries", 0) == 0:
        import ray

        Path(trial.attrs["flag"]).write_text(ray.get_runtime_context().get_node_id())
        time.sleep(60)  # its node is removed meanwhile
    return float(trial["x"])


@pytest.mark.slow
def test_node_death_fails_the_trial_and_the_retry_runs_elsewhere(sqlite_url: str, tmp_path: Path) -> None:
    for key, value in ray_env().items():
        os.environ.setdefault(key, value)
    temp = tempfile.mkdtemp(prefix="hpo-rayn-", dir="/tmp")
    # Cluster writes the head's address into Ray's default temp dir without creating it: on a fresh
    # machine where no Ray process ran yet that is FileNotFoundError ('/tmp/ray/ray_current_cluster')
    Path(os.environ.get("RAY_TMPDIR") or os.environ.get("TMPDIR") or "/tmp", "ray").mkdir(parents=True, exist_ok=True)
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False,
                                                             "temp_dir": temp})
    try:
        ray.init(address=cluster.address, log_to_driver=False)  # before the worker nodes: the driver is on the head
        # in the main thread (Ray sets signal handlers); trials ask for "worker", which the head lacks
        nodes = [cluster.add_node(num_cpus=1, resources={"worker": 1}) for _ in range(2)]
        study = hpo.create_study(name="node", space={"x": hpo.Float(0, 1)}, storage=sqlite_url, sampler="random",
                                 seed=0)
        flag = tmp_path / "running"
        study.enqueue({"x": 0.5}, attrs={"flag": str(flag)})

        def remove_node_when_running() -> None:
            for _ in range(2400):
                node_id = flag.read_text() if flag.exists() else ""
                if node_id:  # remove the node running the trial; the retry runs on the other one
                    cluster.remove_node(next(n for n in nodes if n.node_id == node_id), allow_graceful=False)
                    return
                time.sleep(0.05)

        killer = threading.Thread(target=remove_node_when_running, daemon=True)
        killer.start()
        study.optimize(_slow_first_attempt, n_trials=1, backend="ray", max_retries=1,
                       resources={"cpu": 1, "worker": 1}, show_progress_bar=False)
        killer.join(timeout=60)
    finally:
        ray.shutdown()
        cluster.shutdown()
        import shutil

        shutil.rmtree(temp, ignore_errors=True)
    first, retry = study.trials
    assert first.state is TrialState.FAILED and "re-queued as trial 1" in first.error, first.error
    assert "Error" in first.error  # NodeDiedError / WorkerCrashedError / ActorDiedError... with Ray's message
    assert retry.state is TrialState.COMPLETE and retry.params == first.params and retry.attrs["retry_of"] == 0
