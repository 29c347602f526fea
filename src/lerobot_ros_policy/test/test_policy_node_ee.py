"""An EE-space random-weight ACT (actions ee.x … ee.gripper_pos, EE observation) drives the simulated
follower through the policy node's IK: every published trajectory moves the tool by at most the max EE
step per control step (plus what IK misses), within the workspace box; the follower executes it."""

from __future__ import annotations

import importlib.util
import itertools
from pathlib import Path

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from sensor_msgs.msg import JointState
from trajectory_msgs.msg import JointTrajectory

from lerobot_ros_core.contract import parse_contract
from lerobot_ros_core.kinematics.ee_features import EndEffectorFeature
from lerobot_ros_core.kinematics.placo_kinematics import ArmKinematics
from lerobot_ros_msgs.msg import ActionChunk, PolicyStatus
from lerobot_ros_policy.checkpoint.random_act import create_random_act_checkpoint
from lerobot_ros_policy.checkpoint.random_smolvla import create_random_smolvla_checkpoint
from lerobot_ros_record.dataset import DatasetWriter, WriterConfig

_spec = importlib.util.spec_from_file_location(
    "policy_node_support", Path(__file__).with_name("policy_node_support.py")
)
support = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(support)

SO101_URDF = Path(__file__).resolve().parents[2] / "lerobot_ros_drivers/lerobot_ros_drivers/description/so101.urdf"
SMOLVLM_STANDIN = Path(__file__).with_name("data") / "smolvlm2_standin"
ARM = support.JOINTS[:5]
MAX_STEP = 0.004
TOLERANCE = 0.02
WORKSPACE = ([0.05, -0.3, 0.02], [0.42, 0.3, 0.4])
EE_JUMP_THRESHOLD = 0.005  # m: a chunk boundary the tool cannot feel; random chunks differ by centimetres


def contract_dict() -> dict:
    contract = support.contract_dict({"front": (48, 64)})
    features = contract["features"]
    features["joint_action"] = features.pop("action")
    features["observation.ee_state"] = {"ee": {"from": "observation.state", "urdf": str(SO101_URDF)}}
    features["action"] = {"ee": {"from": "joint_action", "urdf": str(SO101_URDF)}}
    return contract


def write_dataset(root: Path, reach: float = 0.0, action_spread: float = 0.5) -> Path:
    """Short episodes of a slow reach in front of the robot, its EE features computed as the recorder does.

    `reach` moves the EE actions that many metres further out along x (out of the arm's reach);
    `action_spread` is the actions' scatter around the state (degrees per joint).
    """
    contract = parse_contract(contract_dict())
    keys = ["observation.state", "observation.ee_state", "action", "observation.images.front"]
    features = {k: v for k, v in contract.features().items() if k in keys}
    writer = DatasetWriter.create(
        root, "local/ee", features, WriterConfig(fps=30, video_codec="h264"), "so101_follower"
    )
    state_ee = EndEffectorFeature.of(contract, "observation.ee_state")
    action_ee = EndEffectorFeature.of(contract, "action")
    rng = np.random.default_rng(0)
    for _ in range(2):
        writer.start_episode("reach")
        for k in range(30):
            q = np.degrees([0.1 * np.sin(k / 10), -0.4, 0.4, 0.4, 0.0])
            state = np.append(q, 30.0).astype(np.float32)
            action = (state + rng.normal(0, action_spread, 6)).astype(np.float32)
            writer.add_frame(
                {
                    "observation.state": state,
                    "observation.ee_state": state_ee.compute(state),
                    "action": action_ee.compute(action) + np.float32([reach, 0, 0, 0, 0, 0, 0]),
                    "observation.images.front": rng.integers(0, 255, (48, 64, 3), np.uint8),
                }
            )
        writer.save_episode()
    writer.finalize()
    return root


