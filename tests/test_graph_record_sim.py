"""The record graph on simulated hardware produces a dataset that LeRobot 0.4.4 loads."""

from __future__ import annotations

import json
import time

import pytest

from lerobot_ros_bringup.graph import get_graph
from lerobot_ros_bringup.graphs.parts import config_dir

LOAD_WITH_LEROBOT = """
import json, sys
import numpy as np
from lerobot.datasets.lerobot_dataset import LeRobotDataset
ds = LeRobotDataset("local/e2e", root=sys.argv[1], video_backend="pyav")
state = np.stack([ds[i]["observation.state"].numpy() for i in range(len(ds))])
action = np.stack([ds[i]["action"].numpy() for i in range(len(ds))])
front = ds[len(ds) // 2]["observation.images.front"]
print(json.dumps({
    "episodes": ds.num_episodes, "frames": len(ds), "front_shape": list(front.shape),
    "front_mean": float(front.float().mean()), "state": state.tolist(), "action": action.tolist(),
    "tasks": sorted(set(ds[i]["task"] for i in range(len(ds)))),
}))
"""


@pytest.mark.slow
def test_record_graph_on_simulated_hardware(ros_graph, run_reference, tmp_path):
    root = tmp_path / "dataset"
    demo = config_dir() / "demo"
    arguments = {
        "hardware": "sim",
        "robot_config": str(demo / "robot.yaml"),
        "contract": str(demo / "contract.yaml"),
        "root": str(root),
        "num_episodes": "2",
        "episode_time_s": "3",
        "reset_time_s": "0.5",
        "task": "follow the leader",
        "follower_port": str(tmp_path / "follower"),
        "leader_port": str(tmp_path / "leader"),
    }
    running = ros_graph(get_graph("record"), arguments, topics=["/recorder/status", "/cameras/front/image_raw"])
    recorder = running.process("recorder").process
    deadline = time.monotonic() + 180
    while recorder.poll() is None and time.monotonic() < deadline:
        running.check_alive_except("recorder")
        time.sleep(0.5)
    assert recorder.returncode == 0, running.describe()

    info = json.loads((root / "meta" / "info.json").read_text())
    assert info["total_episodes"] == 2
    assert (root / "meta" / "lerobot_ros_contract.yaml").is_file()
    loaded = json.loads(run_reference(LOAD_WITH_LEROBOT, str(root)).stdout.strip().splitlines()[-1])
    assert loaded["episodes"] == 2
    assert loaded["frames"] == info["total_frames"] >= 2 * 3 * 30 * 0.8  # most ticks of 2 × 3 s at 30 fps
    assert loaded["front_shape"] == [3, 240, 320]
    assert 0.05 < loaded["front_mean"] < 0.95  # a rendered scene, not a blank frame
    assert loaded["tasks"] == ["follow the leader"]
    # The follower tracks the scripted leader: state follows action (degrees) closely.
    import numpy as np

    state, action = np.array(loaded["state"]), np.array(loaded["action"])
    assert np.ptp(action[:, :5], axis=0).max() > 10.0, "the leader should move"
    assert np.median(np.abs(state[:, :5] - action[:, :5])) < 10.0
