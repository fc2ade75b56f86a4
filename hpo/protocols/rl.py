"""Reinforcement learning under a seed protocol: Stable-Baselines3 PPO and DQN on Gymnasium classic control.

The search spaces follow "Hyperparameters in Reinforcement Learning and How To Tune Them" (Eimer, Lindauer
and Raileanu, ICML 2023): the learning rate log-uniform in ``[1e-6, 1e-2]``, the batch size, the number
of epochs, GAE λ, the clip range, the discount, the entropy and value coefficients.

- :func:`train_ppo` / :func:`train_dqn` train one agent with one seed and return its mean evaluation
  return over ``eval_episodes`` episodes of a *separately seeded* evaluation environment (seed
  ``EVAL_SEED_OFFSET + seed``), so the number never depends on the training environment's episodes.
  The same seed gives the same number (single-process CPU training).
- :class:`PPOChunks` trains the same agent in chunks of environment steps
  (``learn(..., reset_num_timesteps=False)``) and saves / loads its weights and optimiser state
  (``torch.save`` of the state dicts, read with ``weights_only=True``): what ASHA and PBT need when the
  fidelity is environment steps.
- :func:`rl_objective` builds ``objective(trial)`` for a study with a :class:`hpo.protocols.SeedSplit`:
  one agent per ``trial.seeds`` seed, each result recorded with ``trial.report_seed``.

Torch's intra-op threads are set to ``$HPO_THREADS`` while an agent trains, when it is set
(:func:`rl_threads`). Stable-Baselines3 and Gymnasium are imported when a function is called, never by
``import hpo``.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from hpo.protocols.example_support import rl_threads, torch_threads, validate_params
from hpo.errors import ConfigError, short_repr
from hpo.params import Categorical, Float, Int, Param

__all__ = ["ALGORITHMS", "EVAL_SEED_OFFSET", "PPOChunks", "chunked_ppo", "dqn_space", "ppo_space", "rl_objective", "rl_threads",
           "train_dqn", "train_ppo"]

#: The evaluation environment of seed ``s`` is reset with seed ``EVAL_SEED_OFFSET + s``.
EVAL_SEED_OFFSET = 100_000
#: The algorithms :func:`rl_objective` trains.
ALGORITHMS = ("ppo", "dqn")


def ppo_space() -> dict[str, Param]:
    """PPO's search space (after the how-to-AutoRL paper, reduced to classic control): a fresh dict of params."""
    return {
        "learning_rate": Float(1e-6, 1e-2, log=True),
        "n_steps": Categorical((64, 128, 256, 512)),
        "batch_size": Categorical((16, 32, 64, 128)),
        "n_epochs": Int(1, 20),
        "gamma": Float(0.8, 0.9999),
        "gae_lambda": Float(0.8, 0.9999),
        "clip_range": Float(0.05, 0.5),
        "ent_coef": Float(1e-8, 0.1, log=True),
        "vf_coef": Float(0.1, 1.0),
        "max_grad_norm": Float(0.1, 5.0, log=True),
    }


def dqn_space() -> dict[str, Param]:
    """DQN's search space (after the how-to-AutoRL paper, reduced to classic control): a fresh dict of params."""
    return {
        "learning_rate": Float(1e-6, 1e-2, log=True),
        "batch_size": Categorical((16, 32, 64, 128)),
        "gamma": Float(0.8, 0.9999),
        "train_freq": Int(1, 16, log=True),
        "gradient_steps": Int(1, 4),
        "target_update_interval": Int(10, 2000, log=True),
        "exploration_fraction": Float(0.05, 0.5),
        "exploration_final_eps": Float(0.01, 0.2),
    }


_SPACES: dict[str, Callable[[], dict[str, Param]]] = {"ppo": ppo_space, "dqn": dqn_space}


def _check_algo(algo: object) -> str:
    if algo not in _SPACES:
        raise ConfigError(f"algo must be one of {ALGORITHMS}, but got {short_repr(algo, 40)}")
    return str(algo)


