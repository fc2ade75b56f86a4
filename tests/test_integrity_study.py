"""Study integrity: sampler options and seeds are checked before anything is stored, objectives may
import sibling modules while they run, and checkpoint folders cannot be steered by stored strings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import hpo
from hpo.errors import ConfigError, SamplerError
from hpo.records import TrialState
from hpo.samplers import sampler_names
from hpo.store import open_store

SPACE = {"x": hpo.Float(0.0, 1.0), "y": hpo.Float(0.0, 1.0)}

#: One option value of the wrong type per registered sampler: (option, value). Integers beyond 64 bits
#: are the wrong type too (the settings are stored as JSON; torch and numpy overflow on them at ask).
BAD_OPTIONS: dict[str, tuple[str, Any]] = {
    "cmaes": ("n_startup_trials", "five"),
    "dkl": ("raw_samples", 10**30),
    "ensemble": ("raw_samples", 10**30),
    "gp": ("num_restarts", 10**30),
    "grid": ("shuffle", "yes"),
    "hmc": ("raw_samples", 10**30),
    "ibnn": ("num_restarts", 10**30),
    "mfbo": ("maxiter", 10**30),
    "nsga2": ("swapping_prob", True),
    "optuna-gp": ("n_startup_trials", "ten"),
    "pfn": ("mc_samples", 10**30),
    "pfn-ei": ("n_candidates", 10**30),
    "random": ("scramble", False),  # random has no options: any is an error
    "sghmc": ("num_restarts", 10**30),
    "sobol": ("scramble", "no"),
    "tpe": ("n_startup_trials", "five"),
}


def _create(url: str, sampler: Any, **kwargs: Any) -> hpo.Study:
    return hpo.create_study(name="s", space=SPACE, storage=url, sampler=sampler, **kwargs)


@pytest.mark.parametrize("name", sorted(BAD_OPTIONS))
def test_bad_sampler_option_value_raises_before_the_study_is_stored(sqlite_url: str, name: str) -> None:
    assert sorted(BAD_OPTIONS) == sampler_names()  # every registered sampler is covered
    option, value = BAD_OPTIONS[name]
    fidelity = hpo.Fidelity("epochs", 1, 9) if name == "mfbo" else None
    with pytest.raises(SamplerError) as info:
        _create(sqlite_url, {"name": name, "options": {option: value}}, fidelity=fidelity)
    assert option in str(info.value)
    if name != "random":  # (random: "unknown option")
        assert repr(value) in str(info.value)
    assert hpo.list_studies(sqlite_url) == []


@pytest.mark.parametrize("name", sorted(set(BAD_OPTIONS) - {"random"}))
def test_type_errors_name_the_expected_type(sqlite_url: str, name: str) -> None:
    option, value = BAD_OPTIONS[name]
    with pytest.raises(SamplerError, match=rf"option {option} must be (an integer|true or false|a finite number)"):
        _create(sqlite_url, {"name": name, "options": {option: value}})


@pytest.mark.parametrize(("name", "options", "field"), [
    ("tpe", {"n_ei_candidates": -3}, "n_ei_candidates"),
    ("tpe", {"prior_weight": -1.0}, "prior_weight"),
    ("cmaes", {"popsize": 0}, "popsize"),
    ("cmaes", {"source_trials": [1, 2]}, "source_trials"),
])
def test_option_values_optuna_rejects_only_when_sampling_are_rejected_at_creation(
        sqlite_url: str, name: str, options: dict[str, Any], field: str) -> None:
    with pytest.raises(SamplerError, match=field):
        _create(sqlite_url, {"name": name, "options": options})
    assert hpo.list_studies(sqlite_url) == []


def test_cmaes_x0_must_fit_the_space(sqlite_url: str) -> None:
    for x0 in ({"x": 0.5}, {"x": 0.5, "y": 7.0}, {"x": 0.5, "y": 0.5, "z": 0.1}):  # y missing, outside, unknown z
        with pytest.raises(SamplerError, match="x0"):
            _create(sqlite_url, {"name": "cmaes", "options": {"x0": x0}})
    assert hpo.list_studies(sqlite_url) == []
    study = _create(sqlite_url, {"name": "cmaes", "options": {"x0": {"x": 0.5, "y": 0.5}, "popsize": 4}}, seed=3)
    study.optimize(lambda t: t["x"] + t["y"], n_trials=3, show_progress_bar=False)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 3


def test_load_study_rejects_stored_bad_options(sqlite_url: str) -> None:
    """A study written by other means with a bad option fails at load, not at every ask."""
    store = open_store(sqlite_url)
    store.create_study("legacy", hpo.SearchSpace(SPACE).to_dict(), [{"name": "value", "direction": "minimize"}], [],
                       None, {"sampler": {"name": "tpe", "options": {"n_startup_trials": "five"}}, "seed": 1})
    with pytest.raises(SamplerError, match="n_startup_trials"):
        hpo.load_study("legacy", sqlite_url)


def test_seed_must_fit_64_bits(sqlite_url: str) -> None:
    for seed in (10**5000, 2**63, -1):
        with pytest.raises(ConfigError, match=r"seed: `0 <= seed < 2\*\*63`") as info:
            _create(sqlite_url, "random", seed=seed)
        assert len(str(info.value)) < 400  # the 5,000-digit seed is not printed
    assert hpo.list_studies(sqlite_url) == []
    study = _create(sqlite_url, "random", seed=2**63 - 1)
    assert hpo.load_study("s", sqlite_url).seed == 2**63 - 1
    study.tell(study.ask(), 1.0)


def _yaml(folder: Path, storage: str, objective: str, sampler: str) -> Path:
    cfg = folder / "study.yaml"
    cfg.write_text("\n".join([
        "name: sibling", f"storage: {storage}", f"objective: {objective}", "space:",
        "  x: {type: float, low: 0.0, high: 1.0}", f"sampler: {sampler}", "seed: 0", "n_trials: 3", "",
    ]), encoding="utf-8")
    return cfg


def _hpo(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HPO_STORAGE": ""}
    env.pop("HPO_STORAGE")
    return subprocess.run([sys.executable, "-m", "hpo.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def test_hpo_run_with_bad_sampler_option_leaves_no_study(tmp_path: Path, sqlite_url: str) -> None:
    (tmp_path / "obj_bad_sampler.py").write_text("def objective(trial):\n    return trial['x']\n", encoding="utf-8")
    cfg = _yaml(tmp_path, sqlite_url, "obj_bad_sampler:objective", "{name: tpe, options: {n_startup_trials: five}}")
    done = _hpo("run", str(cfg), "--no-progress", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "n_startup_trials" in done.stderr and "Traceback" not in done.stderr
    assert hpo.list_studies(sqlite_url) == []


def test_objective_importing_a_sibling_inside_the_function_completes(tmp_path: Path, sqlite_url: str) -> None:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "helper_sibling_mod.py").write_text("def loss(x):\n    return (x - 0.3) ** 2\n", encoding="utf-8")
    (folder / "obj_sibling.py").write_text(
        "def objective(trial):\n    import helper_sibling_mod\n\n    return helper_sibling_mod.loss(trial['x'])\n",
        encoding="utf-8")
    cfg = _yaml(folder, sqlite_url, "obj_sibling:objective", "random")
    done = _hpo("run", str(cfg), "--no-progress", cwd=tmp_path)  # run from another folder
    assert done.returncode == 0, done.stderr
    trials = hpo.load_study("sibling", sqlite_url).trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 3, [t.error for t in trials]


# -- checkpoint folders --------------------------------------------------------------------
def _fidelity_study(url: str, root: Path, name: str = "ck") -> hpo.Study:
    return hpo.create_study(name=name, space=SPACE, storage=url, sampler="random", seed=0,
                            fidelity=hpo.Fidelity("epochs", 1, 9), checkpoint_root=str(root))


def test_checkpoint_path_is_derived_from_study_id_and_number(sqlite_url: str, tmp_path: Path) -> None:
    study = _fidelity_study(sqlite_url, tmp_path / "root")
    expected = (tmp_path / "root").resolve() / f"{study.study_id}-ck" / "trial-000012"
    assert study.checkpoint_path(12) == str(expected)
    for bad in (-1, True, "3", 1.0):
        with pytest.raises(ConfigError, match="trial number"):
            study.checkpoint_path(bad)  # type: ignore[arg-type]


def test_stored_checkpoint_attrs_do_not_choose_folders(sqlite_url: str, tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    outside.mkdir()
    study = _fidelity_study(sqlite_url, root)
    study.enqueue({"x": 0.1, "y": 0.2}, attrs={"checkpoint_dir": str(tmp_path / "evil"), "resume_dir": str(outside)})
    trial = study.ask()
    assert trial.checkpoint_dir == Path(study.checkpoint_path(trial.number))
    assert trial.checkpoint_dir.is_dir() and not (tmp_path / "evil").exists()
    assert trial.load_checkpoint() is None  # resume_dir alone resumes nothing
    study.tell(trial, 1.0)

    study.enqueue({"x": 0.3, "y": 0.4}, attrs={"resume_from": trial.number, "resume_dir": str(outside)})
    resumed = study.ask()
    assert resumed.load_checkpoint() == Path(study.checkpoint_path(trial.number))


@pytest.mark.parametrize("resume_from", ["../../etc", -1, 2.0, True])
def test_resume_from_must_be_a_trial_number(sqlite_url: str, tmp_path: Path, resume_from: Any) -> None:
    study = _fidelity_study(sqlite_url, tmp_path / "root")
    study.enqueue({"x": 0.1, "y": 0.2}, attrs={"resume_from": resume_from})
    with pytest.raises(ConfigError, match="resume_from"):
        study.ask().load_checkpoint()


def test_store_refuses_a_study_name_that_escapes_the_root(storage_url: str) -> None:
    store = open_store(storage_url)
    for name in ("../../x", "a/b", ".hidden", ""):
        with pytest.raises(ConfigError, match="name"):
            store.create_study(name, hpo.SearchSpace(SPACE).to_dict(), [{"name": "v", "direction": "minimize"}], [],
                               None, {})
    assert store.list_studies() == []


def test_a_stored_name_that_is_not_valid_gives_no_checkpoint_path(sqlite_url: str, tmp_path: Path) -> None:
    study = _fidelity_study(sqlite_url, tmp_path / "root")
    with sa.create_engine(sqlite_url).begin() as conn:  # a store written by an older version, or by hand
        conn.execute(sa.text("UPDATE studies SET name = '../../x' WHERE id = :id"), {"id": study.study_id})
    legacy = hpo.load_study("../../x", sqlite_url)
    with pytest.raises(ConfigError, match="checkpoint"):
        legacy.checkpoint_path(0)


def test_a_symlink_out_of_the_root_is_refused(sqlite_url: str, tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    outside.mkdir()
    study = _fidelity_study(sqlite_url, root)
    root.mkdir()
    (root / f"{study.study_id}-ck").symlink_to(outside, target_is_directory=True)
    with pytest.raises(ConfigError, match="inside checkpoint_root"):
        study.checkpoint_path(0)


def _save_and_resume(trial: Any) -> float:
    folder = trial.load_checkpoint()
    start = float((folder / "state.txt").read_text()) if folder is not None else 0.0
    (trial.checkpoint_dir / "state.txt").write_text(str(start + trial["x"]))
    return start + trial["x"]


def test_ray_workers_use_folders_the_driver_derives(sqlite_url: str, tmp_path: Path) -> None:
    pytest.importorskip("ray")
    from hpo.testing.ray_local import local_ray

    root, evil, outside = tmp_path / "root", tmp_path / "evil", tmp_path / "outside"
    outside.mkdir()
    (outside / "state.txt").write_text("1000")
    study = _fidelity_study(sqlite_url, root)
    study.enqueue({"x": 0.25, "y": 0.0}, attrs={"checkpoint_dir": str(evil)})
    study.enqueue({"x": 0.5, "y": 0.0}, attrs={"resume_from": 0, "resume_dir": str(outside)})
    with local_ray(num_cpus=1):
        study.optimize(_save_and_resume, n_trials=2, n_workers=1, backend="ray", show_progress_bar=False)
    first, second = study.trials
    assert [first.state, second.state] == [TrialState.COMPLETE] * 2, [first.error, second.error]
    assert not evil.exists()
    assert Path(study.checkpoint_path(0), "state.txt").read_text() == "0.25"
    assert second.values["value"] == pytest.approx(0.75)  # resumed trial 0's checkpoint, not the outside one