def start_policy(
    tmp_path, ros_graph, ros_probe, reach: float = 0.0, policy: str = "act", action_spread: float = 0.5, **parameters
) -> dict:
    """A random-weight ACT (or tiny SmolVLA) for the EE dataset on the simulated follower; the topics to read."""
    dataset = write_dataset(tmp_path / "dataset", reach, action_spread)
    if policy == "smolvla":
        small = {"chunk_size": 50, "n_action_steps": 50, "num_vlm_layers": 1, "resize_imgs_with_padding": (64, 64)}
        checkpoint = create_random_smolvla_checkpoint(
            tmp_path / "checkpoint", dataset, SMOLVLM_STANDIN, seed=1, **small
        )
    else:
        small = {"dim_model": 32, "n_encoder_layers": 1, "n_decoder_layers": 1, "chunk_size": 30, "n_action_steps": 30}
        checkpoint = create_random_act_checkpoint(tmp_path / "checkpoint", dataset, seed=1, **small)
    contract = support.write_contract(tmp_path / "contract.yaml", contract_dict())
    seen = {
        "trajectories": ros_probe.collect("/follower/joint_trajectory", JointTrajectory),
        "chunks": ros_probe.collect("/policy/action_chunk", ActionChunk),
        "statuses": ros_probe.collect("/policy/status", PolicyStatus),
        "states": ros_probe.collect("/follower/joint_states", JointState),
        "diagnostics": ros_probe.collect("/diagnostics", DiagnosticArray),
    }
    seen["graph"] = ros_graph(
        support.sim_rollout_specs(
            tmp_path / "follower",
            checkpoint,
            contract,
            **{
                "max_observation_age": 0.5,
                "ee_max_step": MAX_STEP,
                "ee_ik_tolerance": TOLERANCE,
                "ee_orientation_weight": 0.001,
                **parameters,
            },
        ),
        topics=["/policy/status", "/follower/joint_states", "/cameras/front/image_raw"],
        timeout=120,
    )
    return seen


def tool_path(kinematics: ArmKinematics, trajectory: JointTrajectory) -> np.ndarray:
    return np.array([kinematics.forward(p.positions[:5])[:3, 3] for p in trajectory.points])


@pytest.mark.slow
def test_ee_policy_drives_the_simulated_arm_with_bounded_ee_steps(tmp_path, ros_graph, ros_probe):
    seen = start_policy(tmp_path, ros_graph, ros_probe, ee_workspace_min=WORKSPACE[0], ee_workspace_max=WORKSPACE[1])
    chunks, statuses, states, graph = seen["chunks"], seen["statuses"], seen["states"], seen["graph"]
    try:
        ros_probe.wait_until(lambda: len(chunks) >= 6, timeout=150)
    except AssertionError:
        pytest.fail(f"fewer than 6 chunks ({statuses[-1] if statuses else 'no status'}):\n{graph.describe()}")
    graph.check_alive()
    kinematics = ArmKinematics(SO101_URDF, ARM)
    published = [t for t in list(seen["trajectories"]) if len(t.points) > 1]
    assert published and all(list(t.joint_names) == support.JOINTS for t in published)
    largest = 0.0
    for trajectory in published:
        tool = tool_path(kinematics, trajectory)
        steps = np.linalg.norm(np.diff(tool, axis=0), axis=1)
        largest = max(largest, steps.max())
        assert steps.max() <= MAX_STEP + 2 * TOLERANCE, f"EE step {steps.max():.4f} m"
        assert np.all(tool >= np.array(WORKSPACE[0]) - TOLERANCE) and np.all(tool <= np.array(WORKSPACE[1]) + TOLERANCE)
    first, last = np.array(states[0].position), np.array(states[-1].position)
    assert np.abs(last - first)[:5].max() > 0.01, "the follower did not move"
    assert statuses[-1].state in ("running", "holding"), statuses[-1]
    print(
        f"{len(published)} trajectories, largest EE step {largest * 1e3:.2f} mm, follower moved "
        f"{np.abs(last - first)[:5].max():.3f} rad, last status {statuses[-1].state}: {statuses[-1].message}"
    )


def ee_diagnostics(arrays: list[DiagnosticArray]) -> dict[str, str]:
    for array in reversed(arrays):
        for status in array.status:
            values = {kv.key: kv.value for kv in status.values}
            if "ee_unreachable_chunks" in values:
                return {**values, "level": status.level, "message": status.message}
    return {}


