"""What made the first multi-objective suggestion of a process cost 24 s or more (issue 23 part 4):
BoTorch compiling its fused qLogNEHVI C++ kernel. A real subprocess with an empty extension build
cache runs a multi-objective study to a model-based suggestion; nothing may be compiled."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.filterwarnings("ignore")

_RUN = textwrap.dedent("""
    import json, sys, warnings
    warnings.simplefilter("ignore")
    import hpo
    from botorch.acquisition.multi_objective import logei
    study = hpo.create_study(name="mo", storage=sys.argv[1], seed=0,
                             space={"x": hpo.Float(0.0, 1.0), "y": hpo.Float(0.0, 1.0)},
                             objectives={"a": "minimize", "b": "minimize"},
                             sampler={"name": "gp", "options": {"n_initial": 3, "num_restarts": 2, "raw_samples": 32}})
    study.optimize(lambda t: {"a": t.params["x"] + t.params["y"], "b": (1 - t.params["x"]) ** 2 + t.params["y"]},
                   n_trials=5)
    modelled = sum("model_state" in t.attrs for t in study.trials)
    print(json.dumps({"fused_loaded": logei._C is not None, "modelled": modelled}))
""")


def test_multi_objective_suggestions_compile_no_cpp_extension(tmp_path):
    cache = tmp_path / "torch_extensions"
    cache.mkdir()
    env = {**os.environ, "TORCH_EXTENSIONS_DIR": str(cache), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", _RUN, f"sqlite:///{tmp_path / 'mo.db'}"], capture_output=True,
                          text=True, timeout=900, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found == {"fused_loaded": False, "modelled": 2}, found  # trials 3 and 4 came from qLogNEHVI
    assert not any(cache.rglob("*")), sorted(str(p.relative_to(cache)) for p in cache.rglob("*"))


def test_multi_objective_defaults_are_the_measured_cheap_ones():
    from hpo.samplers.bo import BOSampler
    from hpo.samplers.mo_acquisition import MO_MC_SAMPLES

    sampler = BOSampler()
    assert [sampler.resolved_acquisition(k) for k in (1, 2, 3, 4)] == ["logei", "nehvi", "ehvi", "parego"]
    assert sampler.options()["mc_samples"] is None and MO_MC_SAMPLES == 32  # 128 stays for one objective
    assert sampler.mc_samples == 128 and BOSampler(mc_samples=64).options()["mc_samples"] == 64
