"""Recording: teleoperation plus the recorder, like `lerobot-record` with a leader arm.

    lerobot-ros launch record hardware:=sim root:=outputs/so101_demo num_episodes:=3 episode_time_s:=10
    lerobot-ros launch record follower_id:=my_follower leader_id:=my_leader repo_id:=me/pick_cube \\
        root:=~/datasets/pick_cube task:="pick up the cube"

Any other ROS arm: `hardware:=external` records only (cameras of the robot config and the
recorder), from the topics its contract names, while the robot is driven by its own stack.

With `num_episodes:=0` episodes are driven by the `recorder/record_episode` action or the keyboard
client (`lerobot-ros record-keys`, in another terminal).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from lerobot_ros_bringup.graph.description import Argument, Graph, GraphError, NodeSpec
from lerobot_ros_bringup.graphs import parts
from lerobot_ros_bringup.graphs.teleop import teleop_graph_nodes

RECORD = "lerobot_ros_record"

DATASET_ARGUMENTS = (
    Argument("contract", "", "feature contract YAML ('' = lerobot_ros_record's contracts/so101.yaml)"),
    Argument("root", "", "dataset directory (created, or resumed when it holds a dataset)"),
    Argument("repo_id", "", "dataset repo id ('' = local/<root folder name>)"),
    Argument("task", "", "task of the episodes ('' = the contract's default task)"),
    Argument("num_episodes", "10", "episodes to record (0 = driven by the action / keyboard client)"),
    Argument("episode_time_s", "60", "length of an episode (s)"),
    Argument("reset_time_s", "10", "reset period between episodes (s)"),
    Argument("video_codec", "libsvtav1", "video codec", ("libsvtav1", "h264", "hevc")),
    Argument("push_to_hub", "false", "push the dataset to the Hugging Face Hub when finalized", ("true", "false")),
    Argument("exit_when_done", "true", "stop the graph once the episodes are recorded", ("true", "false")),
)


def default_contract() -> Path:
    from ament_index_python.packages import get_package_share_directory

    return Path(get_package_share_directory(RECORD)) / "config" / "contracts" / "so101.yaml"


def recorder_node(arguments: Mapping[str, str], root_argument: str = "root") -> NodeSpec:
    root = arguments[root_argument]
    if not root:
        raise GraphError(f"pass {root_argument}:=DIR, the dataset directory")
    contract = arguments["contract"] or str(default_contract())
    timing = parts.numbers(arguments, {"num_episodes": int, "episode_time_s": float, "reset_time_s": float})
    return NodeSpec(
        RECORD,
        "recorder_node",
        "recorder",
        parameters=[
            {
                "contract": contract,
                "root": str(Path(root).expanduser()),
                "repo_id": arguments["repo_id"],
                "task": arguments["task"],
                **timing,
                "video_codec": arguments["video_codec"],
                "push_to_hub": arguments["push_to_hub"] == "true",
                "exit_when_done": arguments["exit_when_done"] == "true" and timing["num_episodes"] > 0,
            }
        ],
    )


def record_graph_nodes(arguments: Mapping[str, str]) -> list[NodeSpec]:
    return [*teleop_graph_nodes(arguments), recorder_node(arguments)]


GRAPH = Graph(
    name="record",
    description="teleoperation + recorder: episodes into a LeRobot v3.0 dataset (like lerobot-record)",
    arguments=[*parts.HARDWARE_ARGUMENTS, *parts.LEADER_ARGUMENTS, *DATASET_ARGUMENTS],
    build=record_graph_nodes,
)
