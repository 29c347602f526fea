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

from lerobot_ros_policy.execution import RtcConfig

_spec = importlib.util.spec_from_file_location("rtc_support", Path(__file__).with_name("rtc_support.py"))
support = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = support  # its dataclasses look their module up
_spec.loader.exec_module(support)

DELAY = 5  # injected inference delay, control steps


@pytest.fixture(scope="module")
def runtime(tmp_path_factory):
    return support.smolvla_runtime(tmp_path_factory.mktemp("smolvla"))


def guided_chunks(rollout):
    """(guidance, chunk) of every chunk predicted with a prefix."""
    return [(g, chunk) for g, (_, chunk) in zip(rollout.guidances, rollout.chunks, strict=True) if g is not None]


def test_rtc_runtime_requests_carry_the_queue_and_the_latency_driven_delay(runtime):
    rollout = support.simulate(runtime, "rtc", DELAY, 120, rtc=RtcConfig(execution_horizon=20))
    assert len(rollout.chunks) >= 4
    # The first request has no latency history: only its own step is frozen; later ones freeze the
    # injected delay plus that step, which is exactly what the executor trims when the chunk lands.
    assert rollout.requests[0][1] == 1
    for step, delay, trimmed in rollout.requests[1:]:
        assert delay == trimmed == DELAY + 1, (step, delay, trimmed)
    for (step, _), guidance in zip(rollout.chunks[1:], rollout.guidances[1:], strict=True):
        # The prefix is what the executor had queued for the request's step on.
        assert guidance is not None and guidance.delay == DELAY + 1
        np.testing.assert_allclose(guidance.prefix[0], rollout.executed[step], atol=1e-5)


def test_rtc_runtime_guided_chunks_follow_the_prefix_over_the_delay(runtime):
    rtc = RtcConfig(execution_horizon=20)
    guided = support.simulate(runtime, "rtc", DELAY, 150, rtc=rtc)
    free = support.simulate(runtime, "replace", DELAY, 150)
    pairs = guided_chunks(guided)
    assert len(pairs) >= 3
    spread = np.std(np.concatenate([chunk for _, chunk in free.chunks]), axis=0).max()
    for guidance, chunk in pairs:
        frozen = np.abs(chunk[: guidance.delay] - guidance.prefix[: guidance.delay]).max()
        assert frozen < 0.15 * spread, f"frozen rows deviate {frozen:.3f} from the prefix (chunk spread {spread:.3f})"


@pytest.mark.parametrize("smooth_steps", [0.0, 4.0])
def test_rtc_runtime_schedules_order_the_adherence_over_the_ramp(runtime, smooth_steps):
    """Between the delay and the horizon `ones` keeps the prefix, `zeros` lets go, `linear` and `exp`
    (lower weights) lie between, in that order."""
    horizon = 20
    deviation = {}
    for schedule in ("ones", "linear", "exp", "zeros"):
        rollout = support.simulate(
            runtime, "rtc", DELAY, 120, rtc=RtcConfig(schedule, execution_horizon=horizon), smooth_steps=smooth_steps
        )
        ramps = []
        for guidance, chunk in guided_chunks(rollout):
            end = min(horizon, len(guidance.prefix))
            ramps.append(np.abs(chunk[guidance.delay : end] - guidance.prefix[guidance.delay : end]).mean())
        deviation[schedule] = float(np.mean(ramps))
    assert deviation["ones"] < deviation["linear"] < deviation["exp"] < deviation["zeros"], deviation


def test_rtc_runtime_boundary_jumps_are_smaller_than_naive_replacement(runtime):
    rtc = RtcConfig(execution_horizon=runtime.chunk_size)
    figures = {
        mode: support.smoothness(support.simulate(runtime, mode, DELAY, 200, rtc=rtc, smooth_steps=4.0), 20)
        for mode in ("rtc", "replace")
    }
    assert figures["rtc"].boundaries >= 4
    assert figures["rtc"].switch_jump * 5 < figures["replace"].switch_jump, figures
    assert figures["rtc"].boundary_max_step * 3 < figures["replace"].boundary_max_step, figures
