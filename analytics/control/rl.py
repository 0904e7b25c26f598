"""Reinforcement learning (RLCF-8): a soft actor-critic policy over the thermal twins.

:func:`train` teaches a stable-baselines3 SAC agent (actor and critics of two hidden layers of 64,
CPU only) to control homes through :class:`analytics.control.env.HomeEnv`: one environment per
home (a :class:`~stable_baselines3.common.vec_env.DummyVecEnv`), each starting its episodes
(:data:`TrainConfig.episode_steps`, two days) at random steps of the home's **training period**
(``start`` to ``stop``, by default the first 75 % of the data, the share
:func:`analytics.control.homes.citylearn_community` calibrates the twins on; the held-out rest is
never seen). The sets of :data:`analytics.data.citylearn2023.HELD_OUT` are refused outright.

**Actions** (:func:`env_actions`). The policy acts relative to business as usual and within the
comfort band: two actions in [-1, 1], the thermostat's setpoint offset in units of the home's
comfort tolerance (so the target stays inside the band; the environment allows
+-:data:`~analytics.control.plant.OFFSET_LIMIT_K`) and the battery power (x its power) added to
business as usual's self-consumption; the heat pump runs at full modulation and the device is on
(limiting either only lets the temperature drift, which the offset does within the band, while
exploring with them costs comfort the critic then has to unlearn). Its neutral action is
business as usual.

**Reward.** The environment's reward is minus the user's cost function of the step
(:mod:`analytics.control.costs`). For learning it is taken relative to business as usual
(:class:`analytics.control.policies.BauPolicy` run once over the period: its reward at the same
step is subtracted, which does not depend on the agent's actions and so changes no policy's
ranking, but removes most of the bill of the load nobody controls) and divided by the home's
mean business-as-usual cost per step (homes whose bills differ a hundredfold learn at one
scale). A shadow business-as-usual plant stepped from each episode's own start was tried: it
learned no better in the same time.

**Phases, checkpoints, resuming.** Training runs in ``phases`` of ``steps_per_phase``
environment steps (all homes together). After each phase a checkpoint is written into
``checkpoint_dir`` as one folder ``phase-NNNN`` (written under a temporary name, then renamed, so
a folder with that name is always complete): the model (``model.zip``, with its optimisers), the
replay buffer (``replay_buffer.pkl``) and ``state.json`` (the phase, the seeds, the homes and the
period trained on with a fingerprint of their data, the configuration, each phase's progress and
validation, the library versions). Only the newest checkpoint is kept. Every phase starts from
the random state ``(seed, phase)`` with freshly reset environments, so a run interrupted after
phase k and resumed (``resume=True``) ends with exactly the parameters of an uninterrupted run.

**Warm start** (``warm_start=True``): the actor, the critics and the entropy coefficient start
from the shipped pretrained policy (:data:`PRETRAINED`) instead of at random. It is made by
:func:`pretrain` on the development sets' training periods by **imitating MPC**
(:func:`imitate`: behaviour cloning of MPC's decisions on its own episodes, then a DAgger round
where the learner drives and MPC labels the states it reaches); SAC from scratch reached 0.90 of
business as usual's bill on the Austin homes in the time tried, the imitation 0.86 (MPC 0.83).

**Validation.** The last ``validation_steps`` of each period (default one week) are kept out of
training; after each phase the deterministic policy runs over them and its bill, comfort
violations and cost function are compared with business as usual. Each checkpoint also holds
``best_model.zip``, the policy of the phase with the best validation score so far (SAC's
returns swing from phase to phase).

**Deciding.** :class:`RlPolicy` (``rl``) loads a model (a file, a checkpoint folder, or the
pretrained one) and decides for all homes of a plant at once from
:func:`analytics.control.env.observe`.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from analytics.control.costs import CostFunction
from analytics.control.env import N_ACT, N_OBS, HomeEnv, observe, to_actions
from analytics.control.errors import ControlConfigError
from analytics.control.evaluate import run_policy
from analytics.control.homes import Community
from analytics.control.plant import OFFSET_LIMIT_K, Plant
from analytics.control.policies import BauPolicy, self_consumption

PRETRAINED = Path(__file__).parent / "pretrained" / "rl_sac.zip"
"""The shipped pretrained policy (:func:`pretrain`); its provenance is in ``rl_sac.json``."""
TRAIN_SHARE = 0.75
"""Share of a community's steps that is its training period when ``stop`` is not given."""
CHECKPOINT_FORMAT = 1
N_POLICY = 2
"""The learned policy's actions: setpoint offset and battery (:func:`env_actions`)."""
_PHASE_PREFIX = "phase-"


