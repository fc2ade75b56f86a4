"""Multi-objective RL under a seed protocol: scalarised tabular Q-learning on deep-sea-treasure.

"Hyperparameter Optimization for Multi-Objective Reinforcement Learning" (Felten et al. 2023) tunes a
MORL algorithm by the hypervolume of the Pareto front it finds, averaged over tuning seeds, and
re-evaluates the chosen configuration on other seeds. Here the environment is mo-gymnasium's
``deep-sea-treasure-v0`` (an 11 x 11 grid, two objectives: treasure value, and -1 per step) and the
algorithm is our own, small enough for a laptop: for each of ``n_weights`` weight vectors
``w = (a, 1 - a)`` (``a`` evenly spaced in ``[0, 1]``) one tabular Q-learner learns the scalarised reward
``w . r`` with epsilon-greedy exploration (epsilon decays by ``epsilon_decay`` per episode from 1 to
0.05); its greedy policy is then rolled out once, giving one vector return (undiscounted sums). The
score of a seed is the hypervolume of those returns' non-dominated set with respect to the fixed
reference point :data:`REF_POINT` (``(0 treasure, -25 steps)``; :func:`hpo.hypervolume.hypervolume`).
The true front's hypervolume is :func:`true_front_hypervolume`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from hpo.protocols.example_support import validate_params
from hpo.errors import ConfigError, short_repr
from hpo.params import Float, Int, Param

__all__ = ["ENV_ID", "REF_POINT", "morl_objective", "morl_space", "true_front_hypervolume", "train_morl"]

ENV_ID = "deep-sea-treasure-v0"
#: The reference point (treasure, time) in the objectives' own units: both are maximised.
REF_POINT = (0.0, -25.0)
_FINAL_EPSILON = 0.05


def morl_space() -> dict[str, Param]:
    """The method's search space: a fresh dict of params."""
    return {
        "lr": Float(0.01, 1.0, log=True),
        "epsilon_decay": Float(0.9, 0.9999),
        "gamma": Float(0.8, 1.0),
        "n_weights": Int(2, 16),
    }


DEFAULTS: dict[str, Any] = {"lr": 0.3, "epsilon_decay": 0.99, "gamma": 0.99, "n_weights": 6}


def check_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` over :data:`DEFAULTS`, each name known and each value inside :func:`morl_space`.

    Raises:
        ConfigError: an unknown name or a value outside the space.
    """
    return validate_params(params, morl_space(), "MORL", DEFAULTS)


def _make_env(env_id: str) -> Any:
    import warnings

    import gymnasium as gym
    import mo_gymnasium as mo_gym

    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=UserWarning)
            env = mo_gym.make(env_id)
    except gym.error.Error as exc:
        raise ConfigError(f"env_id: no mo-gymnasium environment {env_id!r} ({exc})") from exc
    if not isinstance(env.action_space, gym.spaces.Discrete) or not isinstance(env.observation_space, gym.spaces.Box):
        env.close()
        raise ConfigError(f"env_id: {env_id!r} needs discrete actions and a grid observation for tabular Q-learning")
    return env


def _hypervolume(returns: np.ndarray) -> float:
    """Hypervolume of vector returns ``(n, 2)`` (maximised) w.r.t. :data:`REF_POINT`."""
    from hpo.hypervolume import hypervolume

    losses = -np.asarray(returns, dtype=float).reshape(-1, 2)
    return float(hypervolume(losses, -np.asarray(REF_POINT)))


def true_front_hypervolume() -> float:
    """The hypervolume of deep-sea-treasure's true Pareto front (undiscounted) w.r.t. :data:`REF_POINT`."""
    env = _make_env(ENV_ID)
    try:
        front = np.asarray(env.unwrapped.pareto_front(gamma=1.0), dtype=float)
    finally:
        env.close()
    return _hypervolume(front)


def train_morl(params: Mapping[str, Any], seed: int, episodes: int = 300, env_id: str = ENV_ID) -> float:
    """Train one scalarised Q-learner per weight vector for ``episodes`` episodes each with ``seed``; return
    the hypervolume of their greedy policies' returns (>= 0, at most :func:`true_front_hypervolume`).
    The same seed gives the same number.

    Raises:
        ConfigError: an unknown environment, hyperparameter or value outside the space; a negative seed;
            ``episodes`` below 1.
    """
    from hpo.validators import is_int

    if not is_int(seed) or seed < 0:
        raise ConfigError(f"seed must be an integer >= 0, but got {short_repr(seed, 40)}")
    if not is_int(episodes) or episodes < 1:
        raise ConfigError(f"episodes must be an integer >= 1, but got {short_repr(episodes, 40)}")
    p = check_params(params)
    env = _make_env(env_id)
    try:
        weights = np.linspace(0.0, 1.0, p["n_weights"])
        rng = np.random.default_rng(seed)
        returns = [_learn(env, np.array([a, 1.0 - a]), p, rng, episodes, seed + 7919 * k)
                   for k, a in enumerate(weights)]
    finally:
        env.close()
    return _hypervolume(np.asarray(returns))


def _learn(env: Any, w: np.ndarray, p: dict[str, Any], rng: np.random.Generator, episodes: int,
           env_seed: int) -> np.ndarray:
    """Q-learning of the scalarised reward ``w . r``; the greedy policy's vector return (shape ``(2,)``)."""
    shape = tuple(int(h) + 1 for h in env.observation_space.high) + (int(env.action_space.n),)
    q = np.zeros(shape)
    epsilon = 1.0
    obs, _ = env.reset(seed=env_seed)
    for _ in range(episodes):
        obs, _ = env.reset()
        done = False
        while not done:
            s = tuple(int(v) for v in obs)
            a = int(rng.integers(q.shape[-1])) if rng.uniform() < epsilon else int(np.argmax(q[s]))
            obs, r, terminated, truncated, _ = env.step(a)
            s2 = tuple(int(v) for v in obs)
            target = float(w @ r) + (0.0 if terminated else p["gamma"] * float(q[s2].max()))
            q[s + (a,)] += p["lr"] * (target - q[s + (a,)])
            done = bool(terminated or truncated)
        epsilon = max(_FINAL_EPSILON, epsilon * p["epsilon_decay"])
    obs, _ = env.reset()
    total = np.zeros(2)
    done = False
    while not done:
        obs, r, terminated, truncated, _ = env.step(int(np.argmax(q[tuple(int(v) for v in obs)])))
        total += np.asarray(r, dtype=float)
        done = bool(terminated or truncated)
    return total


def morl_objective(episodes: int = 300, env_id: str = ENV_ID) -> Callable[[Any], None]:
    """``objective(trial)`` for a study with a :class:`hpo.protocols.SeedSplit`: one :func:`train_morl` per
    ``trial.seeds`` seed, each hypervolume recorded with ``trial.report_seed`` (maximise); the trial's
    value is their aggregate (the mean, as the MORL-HPO paper averages over seeds)."""
    _make_env(env_id).close()  # an unknown environment fails here, not in every trial

    def objective(trial: Any) -> None:
        for seed in _trial_seeds(trial):
            trial.report_seed(seed, train_morl(trial.params, seed, episodes, env_id))
        return None

    return objective


# -- the adapter to the protocol core (trial.seeds / trial.report_seed, issue 21) ------------------------
def _trial_seeds(trial: Any) -> tuple[int, ...]:
    seeds = getattr(trial, "seeds", None)
    if not seeds:
        raise ConfigError("morl_objective needs a study with a seed protocol (create_study(protocol=SeedSplit(...))): "
                          f"trial {getattr(trial, 'number', '?')} has no seeds")
    return tuple(int(s) for s in seeds)
