"""The ros_graph fixture tears everything down, even when the test using it fails."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap

from lerobot_ros_bringup.runner.processes import live_processes_in_group

INNER_TEST = """
import json, pathlib
from lerobot_ros_bringup.graph import NodeSpec

def test_fails_while_nodes_run(ros_graph):
    running = ros_graph(
        [NodeSpec("runner_test_pkg", "talker", name="talker"), NodeSpec("runner_test_pkg", "sleeper", name="sleeper")],
        topics=["/events"],
    )
    pathlib.Path("{pids}").write_text(json.dumps(running.pids))
    assert False, "deliberate failure"

def test_missing_topic_reports_what_is_missing(ros_graph):
    ros_graph([NodeSpec("runner_test_pkg", "talker", name="talker")], topics=["/events", "/nowhere"], timeout=3)
"""


def test_fixture_cleans_up_after_failing_test_and_explains_timeouts(fake_overlay, tmp_path):
    pids_file = tmp_path / "pids.json"
    test_file = tmp_path / "test_inner.py"
    test_file.write_text(textwrap.dedent(INNER_TEST.format(pids=pids_file)))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(test_file),
            "-p",
            "lerobot_ros_bringup.testing.fixtures",
            "-q",
            "-p",
            "no:cacheprovider",
            f"--rootdir={tmp_path}",
        ],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "deliberate failure" in result.stdout
    assert re.search(r"still missing: (topic /events, )?topic /nowhere", result.stdout)
    assert "timed out after 3 s" in result.stdout
    assert "2 failed" in result.stdout
    pids = json.loads(pids_file.read_text())
    assert len(pids) == 2
    assert [pid for pgid in pids for pid in live_processes_in_group(pgid)] == []
