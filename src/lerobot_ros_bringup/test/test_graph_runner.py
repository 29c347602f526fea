"""The runner starts real node processes that talk over DDS, and stops them all."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from lerobot_ros_bringup.graph import Argument, Graph, GraphError, NodeSpec
from lerobot_ros_bringup.graph.description import parse_launch_arguments
from lerobot_ros_bringup.runner import GraphRunner, node_command
from lerobot_ros_bringup.runner.processes import live_processes_in_group
from lerobot_ros_msgs.msg import EpisodeEvent


def _talker_relay(tmp_path: Path, task: str = "pick the cube") -> list[NodeSpec]:
    params_file = tmp_path / "relay.yaml"
    params_file.write_text("/**:\n  ros__parameters:\n    suffix: ' (relayed)'\n")
    return [
        NodeSpec(
            "runner_test_pkg",
            "talker",
            name="talker",
            namespace="arm",
            parameters=[{"task": task, "episode_index": 7}],
            remappings=[("events", "/bus/events")],
        ),
        NodeSpec(
            "runner_test_pkg",
            "relay",
            name="relay",
            parameters=[params_file],
            remappings=[("events", "/bus/events"), ("relayed", "/bus/out")],
        ),
    ]


def test_nodes_exchange_custom_messages_with_parameters_and_remappings(fake_overlay, ros_graph, ros_probe, tmp_path):
    ros_graph(_talker_relay(tmp_path), topics=["/bus/events", "/bus/out"])

    msg = ros_probe.wait_for_message("/bus/out", EpisodeEvent, timeout=30)

    assert msg.task == "pick the cube (relayed)"  # talker's dict parameter + relay's YAML file parameter
    assert msg.episode_index == 7
    assert msg.event == EpisodeEvent.END
    # A node's name travels on its own discovery topic, which may reach the probe after its data did.
    ros_probe.wait_until(
        lambda: "/arm/talker" in ros_probe.node.get_fully_qualified_node_names(),
        timeout=30,
        message=f"/arm/talker not in the graph: {ros_probe.node.get_fully_qualified_node_names()}",
    )


def test_command_line_matches_launch_ros_conventions(fake_overlay, tmp_path):
    talker, relay = _talker_relay(tmp_path)
    command = node_command(talker, tmp_path)
    assert command[0].endswith("lib/runner_test_pkg/talker")
    assert command[1:7] == ["--ros-args", "-r", "__node:=talker", "-r", "__ns:=/arm", "--params-file"]
    assert (Path(command[7]).read_text()).startswith("/**:\n  ros__parameters:\n")
    assert command[-2:] == ["-r", "events:=/bus/events"]
    assert node_command(relay, tmp_path)[-4:] == ["-r", "events:=/bus/events", "-r", "relayed:=/bus/out"]


def test_required_node_exit_stops_the_graph_with_failure(fake_overlay, tmp_path):
    talker, relay = _talker_relay(tmp_path)
    talker = NodeSpec(**{**talker.__dict__, "parameters": [{"exit_after": 1.0}]})
    runner = GraphRunner([talker, relay], output=io.StringIO())
    runner.start()
    code = runner.wait()
    assert code == 1
    assert "required node 'arm/talker' exited with code 3" in runner.failure
    assert all(node.process.poll() is not None for node in runner.processes)


def test_optional_node_exit_keeps_the_graph_running(fake_overlay, tmp_path):
    talker, relay = _talker_relay(tmp_path)
    optional = NodeSpec(**{**talker.__dict__, "required": False, "parameters": [{"exit_after": 0.5}]})
    runner = GraphRunner([optional, relay], output=io.StringIO())
    runner.start()
    deadline = time.monotonic() + 30
    while optional and runner.processes[0].process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert runner.poll(), "an optional node's exit must not stop the graph"
    assert runner.processes[1].process.poll() is None
    runner.stop()
    assert runner.exit_code() == 1  # the optional node's failure is still reported


def _wait_for_output(node, text: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not any(text in line for line in node.output):
        assert time.monotonic() < deadline, f"{node.label} did not print {text!r}: {list(node.output)}"
        assert node.process.poll() is None, f"{node.label} exited: {list(node.output)}"
        time.sleep(0.05)


def test_stop_kills_nodes_that_ignore_sigint_and_their_children(fake_overlay):
    runner = GraphRunner([NodeSpec("runner_test_pkg", "sleeper", name="sleeper")], output=io.StringIO())
    runner.start()
    node = runner.processes[0]
    _wait_for_output(node, "child")
    child_pid = int(next(line for line in node.output if line.startswith("child")).split()[1])
    runner.stop(timeout=1.0)
    assert node.process.poll() is not None
    assert live_processes_in_group(node.process.pid) == []
    assert child_pid not in live_processes_in_group(node.process.pid)


def test_sigint_to_the_runner_stops_every_node(fake_overlay, tmp_path):
    script = tmp_path / "run.py"
    script.write_text(
        textwrap.dedent(
            """
            import sys
            from lerobot_ros_bringup.graph import NodeSpec
            from lerobot_ros_bringup.runner import GraphRunner
            from lerobot_ros_bringup.runner.command import run_in_foreground
            nodes = [NodeSpec("runner_test_pkg", "talker", name="talker"),
                     NodeSpec("runner_test_pkg", "relay", name="relay")]
            sys.exit(run_in_foreground(GraphRunner(nodes)))
            """
        )
    )
    process = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    lines = []
    for line in process.stdout:  # wait until the talker is up
        lines.append(line)
        if "[talker] talker up" in line:
            break
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=60)
    assert process.returncode == 0, "".join(lines) + out
    pids = subprocess.run(
        ["pgrep", "-f", "runner_test_pkg/(talker|relay)"], capture_output=True, text=True, check=False
    ).stdout
    assert pids.strip() == ""


RUN_GUARD = """
import sys
from lerobot_ros_bringup.graph import NodeSpec
from lerobot_ros_bringup.runner import GraphRunner
from lerobot_ros_bringup.runner.command import run_in_foreground
sys.exit(run_in_foreground(GraphRunner([NodeSpec("runner_test_pkg", "guard", name="guard")])))
"""


def test_back_to_back_signals_always_stop_the_runner_and_run_shutdown_hooks(fake_overlay, tmp_path):
    """`timeout` signals the runner and then its process group; signals arriving inside the handler must not hang it."""
    for attempt in range(5):
        mark = tmp_path / f"mark{attempt}"
        process = subprocess.Popen(
            [sys.executable, "-c", RUN_GUARD],
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
            env={**os.environ, "GUARD_MARK": str(mark)},
        )
        assert process.stdout is not None
        lines = []
        for line in process.stdout:
            lines.append(line)
            if "[guard] guard up" in line:
                break
        # A pair as `timeout` sends it (the runner, then its group), again every millisecond until the
        # node's (slow) shutdown hook has run; the gap within a pair sweeps 0-100 us, so that the second
        # signal of some pairs lands while the handler of the first runs.
        deadline, pairs = time.monotonic() + 60, 0
        while not mark.exists() and process.poll() is None and time.monotonic() < deadline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGTERM if pairs % 2 else signal.SIGINT)
                gap_end = time.perf_counter() + (pairs % 21) * 5e-6
                while time.perf_counter() < gap_end:
                    pass
                os.killpg(process.pid, signal.SIGTERM)
            pairs += 1
            time.sleep(0.001)
        try:
            out, _ = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            out, _ = process.communicate()
            pytest.fail(f"attempt {attempt}: the runner hung after {pairs} signal pairs:\n{''.join(lines)}{out}")
        assert process.returncode == 0, "".join(lines) + out
        assert mark.read_text() == "shutdown hook ran", "".join(lines) + out


def test_ctrl_c_while_a_node_is_starting_is_a_stop_not_a_failure(fake_overlay):
    """A node whose constructor is still running (loading a checkpoint) when Ctrl-C comes exits 0."""
    script = (
        "import sys\n"
        "from lerobot_ros_bringup.graph import NodeSpec\n"
        "from lerobot_ros_bringup.runner import GraphRunner\n"
        "from lerobot_ros_bringup.runner.command import run_in_foreground\n"
        "sys.exit(run_in_foreground(GraphRunner([NodeSpec('runner_test_pkg', 'slow_start', name='slow')])))\n"
    )
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        lines.append(line)
        if "[slow] starting" in line:
            break
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=60)
    assert process.returncode == 0, "".join(lines) + out
    assert "slow_start: stopped while starting" in out
    assert "Traceback" not in out and "cannot start" not in out


GRAPH = Graph(
    name="demo",
    description="a test graph",
    arguments=[
        Argument("robot", "so101", "robot model", choices=("so100", "so101")),
        Argument("port", None, "serial port"),
        Argument("with_relay", "true", "start the relay"),
    ],
    build=lambda a: [
        NodeSpec("runner_test_pkg", "talker", name="talker", parameters=[{"task": a["robot"] + a["port"]}]),
        *([NodeSpec("runner_test_pkg", "relay", name="relay")] if a["with_relay"] == "true" else []),
    ],
)


def test_graph_arguments_and_conditions(fake_overlay):
    nodes = GRAPH.nodes({"port": "/dev/ttyACM0", "with_relay": "false"})
    assert [n.name for n in nodes] == ["talker"]
    assert nodes[0].merged_parameters() == {"task": "so101/dev/ttyACM0"}


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({}, "needs argument 'port'"),
        ({"port": "x", "robot": "so102"}, "argument 'robot' of graph 'demo' is 'so102'; expected one of: so100, so101"),
        ({"port": "x", "camera": "front"}, "graph 'demo' has no argument 'camera'"),
    ],
)
def test_bad_arguments_fail_before_anything_starts(fake_overlay, arguments, message):
    with pytest.raises(GraphError, match=message.replace("(", r"\(").replace(")", r"\)")):
        GRAPH.nodes(arguments)


def test_unknown_executable_and_package_are_named(fake_overlay):
    with pytest.raises(
        GraphError,
        match="package 'runner_test_pkg' has no executable 'listener'; "
        "it has: finisher, guard, relay, sleeper, slow_start, talker",
    ):
        GraphRunner([NodeSpec("runner_test_pkg", "listener", name="x")])
    with pytest.raises(GraphError, match="package 'no_such_pkg' not found"):
        GraphRunner([NodeSpec("no_such_pkg", "talker", name="x")])


def test_malformed_launch_arguments_are_rejected():
    assert parse_launch_arguments(["robot:=so100", "port:="]) == {"robot": "so100", "port": ""}
    for token in ("robot=so100", ":=x", "bad-name:=1"):
        with pytest.raises(GraphError, match="malformed launch argument"):
            parse_launch_arguments([token])


def test_duplicate_node_names_and_missing_parameter_files_are_rejected(fake_overlay, tmp_path):
    with pytest.raises(GraphError, match="two nodes are named '/talker'"):
        GraphRunner([NodeSpec("runner_test_pkg", "talker", name="talker")] * 2)
    with pytest.raises(GraphError, match=r"parameter file .*missing\.yaml of node 'talker' does not exist"):
        GraphRunner([NodeSpec("runner_test_pkg", "talker", name="talker", parameters=[tmp_path / "missing.yaml"])])


def test_launch_command_reports_unknown_graph():
    result = subprocess.run(
        ["lerobot-ros", "launch", "no_such_graph"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 2
    assert "unknown graph 'no_such_graph'" in result.stderr


def test_required_node_finishing_cleanly_ends_the_graph_successfully(fake_overlay, tmp_path):
    talker, _ = _talker_relay(tmp_path)
    finish = tmp_path / "finish"
    finisher = NodeSpec("runner_test_pkg", "finisher", name="finisher", env={"FINISH_FILE": str(finish)})
    runner = GraphRunner([talker, finisher], output=io.StringIO())
    runner.start()
    _wait_for_output(runner.processes[0], "talker up")
    finish.touch()
    assert runner.wait() == 0
    assert runner.failure is None
