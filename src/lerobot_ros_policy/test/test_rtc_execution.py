"""RTC on the execution side: latency-driven delay, prefixes from the queue, merge modes, settings."""

from __future__ import annotations

import numpy as np
import pytest

from lerobot_ros_core.contract import make_unit
from lerobot_ros_policy.execution import (
    ActionColumns,
    ChunkExecutor,
    ExecutionConfig,
    PlannedChunk,
    RtcConfig,
    RtcSettingsError,
    checkpoint_rtc_config,
    resolve_rtc,
)

JOINTS = ("shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper")
DT = round(1e9 / 30)
ORIGIN = 1_700_000_000_000_000_000


def ramp_chunk(start_step: int, length: int = 30, dim: int = len(JOINTS)) -> np.ndarray:
    """Row k = value of absolute step start_step + k in every column."""
    steps = np.arange(start_step, start_step + length, dtype=float)
    return np.repeat(steps[:, None], dim, axis=1) * 0.01 + np.arange(dim) * 0.001


def at_step(step: int, fraction: float = 0.5) -> int:
    return ORIGIN + step * DT + int(fraction * DT)


def make_executor(**overrides) -> ChunkExecutor:
    return ChunkExecutor(ExecutionConfig(**overrides), JOINTS, ORIGIN)


# Latency-driven delay ----------------------------------------------------------------------------


def test_rtc_delay_without_latency_history_is_the_current_step():
    executor = make_executor()
    request = executor.make_request(at_step(10, 0.3))
    assert request.delay == 1  # row 0 is for step 10, which is executing already


@pytest.mark.parametrize(
    ("latency_s", "fraction", "expected"),
    [
        (0.1, 0.1, 4),  # 3 periods exactly: steps 10..13 done when it arrives
        (0.11, 0.1, 4),  # ceil(3.3) = 4 steps counted from the request
        (0.11, 0.8, 5),  # the same latency from late in the step reaches one step further
        (0.3, 0.5, 10),
    ],
)
def test_rtc_delay_follows_the_slowest_recent_latency(latency_s, fraction, expected):
    executor = make_executor()
    for latency in (0.01, latency_s, 0.02):  # the maximum of the window counts
        executor.latency.add(latency)
    request = executor.make_request(at_step(10, fraction))
    assert request.delay == expected


def test_rtc_delay_equals_the_trim_when_inference_takes_the_max_latency():
    """The rows RTC freezes are exactly the rows the executor drops, at any phase and latency."""
    rng = np.random.default_rng(4)
    for _ in range(200):
        executor = make_executor()
        latency_s = float(rng.uniform(0.0, 0.5))
        executor.latency.add(latency_s)
        now = at_step(50, float(rng.uniform(0.0, 0.99)))
        request = executor.make_request(now)
        arrival = now + int(np.ceil(latency_s * 1e9))
        plan = executor.accept_chunk(request, ramp_chunk(50), latency_s, arrival)
        assert isinstance(plan, PlannedChunk)
        assert plan.delay_steps == request.delay, (latency_s, now - at_step(50, 0.0))


def test_rtc_delay_counts_the_hand_off_after_the_inference():
    """The trim sees request-to-acceptance time: a chunk computed in 10 ms but accepted 5 steps later
    counts as 5 steps of latency."""
    executor = make_executor()
    request = executor.make_request(at_step(0, 0.1))
    executor.accept_chunk(request, ramp_chunk(0), 0.01, at_step(5, 0.1))
    assert executor.latency.max == pytest.approx(5 / 30, rel=1e-6)
    assert executor.make_request(at_step(20, 0.1)).delay == 6


def test_rtc_delay_margin_freezes_extra_rows():
    guidance = RtcConfig(delay_margin=3).guidance(ramp_chunk(0), delay=4, chunk_size=30)
    assert guidance.delay == 7
    assert RtcConfig(delay_margin=40).guidance(ramp_chunk(0), delay=4, chunk_size=30).delay == 30
    with pytest.raises(RtcSettingsError, match="delay_margin must be ≥ 0"):
        RtcConfig(delay_margin=-1)


def test_rtc_delay_forgets_latency_after_the_window():
    executor = make_executor(latency_window=2)
    executor.latency.add(0.5)
    assert executor.make_request(at_step(0, 0.0)).delay == 16
    executor.latency.add(0.05)
    executor.latency.add(0.01)
    assert executor.make_request(at_step(0, 0.0)).delay == 2  # 1.5 periods: ends within step 1


# Prefix from the queue ---------------------------------------------------------------------------


