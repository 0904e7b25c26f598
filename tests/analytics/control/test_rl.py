"""Reinforcement learning (RLCF-8): resuming after an interruption gives the uninterrupted
model bit for bit, the shipped policy decides within the action space with readable reasons, and
missing or damaged files are refused by name."""

from __future__ import annotations

import copy
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from analytics.control.env import observe
from analytics.control.errors import ControlConfigError
from analytics.control.evaluate import run_policy
from analytics.control.homes import Community, citylearn_community
from analytics.control.plant import OFFSET_LIMIT_K, Plant
from analytics.control.rl import N_POLICY, PRETRAINED, RlPolicy, TrainConfig, train

SET = "citylearn_challenge_2023_phase_2_online_evaluation_1"
TINY = TrainConfig(
    buffer_size=2_000,
    batch_size=32,
    learning_starts=60,
    gradient_steps=1,
    episode_steps=48,
    validation_steps=48,
)
PERIOD = {"start": 0, "stop": 96 * 3}


def tiny(community, folder, phases, *, seed=7, config=TINY, steps=200, **kwargs):
    """Training small enough for a test: 3 days, 2 of them to train on, 200 steps a phase."""
    return train(
        community,
        **PERIOD,
        phases=phases,
        steps_per_phase=steps,
        checkpoint_dir=folder,
        config=config,
        seed=seed,
        **kwargs,
    )


@pytest.fixture(scope="module")
def homes() -> tuple[Community, int]:
    return citylearn_community(SET)


def parameters(model) -> dict[str, torch.Tensor]:
    params = {f"policy.{k}": v for k, v in model.policy.state_dict().items()}
    params["log_ent_coef"] = model.log_ent_coef.detach()
    return params


def assert_identical(a, b) -> None:
    pa, pb = parameters(a), parameters(b)
    assert pa.keys() == pb.keys()
    for k in pa:
        assert torch.equal(pa[k], pb[k]), k


@pytest.fixture(scope="module")
def uninterrupted(homes, tmp_path_factory):
    community, _ = homes
    folder = tmp_path_factory.mktemp("uninterrupted")
    lines: list[str] = []
    result = tiny(community, folder, 2, progress=lines.append)
    return result, lines


def test_resumed_training_equals_uninterrupted(homes, uninterrupted, tmp_path):
    community, _ = homes
    whole, lines = uninterrupted
    assert whole.phases_done == 2 and whole.resumed_from == 0
    assert lines[0].startswith("warm start from")
    assert lines[1].startswith("phase 1/2: 201 steps") and "validation score" in lines[1]
    assert lines[2].startswith("phase 2/2: 402 steps")

    first = tiny(community, tmp_path, 1)
    assert first.phases_done == 1
    # the interruption: nothing survives but the checkpoint folder
    resumed = tiny(community, tmp_path, 2)
    assert resumed.resumed_from == 1 and resumed.phases_done == 2
    assert [r.phase for r in resumed.history] == [1, 2]
    assert_identical(whole.model, resumed.model)
    learned = parameters(whole.model)["policy.actor.mu.weight"]
    assert not torch.equal(learned, parameters(RlPolicy().model)["policy.actor.mu.weight"])
    assert_identical(whole.model, RlPolicy(tmp_path).model)  # as saved, too

    assert sorted(p.name for p in tmp_path.iterdir()) == ["phase-0002"]  # only the newest
    state = json.loads((tmp_path / "phase-0002" / "state.json").read_text())
    assert state["phase"] == 2 and state["seed"] == 7 and state["timesteps"] == 402
    assert state["versions"]["stable_baselines3"]
    period = state["identity"]["periods"][0]
    assert period["train_steps"] == [0, 96 * 3 - 48] and period["validation_steps"] == [240, 288]
    assert period["from"].startswith("2021-06-01")

    # a finished run resumed asks for nothing more
    again = tiny(community, tmp_path, 2)
    assert again.resumed_from == 2
    assert_identical(whole.model, again.model)


def test_resume_refuses_another_run(homes, uninterrupted):
    community, _ = homes
    whole, _ = uninterrupted
    with pytest.raises(ControlConfigError, match=r"another training run \(its seed differ"):
        tiny(community, whole.checkpoint.parent, 3, seed=8)