@dataclass(frozen=True)
class TrainConfig:
    """SAC's settings. ``net_arch`` is the pretrained policy's: a warm start needs the same."""

    net_arch: tuple[int, ...] = (64, 64)
    learning_rate: float = 1e-4
    buffer_size: int = 100_000
    batch_size: int = 256
    learning_starts: int = 2_000
    gamma: float = 0.99
    tau: float = 0.005
    gradient_steps: int = 2
    """Gradient steps per step of all homes' environments together."""
    episode_steps: int = 192
    validation_steps: int = 96 * 7

    def __post_init__(self) -> None:
        if not self.net_arch or any(int(n) < 1 for n in self.net_arch):
            raise ControlConfigError(f"net_arch {self.net_arch}: layer sizes must be positive")
        for name in ("buffer_size", "batch_size", "gradient_steps", "episode_steps"):
            if int(getattr(self, name)) < 1:
                raise ControlConfigError(f"{name} must be at least 1")
        if self.learning_starts < 0 or self.validation_steps < 0:
            raise ControlConfigError("learning_starts and validation_steps must not be negative")
        if not 0 < self.learning_rate < 1 or not 0 < self.gamma < 1 or not 0 < self.tau <= 1:
            raise ControlConfigError("learning_rate, gamma and tau must be in (0, 1)")

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["net_arch"] = list(self.net_arch)
        return out


@dataclass
class PhaseReport:
    """What one phase did (the progress line and ``state.json`` carry it)."""

    phase: int
    timesteps: int
    """Environment steps of all homes so far (cumulative)."""
    episodes: int
    mean_episode_reward: float | None
    """Mean over the phase's finished episodes of minus the cost function (per home)."""
    mean_step_reward: float
    seconds: float
    validation: dict[str, Any] | None = None

    def line(self, phases: int) -> str:
        ep = (
            "no episode finished"
            if self.mean_episode_reward is None
            else f"mean episode reward {self.mean_episode_reward:.3f} ({self.episodes} episodes)"
        )
        text = (
            f"phase {self.phase}/{phases}: {self.timesteps} steps, {ep}, mean step reward "
            f"{self.mean_step_reward:.4f}, {self.seconds:.1f} s"
        )
        if self.validation:
            parts = [
                f"{name}: cost x{v['cost_ratio']:.3f}, {v['violation_kh']:.1f} Kh "
                f"(bau {v['bau_violation_kh']:.1f})"
                for name, v in self.validation["per_set"].items()
            ]
            text += (
                f"; validation score {self.validation['score']:.4f} (cost function / business "
                "as usual), " + "; ".join(parts)
            )
        return text


@dataclass
class TrainResult:
    """Where training left the model and how it went."""

    model_path: Path
    """The newest checkpoint's ``model.zip`` (:class:`RlPolicy` loads it)."""
    best_model_path: Path
    """The model of the phase with the best validation score (the last phase where there is
    no validation), as :func:`export_policy` saves it."""
    best_phase: int | None
    best_score: float | None
    checkpoint: Path
    phases_done: int
    resumed_from: int
    """The phase the run continued after (0: from the start)."""
    timesteps: int
    seconds: float
    history: list[PhaseReport] = field(default_factory=list)
    model: Any = None
    """The trained :class:`stable_baselines3.SAC`."""

    def policy(self) -> RlPolicy:
        return RlPolicy(self.model if self.model is not None else self.model_path)

    def to_json(self) -> dict[str, Any]:
        out = {k: v for k, v in vars(self).items() if k not in ("model", "history")}
        out = {k: str(v) if isinstance(v, Path) else v for k, v in out.items()}
        out["history"] = [asdict(r) for r in self.history]
        return out


# --- deciding -------------------------------------------------------------------------------


def _load_sac(path: Path, env: Any = None, *, for_training: bool = False) -> Any:
    """A SAC model from a stable-baselines3 zip, or a clear error naming the file."""
    from stable_baselines3 import SAC

    if not path.is_file():
        raise ControlConfigError(f"RL model {path}: no such file")
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
    except (OSError, zipfile.BadZipFile) as exc:
        raise ControlConfigError(
            f"RL model {path} is not a stable-baselines3 model file (not a zip archive: {exc})"
        ) from exc
    if not {"data", "policy.pth"} <= names:
        raise ControlConfigError(
            f"RL model {path} is not a stable-baselines3 model file (it lacks data/policy.pth)"
        )
    custom = None if for_training else {"learning_rate": 0.0, "lr_schedule": lambda _p: 0.0}
    try:
        model = SAC.load(path, env=env, device="cpu", custom_objects=custom)
    except Exception as exc:  # a damaged archive fails anywhere inside SB3, pickle or torch
        raise ControlConfigError(
            f"RL model {path} could not be loaded ({type(exc).__name__}: {exc}); it may be "
            "damaged or from an incompatible stable-baselines3 version"
        ) from exc
    obs, act = model.observation_space, model.action_space
    if getattr(obs, "shape", None) != (N_OBS,) or getattr(act, "shape", None) != (N_POLICY,):
        raise ControlConfigError(
            f"RL model {path} was trained for observations {getattr(obs, 'shape', None)} and "
            f"actions {getattr(act, 'shape', None)}, not the control environment's "
            f"({N_OBS},) and the learned policy's ({N_POLICY},)"
        )
    return model


