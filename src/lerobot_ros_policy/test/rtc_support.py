"""Closed-loop RTC rollouts on a simulated clock, shared by the RTC tests and benchmarks/rtc_quality.py.

A real runtime computes every chunk; the clock is simulated so that each chunk arrives a chosen
number of control steps after its request (the injected inference delay), whatever the CPU does.
The arm is an ideal follower: the observation's state is the action executed at the request's step.
Noise is seeded per request step, so runs that differ only in the merge mode draw the same noise
for the same request.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lerobot_ros_policy.execution import ChunkExecutor, ExecutionConfig, PlannedChunk, RtcConfig
from lerobot_ros_policy.runtimes import PolicyRuntime, PrefixGuidance, load_runtime

HERE = Path(__file__).resolve().parent
REFERENCE_PYTHON = HERE.parents[2] / ".venv-lerobot" / "bin" / "python"
MAKE_SMOLVLA = HERE / "rtc_make_smolvla.py"
STANDIN = HERE / "data" / "smolvlm2_standin"
FPS = 30.0
DT_NS = round(1e9 / FPS)
MODES = ("rtc", "replace", "ensemble")


def make_smolvla_checkpoint(
    out: Path, cameras: dict[str, tuple[int, int]] | None = None, chunk_size: int = 50, action_std: float = 10.0
) -> Path:
    """A tiny random-weight SmolVLA saved by LeRobot 0.4.4 itself (reference venv), its shrunk stand-in
    backbone beside it; returns the checkpoint directory."""
    cameras = {"front": (48, 64)} if cameras is None else cameras
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "AMENT", "COLCON", "VIRTUAL_ENV"))}
    env["HF_HUB_OFFLINE"] = "1"
    command = [str(REFERENCE_PYTHON), str(MAKE_SMOLVLA), str(out), str(STANDIN), json.dumps(cameras)]
    command += [str(chunk_size), str(action_std)]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"making the SmolVLA checkpoint failed:\n{result.stdout}\n{result.stderr}")
    return out


def smolvla_runtime(tmp: Path, **checkpoint_options) -> PolicyRuntime:
    """The native SmolVLA runtime (float32, CPU) on a fresh tiny checkpoint under `tmp`."""
    return load_runtime(make_smolvla_checkpoint(tmp / "pretrained_model", **checkpoint_options))


@dataclass
class Rollout:
    """What a simulated rollout executed and what the runtime predicted, in LeRobot units."""

    executed: dict[int, np.ndarray] = field(default_factory=dict)
    """Action executed at each step."""
    chunks: list[tuple[int, np.ndarray]] = field(default_factory=list)
    """(request step, chunk as predicted: row k for request step + k)."""
    guidances: list[PrefixGuidance | None] = field(default_factory=list)
    """The guidance each chunk was predicted with (None: unguided)."""
    boundaries: list[int] = field(default_factory=list)
    """First step executed from each accepted chunk (after the first)."""
    switch_jumps: list[float] = field(default_factory=list)
    """Per boundary: max |new plan − previous plan| at its first step (0 = the motion continues)."""
    requests: list[tuple[int, int, int]] = field(default_factory=list)
    """(request step, RTC delay asked for, rows the executor trimmed)."""

    def sequence(self) -> tuple[np.ndarray, np.ndarray]:
        """Steps and actions of the executed stream (contiguous, checked)."""
        steps = np.array(sorted(self.executed))
        if len(steps) and not np.array_equal(steps, np.arange(steps[0], steps[-1] + 1)):
            raise AssertionError("the executed stream has a gap: the queue ran dry")
        return steps, np.array([self.executed[s] for s in steps])


def observation_for(runtime: PolicyRuntime, state: np.ndarray, seed: int = 0) -> dict[str, np.ndarray]:
    """`state` (the executed action) as `observation.state` and a fixed random uint8 image per camera."""
    rng = np.random.default_rng(seed)
    observation: dict[str, np.ndarray] = {}
    for key, feature in runtime.input_features.items():
        if len(feature.shape) == 3:
            _, height, width = feature.shape
            observation[key] = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        else:
            observation[key] = np.resize(state, feature.shape).astype(np.float32)
    return observation


def start_noise(runtime: PolicyRuntime, seed: int, smooth_steps: float = 0.0) -> np.ndarray:
    """Seeded unit-variance start noise `(chunk_size, max_action_dim)` for a flow-matching runtime.

    `smooth_steps` > 0 correlates it along the chunk (Gaussian kernel of that many steps, rescaled to
    unit variance): a random-weight model then predicts smooth chunks, as a trained policy does,
    instead of per-step noise that no chunk merge can smooth.
    """
    width = int(runtime.config.raw.get("max_action_dim", runtime.action_dim))
    rng = np.random.default_rng(seed)
    if smooth_steps <= 0:
        return rng.standard_normal((runtime.chunk_size, width)).astype(np.float32)
    radius = int(np.ceil(4 * smooth_steps))
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / smooth_steps) ** 2)
    kernel /= np.sqrt((kernel**2).sum())  # unit variance after the convolution
    white = rng.standard_normal((runtime.chunk_size + 2 * radius, width))
    smooth = np.stack([np.convolve(white[:, j], kernel, mode="valid") for j in range(width)], axis=1)
    return smooth.astype(np.float32)


def simulate(
    runtime: PolicyRuntime,
    mode: str,
    delay_steps: int,
    steps: int,
    *,
    rtc: RtcConfig | None = None,
    initial_state: np.ndarray | None = None,
    queue_threshold: float = 0.5,
    seed: int = 0,
    smooth_steps: float = 0.0,
    task: str = "pick the cube",
) -> Rollout:
    """Run `runtime` through a `ChunkExecutor` for `steps` control steps at 30 fps.

    `mode`: "rtc" (prefix guidance with `rtc`, replacement), "replace" (naive replacement) or
    "ensemble" (temporal ensembling, LeRobot's coefficient). Each chunk is requested at 0.1 of a
    step and arrives `delay_steps` steps later at 0.05 of a step: `delay_steps + 1` rows are
    trimmed (the step executing at the request and the `delay_steps` that pass). The start noise
    of each chunk is seeded by its request step (`start_noise`).
    """
    if mode not in MODES:
        raise ValueError(f"mode {mode!r} is not one of {MODES}")
    dim = runtime.action_dim
    config = ExecutionConfig(
        fps=FPS, queue_threshold=queue_threshold, temporal_ensembling=mode == "ensemble", max_chunk_age_s=60.0
    )
    executor = ChunkExecutor(config, [f"a{i}" for i in range(dim)], origin_ns=0)
    rtc = rtc or RtcConfig()
    state = np.zeros(dim) if initial_state is None else np.asarray(initial_state, dtype=float)
    rollout = Rollout()
    pending = None
    for step in range(steps):
        if pending is not None and step == pending[0].step + delay_steps:
            request, chunk = pending
            arrival = step * DT_NS + DT_NS // 20
            previous = executor.queue.action_at(step + 1)
            previous = None if previous is None else previous.copy()
            outcome = executor.accept_chunk(request, chunk, (arrival - request.stamp_ns) * 1e-9, arrival)
            if not isinstance(outcome, PlannedChunk):
                raise AssertionError(f"chunk for step {request.step} not planned: {outcome}")
            if rollout.requests:  # not the first chunk
                rollout.boundaries.append(step + 1)
                if previous is None:
                    raise AssertionError(f"the queue ran dry before step {step + 1}")
                switched = executor.queue.action_at(step + 1)
                rollout.switch_jumps.append(float(np.abs(switched - previous).max()))
            rollout.requests.append((request.step, request.delay, outcome.delay_steps))
            pending = None
        now = step * DT_NS + DT_NS // 10
        action = executor.tick(now)
        if action is not None:
            state = action
            rollout.executed[step] = action
        if pending is None and executor.wants_chunk(now):
            request = executor.make_request(now)
            guidance = rtc.guidance(request.prefix, request.delay, runtime.chunk_size) if mode == "rtc" else None
            noise = start_noise(runtime, seed * 100_003 + request.step, smooth_steps)
            chunk = runtime.predict_chunk(observation_for(runtime, state, seed), task, guidance, noise=noise)
            rollout.chunks.append((request.step, np.asarray(chunk, dtype=float)))
            rollout.guidances.append(guidance)
            pending = (request, np.asarray(chunk, dtype=float))
    return rollout


@dataclass(frozen=True)
class Smoothness:
    """Discontinuity of an executed stream at chunk boundaries, beside the motion inside chunks."""

    switch_jump: float
    """max |new plan − previous plan| at the boundaries: the jump the switch adds to the motion."""
    boundary_max_step: float
    """max |a[b] − a[b−1]| over boundaries b and joints."""
    boundary_max_jerk: float
    """max |third difference| over the three differences that straddle a boundary."""
    inside_max_step: float
    """max |Δa| over steps that are not boundaries (the motion itself)."""
    inside_max_jerk: float
    boundaries: int


def smoothness(rollout: Rollout, skip_steps: int = 0) -> Smoothness:
    """Boundary and in-chunk |Δa| and jerk (units per step, per step³) after `skip_steps` steps."""
    steps, actions = rollout.sequence()
    keep = steps >= steps[0] + skip_steps
    steps, actions = steps[keep], actions[keep]
    delta = np.abs(np.diff(actions, axis=0)).max(axis=1)  # delta[i]: steps[i] -> steps[i + 1]
    jerk = np.abs(np.diff(actions, n=3, axis=0)).max(axis=1)  # jerk[i] spans steps[i] .. steps[i + 3]
    kept = [(b, j) for b, j in zip(rollout.boundaries, rollout.switch_jumps, strict=True) if steps[0] < b <= steps[-1]]
    boundaries = [b for b, _ in kept]
    at_boundary = np.zeros(len(delta), dtype=bool)
    jerk_at_boundary = np.zeros(len(jerk), dtype=bool)
    for b in boundaries:
        i = b - steps[0] - 1
        at_boundary[i] = True
        jerk_at_boundary[max(0, i - 2) : i + 1] = True
    return Smoothness(
        switch_jump=max((j for _, j in kept), default=0.0),
        boundary_max_step=float(delta[at_boundary].max(initial=0.0)),
        boundary_max_jerk=float(jerk[jerk_at_boundary].max(initial=0.0)),
        inside_max_step=float(delta[~at_boundary].max(initial=0.0)),
        inside_max_jerk=float(jerk[~jerk_at_boundary].max(initial=0.0)),
        boundaries=len(boundaries),
    )
