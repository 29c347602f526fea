"""Runs the nodes of a graph as child processes, the way launch_ros would.

Each node gets the command line `ros2 run` + launch_ros would give it (`--ros-args` with node name,
namespace, parameter files and remappings), its own process group, and its output prefixed with its
name. When a required node exits, everything stops (a graph whose required node finishes with
code 0, e.g. a recorder done with its episodes, ends successfully). Stopping sends SIGINT, then SIGTERM, then
SIGKILL to each process group, so no process is left behind.
"""

from __future__ import annotations

import collections
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import yaml

from lerobot_ros_bringup.graph.description import NodeSpec, executable_path, validate_nodes

# Exit statuses of a node that was asked to stop: clean exit, or killed by our own signals.
_STOPPED_OK = {0, -signal.SIGINT, -signal.SIGTERM, 128 + signal.SIGINT, 128 + signal.SIGTERM}


def _flatten(parameters: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts become dotted names, as launch_ros does."""
    flat: dict[str, Any] = {}
    for key, value in parameters.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = str(value) if isinstance(value, Path) else value
    return flat


def node_command(spec: NodeSpec, parameter_dir: Path) -> list[str]:
    """The command line that starts `spec`; dict parameters are written to YAML files in `parameter_dir`."""
    command = [str(executable_path(spec.package, spec.executable)), *spec.arguments, "--ros-args"]
    command += ["-r", f"__node:={spec.name}"]
    if spec.namespace.strip("/"):
        command += ["-r", f"__ns:=/{spec.namespace.strip('/')}"]
    for index, source in enumerate(spec.parameters):
        if isinstance(source, Mapping):
            path = parameter_dir / f"{spec.name}_{index}.yaml"
            path.write_text(yaml.safe_dump({"/**": {"ros__parameters": _flatten(source)}}))
            command += ["--params-file", str(path)]
        else:
            command += ["--params-file", str(source)]
    for source, target in spec.remappings:
        command += ["-r", f"{source}:={target}"]
    return command


def live_processes_in_group(pgid: int) -> list[int]:
    """PIDs of the running (not zombie) processes of a process group, read from /proc."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # pid (comm) state ppid pgrp ...; comm may contain spaces, so split after the last ')'.
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            pids.append(int(stat.parent.name))
    return pids


@dataclass
class NodeProcess:
    spec: NodeSpec
    process: subprocess.Popen
    output: collections.deque = field(default_factory=lambda: collections.deque(maxlen=200))

    @property
    def label(self) -> str:
        return self.spec.fully_qualified_name.lstrip("/")

    def recent_output(self, lines: int = 30) -> str:
        return "\n".join(list(self.output)[-lines:])


class GraphRunner:
    """Starts, watches and stops the processes of a list of nodes."""

    def __init__(
        self, nodes: Sequence[NodeSpec], *, output: TextIO | None = None, env: Mapping[str, str] | None = None
    ):
        validate_nodes(nodes)
        self._specs = list(nodes)
        self._output = output if output is not None else sys.stdout
        self._env = dict(os.environ if env is None else env)
        self._output_lock = threading.Lock()
        # A plain flag, not a threading.Event: the signal handler sets it, and a handler that takes a
        # lock deadlocks when a second signal (timeout signals the child, then its group) interrupts it.
        self._stop_requested = False
        self._parameter_dir = Path(tempfile.mkdtemp(prefix="lerobot_ros_params_"))
        self.processes: list[NodeProcess] = []
        self.failure: str | None = None

    def start(self) -> None:
        commands = [(spec, node_command(spec, self._parameter_dir)) for spec in self._specs]
        for spec, command in commands:
            env = {**self._env, **spec.env, "PYTHONUNBUFFERED": "1"}
            process = subprocess.Popen(
                command,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
                text=True,
                errors="replace",
            )
            node = NodeProcess(spec, process)
            self.processes.append(node)
            threading.Thread(target=self._pump_output, args=(node,), daemon=True).start()

    def _pump_output(self, node: NodeProcess) -> None:
        assert node.process.stdout is not None
        for raw_line in node.process.stdout:
            line = raw_line.rstrip("\n")
            node.output.append(line)
            with self._output_lock:
                print(f"[{node.label}] {line}", file=self._output, flush=True)

    def exited(self) -> list[NodeProcess]:
        return [node for node in self.processes if node.process.poll() is not None]

    def poll(self) -> bool:
        """True while the graph should keep running; records why it stopped otherwise."""
        if self._stop_requested:
            return False
        for node in self.exited():
            code = node.process.returncode
            if node.spec.required:
                if code == 0:
                    self._log(f"required node '{node.label}' finished; stopping the graph")
                else:
                    self.failure = f"required node '{node.label}' exited with code {code}"
                return False
            if code != 0 and self.failure is None:
                self.failure = f"node '{node.label}' exited with code {code}"
        return any(node.process.poll() is None for node in self.processes)

    def wait(self, poll_interval: float = 0.1) -> int:
        """Runs until a required node exits, every node exits, or stop() is called; returns an exit code."""
        while self.poll():
            time.sleep(poll_interval)
        if self.failure:
            self._log(f"stopping: {self.failure}")
        self.stop()
        return self.exit_code()

    def exit_code(self) -> int:
        if self.failure:
            return 1
        for node in self.processes:
            code = node.process.returncode
            if code is not None and code not in _STOPPED_OK:
                return 1
        return 0

    def request_stop(self, *_: object) -> None:
        """Signal handler: ask the wait loop to stop the graph. Sets a flag only: no lock, no I/O."""
        self._stop_requested = True

    def stop(self, timeout: float = 10.0) -> None:
        """SIGINT, then SIGTERM, then SIGKILL to each still-running process group."""
        self._stop_requested = True
        for sig, grace in ((signal.SIGINT, timeout), (signal.SIGTERM, 3.0), (signal.SIGKILL, 3.0)):
            running = [node for node in self.processes if node.process.poll() is None]
            if not running:
                break
            if sig != signal.SIGINT:
                self._log(f"sending {sig.name} to {', '.join(n.label for n in running)}")
            for node in running:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(node.process.pid, sig)
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline and any(n.process.poll() is None for n in running):
                time.sleep(0.05)
        # Children a node left behind in its process group: kill them and wait until they are gone.
        for node in self.processes:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(node.process.pid, signal.SIGKILL)
            node.process.wait()
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline and any(live_processes_in_group(n.process.pid) for n in self.processes):
            time.sleep(0.02)

    def _log(self, message: str) -> None:
        with self._output_lock:
            print(f"[lerobot-ros launch] {message}", file=self._output, flush=True)