def _resolve_model_path(path: Path) -> Path:
    """A model file, or a checkpoint folder's newest ``model.zip``."""
    if path.is_dir():
        latest = _latest_checkpoint(path)
        if latest is None:
            raise ControlConfigError(f"RL checkpoint folder {path} holds no checkpoint")
        return latest / "model.zip"
    return path


def env_actions(action: np.ndarray, plant: Plant) -> np.ndarray:
    """The policy's actions (N, :data:`N_POLICY`) in [-1, 1] as the environment's (N, 4)
    (:mod:`analytics.control.env`): the thermostat's setpoint offset in units of the home's
    comfort tolerance, and battery power (x its power) added to what business as usual would do
    (:func:`analytics.control.policies.self_consumption`); the heat pump at full modulation and
    the device on (module docstring)."""
    a = np.clip(np.asarray(action, dtype=np.float64).reshape(-1, N_POLICY), -1.0, 1.0)
    out = np.ones((len(a), N_ACT))
    out[:, 0] = a[:, 0] * plant.c.tolerance_k / OFFSET_LIMIT_K
    power = plant.power_w
    base = self_consumption(plant) / np.where(power > 0, power, 1.0)
    out[:, 2] = np.where(power > 0, np.clip(base + a[:, 1], -1.0, 1.0), 0.0)
    return out


class RlPolicy:
    """A learned policy (module docstring). ``model``: a SAC model, a model file, a checkpoint
    folder, or None for the shipped pretrained policy."""

    name = "rl"

    def __init__(self, model: Any = None) -> None:
        if model is None or isinstance(model, (str, Path)):
            self.path: Path | None = _resolve_model_path(Path(model or PRETRAINED))
            self.model = _load_sac(self.path)
        else:
            self.path = None
            self.model = model
        self.reasons: list[str] = []

    def decide(self, plant: Plant) -> Any:
        action, _ = self.model.predict(observe(plant), deterministic=True)
        actions = to_actions(plant, env_actions(action, plant))
        self.reasons = [
            _reason(actions.setpoint_offset_k[i], actions.battery_w[i], plant.power_w[i] > 0)
            for i in range(plant.c.n_homes)
        ]
        return actions


def _reason(offset_k: float, battery_w: float, has_battery: bool) -> str:
    if not has_battery:
        bat = "no battery"
    elif abs(battery_w) < 50:
        bat = "battery idle"
    else:
        way = "charging" if battery_w > 0 else "discharging"
        bat = f"battery {way} {abs(battery_w) / 1000:.1f} kW"
    return f"learned policy: setpoint {offset_k:+.1f} K, {bat}"


# --- training data --------------------------------------------------------------------------


@dataclass
class _Home:
    community: Community
    index: int
    start: int
    stop: int
    """End of the steps trained on (the validation window follows it, up to ``period_stop``)."""
    period_stop: int
    baseline: np.ndarray
    """Business as usual's reward per step of the community's data (0 outside the period)."""
    scale: float
    """Business as usual's mean cost function per step over the steps trained on."""

    @property
    def name(self) -> str:
        return self.community.names[self.index]


def _held_out_names() -> set[str]:
    from analytics.data.citylearn2023 import HELD_OUT

    return set(HELD_OUT)


def _bau_rewards(c: Community, start: int, stop: int, cost: CostFunction) -> np.ndarray:
    """Business as usual's reward per step and home over ``start..stop`` (0 elsewhere)."""
    plant = Plant(c, cost)
    plant.reset(start)
    policy = BauPolicy()
    out = np.zeros((c.n_steps, c.n_homes))
    for t in range(start, stop):
        out[t] = plant.step(policy.decide(plant)).reward
    return out