def test_rtc_prefix_is_the_queue_from_the_request_step_on():
    executor = make_executor(queue_threshold=0.5)
    executor.accept_chunk(executor.make_request(at_step(0, 0.1)), ramp_chunk(0), 0.01, at_step(0, 0.6))
    for step in range(1, 17):
        executor.tick(at_step(step, 0.05))
    request = executor.make_request(at_step(16, 0.1))
    assert request.step == 16
    # Row k is the action queued for step 16 + k, aligned like the rows of the chunk that answers it.
    np.testing.assert_allclose(request.prefix, ramp_chunk(16, 14))
    prefix_before = request.prefix.copy()
    executor.tick(at_step(17, 0.05))  # the queue moves on; the request keeps its own copy
    np.testing.assert_array_equal(request.prefix, prefix_before)


def test_rtc_prefix_is_empty_before_the_first_chunk_and_after_a_hold():
    executor = make_executor()
    assert executor.make_request(at_step(0)).prefix.shape[0] == 0
    executor.accept_chunk(executor.make_request(at_step(0)), ramp_chunk(0), 0.01, at_step(0, 0.6))
    executor.hold("test", at_step(3))
    assert executor.make_request(at_step(4)).prefix.shape[0] == 0


def test_rtc_guidance_converts_the_prefix_to_model_units_and_fits_the_chunk():
    degrees = make_unit("deg", "angle")
    percent = make_unit("percent", "angle", (-0.17453292519943295, 1.7453292519943295))
    columns = ActionColumns(tuple(f"{j}.pos" for j in JOINTS), JOINTS, (degrees,) * 5 + (percent,))
    model_chunk = np.column_stack([np.linspace(-30, 30, 60)] * 5 + [np.linspace(0, 100, 60)])
    queued = columns.to_ros(model_chunk)
    np.testing.assert_allclose(columns.to_dataset(queued), model_chunk, atol=1e-9)

    config = RtcConfig(schedule="exp", max_guidance_weight=5.0, execution_horizon=80)
    guidance = config.guidance(queued, delay=70, chunk_size=50, to_model_units=columns.to_dataset)
    assert guidance.prefix.dtype == np.float32 and guidance.prefix.shape == (50, 6)
    np.testing.assert_allclose(guidance.prefix, model_chunk[:50], atol=1e-4)
    assert (guidance.delay, guidance.execution_horizon) == (50, 50)
    assert (guidance.schedule, guidance.max_guidance_weight) == ("exp", 5.0)
    assert config.guidance(np.empty((0, 6)), delay=3, chunk_size=50) is None


# Merge modes -------------------------------------------------------------------------------------


def run_stream(executor: ChunkExecutor, latency_steps: int, steps: int = 200) -> dict[int, np.ndarray]:
    """Executed action per step with chunks (row k = ramp of step s + k + 1000·chunk) arriving late."""
    executed: dict[int, np.ndarray] = {}
    pending, count = None, 0
    for step in range(steps):
        now = at_step(step, 0.1)
        if pending is not None and step >= pending[1]:
            request = pending[0]
            arrival = at_step(step, 0.05)
            count += 1
            chunk = ramp_chunk(request.step) + 1000.0 * count
            executor.accept_chunk(request, chunk, (arrival - request.stamp_ns) * 1e-9, arrival)
            pending = None
        action = executor.tick(now)
        if action is not None:
            executed[step] = action
        if pending is None and executor.wants_chunk(now):
            pending = (executor.make_request(now), step + latency_steps)
    return executed


def test_rtc_merge_replace_switches_to_each_chunk_at_the_next_step():
    executed = run_stream(make_executor(chunk_merge="replace"), latency_steps=5)
    steps = sorted(executed)
    assert steps == list(range(steps[0], 200))
    # Replacement keeps the step alignment: every executed value is its own step's ramp value.
    values = np.array([executed[s][0] for s in steps])
    np.testing.assert_allclose(values % 1000.0, np.array(steps) * 0.01, atol=1e-9)