def test_warm_start_begins_at_the_pretrained_policy(homes, tmp_path):
    community, _ = homes
    no_updates = TrainConfig(**{**TINY.to_json(), "net_arch": (64, 64), "learning_starts": 10**6})
    result = tiny(community, tmp_path, 1, config=no_updates, steps=30)
    assert_identical(result.model, RlPolicy().model)


def test_pretrained_policy_decides_for_three_homes(homes):
    community, first = homes
    assert PRETRAINED.stat().st_size < 300_000
    policy = RlPolicy()
    plant = Plant(community)
    plant.reset(first)
    raw, _ = policy.model.predict(observe(plant), deterministic=True)
    assert raw.shape == (3, N_POLICY) and policy.model.action_space.contains(raw[0])
    assert np.all(np.abs(raw) <= 1)
    actions = policy.decide(plant)
    # inside the environment's action space, and the thermostat's target inside the band
    assert np.all(np.abs(actions.setpoint_offset_k) <= community.tolerance_k)
    assert np.all(np.abs(actions.setpoint_offset_k) <= OFFSET_LIMIT_K)
    assert np.all(actions.modulation == 1) and np.all(actions.device_on == 1)
    assert np.all(np.abs(actions.battery_w) <= plant.power_w)
    assert len(policy.reasons) == 3
    for reason in policy.reasons:
        assert reason.startswith("learned policy: ")
        assert "setpoint" in reason and "battery" in reason

    run = run_policy(community, policy, first, first + 96, keep_reasons=True)
    assert np.isfinite(run.total("cost")) and len(run.reasons) == 96
    assert run.decision_ms < 5.0


def test_missing_or_damaged_model_is_named(tmp_path):
    missing = tmp_path / "missing.zip"
    with pytest.raises(ControlConfigError, match=r"missing\.zip: no such file"):
        RlPolicy(missing)
    garbage = tmp_path / "garbage.zip"
    garbage.write_bytes(b"not a zip at all")
    with pytest.raises(ControlConfigError, match=r"garbage\.zip is not a stable-baselines3"):
        RlPolicy(garbage)
    other = tmp_path / "other.zip"
    with zipfile.ZipFile(other, "w") as zf:
        zf.writestr("readme.txt", "hello")
    with pytest.raises(ControlConfigError, match=r"other\.zip .*lacks data"):
        RlPolicy(other)
    truncated = tmp_path / "truncated.zip"
    truncated.write_bytes(PRETRAINED.read_bytes()[:5_000])
    with pytest.raises(ControlConfigError, match=r"truncated\.zip"):
        RlPolicy(truncated)
    damaged = tmp_path / "damaged.zip"
    with zipfile.ZipFile(PRETRAINED) as src, zipfile.ZipFile(damaged, "w") as dst:
        for item in src.namelist():
            data = src.read(item)
            dst.writestr(item, data[: len(data) // 2] if item == "policy.pth" else data)
    with pytest.raises(ControlConfigError, match=r"damaged\.zip could not be loaded"):
        RlPolicy(damaged)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ControlConfigError, match="holds no checkpoint"):
        RlPolicy(tmp_path / "empty")


@pytest.mark.parametrize(
    ("file", "content", "message"),
    [
        ("state.json", b"{not json", r"state\.json is not readable JSON"),
        ("state.json", None, r"state\.json: no such file"),
        ("model.zip", b"PK\x03\x04 cut short", r"model\.zip is not a stable-baselines3"),
        ("replay_buffer.pkl", b"\x80\x04 cut short", r"replay_buffer\.pkl could not be loaded"),
    ],
)
def test_damaged_checkpoint_is_named(homes, uninterrupted, tmp_path, file, content, message):
    community, _ = homes
    whole, _ = uninterrupted
    folder = tmp_path / "ck"
    target = folder / whole.checkpoint.name
    target.mkdir(parents=True)
    for f in whole.checkpoint.iterdir():
        (target / f.name).write_bytes(f.read_bytes())
    if content is None:
        (target / file).unlink()
    else:
        (target / file).write_bytes(content)
    with pytest.raises(ControlConfigError, match=message):
        tiny(community, folder, 3)


def test_held_out_sets_are_never_trained_on(homes, tmp_path):
    community, _ = homes
    held_out = copy.copy(community)
    held_out.names = [n.replace(SET, "citylearn_challenge_2023_phase_1") for n in community.names]
    with pytest.raises(ControlConfigError, match="held-out"):
        tiny(held_out, tmp_path, 1)
    assert not any(Path(tmp_path).iterdir())
