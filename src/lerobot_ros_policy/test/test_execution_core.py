"""Units of the execution core: latency, queue and delay trim, ensembling, staleness, NaN, clamps."""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest

from lerobot_ros_policy.execution import (
    ActionQueue,
    ChunkExecutor,
    ExecutionConfig,
    ExecutionState,
    Hold,
    InferenceWorker,
    JointLimits,
    LatencyTracker,
    PlannedChunk,
    TemporalEnsembler,
    stale_streams,
)

JOINTS = ("shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper")
DT = round(1e9 / 30)
ORIGIN = 1_700_000_000_000_000_000


def ramp_chunk(start_step: int, length: int = 20, dim: int = len(JOINTS)) -> np.ndarray:
    """Row k = value of absolute step start_step + k in every column: trims are visible in the values."""
    steps = np.arange(start_step, start_step + length, dtype=float)
    return np.repeat(steps[:, None], dim, axis=1) * 0.01 + np.arange(dim) * 0.001


def at_step(step: int, fraction: float = 0.5) -> int:
    return ORIGIN + step * DT + int(fraction * DT)


def make_executor(**overrides) -> ChunkExecutor:
    return ChunkExecutor(ExecutionConfig(**overrides), JOINTS, ORIGIN)


# Latency tracker ---------------------------------------------------------------------------------


def test_execution_latency_percentiles_over_window():
    tracker = LatencyTracker(window=4)
    assert (tracker.p50, tracker.p95, tracker.max, tracker.delay_steps(0.1)) == (0.0, 0.0, 0.0, 0)
    for value in (0.5, 0.01, 0.02, 0.03, 0.04):  # 0.5 leaves the window
        tracker.add(value)
    assert tracker.count == 4
    assert tracker.max == pytest.approx(0.04)
    assert tracker.p50 == pytest.approx(0.025)
    assert tracker.p95 == pytest.approx(np.percentile([0.01, 0.02, 0.03, 0.04], 95))
    assert tracker.delay_steps(1 / 30) == math.ceil(0.04 * 30)  # 2


def test_execution_latency_exact_multiple_of_period_is_not_rounded_up():
    tracker = LatencyTracker()
    tracker.add(0.1)
    assert tracker.delay_steps(0.1 / 3) == 3


def test_execution_latency_rejects_nonsense():
    tracker = LatencyTracker()
    with pytest.raises(ValueError, match="finite"):
        tracker.add(float("nan"))
    with pytest.raises(ValueError, match="non-negative"):
        tracker.add(-1.0)


# Queue and delay trim ----------------------------------------------------------------------------


def test_execution_queue_trims_steps_executed_during_inference():
    queue = ActionQueue(2)
    chunk = ramp_chunk(10, length=8, dim=2)
    trimmed = queue.insert_chunk(chunk, chunk_start_step=10, first_pending=13)
    assert trimmed == 3
    assert queue.start_step == 13 and queue.end_step == 18
    np.testing.assert_array_equal(queue.action_at(13), chunk[3])
    assert queue.action_at(12) is None
    assert queue.depth(15) == 3


def test_execution_queue_replacement_keeps_nothing_of_the_old_chunk_after_the_splice():
    queue = ActionQueue(1)
    queue.insert_chunk(np.full((10, 1), 1.0), 0, 1)
    queue.insert_chunk(np.full((10, 1), 2.0), 4, 6)
    assert queue.action_at(5)[0] == 1.0  # the step being executed keeps its action
    assert queue.end_step == 14
    np.testing.assert_array_equal(queue.remaining(6)[:, 0], np.full(8, 2.0))


def test_execution_queue_rejects_chunk_entirely_in_the_past():
    queue = ActionQueue(1)
    with pytest.raises(ValueError, match="in the past"):
        queue.insert_chunk(np.zeros((5, 1)), 0, 5)


# Ensembling --------------------------------------------------------------------------------------