def check_params(algo: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` validated against ``algo``'s space: every name known, every value inside its range.
    Missing names are allowed (the algorithm's default is used).

    Raises:
        ConfigError: an unknown name or a value outside the space.
    """
    return validate_params(params, _SPACES[_check_algo(algo)](), algo)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence what we understand: Gymnasium's and SB3's user warnings about these small settings (e.g.
    a batch size that does not divide ``n_steps``, which SB3 truncates)."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        yield


def _make_env(env_id: str) -> Any:
    import gymnasium as gym

    if not isinstance(env_id, str) or not env_id:
        raise ConfigError(f"env_id must be a Gymnasium environment id, but got {short_repr(env_id, 60)}")
    try:
        return gym.make(env_id)
    except gym.error.Error as exc:
        raise ConfigError(f"env_id: no Gymnasium environment {env_id!r} ({exc})") from exc


def _check_run(seed: Any, total_timesteps: Any, eval_episodes: Any) -> None:
    from hpo.validators import is_int

    if not is_int(seed) or seed < 0:
        raise ConfigError(f"seed must be an integer >= 0, but got {short_repr(seed, 40)}")
    if not is_int(total_timesteps) or total_timesteps < 1:
        raise ConfigError(f"total_timesteps must be an integer >= 1, but got {short_repr(total_timesteps, 40)}")
    if not is_int(eval_episodes) or eval_episodes < 1:
        raise ConfigError(f"eval_episodes must be an integer >= 1, but got {short_repr(eval_episodes, 40)}")


def _build(algo: str, env: Any, params: Mapping[str, Any], seed: int, total_timesteps: int) -> Any:
    """A fresh SB3 model of ``algo`` with ``params`` (already checked), on the CPU, silent."""
    from stable_baselines3 import DQN, PPO

    kwargs = dict(params)
    if algo == "ppo":
        if "batch_size" in kwargs:  # SB3 needs batch_size <= n_steps (one env); a larger one is the whole rollout
            kwargs["batch_size"] = min(int(kwargs["batch_size"]), int(kwargs.get("n_steps", 2048)))
        return PPO("MlpPolicy", env, seed=seed, device="cpu", verbose=0, **kwargs)
    kwargs.setdefault("learning_starts", min(1000, max(total_timesteps // 10, 1)))
    kwargs.setdefault("buffer_size", max(min(50_000, total_timesteps), 1))
    return DQN("MlpPolicy", env, seed=seed, device="cpu", verbose=0, **kwargs)


def evaluate(model: Any, env_id: str, seed: int, episodes: int) -> float:
    """Mean return of ``model``'s deterministic policy over ``episodes`` episodes of a fresh ``env_id``
    environment reset with seed ``EVAL_SEED_OFFSET + seed`` (then continuing its random stream)."""
    env = _make_env(env_id)
    try:
        returns = []
        obs, _ = env.reset(seed=EVAL_SEED_OFFSET + seed)
        for _ in range(episodes):
            total, done = 0.0, False
            while not done:
                action, _ = model.predict(obs, deterministic=True)
                obs, reward, terminated, truncated, _ = env.step(action)
                total += float(reward)
                done = bool(terminated or truncated)
            returns.append(total)
            obs, _ = env.reset()
        return float(sum(returns) / len(returns))
    finally:
        env.close()


def _train(algo: str, env_id: str, params: Mapping[str, Any], seed: int, total_timesteps: int,
           eval_episodes: int) -> float:
    _check_run(seed, total_timesteps, eval_episodes)
    params = check_params(algo, params)
    with torch_threads(), _quiet():
        env = _make_env(env_id)
        try:
            model = _build(algo, env, params, seed, total_timesteps)
            model.learn(total_timesteps=total_timesteps, progress_bar=False)
            return evaluate(model, env_id, seed, eval_episodes)
        finally:
            env.close()


def train_ppo(env_id: str, params: Mapping[str, Any], seed: int, total_timesteps: int,
              eval_episodes: int = 10) -> float:
    """Train PPO with ``params`` (names of :func:`ppo_space`, others at SB3's defaults) and ``seed`` for
    ``total_timesteps`` environment steps; return its mean evaluation return (see :func:`evaluate`).

    Raises:
        ConfigError: an unknown environment, an unknown hyperparameter or a value outside the space, a
            negative seed, a budget or episode count below 1.
    """
    return _train("ppo", env_id, params, seed, total_timesteps, eval_episodes)


def train_dqn(env_id: str, params: Mapping[str, Any], seed: int, total_timesteps: int,
              eval_episodes: int = 10) -> float:
    """Train DQN (names of :func:`dqn_space`) like :func:`train_ppo`; ``learning_starts`` is a tenth of the
    budget (at most 1000) and the replay buffer holds the whole budget (at most 50 000 transitions)."""
    return _train("dqn", env_id, params, seed, total_timesteps, eval_episodes)


class PPOChunks:
    """One PPO agent trained in chunks of environment steps, with a checkpoint of its state.

    ``advance(to_step)`` trains from the current step count up to ``to_step`` (SB3 ends a ``learn`` call
    after a whole rollout, so the count may pass ``to_step`` by less than ``n_steps``); ``save(folder)``
    writes the policy's and optimiser's state dicts and the step count; ``load(folder)`` reads them into
    this agent, which may have other hyperparameters (PBT's explore step: the learning rate and the
    coefficients are read from the new params at each update).
    """

    def __init__(self, env_id: str, params: Mapping[str, Any], seed: int, eval_episodes: int = 10) -> None:
        _check_run(seed, 1, eval_episodes)
        self.env_id, self.seed, self.eval_episodes = env_id, int(seed), int(eval_episodes)
        self.params = check_params("ppo", params)
        self.env = _make_env(env_id)
        with torch_threads(), _quiet():
            self.model = _build("ppo", self.env, self.params, self.seed, 1)

    @property
    def steps(self) -> int:
        return int(self.model.num_timesteps)

    def advance(self, to_step: int) -> float:
        """Train up to ``to_step`` environment steps in all; return the evaluation return after it."""
        remaining = int(to_step) - self.steps
        with torch_threads(), _quiet():
            if remaining > 0:
                self.model.learn(total_timesteps=remaining, reset_num_timesteps=False, progress_bar=False)
            return evaluate(self.model, self.env_id, self.seed, self.eval_episodes)

    def save(self, folder: Path) -> None:
        import torch

        folder.mkdir(parents=True, exist_ok=True)
        torch.save({"parameters": self.model.get_parameters(), "steps": self.steps}, folder / f"ppo-{self.seed}.pt")

    def load(self, folder: Path) -> None:
        import torch

        path = folder / f"ppo-{self.seed}.pt"
        if not path.exists():
            raise ConfigError(f"checkpoint {path.name}: no saved agent of seed {self.seed} in the checkpoint folder")
        state = torch.load(path, weights_only=True)
        self.model.set_parameters(state["parameters"], exact_match=True, device="cpu")
        self.model.num_timesteps = int(state["steps"])

    def close(self) -> None:
        self.env.close()


def rl_objective(env_id: str, algo: str = "ppo", total_timesteps: int = 20_000, eval_episodes: int = 10,
                 report_at: Sequence[int] = ()) -> Callable[[Any], None]:
    """``objective(trial)`` for a study with a :class:`hpo.protocols.SeedSplit`: trains one ``algo`` agent
    per ``trial.seeds`` seed with ``trial.params`` and records each mean evaluation return with
    ``trial.report_seed(seed, value)``; the trial's value is the protocol's aggregate (maximise it).

    In a study with a fidelity in environment steps (PPO only), each agent trains from
    ``trial.start_step`` to ``trial.budget`` in chunks ending at the ``report_at`` steps (e.g. ASHA's rungs)
    and at the budget, resuming the checkpoint of ``trial.load_checkpoint()``; after each chunk the mean
    over the seeds is reported (``trial.report(step, value)``) so ASHA can stop the trial, and at the end every agent is
    saved in ``trial.checkpoint_dir`` so PBT can exploit it.
    """
    algo = _check_algo(algo)
    _check_run(0, total_timesteps, eval_episodes)
    _make_env(env_id).close()  # an unknown environment fails here, not in every trial

    def objective(trial: Any) -> None:
        seeds = _trial_seeds(trial)
        if getattr(getattr(trial, "study", None), "fidelity", None) is None:
            for seed in seeds:
                _report_seed(trial, seed, _train(algo, env_id, trial.params, seed, total_timesteps, eval_episodes))
            return None
        if algo != "ppo":
            raise ConfigError(f"rl_objective: a study with a fidelity trains in chunks, which only ppo does; got {algo!r}")
        for seed, value in chunked_ppo(trial, env_id, seeds, eval_episodes, report_at).items():
            _report_seed(trial, seed, value)
        return None

    return objective


def chunked_ppo(trial: Any, env_id: str, seeds: Sequence[int], eval_episodes: int, report_at: Sequence[int] = (),
                how: str = "mean", on_steps: Callable[[int], None] | None = None) -> dict[int, float]:
    """Train one :class:`PPOChunks` agent per seed from ``trial.start_step`` to ``trial.budget``, in chunks
    ending at the ``report_at`` steps inside that range and at the budget; after each chunk report the
    seeds' aggregate ``how`` (``trial.report(step, value)``) and stop (:class:`hpo.TrialPruned`) when the
    scheduler says so; save every agent in ``trial.checkpoint_dir`` at the end. ``on_steps(n)`` is told
    the environment steps each chunk trained (all seeds together). Returns ``{seed: final return}``."""
    import hpo
    from hpo.protocols.aggregate import aggregate

    start, budget = int(trial.start_step), int(trial.budget)
    resume = trial.load_checkpoint()
    agents = [PPOChunks(env_id, trial.params, seed, eval_episodes) for seed in seeds]
    try:
        for agent in agents:
            if resume is not None:
                agent.load(resume)
        step = max(start, agents[0].steps)
        stops = sorted({int(s) for s in report_at if step < int(s) < budget} | {budget})
        values: dict[int, float] = {}
        for stop in stops:
            if stop <= step:
                continue
            before = sum(agent.steps for agent in agents)
            values = {agent.seed: agent.advance(stop) for agent in agents}
            if on_steps is not None:
                on_steps(sum(agent.steps for agent in agents) - before)
            step = stop
            trial.report(step, aggregate(list(values.values()), how))
            if step < budget and trial.should_stop():
                raise hpo.TrialPruned()
        if not values:  # nothing left to train: the resumed agents' returns
            values = {agent.seed: agent.advance(budget) for agent in agents}
        for agent in agents:
            agent.save(trial.checkpoint_dir)
        return values
    finally:
        for agent in agents:
            agent.close()


# -- the adapter to the protocol core (trial.seeds / trial.report_seed, issue 21 parts 1-4) -------------
def _trial_seeds(trial: Any) -> tuple[int, ...]:
    """The seeds this trial trains on: ``trial.seeds`` (the protocol's tuning or test seeds)."""
    seeds = getattr(trial, "seeds", None)
    if not seeds:
        raise ConfigError("rl_objective needs a study with a seed protocol (create_study(protocol=SeedSplit(...))): "
                          f"trial {getattr(trial, 'number', '?')} has no seeds")
    return tuple(int(s) for s in seeds)


def _report_seed(trial: Any, seed: int, value: float) -> None:
    if not math.isfinite(value):
        raise ConfigError(f"seed {seed}: the evaluation return must be finite, but got {value}")
    trial.report_seed(seed, value)
