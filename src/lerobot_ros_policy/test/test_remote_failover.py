"""The client's fallback ladder against a real server process that dies and comes back.

Requests go through the policy node's own `InferenceWorker`, so "never raises into the control
loop" is checked where the node would see it: every outcome arrives as a result (a chunk, or an
error the node turns into a hold), the worker thread lives on.
"""

from __future__ import annotations

import importlib.util
import queue
from pathlib import Path

import numpy as np
import pytest

from lerobot_ros_policy.execution import InferenceResult, InferenceWorker
from lerobot_ros_policy.remote import LinkState, RemoteRuntime
from lerobot_ros_policy.runtimes import PrefixGuidance, load_runtime

_spec = importlib.util.spec_from_file_location("remote_support", Path(__file__).with_name("remote_support.py"))
support = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(support)

CAMERAS = {"front": (48, 64)}


class Client:
    """A RemoteRuntime behind the node's inference worker."""

    def __init__(self, port: int, features: dict, **overrides: object) -> None:
        config = support.client_config(port, image_encoding="raw", request_timeout_s=1.0, **overrides)
        self.runtime = RemoteRuntime("act", config, features, support.ACTION_NAMES)
        self.results: queue.Queue[InferenceResult] = queue.Queue()
        self.worker = InferenceWorker(lambda payload: self.runtime.predict_chunk(*payload), self.results.put)

    def infer(self, observation: dict, guidance: PrefixGuidance | None = None) -> InferenceResult:
        assert self.worker.submit("request", (observation, None, guidance))
        return self.results.get(timeout=120)

    def close(self) -> None:
        self.worker.close()
        self.runtime.close()


@pytest.fixture
def setup(tmp_path: Path):
    checkpoint = support.make_checkpoint(tmp_path, CAMERAS, seed=5)
    port = support.free_port()
    manifest = support.write_manifest(tmp_path / "manifest.yaml", port, [{"name": "act", "path": str(checkpoint)}])
    servers = [support.ServerProcess(manifest)]
    servers[0].start()
    local = load_runtime(checkpoint)
    features = {key: list(feature.shape) for key, feature in local.input_features.items()}
    yield port, manifest, servers, local, features
    for server in servers:
        server.stop()


def restart(manifest: Path, servers: list) -> None:
    servers.append(support.ServerProcess(manifest))
    servers[-1].start()


def wait_for_chunk(client: Client, observation: dict, attempts: int = 60) -> InferenceResult:
    for _ in range(attempts):
        result = client.infer(observation)
        if result.error is None and client.runtime.state == LinkState.READY:  # a chunk, not a fallback
            return result
    raise AssertionError(f"no chunk after {attempts} attempts; last: {result.error}")


def test_server_killed_mid_episode_client_holds_and_resumes(setup) -> None:
    port, manifest, servers, local, features = setup
    client = Client(port, features, stall_after=2, reconnect_backoff_s=(0.1, 0.5), max_offline_s=600.0)
    observation = support.observations(1, CAMERAS, seed=1)[0]
    expected = local.predict_chunk(observation)
    try:
        first = client.infer(observation)
        assert first.error is None
        np.testing.assert_array_equal(first.chunk, expected)
        servers[0].kill()
        stalled = [client.infer(observation) for _ in range(3)]
        for result in stalled:  # the node holds on each; nothing was executed
            assert result.chunk is None and "RemoteStalledError" in result.error, result.error
        assert client.runtime.state in (LinkState.STALLED, LinkState.RECONNECTING)
        level, message, values = client.runtime.link_status()
        assert message  # the reason, e.g. "reconnect: no reply within 1 s"
        assert level == 1 and values["state"] == str(client.runtime.state) and float(values["offline_s"]) > 0
        restart(manifest, servers)
        resumed = wait_for_chunk(client, observation)
        np.testing.assert_array_equal(resumed.chunk, expected)
        assert client.runtime.state == LinkState.READY
        assert client.runtime.link_status()[0] == 0
    finally:
        client.close()


def test_stall_fallbacks_then_dead_then_reset_reconnects(setup) -> None:
    port, manifest, servers, local, features = setup
    ladder = {"stall_after": 1, "reconnect_backoff_s": (0.1, 0.2), "max_offline_s": 3.0}
    zero = Client(port, features, stall_action="zero", **ladder)
    repeat = Client(port, features, stall_action="repeat_last", **ladder)
    observation = support.observations(1, CAMERAS, seed=2)[0]
    prefix = np.arange(18, dtype=np.float32).reshape(3, 6)
    guidance = PrefixGuidance(prefix, delay=1, execution_horizon=3)
    try:
        assert zero.infer(observation).error is None and repeat.infer(observation).error is None
        servers[0].kill()
        zeros = zero.infer(observation)
        assert zeros.error is None and zeros.chunk.shape == (local.chunk_size, 6) and not zeros.chunk.any()
        held = repeat.infer(observation, guidance)
        assert held.error is None
        np.testing.assert_array_equal(held.chunk, np.repeat(prefix[:1], local.chunk_size, axis=0))
        assert "RemoteStalledError" in repeat.infer(observation).error  # no prefix: hold
        for _ in range(60):  # offline for longer than max_offline_s
            result = zero.infer(observation)
            if result.error is not None and "RemoteDeadError" in result.error:
                break
        assert zero.runtime.state == LinkState.DEAD and "max_offline_s 3" in result.error
        assert zero.runtime.link_status()[0] == 2
        restart(manifest, servers)
        assert "RemoteDeadError" in zero.infer(observation).error  # dead stays dead
        zero.runtime.reset()  # policy/reset: try again
        np.testing.assert_array_equal(wait_for_chunk(zero, observation).chunk, local.predict_chunk(observation))
    finally:
        zero.close()
        repeat.close()
