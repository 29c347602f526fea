"""pytest fixtures over the runner (registered by the root conftest.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence

import pytest

from lerobot_ros_bringup.graph.description import Graph, NodeSpec
from lerobot_ros_bringup.testing.graph import RunningGraph, start_graph
from lerobot_ros_bringup.testing.probe import RosProbe


@pytest.fixture
def ros_probe() -> Iterator[RosProbe]:
    probe = RosProbe()
    yield probe
    probe.close()


@pytest.fixture
def ros_graph(ros_probe: RosProbe) -> Iterator[Callable[..., RunningGraph]]:
    """`ros_graph(graph_or_nodes, arguments=None, topics=(), services=(), actions=(), timeout=60)`.

    Starts the nodes, waits until the listed interfaces are up (failing with the nodes' output
    when they do not come up), and stops every process at teardown, even when the test fails.
    """
    started: list[RunningGraph] = []

    def start(
        graph_or_nodes: Graph | Sequence[NodeSpec],
        arguments: Mapping[str, str] | None = None,
        *,
        topics: Sequence[str] = (),
        services: Sequence[str] = (),
        actions: Sequence[str] = (),
        timeout: float = 60.0,
        env: Mapping[str, str] | None = None,
    ) -> RunningGraph:
        running = start_graph(graph_or_nodes, arguments, env=env)
        started.append(running)
        running.wait_until_up(ros_probe, topics=topics, services=services, actions=actions, timeout=timeout)
        return running

    yield start
    errors = []
    for running in reversed(started):
        try:
            running.stop()
        except AssertionError as error:
            errors.append(str(error))
    if errors:
        pytest.fail("\n".join(errors))
