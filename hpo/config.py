"""Study configuration files (YAML, read with a safe loader).

A config names everything ``hpo run`` needs::

    name: digits-hgb                       # required
    storage: sqlite:///hpo.db              # default: $HPO_STORAGE or sqlite:///hpo.db (relative: next to this file)
    objective: my_module:objective         # module:function, resolved next to the file first
    objectives: {accuracy: maximize}       # or "minimize" / "maximize"
    constraints: {memory_gb: ["<=", 16]}   # optional
    space:
      learning_rate: {type: float, low: 0.01, high: 0.5, log: true}
      max_leaf_nodes: {type: int, low: 8, high: 64}
      loss: {type: categorical, choices: [log_loss]}
      momentum: {type: float, low: 0.0, high: 0.99, active_if: {optimizer: [sgd]}}
      max_iter: 100                        # a bare value is fixed
    sampler: tpe                           # or {name: tpe, options: {n_startup_trials: 5}}
    seed: 0
    n_trials: 30                           # total for the study: re-running resumes up to it
    timeout: null                          # seconds
    execution: {backend: local, n_workers: 1}
    # on Ray: {backend: ray, address: auto, n_workers: 8, resources: {cpu: 1, gpu: 0.5}, max_retries: 1}
    settings: {heartbeat_interval: 30, stale_after: 120, stale_policy: requeue}
    fidelity: {name: epochs, min: 1, max: 81}   # optional: trial.budget, trial.report(epoch, ...)
    scheduler: asha                        # or {name: pbt, options: {population_size: 8}}; needs a fidelity
    checkpoint_root: checkpoints           # trial.checkpoint_dir lives here (relative: next to this file)
    prior: {learning_rate: {type: lognormal, center: 0.1, sigma: 0.3}}   # optional (hpo.priors)
    protocol: {kind: seeds, tuning: [0, 1, 2, 3, 4], test: [5, 6, 7, 8, 9], aggregate: iqm}   # optional
    # or {kind: datasets, tuning: digits, evaluation: mnist1d, seeds: [0, 1, 2], aggregate: mean}

``protocol:`` is a tuning protocol (:mod:`hpo.protocols`), in the form stored in the study's settings: the
objective runs each trial on ``trial.seeds`` (and ``trial.dataset``) and the store refuses test seeds and the
evaluation data set while tuning; ``hpo evaluate study.yaml`` runs the test phase. ``kind`` may be left out
(a ``test`` key means seeds, an ``evaluation`` key data sets); ``aggregate`` is mean, median or iqm.

A relative SQLite path in ``storage:`` (``sqlite:///hpo.db``) is resolved against the config file's folder, as
``objective:`` and ``checkpoint_root:`` are, so ``hpo run cli/study.yaml`` from any folder resumes the same
study (``--storage`` on the command line and ``$HPO_STORAGE`` stay relative to the current directory).

Every field is validated before anything is written; errors name the field and quote at most a few hundred
characters of the offending value. The file is read by :mod:`hpo.yaml_loading` (a safe loader with limits on
size, aliases, nesting and duplicate keys).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpo.errors import ConfigError, HpoError, short_repr
from hpo.space import SearchSpace, param_from_dict
from hpo.validators import is_int

__all__ = ["StudyConfig", "load_config", "parse_config", "resolve_objective", "resolve_sqlite_path"]

_TOP_LEVEL = {
    "name",
    "storage",
    "objective",
    "objectives",
    "constraints",
    "space",
    "sampler",
    "seed",
    "n_trials",
    "timeout",
    "execution",
    "settings",
    "fidelity",
    "scheduler",
    "checkpoint_root",
    "prior",
    "protocol",
}
#: Keys of the ``execution`` block that are not options of the backend (those its executor validates).
_EXECUTION = {"backend", "n_workers"}
_SETTINGS = {"heartbeat_interval", "stale_after", "stale_policy", "ask_lease"}


@dataclass
class StudyConfig:
    name: str
    objective: str
    space: SearchSpace
    storage: str | None = None
    objectives: Any = "minimize"
    constraints: dict[str, Any] | None = None
    sampler: Any = None
    seed: int | None = None
    n_trials: int | None = None
    timeout: float | None = None
    execution: dict[str, Any] = field(default_factory=lambda: {"backend": "local", "n_workers": 1})
    settings: dict[str, Any] = field(default_factory=dict)
    fidelity: dict[str, Any] | None = None
    scheduler: Any = None
    checkpoint_root: str | None = None
    prior: dict[str, Any] | None = None
    protocol: dict[str, Any] | None = None
    base_dir: Path | None = None

    def create_study(self, storage: str | None = None) -> Any:
        """Create the study (or load it if it exists) from this config."""
        from hpo.study_setup import create_study

        return create_study(
            name=self.name,
            space=self.space,
            objectives=self.objectives,
            constraints=self.constraints,
            storage=storage or self.storage,
            sampler=self.sampler,
            seed=self.seed,
            load_if_exists=True,
            fidelity=self.fidelity,
            scheduler=self.scheduler,
            checkpoint_root=self._checkpoint_root(),
            prior=self.prior,
            protocol=self.protocol,
            **self.settings,
        )

    def _checkpoint_root(self) -> str | None:
        """A relative ``checkpoint_root`` is relative to the config file's folder."""
        if self.checkpoint_root is None or self.base_dir is None or Path(self.checkpoint_root).is_absolute():
            return self.checkpoint_root
        return str(self.base_dir / self.checkpoint_root)

    def executor(self) -> Any:
        """The executor of the ``execution`` block (the keys besides ``backend``/``n_workers`` are its options)."""
        from hpo.execution import get_executor

        options = {k: v for k, v in self.execution.items() if k not in _EXECUTION}
        return get_executor(self.execution["backend"], **options)