def offline_ensemble(chunks: list[np.ndarray], coeff: float) -> np.ndarray:
    """Action of step s = Σ_i w_i a_i(s) / Σ_i w_i over the chunks predicting s, i in arrival order."""
    out = []
    for s in range(len(chunks)):
        preds = [chunk[s - start] for start, chunk in enumerate(chunks) if 0 <= s - start < len(chunk)]
        w = np.exp(-coeff * np.arange(len(preds)))
        out.append((w[:, None] * np.array(preds)).sum(0) / w.sum())
    return np.array(out)


@pytest.mark.parametrize("coeff", [0.01, 0.0, -0.2, 0.5])
def test_execution_ensembling_equals_offline_weighted_mean(coeff):
    rng = np.random.default_rng(0)
    chunks = [rng.normal(size=(6, 3)) for _ in range(12)]
    queue = ActionQueue(3, TemporalEnsembler(coeff))
    executed = []
    for step, chunk in enumerate(chunks):  # one chunk per step, zero latency: LeRobot's setting
        queue.insert_chunk(chunk, step, step)
        executed.append(queue.action_at(step).copy())
        queue.drop_before(step + 1)
    np.testing.assert_allclose(np.array(executed), offline_ensemble(chunks, coeff), atol=1e-12)


def test_execution_ensembling_aligns_by_step_when_chunks_arrive_late():
    queue = ActionQueue(1, TemporalEnsembler(0.0))
    queue.insert_chunk(np.arange(10.0)[:, None], 0, 1)  # step s → s
    queue.insert_chunk(np.arange(10.0)[:, None] + 3.0 + 100, 3, 5)  # step s → s + 100
    # step 5: (5 + 105) / 2; steps 10..12 only in the new chunk
    np.testing.assert_allclose(queue.action_at(5), [55.0])
    np.testing.assert_allclose(queue.action_at(12), [112.0])


@pytest.mark.reference
def test_execution_ensembling_matches_lerobot_act_temporal_ensembler(run_reference, tmp_path):
    rng = np.random.default_rng(1)
    chunks = rng.normal(size=(15, 8, 4)).astype(np.float32)
    np.save(tmp_path / "chunks.npy", chunks)
    code = """
import sys, numpy as np, torch
from lerobot.policies.act.modeling_act import ACTTemporalEnsembler
chunks = np.load(sys.argv[1])
ens = ACTTemporalEnsembler(0.01, chunks.shape[1])
out = [ens.update(torch.from_numpy(c)[None]).numpy()[0] for c in chunks]
np.save(sys.argv[2], np.array(out))
"""
    run_reference(code, str(tmp_path / "chunks.npy"), str(tmp_path / "out.npy"))
    expected = np.load(tmp_path / "out.npy")
    queue = ActionQueue(4, TemporalEnsembler(0.01))
    executed = []
    for step, chunk in enumerate(chunks):
        queue.insert_chunk(chunk.astype(float), step, step)
        executed.append(queue.action_at(step).copy())
        queue.drop_before(step + 1)
    np.testing.assert_allclose(np.array(executed), expected, atol=1e-5)


# Executor ----------------------------------------------------------------------------------------


def test_execution_chunk_is_planned_from_the_next_step_with_the_trim_applied():
    executor = make_executor()
    request = executor.make_request(at_step(100, 0.2))
    assert request.step == 100
    now = at_step(103, 0.7)  # inference took ~3.5 steps
    plan = executor.accept_chunk(request, ramp_chunk(100), 0.116, now)
    assert isinstance(plan, PlannedChunk)
    assert plan.delay_steps == 4  # steps 100..103 executed meanwhile
    assert plan.trajectory.start_ns == ORIGIN + 104 * DT > now
    np.testing.assert_allclose(plan.trajectory.positions, ramp_chunk(104, 16))
    np.testing.assert_array_equal(plan.trajectory.times_from_start_ns(), np.arange(16) * DT)
    assert plan.trajectory.joint_names == JOINTS
    assert executor.state == ExecutionState.RUNNING
    assert executor.queue_depth(now) == 16


