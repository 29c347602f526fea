"""End-effector kinematics cost: FK per recorded frame, IK per policy action, dataset conversion rate.

Baselines measured in the same run: the bare placo calls (set joints + update_kinematics + frame pose
for FK; one solver iteration set for IK) and an edit that rewrites the dataset without computing
anything (renaming a feature). Run by hand:

    python benchmarks/ee_kinematics.py [--frames 6000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from lerobot_ros_core.contract import parse_contract
from lerobot_ros_core.features import converters
from lerobot_ros_core.kinematics.ee_features import DerivedFeatures
from lerobot_ros_core.kinematics.end_effector import EndEffectorLimits
from lerobot_ros_core.kinematics.placo_kinematics import ArmKinematics
from lerobot_ros_policy.execution.ee_actions import EndEffectorActions
from lerobot_ros_record.dataset import DatasetWriter, WriterConfig
from lerobot_ros_record.dataset.edit import FeatureEdit, edit_dataset

URDF = Path(__file__).resolve().parents[1] / "src/lerobot_ros_drivers/lerobot_ros_drivers/description/so101.urdf"
JOINTS = ["shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper"]
JOINT = {"type": "sensor_msgs/msg/JointState", "joints": JOINTS, "units": {"default": "deg", "gripper": "percent"}}
CONTRACT = {
    "fps": 30,
    "features": {
        "observation.state": {"topic": "follower/joint_states", **JOINT},
        "joint_action": {"topic": "leader/joint_states", **JOINT},
        "observation.ee_state": {"ee": {"from": "observation.state", "urdf": str(URDF)}},
        "action": {"ee": {"from": "joint_action", "urdf": str(URDF)}},
    },
}


def per_call_us(function, calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        function()
    return (time.perf_counter() - started) / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=6000, help="frames of the dataset converted")
    args = parser.parse_args()
    contract = parse_contract(CONTRACT)
    arm = JOINTS[:5]
    kinematics = ArmKinematics(URDF, arm)
    q = np.array([0.1, -0.3, 0.4, 0.3, 0.1])
    robot, frame = kinematics.robot, kinematics.frame

    def bare_fk() -> None:
        for name, value in zip(arm, q, strict=True):
            robot.set_joint(name, float(value))
        robot.update_kinematics()
        robot.get_T_world_frame(frame)

    def bare_ik() -> None:
        for _ in range(kinematics.iterations):
            kinematics.solver.solve(True)
            robot.update_kinematics()

    kinematics.forward(q)
    kinematics.task.T_world_frame = kinematics.forward(q + 0.01)
    derived = DerivedFeatures(contract)
    state = np.degrees(np.append(q, 0.5)).astype(np.float32)
    frame_values = {"observation.state": state, "joint_action": state}
    print(f"bare placo FK (set 5 joints, update, frame pose): {per_call_us(bare_fk, 3000):8.1f} us")
    frame_us = per_call_us(lambda: derived.compute(frame_values), 3000)
    print(f"recorder: EE features of one frame (2 features):  {frame_us:8.1f} us")

    actions = EndEffectorActions.from_contract(contract, EndEffectorLimits(max_step=0.05))
    path = np.linspace(q, q + 0.2, 30)
    feature = derived.features["action"]
    unit = converters(contract)["joint_action"]
    chunk = np.array(
        [
            feature.compute(np.append(np.degrees(row), unit.spec.units[5].to_dataset(0.5)).astype(np.float32))
            for row in path
        ]
    )
    seed = np.append(path[0], 0.5)
    print(f"bare placo IK ({kinematics.iterations} solver iterations):          {per_call_us(bare_ik, 1000):8.1f} us")
    chunk_us = per_call_us(lambda: actions.to_ros(chunk, seed), 50)
    print(
        f"policy node: IK per EE action (30-action chunk):  {chunk_us / 30:8.1f} us ({chunk_us / 1e3:.1f} ms per chunk)"
    )
    queued = np.column_stack([path, np.full(30, 0.5)])[:20]  # 20 steps still queued: each solved from the queue
    spliced_us = per_call_us(lambda: actions.to_ros(chunk, queued), 50)
    per_chunk = f"{spliced_us / 1e3:.1f} ms per chunk"
    print(f"  same chunk over 20 queued steps (FK of each):   {spliced_us / 30:8.1f} us ({per_chunk})")

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "joint"
        features = {k: v for k, v in contract.features().items() if k in ("observation.state",)}
        features["joint_action"] = features["observation.state"]
        writer = DatasetWriter.create(root, "local/bench", features, WriterConfig(fps=30))
        writer.write_meta_file(
            "lerobot_ros_contract.yaml", contract.without({"observation.ee_state", "action"}).to_yaml().encode()
        )
        per_episode = 600
        for _ in range(max(1, args.frames // per_episode)):
            writer.start_episode("bench")
            for k in range(per_episode):
                row = np.degrees(q + 0.2 * np.sin(k / 50 + np.arange(5))).astype(np.float32)
                value = np.append(row, 30.0).astype(np.float32)
                writer.add_frame({"observation.state": value, "joint_action": value})
            writer.save_episode()
        writer.finalize()
        frames = writer.total_frames
        started = time.perf_counter()
        edit_dataset(root, Path(tmp) / "copy", FeatureEdit(rename={"joint_action": "leader_action"}))
        copy_s = time.perf_counter() - started
        ee = {k: CONTRACT["features"][k] for k in ("observation.ee_state", "action")}
        started = time.perf_counter()
        edit_dataset(root, Path(tmp) / "ee", FeatureEdit(add_ee=ee))
        add_s = time.perf_counter() - started
    print(f"dataset rewrite without computing (rename):       {frames / copy_s:8.0f} frames/s ({frames} frames)")
    print(f"dataset add-ee (2 EE features per frame):         {frames / add_s:8.0f} frames/s ({frames} frames)")


if __name__ == "__main__":
    main()