def _homes(
    communities: Sequence[Community],
    homes: Sequence[int | str] | None,
    start: int | Sequence[int],
    stop: int | Sequence[int] | None,
    cost: CostFunction,
    config: TrainConfig,
) -> list[_Home]:
    held_out = _held_out_names()
    n = len(communities)
    starts = [int(start)] * n if isinstance(start, int) else [int(s) for s in start]
    if stop is None:
        stops = [round(c.n_steps * TRAIN_SHARE) for c in communities]
    else:
        stops = [int(stop)] * n if isinstance(stop, int) else [int(s) for s in stop]
    if len(starts) != n or len(stops) != n:
        raise ControlConfigError(f"{n} communities but {len(starts)} starts and {len(stops)} stops")
    everyone = [(k, i) for k, c in enumerate(communities) for i in range(c.n_homes)]
    if homes is None:
        chosen = everyone
    else:
        chosen = []
        names = {communities[k].names[i]: (k, i) for k, i in everyone}
        for h in homes:
            if isinstance(h, str):
                if h not in names:
                    raise ControlConfigError(f"home {h!r} is not in the data; known: {list(names)}")
                chosen.append(names[h])
            elif 0 <= int(h) < len(everyone):
                chosen.append(everyone[int(h)])
            else:
                raise ControlConfigError(f"home index {h} outside 0..{len(everyone) - 1}")
        if not chosen:
            raise ControlConfigError("homes: no home chosen to train on")
    out: list[_Home] = []
    baselines: dict[int, np.ndarray] = {}
    for k, i in chosen:
        c = communities[k]
        name = c.names[i]
        if name.split("/")[0] in held_out:
            raise ControlConfigError(
                f"{name} belongs to a held-out CityLearn 2023 set: it is kept for independent "
                "checks and never trained on"
            )
        s, e = starts[k], stops[k]
        train_stop = e - config.validation_steps
        if not 0 <= s < e <= c.n_steps or train_stop - s < config.episode_steps:
            raise ControlConfigError(
                f"{name}: the period {s}..{e} (of 0..{c.n_steps}) leaves "
                f"{max(train_stop - s, 0)} steps to train on after {config.validation_steps} for "
                f"validation; an episode needs {config.episode_steps}"
            )
        if k not in baselines:
            baselines[k] = _bau_rewards(c, s, e, cost)
        base = baselines[k][:, i]
        scale = float(np.mean(np.abs(base[s:train_stop])))
        out.append(_Home(c, i, s, train_stop, e, base, max(scale, 1e-6)))
    return out


def _fingerprint(homes: Sequence[_Home]) -> str:
    h = hashlib.sha256()
    for home in homes:
        c, i, s, e = home.community, home.index, home.start, home.period_stop
        h.update(f"{home.name}|{s}|{e}|{c.times[s].isoformat()}".encode())
        for arr in (
            c.base_load_w[s:e, i],
            c.pv_w[s:e, i],
            c.price[s:e],
            c.carbon[s:e],
            c.home_on[s:e, i],
            c.band_low[s:e, i],
            c.band_high[s:e, i],
            c.targets_w[s:e, i],
            np.asarray(c.prepared.outdoor[s:e]),
        ):
            h.update(np.ascontiguousarray(arr, dtype=np.float64).tobytes())
    return h.hexdigest()


class _Learning(gym.Wrapper):
    """A home's environment as the agent learns in it: the policy's actions through
    :func:`env_actions`, the reward relative to business as usual and per the home's scale
    (module docstring); the raw reward stays in ``info["raw_reward"]``."""

    def __init__(self, env: HomeEnv, home: _Home) -> None:
        super().__init__(env)
        self.home = home
        self.action_space = gym.spaces.Box(-1.0, 1.0, (N_POLICY,), np.float32)

    def step(self, action: Any) -> Any:
        plant = self.env.unwrapped.plant  # type: ignore[attr-defined]
        obs, raw, term, trunc, info = self.env.step(env_actions(action, plant)[0])
        reward = float(raw)
        info["raw_reward"] = reward
        relative = (reward - self.home.baseline[plant.t - 1]) / self.home.scale
        return obs, relative, term, trunc, info


def _vec_env(homes: Sequence[_Home], cost: CostFunction, config: TrainConfig) -> Any:
    from stable_baselines3.common.vec_env import DummyVecEnv

    def make(home: _Home) -> Callable[[], gym.Env]:
        def build() -> gym.Env:
            env = HomeEnv(
                home.community,
                home.index,
                cost,
                start=home.start,
                stop=home.stop,
                episode_steps=config.episode_steps,
                random_start=True,
            )
            return _Learning(env, home)

        return build

    return DummyVecEnv([make(h) for h in homes])


def _objective(run: Any, cost: CostFunction) -> float:
    w = cost.w
    return (
        w("cost") * run.total("cost")
        + w("emissions") * run.total("emissions_kg")
        + w("peak") * run.total("peak_kw")
        + w("comfort") * run.total("violation_kh")
        + w("tracking") * run.total("tracking_kwh")
    )


