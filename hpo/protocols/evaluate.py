"""The test phase of a protocol: the best tuning configurations re-run on the held-out seeds / data set.

``study.evaluate(objective, top_k=5)`` takes the ``top_k`` best COMPLETE trials by their tuning value and
runs ``objective`` once per (trial, test seed) pair that has no COMPLETE test evaluation yet, with an
:class:`EvaluationTrial` (``trial.params``, ``trial["x"]``, ``suggest_*`` returning the stored values,
``trial.seeds`` = that one seed, ``trial.dataset`` = the evaluation data set, ``trial.phase == "test"``).
Each result is stored as a ``"test"`` evaluation as soon as it finishes, so a killed run resumes where it
stopped and a second run adds nothing. Runs go on threads (``backend="local"``, ``n_jobs`` at once) or as
Ray tasks (``backend="ray"``; this process stays the only writer of the store). Samplers and schedulers
never see these results: they are evaluations, not trial values.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hpo.errors import ConfigError, ObjectiveError, ProtocolError, short_repr
from hpo.protocols.aggregate import aggregate
from hpo.protocols.splits import Protocol
from hpo.protocols.tuning import check_protocol_state, is_seed_mapping, seed_values
from hpo.records import TrialState
from hpo.validators import is_int

if TYPE_CHECKING:
    from hpo.study import Study

__all__ = ["EvaluationTrial", "EvaluationResult", "evaluate", "top_trials", "BACKENDS"]

#: Where the test runs go.
BACKENDS = ("local", "ray")


class EvaluationTrial:
    """What the objective gets in the test phase: a finished tuning trial's configuration, fixed.

    ``suggest_float / suggest_int / suggest_categorical(name, ...)`` return the stored value (so a
    define-by-run objective runs unchanged); ``report_seed(seed, value)`` records the seed's result (or
    return ``{seed: value}``, or for the one seed a plain value).
    """

    phase = "test"

    def __init__(self, number: int, params: Mapping[str, Any], seeds: Sequence[int], dataset: str | None) -> None:
        self.number = number
        self.params: dict[str, Any] = dict(params)
        self.seeds: tuple[int, ...] = tuple(seeds)
        self.dataset = dataset
        self.results: dict[int, Any] = {}

    def __getitem__(self, name: str) -> Any:
        try:
            return self.params[name]
        except KeyError:
            raise KeyError(f"trial {self.number} has no parameter {name!r}; it has {sorted(self.params)}") from None

    def _stored(self, name: str) -> Any:
        if name not in self.params:
            raise ObjectiveError(f"trial {self.number}: the test phase re-runs stored configurations, which have no "
                                 f"parameter {name!r}; stored: {sorted(self.params)}")
        return self.params[name]

    def suggest_float(self, name: str, *args: Any, **kwargs: Any) -> float:
        """The stored value of ``name`` (the range arguments are ignored)."""
        return self._stored(name)  # type: ignore[no-any-return]

    def suggest_int(self, name: str, *args: Any, **kwargs: Any) -> int:
        """The stored value of ``name`` (the range arguments are ignored)."""
        return self._stored(name)  # type: ignore[no-any-return]

    def suggest_categorical(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """The stored value of ``name`` (the choices are ignored)."""
        return self._stored(name)

    def report_seed(self, seed: int, value: float | Mapping[str, float]) -> None:
        """Record the result on test seed ``seed`` (stored when the call returns)."""
        if not is_int(seed) or int(seed) not in self.seeds:
            raise ProtocolError(f"trial {self.number}: report_seed got seed {short_repr(seed, 40)}, but this run's "
                                f"test seeds are {list(self.seeds)}")
        self.results[int(seed)] = value

    def should_stop(self) -> bool:
        """Never: a test run is not stopped early."""
        return False

    def report(self, *args: Any, **kwargs: Any) -> None:
        """Intermediate results of a test run are not stored (accepted and dropped)."""

    def __repr__(self) -> str:
        return f"EvaluationTrial(number={self.number}, seeds={list(self.seeds)}, params={self.params!r})"


@dataclass(frozen=True)
class EvaluationResult:
    """One re-run configuration: its trial ``number``, ``params``, tuning value and test value (the
    protocol's aggregate of its COMPLETE test evaluations of ``objective``; None when none completed),
    and how many test seeds completed (``n_test``) out of ``n_seeds``."""

    number: int
    params: dict[str, Any]
    tuning_value: float
    test_value: float | None
    n_test: int
    n_seeds: int


def top_trials(study: Study, top_k: int) -> list[Any]:
    """The ``top_k`` best COMPLETE trials by their tuning value (the first objective; ties by number)."""
    if not is_int(top_k) or top_k < 1:
        raise ConfigError(f"top_k must be an integer >= 1, but got {short_repr(top_k, 40)}")
    objective = study.objectives[0]
    done = [t for t in study.get_trials([TrialState.COMPLETE])
            if t.values and t.values.get(objective.name) is not None and t.is_feasible(study.constraints)]
    done.sort(key=lambda t: (objective.sign * (t.values or {})[objective.name], t.number))
    return done[:top_k]


def _run_one(objective: Callable[[Any], Any], number: int, params: dict[str, Any], seed: int,
             dataset: str | None) -> tuple[str, Any]:
    """Run ``objective`` on one (trial, seed); ``("complete", value)`` or ``("failed", traceback)``."""
    trial = EvaluationTrial(number, params, (seed,), dataset)
    try:
        returned = objective(trial)
    except Exception:
        return "failed", traceback.format_exc()
    if returned is None:
        if seed not in trial.results:
            return "failed", f"the objective neither returned a value nor called report_seed({seed}, ...)"
        return "complete", trial.results[seed]
    if is_seed_mapping(returned):
        if int(seed) not in {int(k) for k in returned}:
            return "failed", f"the objective returned seeds {sorted(returned)[:10]}, not the test seed {seed}"
        return "complete", {int(k): v for k, v in returned.items()}[int(seed)]
    return "complete", returned


def _store(study: Study, protocol: Protocol, number: int, seed: int, kind: str, payload: Any) -> None:
    if kind == "complete":
        try:
            state, values, error = seed_values(number, seed, payload, study.objectives, study.constraints)
        except (ObjectiveError, ValueError, TypeError) as exc:
            state, values, error = TrialState.FAILED, None, f"the objective returned invalid values: {exc}"
    else:
        state, values, error = TrialState.FAILED, None, str(payload)
    study.store.add_evaluation(study.study_id, number, seed, "test", state, values, error,
                               dataset=protocol.dataset_for("test"))


def _pending(study: Study, protocol: Protocol, trials: Sequence[Any]) -> list[tuple[int, dict[str, Any], int]]:
    """The (number, params, seed) runs still missing: test seeds without a COMPLETE test evaluation."""
    done = {(e.trial_number, e.seed) for e in study.store.get_evaluations(study.study_id, [t.number for t in trials])
            if e.split == "test" and e.state is TrialState.COMPLETE}
    return [(t.number, dict(t.params), seed) for t in trials for seed in protocol.seeds_for("test")
            if (t.number, seed) not in done]


def _run_local(study: Study, protocol: Protocol, objective: Callable[[Any], Any],
               runs: list[tuple[int, dict[str, Any], int]], n_jobs: int) -> None:
    dataset = protocol.dataset_for("test")
    with ThreadPoolExecutor(max_workers=n_jobs, thread_name_prefix="hpo-evaluate") as pool:
        futures: dict[Future[tuple[str, Any]], tuple[int, int]] = {
            pool.submit(_run_one, objective, number, params, seed, dataset): (number, seed)
            for number, params, seed in runs
        }
        pending = set(futures)
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:  # stored by this thread as each run ends
                number, seed = futures[future]
                kind, payload = future.result()
                _store(study, protocol, number, seed, kind, payload)


def _run_ray(study: Study, protocol: Protocol, objective: Callable[[Any], Any],
             runs: list[tuple[int, dict[str, Any], int]], n_jobs: int) -> None:
    from hpo.execution.ray_driver import _import_ray, _pickle_by_value

    ray = _import_ray()
    if not ray.is_initialized():
        ray.init(address="local", include_dashboard=False, log_to_driver=True)
    _pickle_by_value(objective)
    remote = ray.remote(max_retries=0)(_run_one)
    objective_ref = ray.put(objective)
    dataset = protocol.dataset_for("test")
    queue = list(runs)
    running: dict[Any, tuple[int, int]] = {}
    try:
        while queue or running:
            while queue and len(running) < n_jobs:
                number, params, seed = queue.pop(0)
                running[remote.remote(objective_ref, number, params, seed, dataset)] = (number, seed)
            ready, _ = ray.wait(list(running), num_returns=1)
            for ref in ready:
                number, seed = running.pop(ref)
                try:
                    kind, payload = ray.get(ref)
                except Exception as exc:  # the worker died: the run fails, a later evaluate retries it
                    kind, payload = "failed", f"the Ray task failed: {type(exc).__name__}: {str(exc)[:500]}"
                _store(study, protocol, number, seed, kind, payload)
    finally:
        for ref in running:
            ray.cancel(ref, force=True)


def evaluate(study: Study, objective: Callable[[Any], Any], top_k: int = 5, phase: str = "test", n_jobs: int = 1,
             backend: str = "local") -> list[EvaluationResult]:
    """Run the test phase of ``study``'s protocol (see the module docstring) and return one
    :class:`EvaluationResult` per re-run configuration, best tuning value first.

    Raises:
        ProtocolError: the study has no protocol, or ``phase`` is not ``"test"``.
        ConfigError: ``top_k`` or ``n_jobs`` is not an integer >= 1, or ``backend`` is unknown.
    """
    protocol = check_protocol_state(study.protocol, "evaluate")
    if phase != "test":
        raise ProtocolError(f"evaluate: phase must be 'test' (tuning runs through optimize), but got "
                            f"{short_repr(phase, 40)}")
    if not is_int(n_jobs) or n_jobs < 1:
        raise ConfigError(f"n_jobs must be an integer >= 1, but got {short_repr(n_jobs, 40)}")
    if backend not in BACKENDS:
        raise ConfigError(f"backend must be one of {BACKENDS}, but got {short_repr(backend, 40)}")
    trials = top_trials(study, top_k)
    runs = _pending(study, protocol, trials)
    if runs:
        (_run_ray if backend == "ray" else _run_local)(study, protocol, objective, runs, int(n_jobs))
    return results(study, protocol, trials)


def results(study: Study, protocol: Protocol, trials: Sequence[Any]) -> list[EvaluationResult]:
    """The :class:`EvaluationResult` of each of ``trials`` from the stored test evaluations."""
    name = study.objectives[0].name
    by_trial: dict[int, list[float]] = {}
    for e in study.store.get_evaluations(study.study_id, [t.number for t in trials]):
        if e.split == "test" and e.state is TrialState.COMPLETE and e.values and e.values.get(name) is not None:
            by_trial.setdefault(e.trial_number, []).append(float(e.values[name]))
    out = []
    for t in trials:
        test = by_trial.get(t.number, [])
        out.append(EvaluationResult(
            number=t.number, params=dict(t.params), tuning_value=float(t.values[name]),
            test_value=aggregate(test, protocol.aggregate) if test else None, n_test=len(test),
            n_seeds=len(protocol.seeds_for("test")),
        ))
    return out


def evaluate_config(config: str, storage: str | None, top_k: int, n_jobs: int | None) -> int:
    """``hpo evaluate study.yaml``: load the config's study, run its test phase on the config's backend
    (``execution.backend``, local or ray) and print tuning vs test value per configuration."""
    from hpo.config import load_config, resolve_objective
    from hpo.study_setup import load_study

    cfg = load_config(config)
    if cfg.protocol is None:
        raise ProtocolError(f"{config}: the config has no protocol: block, so there is no test phase to run")
    objective = resolve_objective(cfg.objective, cfg.base_dir)
    study = load_study(cfg.name, storage or cfg.storage)
    protocol = check_protocol_state(study.protocol, f"hpo evaluate {config}")
    backend = str(cfg.execution.get("backend", "local"))
    jobs = int(n_jobs if n_jobs is not None else cfg.execution.get("n_workers") or 1)
    found = evaluate(study, objective, top_k=top_k, n_jobs=jobs, backend=backend)
    name = study.objectives[0].name
    print(f"study {study.name!r}: {len(found)} configuration(s) on the test "
          f"{'seeds' if protocol.kind == 'seeds' else 'data set'} ({name}, {protocol.aggregate})")
    print(f"{'trial':>6}  {'tuning':>12}  {'test':>12}  seeds")
    for r in found:
        test = "-" if r.test_value is None else f"{r.test_value:.6g}"
        print(f"{r.number:>6}  {r.tuning_value:>12.6g}  {test:>12}  {r.n_test}/{r.n_seeds}")
    return 0 if all(r.n_test == r.n_seeds for r in found) else 1
