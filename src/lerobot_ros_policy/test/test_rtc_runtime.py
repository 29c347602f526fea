"""RTC end to end through the execution core with the native SmolVLA runtime (tiny random checkpoint).

Chunks come from the real runtime, closed loop on a simulated 30 fps clock (`rtc_support.simulate`):
the guidance each request carries comes from the executor's queue and latency tracker, and the
chunks that answer are merged by the executor as the node does.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from lerobot_ros_policy.execution import RtcConfig

_spec = importlib.util.spec_from_file_location("rtc_support", Path(__file__).with_name("rtc_support.py"))
support = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = support  # its dataclasses look their module up
_spec.loader.exec_module(support)

DELAY = 4  # injected inference delay, control steps
CHUNK = 30
HORIZON = 15
SMOOTH = 4.0  # start noise correlated over 4 steps: smooth chunks, as a trained policy's


@pytest.fixture(scope="module")
def runtime(tmp_path_factory, reference_python):
    # One thread: on the shared 2-core machine, two torch threads contend and a chunk takes ~30× longer.
    torch.set_num_threads(1)
    return support.smolvla_runtime(tmp_path_factory.mktemp("smolvla"), chunk_size=CHUNK)


@pytest.fixture(scope="module")
def rollouts(runtime):
    """The same closed loop with RTC and with naive replacement (same noise per request)."""
    return {
        mode: support.simulate(runtime, mode, DELAY, 90, rtc=RtcConfig(execution_horizon=HORIZON), smooth_steps=SMOOTH)
        for mode in ("rtc", "replace")
    }


def guided_chunks(rollout):
    """(guidance, chunk) of every chunk predicted with a prefix."""
    return [(g, chunk) for g, (_, chunk) in zip(rollout.guidances, rollout.chunks, strict=True) if g is not None]


@pytest.mark.reference
def test_rtc_runtime_requests_carry_the_queue_and_the_latency_driven_delay(rollouts):
    rollout = rollouts["rtc"]
    assert len(rollout.chunks) >= 4
    # The first request has no latency history: only its own step is frozen; later ones freeze the
    # injected delay plus that step, which is exactly what the executor trims when the chunk lands.
    assert rollout.requests[0][1] == 1
    for step, delay, trimmed in rollout.requests[1:]:
        assert delay == trimmed == DELAY + 1, (step, delay, trimmed)
    for (step, _), guidance in zip(rollout.chunks[1:], rollout.guidances[1:], strict=True):
        # The prefix is what the executor had queued from the request's step on.
        assert guidance is not None and guidance.delay == DELAY + 1
        np.testing.assert_allclose(guidance.prefix[0], rollout.executed[step], atol=1e-5)


@pytest.mark.reference
def test_rtc_runtime_guided_chunks_follow_the_prefix_over_the_delay(rollouts):
    pairs = guided_chunks(rollouts["rtc"])
    assert len(pairs) >= 3
    spread = np.std(np.concatenate([chunk for _, chunk in rollouts["replace"].chunks]), axis=0).max()
    for guidance, chunk in pairs:
        frozen = np.abs(chunk[: guidance.delay] - guidance.prefix[: guidance.delay]).max()
        assert frozen < 0.1 * spread, f"frozen rows deviate {frozen:.3f} from the prefix (chunk spread {spread:.3f})"


@pytest.mark.reference
def test_rtc_runtime_schedules_order_the_adherence_over_the_ramp(runtime):
    """Between the delay and the horizon `ones` keeps the prefix, `zeros` lets go, `linear` and `exp`
    (lower weights) lie between, in that order."""
    deviation = {}
    for schedule in ("ones", "linear", "exp", "zeros"):
        rtc = RtcConfig(schedule, execution_horizon=HORIZON)
        rollout = support.simulate(runtime, "rtc", DELAY, 60, rtc=rtc, smooth_steps=SMOOTH)
        ramps = []
        for guidance, chunk in guided_chunks(rollout):
            end = min(HORIZON, len(guidance.prefix))
            ramps.append(np.abs(chunk[guidance.delay : end] - guidance.prefix[guidance.delay : end]).mean())
        deviation[schedule] = float(np.mean(ramps))
    assert deviation["ones"] < deviation["linear"] < deviation["exp"] < deviation["zeros"], deviation


@pytest.mark.reference
def test_rtc_runtime_boundary_jumps_are_smaller_than_naive_replacement(rollouts):
    figures = {mode: support.smoothness(rollout, skip_steps=CHUNK) for mode, rollout in rollouts.items()}
    assert figures["rtc"].boundaries >= 2
    assert figures["rtc"].switch_jump * 10 < figures["replace"].switch_jump, figures
    assert figures["rtc"].boundary_max_step * 3 < figures["replace"].boundary_max_step, figures