def _validate(model: Any, homes: Sequence[_Home], cost: CostFunction) -> dict[str, Any] | None:
    """The deterministic policy over each community's validation window, against business as
    usual: per community the bill's ratio, the kelvin-hours outside comfort and the ratio of
    the cost function; ``score``: the mean of those ratios (lower is better)."""
    windows: dict[int, tuple[Community, int, int]] = {}
    for h in homes:
        if h.period_stop > h.stop:
            windows[id(h.community)] = (h.community, h.stop, h.period_stop)
    if not windows:
        return None
    policy = RlPolicy(model)
    per_set: dict[str, dict[str, float]] = {}
    for c, s, e in windows.values():
        rl = run_policy(c, policy, s, e, cost)
        bau = run_policy(c, BauPolicy(), s, e, cost)
        base_cost, base_obj = bau.total("cost"), _objective(bau, cost)
        per_set[c.names[0].split("/")[0]] = {
            "cost_ratio": round(rl.total("cost") / base_cost, 4) if base_cost else 1.0,
            "violation_kh": round(rl.total("violation_kh"), 4),
            "bau_violation_kh": round(bau.total("violation_kh"), 4),
            "objective_ratio": round(_objective(rl, cost) / base_obj, 4) if base_obj else 1.0,
        }
    score = float(np.mean([v["objective_ratio"] for v in per_set.values()]))
    return {"score": round(score, 4), "per_set": per_set}


# --- checkpoints ----------------------------------------------------------------------------


def _versions() -> dict[str, str]:
    import stable_baselines3
    import torch

    return {
        "python": platform.python_version(),
        "stable_baselines3": stable_baselines3.__version__,
        "torch": torch.__version__,
        "gymnasium": gym.__version__,
        "numpy": np.__version__,
    }


def _sha256(path: Path) -> str:
    if not path.is_file():
        raise ControlConfigError(f"RL model {path}: no such file")
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _phase_dirs(folder: Path) -> list[tuple[int, Path]]:
    out = []
    for p in folder.glob(f"{_PHASE_PREFIX}*"):
        suffix = p.name[len(_PHASE_PREFIX) :]
        if p.is_dir() and suffix.isdigit():
            out.append((int(suffix), p))
    return sorted(out)


def _latest_checkpoint(folder: Path) -> Path | None:
    dirs = _phase_dirs(folder)
    return dirs[-1][1] if dirs else None


def _read_state(checkpoint: Path) -> dict[str, Any]:
    path = checkpoint / "state.json"
    try:
        state = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ControlConfigError(f"RL checkpoint {path}: no such file") from exc
    except (OSError, ValueError) as exc:
        raise ControlConfigError(f"RL checkpoint {path} is not readable JSON: {exc}") from exc
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise ControlConfigError(
            f"RL checkpoint {path} is not a checkpoint of format {CHECKPOINT_FORMAT}"
        )
    for key in ("phase", "seed", "identity", "history"):
        if key not in state:
            raise ControlConfigError(f"RL checkpoint {path} lacks {key!r}")
    return state


def _write_checkpoint(
    folder: Path, phase: int, model: Any, state: dict[str, Any], best_from: Path | None
) -> Path:
    """Write phase ``phase``'s checkpoint; the best model so far is ``model`` itself
    (``best_from`` None) or the one in an earlier checkpoint (copied)."""
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"{_PHASE_PREFIX}{phase:04d}"
    tmp = folder / f".tmp-{final.name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    model.save(tmp / "model.zip")
    model.save_replay_buffer(tmp / "replay_buffer.pkl")
    if best_from is None:
        export_policy(model, tmp / "best_model.zip")
    elif best_from.is_file():
        shutil.copyfile(best_from, tmp / "best_model.zip")
    (tmp / "state.json").write_text(json.dumps(state, indent=1))
    old = None
    if final.exists():
        old = folder / f".old-{final.name}-{os.getpid()}"
        shutil.rmtree(old, ignore_errors=True)
        final.rename(old)
    tmp.rename(final)
    for _, other in _phase_dirs(folder):
        if other != final:
            shutil.rmtree(other, ignore_errors=True)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return final


def _best_file(checkpoint: Path | None) -> Path:
    if checkpoint is None:
        raise ControlConfigError("no checkpoint to take the best model from")
    path = checkpoint / "best_model.zip"
    if not path.is_file():
        raise ControlConfigError(f"RL checkpoint {path}: no such file")
    return path


def _phase_seed(seed: int, phase: int) -> int:
    return int(np.random.SeedSequence([seed, phase]).generate_state(1)[0] % (2**31 - 1))


# --- training -------------------------------------------------------------------------------


