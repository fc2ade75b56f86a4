"""GPU paths: trials sharing one GPU through Ray's fractional requests, and the BO sampler fitting on the
driver's GPU (``device="auto"``). Skipped on machines without CUDA."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

import hpo
from hpo.records import TrialState

torch = pytest.importorskip("torch")
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _on_half_a_gpu(trial: Any) -> float:
    import ray
    import torch

    folder = Path(trial.attrs["folder"])
    (folder / f"{trial.number}.env").write_text(
        f"{os.environ.get('CUDA_VISIBLE_DEVICES')}|{ray.get_gpu_ids()}|{torch.cuda.device_count()}"
    )
    for _ in range(1200):  # both trials hold their half of the GPU at the same time
        if len(list(folder.glob("*.env"))) == 2:
            break
        time.sleep(0.05)
    else:
        raise RuntimeError("the two 0.5-GPU trials did not run at the same time")
    x = torch.full((256, 256), float(trial["x"]), device="cuda")
    return float((x @ x).mean().item())


@needs_cuda
def test_two_trials_share_one_gpu(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    from hpo.testing.ray_local import local_ray

    study = hpo.create_study(name="gpu", space={"x": hpo.Float(0, 1)}, storage=f"sqlite:///{tmp_path}/hpo.db",
                             sampler="random", seed=0)
    for x in (0.25, 0.5):
        study.enqueue({"x": x}, attrs={"folder": str(tmp_path)})
    with local_ray(num_cpus=2, num_gpus=1):
        study.optimize(_on_half_a_gpu, n_trials=2, n_workers=2, backend="ray",
                       resources={"cpu": 1, "gpu": 0.5}, show_progress_bar=False)
    trials = study.trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2, [t.error for t in trials]
    for t in trials:
        assert t.values["value"] == pytest.approx(256 * t.params["x"] ** 2, rel=1e-5)
        visible, ray_ids, count = (tmp_path / f"{t.number}.env").read_text().split("|")
        assert visible == "0" and count == "1", (visible, ray_ids, count)  # Ray set the same one GPU for both


@needs_cuda
def test_gp_sampler_fits_on_the_drivers_gpu(tmp_path: Path) -> None:
    study = hpo.create_study(name="gp-cuda", space={"x": hpo.Float(-2, 2), "y": hpo.Float(-2, 2)},
                             storage=f"sqlite:///{tmp_path}/hpo.db",
                             sampler={"name": "gp", "options": {"n_initial": 3, "num_restarts": 2, "raw_samples": 32}},
                             seed=0)
    sampler = study.sampler
    assert sampler.device.type == "cuda"
    devices: list[str] = []
    fit = sampler.surrogate.fit

    def spy(X: Any, Y: Any, **kwargs: Any) -> Any:
        devices.append(X.device.type)
        return fit(X, Y, **kwargs)

    sampler.surrogate.fit = spy  # type: ignore[method-assign]
    study.optimize(lambda t: (t["x"] - 0.5) ** 2 + (t["y"] + 0.5) ** 2, n_trials=6, show_progress_bar=False)
    assert devices and set(devices) == {"cuda"}
    assert len(study.get_trials([TrialState.COMPLETE])) == 6
