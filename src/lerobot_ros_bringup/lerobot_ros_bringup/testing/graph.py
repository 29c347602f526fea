"""Starting nodes for a test and waiting until their interfaces are up."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterable, Mapping, Sequence

from lerobot_ros_bringup.graph.description import Graph, NodeSpec
from lerobot_ros_bringup.runner.processes import GraphRunner, live_processes_in_group


class _Tee(io.TextIOBase):
    """Runner output to the test's captured stdout, and kept for failure messages."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            self.lines.extend(text.splitlines())
        print(text, end="")
        return len(text)


class RunningGraph:
    """Processes started for a test; `stop()` leaves none behind."""

    def __init__(self, nodes: Sequence[NodeSpec], env: Mapping[str, str] | None = None) -> None:
        self._tee = _Tee()
        self.runner = GraphRunner(nodes, output=self._tee, env=env)
        self.runner.start()

    @property
    def pids(self) -> list[int]:
        return [node.process.pid for node in self.runner.processes]

    def process(self, name: str):
        """The NodeProcess of the node with this name (or fully qualified name)."""
        for node in self.runner.processes:
            if name in (node.spec.name, node.spec.fully_qualified_name, node.label):
                return node
        raise KeyError(f"no node named {name!r}; nodes: {[n.label for n in self.runner.processes]}")

    def output(self, name: str | None = None) -> str:
        if name is None:
            return "\n".join(self._tee.lines)
        return "\n".join(self.process(name).output)

    def describe(self) -> str:
        """State and recent output of every node, for assertion messages."""
        parts = []
        for node in self.runner.processes:
            code = node.process.poll()
            state = "running" if code is None else f"exited with code {code}"
            parts.append(f"--- {node.label} ({state}):\n{node.recent_output()}")
        return "\n".join(parts)

    def check_alive(self) -> None:
        self.check_alive_except()

    def check_alive_except(self, *names: str) -> None:
        """Fail with every node's output when a node (other than `names`) has exited."""
        dead = [
            n for n in self.runner.processes if n.process.poll() is not None and not {n.spec.name, n.label} & set(names)
        ]
        if dead:
            raise AssertionError(
                f"node(s) exited: {', '.join(n.label + f' (code {n.process.returncode})' for n in dead)}\n"
                + self.describe()
            )

    def wait_until_up(
        self,
        probe,
        *,
        topics: Iterable[str] = (),
        services: Iterable[str] = (),
        actions: Iterable[str] = (),
        timeout: float = 60.0,
    ) -> None:
        """Wait until the given topics have a publisher, services and actions a server."""
        topics, services, actions = list(topics), list(services), list(actions)
        deadline = time.monotonic() + timeout
        while True:
            missing = probe.missing_interfaces(topics=topics, services=services, actions=actions)
            if not missing:
                return
            dead = [n for n in self.runner.processes if n.process.poll() is not None and n.spec.required]
            if dead or time.monotonic() > deadline:
                reason = (
                    f"node(s) exited while waiting: {', '.join(n.label for n in dead)}"
                    if dead
                    else f"timed out after {timeout:.0f} s"
                )
                raise AssertionError(
                    f"{reason}; still missing: {', '.join(missing)}\n"
                    f"available topics: {', '.join(sorted(probe.topic_names())) or '(none)'}\n{self.describe()}"
                )
            time.sleep(0.1)

    def stop(self) -> None:
        self.runner.stop()
        leftovers = [pid for pgid in self.pids for pid in live_processes_in_group(pgid)]
        if leftovers:
            raise AssertionError(f"processes left behind after stop: {leftovers}")


def start_graph(
    graph_or_nodes: Graph | Sequence[NodeSpec],
    arguments: Mapping[str, str] | None = None,
    env: Mapping[str, str] | None = None,
) -> RunningGraph:
    nodes = graph_or_nodes.nodes(arguments or {}) if isinstance(graph_or_nodes, Graph) else list(graph_or_nodes)
    return RunningGraph(nodes, env=env)