def _new_model(env: Any, config: TrainConfig, seed: int) -> Any:
    from stable_baselines3 import SAC

    return SAC(
        "MlpPolicy",
        env,
        learning_rate=config.learning_rate,
        buffer_size=config.buffer_size,
        batch_size=config.batch_size,
        learning_starts=config.learning_starts,
        gamma=config.gamma,
        tau=config.tau,
        train_freq=1,
        gradient_steps=config.gradient_steps,
        policy_kwargs={"net_arch": list(config.net_arch)},
        device="cpu",
        seed=seed,
        verbose=0,
    )


def _warm_start(model: Any, source: Path) -> None:
    pre = _load_sac(source)
    own = model.policy.state_dict()
    theirs = pre.policy.state_dict()
    if {k: v.shape for k, v in own.items()} != {k: v.shape for k, v in theirs.items()}:
        raise ControlConfigError(
            f"warm start: {source} has another network than net_arch "
            f"{model.policy_kwargs.get('net_arch')}; train with warm_start=False"
        )
    model.policy.load_state_dict(theirs)
    if getattr(pre, "log_ent_coef", None) is not None and model.log_ent_coef is not None:
        model.log_ent_coef.data.copy_(pre.log_ent_coef.data)


def _phase_callback(stats: dict[str, Any]) -> Any:
    from stable_baselines3.common.callbacks import BaseCallback

    class Stats(BaseCallback):
        def _on_step(self) -> bool:
            infos = self.locals["infos"]
            dones = self.locals["dones"]
            running = stats["running"]
            for k, info in enumerate(infos):
                r = float(info.get("raw_reward", 0.0))
                running[k] += r
                stats["reward_sum"] += r
                stats["steps"] += 1
                if dones[k]:
                    stats["episodes"].append(running[k])
                    running[k] = 0.0
            return True

    return Stats()


