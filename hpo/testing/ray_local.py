"""Throwaway local Ray for tests and benchmarks, on 127.0.0.1, in a private temp dir.

``local_ray(num_cpus=2)`` initialises Ray in this process (a new local
instance, never one found on the machine) and shuts it down after.
``RayHead`` starts a separate single-node cluster with ``ray start --head
--block`` (dashboard and job server on 127.0.0.1) for ``ray job submit``;
``stop()`` ends every process of that cluster (by its process session) and
deletes its folder. Neither uses ``ray stop``, which would stop every Ray
instance on the machine, other users' included.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["local_ray", "RayHead", "ray_env"]


def ray_env() -> dict[str, str]:
    """Environment for test clusters: no usage stats, no per-user auth token shared between clusters."""
    return {"RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}


@contextlib.contextmanager
def local_ray(num_cpus: int = 2, num_gpus: int | None = None, **init: Any) -> Iterator[Any]:
    """``ray.init`` a new local instance (short temp dir, no dashboard); yield the ray module."""
    import ray

    for key, value in ray_env().items():
        os.environ.setdefault(key, value)
    temp = tempfile.mkdtemp(prefix="hpo-ray-", dir="/tmp")  # unix socket paths must stay short
    ray.init(address="local", num_cpus=num_cpus, num_gpus=num_gpus, include_dashboard=False,
             _temp_dir=temp, log_to_driver=False, **init)
    try:
        yield ray
    finally:
        ray.shutdown()
        shutil.rmtree(temp, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _session_pids(sid: int) -> list[int]:
    """Live processes (zombies left out) whose session id is ``sid`` (Linux /proc)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":  # state ppid pgrp session ...
            pids.append(int(entry.name))
    return pids


class RayHead:
    """A single-node Ray cluster started with ``ray start --head --block`` on 127.0.0.1."""

    def __init__(self, num_cpus: int = 2, ray_bin: str | None = None) -> None:
        self.num_cpus = num_cpus
        self.bin_dir = Path(ray_bin).parent if ray_bin else Path(sys.executable).parent
        self.temp_dir = tempfile.mkdtemp(prefix="hpo-rayc-", dir="/tmp")
        self.port = _free_port()
        self.dashboard_port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = Path(self.temp_dir, "ray-start.log")

    @property
    def dashboard_url(self) -> str:
        return f"http://127.0.0.1:{self.dashboard_port}"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """Environment for ``ray`` commands against this cluster (the venv's bin first on PATH)."""
        return {**os.environ, **ray_env(), "PATH": f"{self.bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
                "RAY_ADDRESS": self.dashboard_url}

    def start(self, timeout: float = 120.0) -> RayHead:
        command = [
            str(self.bin_dir / "ray"), "start", "--head", "--block", "--num-cpus", str(self.num_cpus),
            "--num-gpus", "0", "--node-ip-address", "127.0.0.1", "--port", str(self.port),
            "--dashboard-host", "127.0.0.1", "--dashboard-port", str(self.dashboard_port),
            # the agents' default ports are fixed: another Ray instance on this machine may hold them
            "--dashboard-agent-listen-port", str(_free_port()), "--dashboard-agent-grpc-port", str(_free_port()),
            "--runtime-env-agent-port", str(_free_port()), "--metrics-export-port", str(_free_port()),
            "--temp-dir", self.temp_dir, "--disable-usage-stats",
        ]
        env = {k: v for k, v in self.env().items() if k != "RAY_ADDRESS"}
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.stop()
                raise RuntimeError(f"ray start exited with {self.proc.returncode}: {self.log.read_text()[-3000:]}")
            try:
                urllib.request.urlopen(f"{self.dashboard_url}/api/version", timeout=2).read()
                return self
            except OSError:
                time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"the Ray head did not answer within {timeout}s: {self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        """Stop the cluster: SIGTERM to ``ray start``, then SIGKILL to anything left in its session."""
        if self.proc is not None:
            sid = self.proc.pid
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    pass
            for _ in range(30):
                left = _session_pids(sid)
                if not left:
                    break
                for pid in left:
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.kill(pid, signal.SIGKILL)
                time.sleep(0.5)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=5)
            self.proc = None
        shutil.rmtree(self.temp_dir, ignore_errors=True)

    def __enter__(self) -> RayHead:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