#: Characters of a nested error's message quoted in a config error.
_NESTED_MESSAGE = 500


def _clip(exc: BaseException, limit: int = _NESTED_MESSAGE) -> str:
    """The message of an error raised by the validation a config field goes through, cut to ``limit`` characters."""
    text = str(exc)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text):,} characters)"


def _key(name: object) -> str:
    """A mapping key as the config error names it: a string as it is, anything else as its (short) repr."""
    text = name if isinstance(name, str) else short_repr(name, 100)
    return text if len(text) <= 100 else text[:100] + "..."


def _mapping(field_name: str, value: Any, allowed: set[str] | None = None) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{field_name}: expected a mapping, but got {type(value).__name__} {short_repr(value)}")
    if allowed is not None:
        unknown = [k for k in value if k not in allowed]
        if unknown:
            unknown.sort(key=lambda k: short_repr(k))
            raise ConfigError(f"{field_name}: unknown key(s) {short_repr(unknown)}; allowed: {sorted(allowed)}")
    return dict(value)


def _execution(block: Any) -> dict[str, Any]:
    """The ``execution`` block: ``backend``, ``n_workers`` and the options of that backend, which its
    executor validates (:func:`hpo.execution.check_executor_options`)."""
    from hpo.execution import EXECUTORS, check_executor_options, executor_names

    execution = {"backend": "local", "n_workers": 1, **_mapping("execution", block)}
    n_workers = execution["n_workers"]
    if not is_int(n_workers) or n_workers < 1:
        raise ConfigError(f"execution.n_workers: expected an integer >= 1, but got {short_repr(n_workers)}")
    backend = execution["backend"]
    if not isinstance(backend, str) or backend not in executor_names():
        raise ConfigError(f"execution.backend: expected one of {executor_names()}, but got {short_repr(backend)}")
    options = {k: v for k, v in execution.items() if k not in _EXECUTION}
    accepted = EXECUTORS.factory(backend).option_names()
    unknown = [k for k in options if k not in accepted]
    if unknown:
        others = [name for name in executor_names()
                  if name != backend and set(unknown) <= EXECUTORS.factory(name).option_names()]
        if others:
            raise ConfigError(f"execution: {sorted(unknown)} need backend: {others[0]}, but got backend: "
                              f"{short_repr(backend)}")
        unknown.sort(key=lambda k: short_repr(k))
        raise ConfigError(f"execution: unknown key(s) {short_repr(unknown)}; allowed: "
                          f"{sorted(_EXECUTION | accepted)} (backend {backend!r})")
    try:
        check_executor_options(backend, options)
    except ConfigError as exc:
        raise ConfigError(f"execution.{_clip(exc)}") from None
    return execution


def _optional_number(field_name: str, value: Any, integer: bool, positive: bool = False) -> Any:
    if value is None:
        return None
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not (value > 0 if positive else value >= 0):
        kind = ("positive" if positive else "non-negative") + (" integer" if integer else " number")
        raise ConfigError(f"{field_name}: expected a {kind}, but got {short_repr(value)}")
    return value


def resolve_sqlite_path(storage: str, base_dir: Path | None) -> str:
    """``storage`` with a relative SQLite file path made absolute against ``base_dir``; other URLs as they are.

    ``sqlite:///hpo.db`` in a config at ``/a/b/study.yaml`` is ``sqlite:////a/b/hpo.db``. Absolute paths,
    ``~`` paths, in-memory databases, ``file:`` URIs, other backends and malformed URLs (refused later, with
    the store's message) are left unchanged.
    """
    if base_dir is None or not storage.lstrip().lower().startswith("sqlite"):
        return storage
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(storage)
    except (ArgumentError, ValueError):
        return storage
    database = url.database
    if (url.get_backend_name() != "sqlite" or not database or database == ":memory:"
            or database.startswith(("~", "file:")) or Path(database).is_absolute()):
        return storage
    return url.set(database=str(Path(base_dir).resolve() / database)).render_as_string(hide_password=False)


