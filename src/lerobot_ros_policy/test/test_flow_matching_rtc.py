"""Real-Time Chunking in the flow-matching sampler: schedules, guidance weight and guided velocity
equal LeRobot 0.4.4's RTCProcessor; guided sampling follows the prefix for the first `delay` steps."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from lerobot_ros_policy.runtimes.base import PrefixGuidance
from lerobot_ros_policy.runtimes.flow_matching import (
    PrefixSchedule,
    euler_sample,
    guidance_weight,
    guide_from_guidance,
    prefix_guide,
    prefix_weights,
)

SCHEDULES = [s.value for s in PrefixSchedule]
# (delay, execution_horizon, chunk_size): inside, at and beyond the edges.
WEIGHT_CASES = [
    (d, h, n) for n in (1, 5, 12, 50) for d, h in itertools.product((0, 1, 3, 5, 12, 60), (0, 1, 4, 5, 10, 12, 50, 70))
]
NUM_STEPS = 10


def test_linear_schedule_shape() -> None:
    weights = prefix_weights(3, 8, 12, "linear")
    assert weights.dtype == torch.float32
    np.testing.assert_allclose(weights[:3], 1.0)
    np.testing.assert_allclose(weights[3:8], [5 / 6, 4 / 6, 3 / 6, 2 / 6, 1 / 6], rtol=1e-6)
    np.testing.assert_allclose(weights[8:], 0.0)


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_schedules_are_ones_then_ramp_then_zeros(schedule: str) -> None:
    delay, horizon, chunk = 4, 10, 16
    weights = prefix_weights(delay, horizon, chunk, schedule).numpy()
    assert weights.shape == (chunk,)
    assert np.all(np.diff(weights) <= 0), weights  # never rises
    assert np.all(weights[horizon:] == 0)
    if schedule == "ones":
        assert np.all(weights[:horizon] == 1)
    else:
        assert np.all(weights[:delay] == 1)
        if schedule == "zeros":
            assert np.all(weights[delay:] == 0)
        else:
            assert np.all((weights[delay:horizon] > 0) & (weights[delay:horizon] < 1))
    if schedule == "exp":
        assert np.all(weights <= prefix_weights(delay, horizon, chunk, "linear").numpy())


def test_schedule_names_accept_lerobot_spelling() -> None:
    assert torch.equal(prefix_weights(2, 6, 8, "EXP"), prefix_weights(2, 6, 8, PrefixSchedule.EXP))
    with pytest.raises(ValueError, match="'cosine' is not a valid PrefixSchedule"):
        prefix_weights(2, 6, 8, "cosine")


def test_guidance_weight_is_capped_and_symmetric() -> None:
    """((1−τ)² + τ²) / (τ(1−τ)): capped at the first step (τ = 0), smallest (2) half way."""
    weights = [float(guidance_weight(1.0 - k / NUM_STEPS, 10.0)) for k in range(NUM_STEPS + 1)]
    assert weights[0] == 10.0
    assert weights[5] == pytest.approx(2.0)
    np.testing.assert_allclose(weights[1:10], weights[9:0:-1], rtol=1e-5)
    tau = 0.7
    expected = (1 - tau) / tau * ((1 - tau) ** 2 + tau**2) / (1 - tau) ** 2
    assert float(guidance_weight(1 - tau, 10.0)) == pytest.approx(expected, rel=1e-6)
    assert float(guidance_weight(1 - tau, 1.5)) == 1.5


def test_guided_velocity_formula() -> None:
    generator = torch.Generator().manual_seed(0)
    x, v = torch.randn(2, 1, 6, 3, generator=generator)
    prefix = torch.randn(4, 2, generator=generator)
    guide = prefix_guide(
        prefix,
        delay=2,
        execution_horizon=5,
        schedule="linear",
        max_guidance_weight=5.0,
        chunk_size=6,
        model_action_dim=3,
    )
    assert guide.prefix.shape == (1, 6, 3) and guide.weights.shape == (1, 6, 1)
    assert (
        torch.equal(guide.prefix[0, :4, :2], prefix)
        and not guide.prefix[0, 4:].any()
        and not guide.prefix[0, :, 2].any()
    )
    # Horizon clamped to the prefix length (4): weights 1, 1, 2/3, 1/3, 0, 0.
    np.testing.assert_allclose(guide.weights[0, :, 0], [1, 1, 2 / 3, 1 / 3, 0, 0], rtol=1e-6)
    time = 0.4
    expected = v - guidance_weight(time, 5.0) * (guide.prefix - (x - time * v)) * guide.weights
    assert torch.equal(guide.velocity(x, v, time), expected)
    assert torch.equal(guide.velocity(x, v, time)[:, 4:], v[:, 4:])  # weight 0: untouched


def test_prefix_guide_rejects_bad_arguments() -> None:
    ok = {"delay": 1, "execution_horizon": 4, "schedule": "linear", "max_guidance_weight": 10.0, "chunk_size": 6}
    with pytest.raises(ValueError, match=r"prefix of shape \[7, 2\]"):
        prefix_guide(torch.zeros(7, 2), model_action_dim=3, **ok)
    with pytest.raises(ValueError, match=r"prefix of shape \[3, 4\]"):
        prefix_guide(torch.zeros(3, 4), model_action_dim=3, **ok)
    with pytest.raises(ValueError, match="NaN or inf"):
        prefix_guide(torch.full((3, 2), math.nan), model_action_dim=3, **ok)
    with pytest.raises(ValueError, match="must be ≥ 0"):
        prefix_guide(torch.zeros(3, 2), model_action_dim=3, **{**ok, "delay": -1})
    with pytest.raises(ValueError, match="must be positive"):
        prefix_guide(torch.zeros(3, 2), model_action_dim=3, **{**ok, "max_guidance_weight": 0.0})
    guidance = PrefixGuidance(prefix=np.zeros((3, 5), np.float32), delay=1, execution_horizon=3)
    with pytest.raises(ValueError, match=r"expected \(k, 6\)"):
        guide_from_guidance(
            guidance, lambda t: t, action_dim=6, chunk_size=6, model_action_dim=8, device=torch.device("cpu")
        )


def toy_velocity(target: torch.Tensor, noise: torch.Tensor):
    """The exact flow-matching velocity of a single data point: the sampler lands on `target`."""
    return lambda x_t, time: noise - target


def test_unguided_sampling_reaches_the_data_point() -> None:
    generator = torch.Generator().manual_seed(1)
    target, noise = torch.randn(2, 1, 12, 4, generator=generator)
    np.testing.assert_allclose(euler_sample(toy_velocity(target, noise), noise, NUM_STEPS), target, atol=1e-5)


@pytest.mark.parametrize("schedule", ["linear", "exp", "ones", "zeros"])
def test_guided_sampling_follows_the_prefix(schedule: str) -> None:
    """A model that ignores the prefix (its velocity leads to `target`) is pulled onto the prefix for
    the first `delay` steps, and left alone after the horizon."""
    generator = torch.Generator().manual_seed(2)
    target, noise = torch.randn(2, 1, 12, 4, generator=generator)
    prefix = target[0, :8] + 2.0  # far from what the model wants
    delay, horizon = 3, 8
    guidance = PrefixGuidance(prefix=prefix.numpy(), delay=delay, execution_horizon=horizon, schedule=schedule)
    guide = guide_from_guidance(
        guidance, lambda t: t, action_dim=4, chunk_size=12, model_action_dim=4, device=torch.device("cpu")
    )
    guided = euler_sample(toy_velocity(target, noise), noise, NUM_STEPS, guide)[0]
    followed = horizon if schedule == "ones" else delay
    assert float((guided[:followed] - prefix[:followed]).abs().max()) < 0.05
    np.testing.assert_allclose(guided[horizon:], target[0, horizon:], atol=1e-5)


REFERENCE_RTC = """
import json, sys
import numpy as np
import torch
from lerobot.configs.types import RTCAttentionSchedule
from lerobot.policies.rtc.configuration_rtc import RTCConfig
from lerobot.policies.rtc.modeling_rtc import RTCProcessor