def train(
    community: Community | Sequence[Community],
    *,
    homes: Sequence[int | str] | None = None,
    start: int | Sequence[int] = 0,
    stop: int | Sequence[int] | None = None,
    phases: int = 10,
    steps_per_phase: int = 5_000,
    checkpoint_dir: Path | str,
    warm_start: bool = True,
    resume: bool = True,
    seed: int = 0,
    cost: CostFunction | None = None,
    config: TrainConfig | None = None,
    pretrained: Path | str | None = None,
    progress: Callable[[str], None] = lambda _m: None,
) -> TrainResult:
    """Train (or continue training) SAC on the homes' training period (module docstring).

    ``community``: one community or several (their homes train together); ``homes``: indices
    into all their homes in order, or home names (default: all); ``start``/``stop``: the period
    of each community (default: its first :data:`TRAIN_SHARE`); ``checkpoint_dir``: where each
    phase's checkpoint goes and where ``resume`` finds the last one; ``pretrained``: the model a
    warm start starts from (default :data:`PRETRAINED`). A caller's own data (data frames) come
    in as a :class:`Community` it built."""
    import torch

    config = config or TrainConfig()
    cost = cost or CostFunction()
    if phases < 1 or steps_per_phase < 1:
        raise ControlConfigError("phases and steps_per_phase must be at least 1")
    communities = [community] if isinstance(community, Community) else list(community)
    if not communities:
        raise ControlConfigError("train: no community given")
    folder = Path(checkpoint_dir)
    if folder.exists() and not folder.is_dir():
        raise ControlConfigError(f"checkpoint_dir {folder} is a file, not a folder")
    source = Path(pretrained or PRETRAINED)
    chosen = _homes(communities, homes, start, stop, cost, config)
    identity = {
        "algorithm": "SAC",
        "seed": seed,
        "steps_per_phase": steps_per_phase,
        "homes": [h.name for h in chosen],
        "periods": [
            {
                "home": h.name,
                "train_steps": [h.start, h.stop],
                "validation_steps": [h.stop, h.period_stop],
                "from": h.community.times[h.start].isoformat(),
                "to": h.community.times[h.period_stop - 1].isoformat(),
                "reward_scale": h.scale,
            }
            for h in chosen
        ],
        "data_sha256": _fingerprint(chosen),
        "config": config.to_json(),
        "cost_function": cost.to_json(),
        "warm_start": _sha256(source) if warm_start else None,
    }
    identity = json.loads(json.dumps(identity))  # as it reads back from state.json
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small networks: one thread is fastest, and results do not vary
    t_run = time.perf_counter()
    try:
        env = _vec_env(chosen, cost, config)
        history: list[PhaseReport] = []
        done = 0
        best_phase: int | None = None
        best_score: float | None = None
        latest = _latest_checkpoint(folder) if resume and folder.is_dir() else None
        if latest is not None:
            state = _read_state(latest)
            differs = [k for k in identity if state["identity"].get(k) != identity[k]]
            if differs:
                raise ControlConfigError(
                    f"RL checkpoint {latest / 'state.json'} is of another training run (its "
                    f"{', '.join(differs)} differ); use another checkpoint_dir or resume=False"
                )
            model = _load_sac(latest / "model.zip", env, for_training=True)
            buffer = latest / "replay_buffer.pkl"
            if not buffer.is_file():
                raise ControlConfigError(f"RL checkpoint {buffer}: no such file")
            try:
                model.load_replay_buffer(buffer)
            except Exception as exc:  # pickle of a damaged file fails in many ways
                raise ControlConfigError(
                    f"RL checkpoint {buffer} could not be loaded ({type(exc).__name__}: {exc})"
                ) from exc
            done = int(state["phase"])
            history = [PhaseReport(**r) for r in state["history"]]
            best_phase, best_score = state.get("best_phase"), state.get("best_score")
            if state.get("versions") != _versions():
                progress(
                    f"note: {latest} was written with {state.get('versions')}; now "
                    f"{_versions()}: the run continues but may differ from an uninterrupted one"
                )
            progress(f"resuming after phase {done} from {latest}")
        else:
            model = _new_model(env, config, seed)
            if warm_start:
                _warm_start(model, source)
                progress(f"warm start from {source}")
        resumed_from = done
        checkpoint = latest
        for phase in range(done + 1, phases + 1):
            t0 = time.perf_counter()
            model.set_random_seed(_phase_seed(seed, phase))
            model._last_obs = None  # every phase starts from freshly reset environments
            stats: dict[str, Any] = {
                "running": [0.0] * env.num_envs,
                "episodes": [],
                "reward_sum": 0.0,
                "steps": 0,
            }
            model.learn(steps_per_phase, callback=_phase_callback(stats), reset_num_timesteps=False)
            episodes = stats["episodes"]
            report = PhaseReport(
                phase=phase,
                timesteps=int(model.num_timesteps),
                episodes=len(episodes),
                mean_episode_reward=float(np.mean(episodes)) if episodes else None,
                mean_step_reward=stats["reward_sum"] / max(stats["steps"], 1),
                seconds=0.0,
                validation=_validate(model, chosen, cost),
            )
            report.seconds = round(time.perf_counter() - t0, 2)
            history.append(report)
            score = report.validation["score"] if report.validation else None
            improved = best_phase is None or (
                score is not None and (best_score is None or score < best_score)
            )
            if improved:
                best_phase, best_score = phase, score
            state = {
                "format": CHECKPOINT_FORMAT,
                "phase": phase,
                "phases_requested": phases,
                "seed": seed,
                "phase_seed": _phase_seed(seed, phase),
                "timesteps": int(model.num_timesteps),
                "identity": identity,
                "history": [asdict(r) for r in history],
                "validation": report.validation,
                "best_phase": best_phase,
                "best_score": best_score,
                "versions": _versions(),
                "written": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            }
            best_from = None if improved else _best_file(checkpoint)
            checkpoint = _write_checkpoint(folder, phase, model, state, best_from)
            progress(report.line(phases))
        if checkpoint is None:  # pragma: no cover (phases >= 1 always writes one)
            raise ControlConfigError("training wrote no checkpoint")
        return TrainResult(
            model_path=checkpoint / "model.zip",
            best_model_path=_best_file(checkpoint),
            best_phase=best_phase,
            best_score=best_score,
            checkpoint=checkpoint,
            phases_done=max(done, phases),
            resumed_from=resumed_from,
            timesteps=int(model.num_timesteps),
            seconds=round(time.perf_counter() - t_run, 2),
            history=history,
            model=model,
        )
    finally:
        torch.set_num_threads(threads)


# --- the shipped pretrained policy ----------------------------------------------------------


