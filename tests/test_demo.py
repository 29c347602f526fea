"""`lerobot-ros demo` (what `make demo` runs): records on simulated hardware, then rolls out a policy."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

LOAD = """
import sys
from lerobot.datasets.lerobot_dataset import LeRobotDataset
ds = LeRobotDataset("local/lerobot_ros_demo", root=sys.argv[1], video_backend="pyav")
item = ds[len(ds) - 1]
print(ds.num_episodes, len(ds), tuple(item["observation.images.wrist"].shape))
"""


@pytest.mark.slow
def test_demo_records_a_dataset_lerobot_loads_and_rolls_out_a_policy(tmp_path, run_reference):
    output = tmp_path / "demo"
    result = subprocess.run(
        [
            "lerobot-ros",
            "demo",
            "--output",
            str(output),
            "--episodes",
            "2",
            "--episode-time",
            "3",
            "--rollout-time",
            "4",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    info = json.loads((output / "dataset" / "meta" / "info.json").read_text())
    assert info["total_episodes"] == 2
    episodes, frames, shape = run_reference(LOAD, str(output / "dataset")).stdout.split(maxsplit=2)
    assert (int(episodes), int(frames)) == (2, info["total_frames"])
    assert shape.strip() == "(3, 240, 320)"
    rollout = re.search(r"rollout: (\d+) timed trajectories executed, follower moved ([\d.]+) rad", result.stdout)
    assert rollout, result.stdout
    assert int(rollout.group(1)) >= 2
    assert float(rollout.group(2)) > 0.01


def test_demo_refuses_an_output_directory_it_did_not_make(tmp_path):
    """`--output` is deleted and rewritten only when it holds a previous demo's output (or nothing)."""
    output = tmp_path / "my_data"
    output.mkdir()
    (output / "precious.txt").write_text("not the demo's")
    result = subprocess.run(
        ["lerobot-ros", "demo", "--output", str(output)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"refusing to replace {output}: it is not the output of a previous demo" in result.stdout
    assert (output / "precious.txt").read_text() == "not the demo's"


def test_demo_output_preparation(tmp_path):
    from lerobot_ros_bringup.demo import prepare_output

    fresh = tmp_path / "fresh"
    prepare_output(fresh)  # created
    (fresh / "dataset").mkdir()
    (fresh / "record.log").write_text("old run")
    prepare_output(fresh)  # a previous demo's output: replaced
    assert [p.name for p in fresh.iterdir()] == [".lerobot_ros_demo"]
    empty = tmp_path / "empty"
    empty.mkdir()
    prepare_output(empty)
    assert (empty / ".lerobot_ros_demo").is_file()
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("x")
    with pytest.raises(RuntimeError, match="not the output of a previous demo"):
        prepare_output(not_a_directory)