spec = json.loads(sys.argv[1])
out = {}
for schedule in spec["schedules"]:
    rtc = RTCProcessor(RTCConfig(enabled=True, prefix_attention_schedule=RTCAttentionSchedule(schedule.upper()),
                                 max_guidance_weight=spec["max_guidance_weight"]))
    for d, h, n in spec["weight_cases"]:
        out[f"w/{schedule}/{d}/{h}/{n}"] = rtc.get_prefix_weights(d, h, n).numpy()
    data = np.load(spec["inputs"])
    x, v, prefix = (torch.from_numpy(data[k]) for k in ("x", "v", "prefix"))
    for step in range(spec["num_steps"]):
        time = 1.0 + step * (-1.0 / spec["num_steps"])
        for d, h in spec["guided_cases"]:
            out[f"v/{schedule}/{step}/{d}/{h}"] = rtc.denoise_step(
                x, prefix, d, time, lambda x_t: v, execution_horizon=h).numpy()
np.savez(spec["out"], **out)
"""


def test_rtc_matches_lerobot(run_reference, tmp_path: Path) -> None:
    """Weights for every schedule and edge case, and guided velocities at every step of a 10-step
    loop, bit for bit as LeRobot 0.4.4's RTCProcessor computes them."""
    generator = torch.Generator().manual_seed(3)
    x = torch.randn(1, 12, 8, generator=generator)
    v = torch.randn(1, 12, 8, generator=generator)
    prefix = torch.randn(1, 9, 6, generator=generator)  # shorter and narrower than the chunk: padded
    np.savez(tmp_path / "inputs.npz", x=x.numpy(), v=v.numpy(), prefix=prefix.numpy())
    guided_cases = [(0, 5), (3, 8), (4, 20), (9, 9), (10, 4)]
    max_weight = 7.5
    spec = {
        "schedules": SCHEDULES,
        "weight_cases": WEIGHT_CASES,
        "guided_cases": guided_cases,
        "num_steps": NUM_STEPS,
        "max_guidance_weight": max_weight,
        "inputs": str(tmp_path / "inputs.npz"),
        "out": str(tmp_path / "reference.npz"),
    }
    run_reference(REFERENCE_RTC, json.dumps(spec))
    reference = np.load(tmp_path / "reference.npz")
    for schedule in SCHEDULES:
        for d, h, n in WEIGHT_CASES:
            expected = reference[f"w/{schedule}/{d}/{h}/{n}"]
            np.testing.assert_array_equal(
                prefix_weights(d, h, n, schedule).numpy(), expected, err_msg=f"{schedule} {d} {h} {n}"
            )
        for step in range(NUM_STEPS):
            time = 1.0 + step * (-1.0 / NUM_STEPS)
            for d, h in guided_cases:
                guide = prefix_guide(
                    prefix[0],
                    delay=d,
                    execution_horizon=h,
                    schedule=schedule,
                    max_guidance_weight=max_weight,
                    chunk_size=12,
                    model_action_dim=8,
                )
                np.testing.assert_array_equal(
                    guide.velocity(x, v, time).numpy(),
                    reference[f"v/{schedule}/{step}/{d}/{h}"],
                    err_msg=f"{schedule} step {step} delay {d} horizon {h}",
                )