def export_policy(model: Any, path: Path | str) -> Path:
    """Save ``model`` for deciding and warm starts only: its networks and entropy coefficient,
    without optimiser states or replay buffer (small enough to ship)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    saved = [(opt, dict(opt.state)) for opt in _optimizers(model)]
    try:
        for opt, _ in saved:
            opt.state.clear()
        tmp = path.with_name(path.name + ".tmp.zip")
        model.save(tmp)
        tmp.replace(path)
    finally:
        for opt, state in saved:
            opt.state.update(state)
    return path


def _optimizers(model: Any) -> list[Any]:
    opts = [model.actor.optimizer, model.critic.optimizer]
    if getattr(model, "ent_coef_optimizer", None) is not None:
        opts.append(model.ent_coef_optimizer)
    return opts


def _expert(plant: Plant, mpc: Any) -> tuple[np.ndarray, Any]:
    """MPC's decision now, and the same decision in the policy's action space
    (:func:`env_actions` inverted: offset in tolerance units, battery beside self-consumption;
    MPC's "no heating or cooling" is the thermostat giving way by the whole tolerance)."""
    a = mpc.decide(plant)
    tol = plant.c.tolerance_k
    give_way = np.where(plant.last_heat_w < 0, tol, -tol)
    offset = np.where(a.device_on < 0.5, give_way, a.setpoint_offset_k)
    power = plant.power_w
    scale = np.where(power > 0, power, 1.0)
    battery = np.where(
        power > 0, np.clip(a.battery_w / scale - self_consumption(plant) / scale, -1, 1), 0.0
    )
    return np.stack([np.clip(offset / tol, -1.0, 1.0), battery], axis=1), a


def imitate(
    communities: Sequence[Community],
    stops: Sequence[int],
    *,
    episodes: int = 24,
    rounds: int = 2,
    epochs: int = 200,
    seed: int = 0,
    config: TrainConfig | None = None,
    progress: Callable[[str], None] = lambda _m: None,
) -> tuple[Any, int]:
    """A SAC policy whose actor imitates MPC (with perfect forecasts) on the training periods
    (before each ``stops`` less the validation week): behaviour cloning on MPC's own episodes,
    then ``rounds - 1`` DAgger rounds (the learner drives, MPC labels the states it reaches),
    least squares on the actor's deterministic action. Returns the model and the samples."""
    import torch

    from analytics.control.policies import MpcPolicy

    config = config or TrainConfig()
    homes = _homes(communities, None, 0, list(stops), CostFunction(), config)
    model = _new_model(_vec_env(homes, CostFunction(), config), config, seed)
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    steps = config.episode_steps
    for r in range(rounds):
        learner = None if r == 0 else RlPolicy(model)
        t0 = time.perf_counter()
        for community, stop in zip(communities, stops, strict=True):
            last = stop - config.validation_steps - steps
            if last <= 0:
                raise ControlConfigError("imitate: the training period is too short")
            for _ in range(episodes):
                plant = Plant(community)
                plant.reset(int(rng.integers(0, last)))
                mpc = MpcPolicy()
                for _ in range(steps):
                    xs.append(observe(plant))
                    label, expert = _expert(plant, mpc)
                    ys.append(label)
                    plant.step(expert if learner is None else learner.decide(plant))
        x = torch.tensor(np.concatenate(xs), dtype=torch.float32)
        y = torch.tensor(np.concatenate(ys), dtype=torch.float32)
        opt = torch.optim.Adam(model.actor.parameters(), lr=1e-3)
        for _ in range(epochs):
            perm = torch.randperm(len(x))
            for b in range(0, len(x), 256):
                idx = perm[b : b + 256]
                loss = ((model.actor(x[idx], deterministic=True) - y[idx]) ** 2).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
        progress(
            f"imitation round {r + 1}/{rounds}: {len(x)} MPC-labelled states, last loss "
            f"{float(loss.detach()):.4f}, {time.perf_counter() - t0:.0f} s"
        )
    return model, len(xs)


def pretrain(
    out: Path | str = PRETRAINED,
    *,
    episodes: int = 24,
    rounds: int = 2,
    epochs: int = 200,
    seed: int = 0,
    config: TrainConfig | None = None,
    progress: Callable[[str], None] = print,
) -> Path:
    """The shipped policy: :func:`imitate` MPC on the training periods of both development
    sets (:data:`analytics.data.citylearn2023.DEVELOP`), saved to ``out`` with its provenance
    next to it (``.json``). SAC (:func:`train`) warm-starts from it."""
    from analytics.control.homes import citylearn_community
    from analytics.data.citylearn2023 import DEVELOP

    t0 = time.perf_counter()
    built = [citylearn_community(name) for name in DEVELOP]
    stops = [first for _, first in built]
    model, samples = imitate(
        [c for c, _ in built],
        stops,
        episodes=episodes,
        rounds=rounds,
        epochs=epochs,
        seed=seed,
        config=config,
        progress=progress,
    )
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    export_policy(model, out)
    meta = {
        "made_by": "analytics.control.rl.pretrain",
        "method": "behaviour cloning of MPC (perfect forecasts) with DAgger, on the SAC actor",
        "sets": list(DEVELOP),
        "held_out_from_step": dict(zip(DEVELOP, stops, strict=True)),
        "episodes_per_set_and_round": episodes,
        "episode_steps": (config or TrainConfig()).episode_steps,
        "rounds": rounds,
        "epochs": epochs,
        "samples": samples,
        "seed": seed,
        "seconds": round(time.perf_counter() - t0, 1),
        "config": (config or TrainConfig()).to_json(),
        "versions": _versions(),
    }
    out.with_suffix(".json").write_text(json.dumps(meta, indent=1))
    progress(f"pretrained policy: {out} ({out.stat().st_size / 1024:.0f} KiB)")
    return out


if __name__ == "__main__":  # pragma: no cover
    pretrain()