def parse_config(data: Any, base_dir: Path | None = None) -> StudyConfig:
    """Validate a config mapping (already loaded from YAML) into a :class:`StudyConfig`."""
    data = _mapping("config", data, _TOP_LEVEL)
    for required in ("name", "objective", "space"):
        if required not in data:
            raise ConfigError(f"{required}: required field is missing")
    name = data["name"]
    if not isinstance(name, str) or not name:
        raise ConfigError(f"name: expected a non-empty string, but got {short_repr(name)}")
    objective = data["objective"]
    if not isinstance(objective, str) or objective.count(":") != 1 or not all(objective.split(":")):
        raise ConfigError(f"objective: expected 'module:function', but got {short_repr(objective)}")
    space_raw = _mapping("space", data["space"])
    if not space_raw:
        raise ConfigError("space: needs at least one parameter")
    params = {}
    for pname, spec in space_raw.items():
        try:
            params[pname] = param_from_dict(spec) if isinstance(spec, Mapping) else spec
        except HpoError as exc:
            raise ConfigError(f"space.{_key(pname)}: {_clip(exc)}") from None
    try:
        space = SearchSpace(params)
    except HpoError as exc:
        raise ConfigError(f"space: {_clip(exc)}") from None
    storage = data.get("storage")
    if storage is not None and not isinstance(storage, str):
        raise ConfigError(f"storage: expected a URL string, but got {short_repr(storage)}")
    if storage is not None:
        storage = resolve_sqlite_path(storage, base_dir)
    execution = _execution(data.get("execution") or {})
    constraints = data.get("constraints")
    if constraints is not None:
        constraints = {k: tuple(v) if isinstance(v, list) else v for k, v in _mapping("constraints", constraints).items()}
    return StudyConfig(
        name=name,
        objective=objective,
        space=space,
        storage=storage,
        objectives=data.get("objectives", "minimize"),
        constraints=constraints,
        sampler=data.get("sampler"),
        seed=_optional_number("seed", data.get("seed"), integer=True),
        n_trials=_optional_number("n_trials", data.get("n_trials"), integer=True),
        timeout=_optional_number("timeout", data.get("timeout"), integer=False, positive=True),
        execution=execution,
        settings=_mapping("settings", data.get("settings") or {}, _SETTINGS),
        fidelity=_mapping("fidelity", data["fidelity"]) if data.get("fidelity") is not None else None,
        scheduler=data.get("scheduler"),
        checkpoint_root=data.get("checkpoint_root"),
        prior=_prior(data.get("prior"), space),
        protocol=_protocol(data.get("protocol")),
        base_dir=base_dir,
    )


def _prior(value: Any, space: SearchSpace) -> dict[str, Any] | None:
    """The ``prior`` block: parameter -> ``{type: lognormal|normal|uniform, ...}``, checked against the space."""
    if value is None:
        return None
    from hpo.priors import as_prior

    try:
        return as_prior(_mapping("prior", value), space).to_dict()
    except HpoError as exc:
        raise ConfigError(f"prior: {_clip(exc)}") from None


def _protocol(value: Any) -> dict[str, Any] | None:
    """The ``protocol`` block (see the module docstring), checked, in its stored form."""
    if value is None:
        return None
    from hpo.protocols.splits import protocol_from_config

    try:
        protocol = protocol_from_config(_mapping("protocol", value))
    except HpoError as exc:
        raise ConfigError(f"protocol: {_clip(exc)}") from None
    return None if protocol is None else protocol.as_settings()


def load_config(path: str | Path) -> StudyConfig:
    """Read and validate a YAML study config.

    The file is read with :func:`hpo.yaml_loading.load_yaml_file`: at most 1 MiB of UTF-8, at most 100 alias
    uses, 100,000 nodes (aliases expanded) and 50 levels of nesting, no key given twice in a mapping.

    Raises:
        ConfigError: the file cannot be read or parsed, exceeds a limit, or a field is invalid (the message
            names the file or the field).
    """
    from hpo.yaml_loading import load_yaml_file

    path = Path(path)
    data = load_yaml_file(path)
    try:
        return parse_config(data, base_dir=path.resolve().parent)
    except ConfigError as exc:  # the field's message, prefixed with the file it is in
        raise ConfigError(f"{path}: {exc}") from None


def resolve_objective(spec: str, base_dir: Path | None = None) -> Callable[..., Any]:
    """Import ``module:function``, looking next to the config file first, then on sys.path.

    ``base_dir`` (the config file's folder) is put at the front of ``sys.path`` once and stays there
    for the rest of the process, so an objective that imports a sibling module when it runs
    (``def objective(trial): import helper``) finds it in every trial.
    """
    module_name, func_name = spec.split(":")
    if base_dir is not None:
        folder = str(Path(base_dir).resolve())
        if folder not in sys.path:
            sys.path.insert(0, folder)
            importlib.invalidate_caches()
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # not found, or the module failed while importing (SyntaxError, ...)
        raise ConfigError(f"objective: cannot import module {module_name!r}: {type(exc).__name__}: {exc}") from None
    func = getattr(module, func_name, None)
    if not callable(func):
        raise ConfigError(f"objective: module {module_name!r} has no callable {func_name!r}")
    return func
