"""Rollout: a LeRobot checkpoint drives the follower through the policy node.

    lerobot-ros launch rollout hardware:=sim policy_path:=outputs/train/act_so101/checkpoints/last/pretrained_model
    lerobot-ros launch rollout policy_path:=me/act_so101 follower_id:=my_follower \\
        record:=true eval_root:=~/datasets/eval_act_so101 num_episodes:=10

Any other ROS arm (a joint_trajectory_controller, MoveIt, a simulator): `hardware:=external`
starts no arm driver; pass its contract and controller topic (docs/existing-robots.md):

    lerobot-ros launch rollout hardware:=external robot_config:=my_arm.yaml contract:=my_arm_contract.yaml \
        policy_path:=... trajectory_topic:=/joint_trajectory_controller/joint_trajectory

`record:=true` also records evaluation episodes (like LeRobot's `eval_` datasets); between
episodes the policy is paused and the arm returns to its rest pose.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from lerobot_ros_bringup.graph.description import Argument, Graph, GraphError, NodeSpec
from lerobot_ros_bringup.graphs import parts
from lerobot_ros_bringup.graphs.record import DATASET_ARGUMENTS, default_contract, recorder_node

POLICY_ARGUMENTS = (
    Argument("policy_path", None, "checkpoint directory (pretrained_model/) or a Hub repo id in the local cache"),
    Argument("device", "cpu", "torch device of the policy (cpu, cuda, cuda:1, mps)"),
    Argument(
        "runtime",
        "native",
        "policy runtime: the suite's own, an installed lerobot, or a lerobot-ros policy-server (remote)",
        ("native", "lerobot", "remote"),
    ),
    Argument("remote_config", "", "runtime:=remote: the client YAML (server endpoints, TLS, fallback)"),
    Argument("runtime_accel", "none", "native ACT fast path (ONNX Runtime on the CPU)", ("none", "onnx")),
    Argument("cpu_threads", "0", "CPU threads of the model; 0 = every core"),
    Argument(
        "rtc", "auto", "Real-Time Chunking of SmolVLA/Pi0 (auto: the checkpoint's rtc_config)", ("auto", "on", "off")
    ),
    Argument(
        "rtc_schedule", "", "RTC prefix schedule; empty = the checkpoint's", ("", "linear", "exp", "ones", "zeros")
    ),
    Argument("rtc_execution_horizon", "0", "RTC: steps of a new chunk guided by the queued ones; 0 = the checkpoint's"),
    Argument("rtc_max_guidance_weight", "0", "RTC guidance weight cap; 0 = the checkpoint's"),
    Argument("rtc_delay_margin", "0", "RTC: rows frozen beyond the latency-driven delay"),
    Argument(
        "output_mode", "trajectory", "timed trajectories, a per-step stream, or both", ("trajectory", "stream", "both")
    ),
    Argument("temporal_ensembling", "false", "ACT temporal ensembling instead of chunk replacement", ("true", "false")),
    Argument(
        "trajectory_topic",
        "/follower/joint_trajectory",
        "JointTrajectory topic of the controller (e.g. /joint_trajectory_controller/joint_trajectory)",
    ),
    Argument("record", "false", "record evaluation episodes with the recorder", ("true", "false")),
    Argument("eval_root", "", "dataset directory of the evaluation episodes (record:=true)"),
)

_DATASET_ARGUMENTS = tuple(a for a in DATASET_ARGUMENTS if a.name != "root")


def _contract(arguments: Mapping[str, str]) -> str:
    """The contract given, else the one stored next to the checkpoint, else the SO-101 example."""
    if arguments["contract"]:
        return arguments["contract"]
    stored = Path(arguments["policy_path"]).expanduser() / "lerobot_ros_contract.yaml"
    return str(stored) if stored.is_file() else str(default_contract())


def rollout_graph_nodes(arguments: Mapping[str, str]) -> list[NodeSpec]:
    config = parts.robot_config(arguments)
    contract = _contract(arguments)
    if arguments["runtime"] == "remote" and not arguments["remote_config"]:
        raise GraphError("runtime:=remote needs remote_config:=FILE, the client YAML (docs/remote-inference.md)")
    numeric = parts.numbers(
        arguments,
        {
            "cpu_threads": int,
            "rtc_execution_horizon": int,
            "rtc_max_guidance_weight": float,
            "rtc_delay_margin": int,
        },
    )
    policy = NodeSpec(
        "lerobot_ros_policy",
        "policy_node",
        "policy",
        parameters=[
            {
                "checkpoint": arguments["policy_path"],
                "contract": contract,
                "device": arguments["device"],
                "runtime": arguments["runtime"],
                "remote_config": arguments["remote_config"],
                "runtime_accel": arguments["runtime_accel"],
                "rtc": arguments["rtc"],
                "rtc_schedule": arguments["rtc_schedule"],
                **numeric,
                "output_mode": arguments["output_mode"],
                "trajectory_topic": arguments["trajectory_topic"],
                "temporal_ensembling": arguments["temporal_ensembling"] == "true",
                **({"task": arguments["task"]} if arguments["task"] else {}),
            }
        ],
    )
    nodes = [
        *parts.follower_nodes(arguments, config),
        *parts.camera_nodes(arguments, config),
        *parts.force_nodes(arguments, config),
        policy,
        *parts.visualization_nodes(arguments),
    ]
    if arguments["record"] == "true":
        if not arguments["eval_root"]:
            raise GraphError("record:=true needs eval_root:=DIR, the evaluation dataset directory")
        nodes.append(recorder_node({**arguments, "contract": contract}, root_argument="eval_root"))
        nodes.append(NodeSpec("lerobot_ros_bringup", "episode_coordinator_node", "episode_coordinator"))
    return nodes


GRAPH = Graph(
    name="rollout",
    description="policy node driving the follower with a LeRobot checkpoint, optionally recording eval episodes",
    arguments=[*parts.HARDWARE_ARGUMENTS, *POLICY_ARGUMENTS, *_DATASET_ARGUMENTS],
    build=rollout_graph_nodes,
)