def test_rtc_merge_append_executes_every_row_of_every_chunk():
    executor = make_executor(chunk_merge="append")
    executed = run_stream(executor, latency_steps=5)
    steps = sorted(executed)
    assert steps == list(range(steps[0], 200)), "append left a gap"
    values = np.array([executed[s][0] for s in steps])
    chunk_ids = np.round(values // 1000.0).astype(int)
    # Chunks follow one another whole, in order: row 0, 1, ..., 29 of chunk 1, then of chunk 2, ...
    for chunk_id in np.unique(chunk_ids)[:-1]:
        rows = values[chunk_ids == chunk_id] - 1000.0 * chunk_id
        np.testing.assert_allclose(np.diff(rows), 0.01, atol=1e-9)
        assert len(rows) == 30, f"chunk {chunk_id}: {len(rows)} rows executed"


def test_rtc_merge_append_after_the_queue_ran_dry_starts_at_the_next_step():
    executor = make_executor(chunk_merge="append", max_chunk_age_s=10.0)
    executor.accept_chunk(executor.make_request(at_step(0)), ramp_chunk(0, 5), 0.01, at_step(0, 0.6))
    for step in range(1, 9):
        executor.tick(at_step(step, 0.05))
    # Even a chunk whose rows all lie in the past is executed whole (nothing is trimmed in append).
    plan = executor.accept_chunk(executor.make_request(at_step(0)), ramp_chunk(0, 5), 0.3, at_step(8, 0.5))
    assert isinstance(plan, PlannedChunk) and plan.delay_steps == 0
    assert plan.trajectory.start_ns == ORIGIN + 9 * DT
    np.testing.assert_allclose(plan.trajectory.positions, ramp_chunk(0, 5))


def test_rtc_merge_mode_is_validated():
    with pytest.raises(ValueError, match="chunk_merge 'blend' is not one of replace, append"):
        ExecutionConfig(chunk_merge="blend")


# Settings ----------------------------------------------------------------------------------------

SMOLVLA_RTC = {
    "type": "smolvla",
    "rtc_config": {
        "enabled": True,
        "prefix_attention_schedule": "EXP",
        "max_guidance_weight": 4.0,
        "execution_horizon": 12,
        "debug": False,
        "debug_maxlen": 100,
    },
}


def test_rtc_checkpoint_settings_are_read_from_rtc_config():
    assert checkpoint_rtc_config(SMOLVLA_RTC) == (
        True,
        {"schedule": "exp", "max_guidance_weight": 4.0, "execution_horizon": 12},
    )
    assert checkpoint_rtc_config({"type": "smolvla", "rtc_config": None}) == (None, {})
    assert checkpoint_rtc_config({"type": "act"}) == (None, {})


def test_rtc_auto_follows_the_runtime_and_the_checkpoint():
    # Nothing stored: LeRobot's schedule and weight, the whole queued prefix as horizon.
    assert resolve_rtc("auto", raw_config={}, supports_prefix_guidance=True, chunk_size=50) == RtcConfig(
        execution_horizon=50
    )
    assert resolve_rtc("auto", raw_config={}, supports_prefix_guidance=False, chunk_size=50) is None
    assert (
        resolve_rtc("auto", raw_config={}, supports_prefix_guidance=True, chunk_size=50, temporal_ensembling=True)
        is None
    )
    assert resolve_rtc("auto", raw_config=SMOLVLA_RTC, supports_prefix_guidance=True, chunk_size=50) == RtcConfig(
        "exp", 4.0, 12
    )
    disabled = {"rtc_config": {**SMOLVLA_RTC["rtc_config"], "enabled": False}}
    assert resolve_rtc("auto", raw_config=disabled, supports_prefix_guidance=True, chunk_size=50) is None
    assert resolve_rtc("on", raw_config=disabled, supports_prefix_guidance=True, chunk_size=50) == RtcConfig(
        "exp", 4.0, 12
    )
    assert resolve_rtc("off", raw_config=SMOLVLA_RTC, supports_prefix_guidance=True, chunk_size=50) is None


def test_rtc_parameters_override_the_checkpoint():
    resolved = resolve_rtc(
        "auto",
        schedule="ones",
        max_guidance_weight=2.5,
        execution_horizon=30,
        raw_config=SMOLVLA_RTC,
        supports_prefix_guidance=True,
        chunk_size=50,
    )
    assert resolved == RtcConfig("ones", 2.5, 30)
    with_margin = resolve_rtc("on", delay_margin=2, raw_config={}, supports_prefix_guidance=True, chunk_size=50)
    assert with_margin == RtcConfig(execution_horizon=50, delay_margin=2)
    partial = resolve_rtc("on", schedule="zeros", raw_config=SMOLVLA_RTC, supports_prefix_guidance=True, chunk_size=50)
    assert partial == RtcConfig("zeros", 4.0, 12)


def test_rtc_refuses_contradictions():
    with pytest.raises(RtcSettingsError, match="'act' runtime has no prefix guidance"):
        resolve_rtc("on", raw_config={}, supports_prefix_guidance=False, chunk_size=50, policy_type="act")
    with pytest.raises(RtcSettingsError, match="exclude each other"):
        resolve_rtc("on", raw_config={}, supports_prefix_guidance=True, chunk_size=50, temporal_ensembling=True)
    with pytest.raises(RtcSettingsError, match="not one of auto, on, off"):
        resolve_rtc("maybe", raw_config={}, supports_prefix_guidance=True, chunk_size=50)
    with pytest.raises(RtcSettingsError, match="schedule 'cosine'"):
        RtcConfig(schedule="cosine")
    with pytest.raises(RtcSettingsError, match="max_guidance_weight must be positive"):
        RtcConfig(max_guidance_weight=0.0)
    with pytest.raises(RtcSettingsError, match="execution_horizon must be at least 1"):
        RtcConfig(execution_horizon=0)