@pytest.mark.slow
def test_ee_policy_holds_at_unreachable_targets_and_reports_them(tmp_path, ros_graph, ros_probe):
    # Targets 0.5 m beyond the demonstrations: the tool steps out until the arm is stretched, then holds.
    seen = start_policy(
        tmp_path, ros_graph, ros_probe, reach=0.5, ee_workspace_min=[-1.0, -1.0, -1.0], ee_workspace_max=[1.0] * 3
    )
    graph = seen["graph"]
    try:
        ros_probe.wait_until(lambda: int(ee_diagnostics(seen["diagnostics"]).get("ee_unreachable_chunks", 0)) >= 2, 150)
    except AssertionError:
        pytest.fail(f"no unreachable chunk reported ({ee_diagnostics(seen['diagnostics'])}):\n{graph.describe()}")
    graph.check_alive()
    report = ee_diagnostics(seen["diagnostics"])
    assert "out of reach" in report["ee_last_unreachable"] and report["level"] == DiagnosticStatus.WARN
    holding = [s for s in seen["statuses"] if s.state == "holding" and "out of reach" in s.message]
    assert holding, [s.message for s in seen["statuses"][-5:]]
    # Whatever was executed moved the tool in bounded steps; a hold commands a point the plan had.
    kinematics = ArmKinematics(SO101_URDF, ARM)
    published = list(seen["trajectories"])
    for trajectory in published:
        tool = tool_path(kinematics, trajectory)
        assert np.linalg.norm(np.diff(tool, axis=0), axis=1).max(initial=0.0) <= MAX_STEP + 2 * TOLERANCE
    for previous, trajectory in itertools.pairwise(published):
        if len(trajectory.points) == 1 and len(previous.points) > 1:
            planned = np.array([p.positions for p in previous.points])
            assert np.abs(planned - np.array(trajectory.points[0].positions)).max(axis=1).min() < 1e-9
    if not published:  # the first chunk was already out of reach: the arm never left its pose
        positions = np.array([s.position for s in seen["states"]])
        assert np.abs(positions - positions[0]).max() < 0.01


def tool_boundary_jumps(kinematics: ArmKinematics, trajectories: list[JointTrajectory]) -> list[float]:
    """`boundary_jumps` in tool space: |tool position of the new first point − of the old heading| (m)."""
    return [
        float(np.linalg.norm(kinematics.forward(first[:5])[:3, 3] - kinematics.forward(heading[:5])[:3, 3]))
        for heading, first in support.boundary_points(trajectories)
    ]


@pytest.mark.slow
@pytest.mark.parametrize("rtc", ["on", "off"])
def test_ee_smolvla_with_rtc_continues_the_queued_tool_path(rtc, tmp_path, ros_graph, ros_probe):
    """RTC on an EE checkpoint: the prefix is the queued joints' tool path (FK) in EE units, so each
    new chunk starts where the tool is heading; the same random SmolVLA without RTC jumps, within
    a few max EE steps."""
    max_step = 0.05
    seen = start_policy(
        tmp_path, ros_graph, ros_probe, policy="smolvla", action_spread=15.0, rtc=rtc, fps=10.0,
        rtc_delay_margin=3, injected_latency=0.3, max_chunk_age=5.0,
        ee_max_step=max_step, ee_workspace_min=[-1.0, -1.0, -1.0], ee_workspace_max=[1.0] * 3,
    )  # fmt: skip
    trajectories, graph = seen["trajectories"], seen["graph"]
    kinematics = ArmKinematics(SO101_URDF, ARM)
    try:
        ros_probe.wait_until(lambda: len(tool_boundary_jumps(kinematics, list(trajectories))) >= 4, timeout=300)
    except AssertionError:
        statuses = seen["statuses"]
        pytest.fail(f"fewer than 4 chunk boundaries ({statuses[-1] if statuses else 'no status'}):\n{graph.describe()}")
    graph.check_alive()
    published = list(trajectories)
    jumps = tool_boundary_jumps(kinematics, published)
    joint_jumps = support.boundary_jumps(published)
    delays = [c.delay_steps for c in seen["chunks"]]
    report = (
        f"rtc {rtc}: tool boundary jumps {np.round(np.array(jumps) * 1e3, 2).tolist()} mm, joint boundary jumps "
        f"{np.round(joint_jumps, 4).tolist()} rad, delay steps {delays}"
    )
    print(report)
    assert min(delays) >= 3, report
    # IK starts one max step from the command before the expected splice; the splice may land a step
    # off it, and the old plan moves up to one step per step too: at most four max steps apart.
    assert max(jumps) <= 4 * max_step + TOLERANCE, report
    if rtc == "on":
        assert max(jumps) <= EE_JUMP_THRESHOLD, report
    else:
        assert max(jumps) > EE_JUMP_THRESHOLD, report