def test_execution_consecutive_chunks_splice_without_gap_or_replay():
    """Executed stream over several chunks and latencies equals the per-step ramp: no step lost or repeated."""
    executor = make_executor(queue_threshold=0.5)
    rng = np.random.default_rng(2)
    executed: dict[int, float] = {}
    pending = None
    for step in range(0, 300):
        now = at_step(step, 0.1)
        if pending is not None and step >= pending[1]:
            request, arrival = pending[0], at_step(step, 0.05)
            latency = (arrival - request.stamp_ns) * 1e-9
            plan = executor.accept_chunk(request, ramp_chunk(request.step, 30), latency, arrival)
            assert isinstance(plan, PlannedChunk)
            pending = None
        action = executor.tick(now)
        if action is not None:
            executed[step] = action[0]
        if pending is None and executor.wants_chunk(now):
            pending = (executor.make_request(now), step + int(rng.integers(0, 8)))
    steps = sorted(executed)
    assert steps == list(range(steps[0], 300)), "a step without an action: the queue ran dry"
    np.testing.assert_allclose([executed[s] for s in steps], np.array(steps) * 0.01)
    assert executor.state == ExecutionState.RUNNING


def test_execution_threshold_triggers_next_request_and_respects_latency():
    executor = make_executor(queue_threshold=0.25)
    assert executor.wants_chunk(at_step(0))  # empty queue
    request = executor.make_request(at_step(0))
    executor.accept_chunk(request, ramp_chunk(0, 40), 0.01, at_step(0, 0.9))
    assert executor.threshold_steps() == 10
    assert not executor.wants_chunk(at_step(28))  # 11 planned after step 28
    assert executor.wants_chunk(at_step(29))
    executor.latency.add(0.59)  # 18 steps of latency: the threshold rises to keep the queue fed
    assert executor.threshold_steps() == 19
    assert executor.wants_chunk(at_step(20))


def test_execution_ensembling_requests_whenever_the_worker_is_free():
    executor = make_executor(temporal_ensembling=True)
    executor.accept_chunk(executor.make_request(at_step(0)), ramp_chunk(0, 40), 0.01, at_step(0, 0.9))
    assert executor.wants_chunk(at_step(1))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_execution_non_finite_chunk_is_rejected_and_holds(bad):
    executor = make_executor()
    executor.accept_chunk(executor.make_request(at_step(0)), ramp_chunk(0), 0.01, at_step(0, 0.5))
    chunk = ramp_chunk(5)
    chunk[7, 2] = bad
    result = executor.accept_chunk(executor.make_request(at_step(5)), chunk, 0.01, at_step(6, 0.5))
    assert isinstance(result, Hold)
    assert "non-finite" in result.reason and "'elbow_flex'" in result.reason and "step 7" in result.reason
    # hold where the arm is heading at the next step, from the previous (valid) chunk
    assert result.trajectory.start_ns == ORIGIN + 7 * DT
    np.testing.assert_allclose(result.trajectory.positions, ramp_chunk(7, 1))
    assert executor.state == ExecutionState.HOLDING
    assert executor.queue_depth(at_step(6, 0.6)) == 0
    assert executor.chunks_rejected == 1


def test_execution_stale_chunk_is_rejected():
    executor = make_executor(max_chunk_age_s=0.2)
    result = executor.accept_chunk(executor.make_request(at_step(0)), ramp_chunk(0, 100), 0.3, at_step(9))
    assert isinstance(result, Hold) and "stale chunk" in result.reason and "limit 200 ms" in result.reason
    assert result.trajectory is None  # nothing planned yet: nothing to hold at


def test_execution_chunk_shorter_than_the_latency_is_rejected():
    executor = make_executor(max_chunk_age_s=10.0)
    result = executor.accept_chunk(executor.make_request(at_step(0)), ramp_chunk(0, 5), 0.3, at_step(9))
    assert isinstance(result, Hold) and "10 steps elapsed" in result.reason


def test_execution_wrong_chunk_shape_is_rejected():
    executor = make_executor()
    result = executor.accept_chunk(executor.make_request(at_step(0)), np.zeros((10, 5)), 0.01, at_step(0, 0.5))
    assert isinstance(result, Hold) and "expected [steps, 6]" in result.reason


def test_execution_clamps_to_joint_limits():
    limits = JointLimits.from_mapping(JOINTS, {"gripper": (-0.17, 1.74), "elbow_flex": (-1.0, 0.05)})
    executor = ChunkExecutor(ExecutionConfig(), JOINTS, ORIGIN, limits)
    chunk = np.full((10, 6), 2.0)
    plan = executor.accept_chunk(executor.make_request(at_step(0)), chunk, 0.01, at_step(0, 0.5))
    assert plan.clamped_values == 2 * 10  # two limited columns, ten rows
    np.testing.assert_allclose(plan.trajectory.positions[0], [2.0, 2.0, 0.05, 2.0, 2.0, 1.74])
    with pytest.raises(ValueError, match="lower > upper for: gripper"):
        JointLimits.from_mapping(JOINTS, {"gripper": (1.0, 0.0)})


def test_execution_queue_running_dry_reports_holding():
    executor = make_executor()
    executor.accept_chunk(executor.make_request(at_step(0)), ramp_chunk(0, 5), 0.01, at_step(0, 0.5))
    assert executor.tick(at_step(4)) is not None
    assert executor.state == ExecutionState.RUNNING
    assert executor.tick(at_step(5)) is None
    assert executor.state == ExecutionState.HOLDING and "ran dry" in executor.message


def test_execution_pause_drops_inflight_chunk_and_resume_restarts():
    executor = make_executor()
    executor.accept_chunk(executor.make_request(at_step(0)), ramp_chunk(0), 0.01, at_step(0, 0.5))
    inflight = executor.make_request(at_step(3))
    hold = executor.pause(at_step(4))
    np.testing.assert_allclose(hold.trajectory.positions, ramp_chunk(5, 1))
    assert executor.state == ExecutionState.PAUSED and not executor.wants_chunk(at_step(5))
    assert executor.accept_chunk(inflight, ramp_chunk(3), 0.01, at_step(5)) is None
    executor.resume()
    assert executor.accept_chunk(inflight, ramp_chunk(3), 0.01, at_step(5)) is None  # still from before
    assert executor.wants_chunk(at_step(6))
    plan = executor.accept_chunk(executor.make_request(at_step(6)), ramp_chunk(6), 0.01, at_step(6, 0.5))
    assert isinstance(plan, PlannedChunk) and executor.state == ExecutionState.RUNNING


def test_execution_reset_forgets_history():
    executor = make_executor()
    executor.accept_chunk(executor.make_request(at_step(0)), ramp_chunk(0), 0.2, at_step(7))
    executor.reset(at_step(8))
    assert executor.chunks_produced == 0 and executor.latency.count == 0 and executor.delay_steps == 0
    assert executor.state == ExecutionState.STARTING and executor.queue_depth(at_step(8)) == 0


def test_execution_stale_streams_are_named():
    problems = stale_streams({"observation.state": 0.01, "observation.images.front": 0.5, "wrist": None}, 0.2)
    assert problems == [
        "observation.images.front: last message 500 ms old (limit 200 ms)",
        "wrist: no message yet",
    ]


# Worker ------------------------------------------------------------------------------------------


def test_execution_worker_runs_one_request_at_a_time_and_reports_errors():
    release = threading.Event()
    results = []
    done = threading.Event()

    def compute(payload):
        release.wait(10)
        if payload == "boom":
            raise RuntimeError("model exploded")
        return payload * 2

    def on_done(result):
        results.append(result)
        done.set()

    worker = InferenceWorker(compute, on_done)
    try:
        assert worker.submit("r1", 21)
        assert worker.busy and not worker.submit("r2", 1)
        release.set()
        assert done.wait(10)
        assert (results[0].request, results[0].chunk, results[0].error) == ("r1", 42, None)
        assert results[0].latency_s >= 0.0
        done.clear()
        assert worker.submit("r3", "boom")
        assert done.wait(10)
        assert results[1].error == "RuntimeError: model exploded" and results[1].chunk is None
        assert not worker.busy
    finally:
        worker.close()
