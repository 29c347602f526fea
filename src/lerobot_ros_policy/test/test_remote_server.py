"""`lerobot-ros policy-server` in its own process, `RemoteRuntime` clients in this one, on loopback."""

from __future__ import annotations

import importlib.util
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import zenoh

from lerobot_ros_policy.execution import ChunkExecutor, ExecutionConfig
from lerobot_ros_policy.remote import RemoteRefusedError, RemoteRuntime, ZenohConfig, protocol
from lerobot_ros_policy.remote.protocol import ErrorCode, Header, Kind
from lerobot_ros_policy.runtimes import PolicyRuntime, PrefixGuidance, load_runtime

_spec = importlib.util.spec_from_file_location("remote_support", Path(__file__).with_name("remote_support.py"))
support = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(support)
ACTION_NAMES, ServerProcess, client_config = support.ACTION_NAMES, support.ServerProcess, support.client_config
free_port, make_checkpoint, observations = support.free_port, support.make_checkpoint, support.observations
write_manifest = support.write_manifest

CAMERAS = {"front": (48, 64), "wrist": (48, 64)}
MAX_MESSAGE_BYTES = 1_000_000


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_checkpoint(tmp_path_factory.mktemp("remote_act"), CAMERAS, seed=11)


@pytest.fixture(scope="module")
def server(checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, int]]:
    port = free_port()
    manifest = write_manifest(
        tmp_path_factory.mktemp("manifest") / "manifest.yaml",
        port,
        [{"name": "act", "path": str(checkpoint), "warmup": 1, "action_names": ACTION_NAMES}],
        max_message_bytes=MAX_MESSAGE_BYTES,
    )
    process = ServerProcess(manifest)
    process.start()
    yield process, port
    process.stop()


@pytest.fixture(scope="module")
def local(checkpoint: Path) -> PolicyRuntime:
    return load_runtime(checkpoint)


def features_of(runtime: PolicyRuntime) -> dict[str, list[int]]:
    return {key: list(feature.shape) for key, feature in runtime.input_features.items()}


def connect(port: int, local: PolicyRuntime, **overrides: object) -> RemoteRuntime:
    names = overrides.pop("action_names", ACTION_NAMES)
    features = overrides.pop("features", features_of(local))
    model = overrides.pop("model", "act")
    return RemoteRuntime(model, client_config(port, **overrides), features, names)


def run_episode(runtime: PolicyRuntime, inputs: list[dict[str, np.ndarray]], rtc: bool) -> tuple[list, list]:
    """Chunks and the merged queue after each, on a simulated clock: one chunk every 4 steps,
    arriving 2 steps after its request; with `rtc` the queue's leftover is sent as the prefix."""
    executor = ChunkExecutor(ExecutionConfig(fps=30.0), ACTION_NAMES, origin_ns=0)
    dt = executor.dt_ns
    chunks, queues = [], []
    for index, observation in enumerate(inputs):
        now = index * 4 * dt + dt // 2
        request = executor.make_request(now)
        guidance = None
        if rtc and executor.queue.depth(request.step) > 0:
            guidance = PrefixGuidance(executor.queue.remaining(request.step).copy(), delay=2, execution_horizon=6)
        chunk = runtime.predict_chunk(observation, "pick the cube", guidance)
        chunks.append(chunk)
        executor.accept_chunk(request, chunk, latency_s=2 * dt * 1e-9, now_ns=now + 2 * dt)
        queues.append(executor.queue.remaining(executor.queue.start_step).copy())
    return chunks, queues


@pytest.mark.parametrize("rtc", [False, True], ids=["no_rtc", "rtc"])
def test_remote_and_local_give_identical_chunks_and_queues(server, local, rtc: bool) -> None:
    _, port = server
    remote = connect(port, local, image_encoding="raw")
    try:
        inputs = observations(5, CAMERAS, seed=1)
        local_chunks, local_queues = run_episode(local, inputs, rtc)
        remote_chunks, remote_queues = run_episode(remote, inputs, rtc)
    finally:
        remote.close()
    for ours, theirs in zip(local_chunks, remote_chunks, strict=True):
        np.testing.assert_array_equal(ours, theirs)
    for ours, theirs in zip(local_queues, remote_queues, strict=True):
        np.testing.assert_array_equal(ours, theirs)
    assert len({chunk.tobytes() for chunk in remote_chunks}) == len(inputs)  # the inputs matter


def test_jpeg_images_reach_the_model_in_rgb(server, local) -> None:
    """The server decodes the client's JPEGs to the same RGB arrays the client would: the remote
    chunk equals local inference on the decoded images, and not on their channel-swapped copies."""
    _, port = server
    remote = connect(port, local, image_encoding="jpeg", jpeg_quality=90)
    try:
        observation = observations(1, CAMERAS, seed=2)[0]
        for name in CAMERAS:  # a strongly coloured scene: channel order changes the inputs a lot
            observation[f"observation.images.{name}"][:, :, 0] = 250
            observation[f"observation.images.{name}"][:, :, 2] //= 8
        remote_chunk = remote.predict_chunk(observation)
    finally:
        remote.close()
    decoded = dict(observation)
    for name in CAMERAS:
        key = f"observation.images.{name}"
        decoded[key] = protocol.unpack_image(protocol.pack_image(observation[key], "jpeg", 90), key)
    np.testing.assert_array_equal(remote_chunk, local.predict_chunk(decoded))
    swapped = {key: value[:, :, ::-1].copy() if "images" in key else value for key, value in decoded.items()}
    assert not np.allclose(remote_chunk, local.predict_chunk(swapped), atol=1e-3)


def test_eight_concurrent_clients_do_not_contaminate_each_other(server, local) -> None:
    _, port = server
    clients = 8
    inputs = [observations(3, CAMERAS, seed=100 + index) for index in range(clients)]
    expected = [[local.predict_chunk(observation) for observation in sequence] for sequence in inputs]
    results: dict[int, list[np.ndarray]] = {}
    errors: list[BaseException] = []
    runtimes = [
        connect(port, local, image_encoding="raw", request_timeout_s=30.0, max_reply_age_s=60.0) for _ in range(clients)
    ]
    start = threading.Barrier(clients)

    def run(index: int) -> None:
        try:
            start.wait(60)
            results[index] = [runtimes[index].predict_chunk(observation) for observation in inputs[index] * 2]
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(index,)) for index in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    for runtime in runtimes:
        runtime.close()
    assert not errors, errors
    for index in range(clients):
        for got, want in zip(results[index], expected[index] * 2, strict=True):
            np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"model": "pi0_big"}, r"no model 'pi0_big' on this server \(serving \['act'\]\)"),
        ({"action_names": [*ACTION_NAMES[1:], ACTION_NAMES[0]]}, "same names in a different order"),
        ({"action_names": ACTION_NAMES[:5]}, "5 action columns"),
        (
            {"features": {"observation.state": [6], "observation.images.front": [3, 48, 64]}},
            "camera 'observation.images.wrist'",
        ),
        (
            {
                "features": {
                    "observation.state": [7],
                    "observation.images.front": [3, 48, 64],
                    "observation.images.wrist": [3, 48, 64],
                }
            },
            r"'observation.state': the model expects \[6\], the robot provides \[7\]",
        ),
        ({"expect": {"fingerprint": "0000000000000000"}}, "expects fingerprint '0000000000000000'"),
        ({"expect": {"policy_type": "smolvla"}}, "expects policy_type 'smolvla'"),
    ],
    ids=["unknown_model", "action_order", "action_count", "missing_camera", "state_size", "fingerprint", "policy_type"],
)
def test_mismatches_are_refused_at_the_handshake(server, local, overrides: dict, error: str) -> None:
    _, port = server
    with pytest.raises(RemoteRefusedError, match=error):
        connect(port, local, **overrides)


def raw_query(session: zenoh.Session, message: bytes) -> tuple[Header, dict]:
    replies = list(session.get("lerobot_ros/policy/default", payload=message, timeout=30.0))
    assert replies and replies[0].ok is not None
    return protocol.decode(replies[0].ok.payload.to_bytes())


def test_malformed_and_oversized_messages_are_answered_and_the_server_keeps_serving(server, local) -> None:
    process, port = server
    remote = connect(port, local, image_encoding="raw")
    session = ZenohConfig(connect=(f"tcp/127.0.0.1:{port}",)).open()
    try:
        hello_like = protocol.encode(Header(Kind.HELLO), {"session": 5})
        bad_array = protocol.encode(
            Header(Kind.INFER),
            {
                "session": remote._session_id,
                "observation": {"observation.state": {"dtype": "float32", "shape": [6], "data": b"xx"}},
            },
        )
        cases = [
            (b"GET / HTTP/1.1\r\n\r\n" + bytes(40), ErrorCode.MALFORMED, "bad magic"),
            (Header(Kind.INFER).pack() + b"\xc1garbage", ErrorCode.MALFORMED, "undecodable"),
            (protocol.HEADER.pack(protocol.MAGIC, 9, 1, 0, 1, 0, 0) + b"\x80", ErrorCode.SCHEMA, "schema version 9"),
            (hello_like, ErrorCode.MALFORMED, "field 'session' is int"),
            (protocol.encode(Header(Kind.CHUNK), {}), ErrorCode.MALFORMED, "does not accept CHUNK"),
            (protocol.encode(Header(Kind.INFER), {"session": "nope"}), ErrorCode.UNKNOWN_SESSION, "hello first"),
            (bad_array, ErrorCode.BAD_REQUEST, "2 bytes of data for shape"),
            (Header(Kind.INFER).pack() + bytes(MAX_MESSAGE_BYTES), ErrorCode.OVERSIZED, "exceeds the limit"),
        ]
        for message, code, text in cases:
            header, body = raw_query(session, message)
            assert header.kind == Kind.ERROR and body["code"] == code and text in body["message"], (code, body)
        observation = observations(1, CAMERAS, seed=3)[0]
        np.testing.assert_array_equal(remote.predict_chunk(observation), local.predict_chunk(observation))
    finally:
        session.close()
        remote.close()
    with urllib.request.urlopen(process.http_url + "/metrics", timeout=30) as response:
        metrics = response.read().decode()
    assert 'outcome="oversized"' in metrics and 'outcome="malformed"' in metrics
    assert 'lerobot_policy_requests_total{model="act",outcome="ok"}' in metrics
    assert any("outcome=oversized" in line for line in process.output)
    assert any("outcome=ok" in line and "queue_wait_ms=" in line and "inference_ms=" in line for line in process.output)


def test_health_endpoint_reports_models_and_sessions(server, local) -> None:
    import json

    process, port = server
    remote = connect(port, local)
    try:
        with urllib.request.urlopen(process.http_url + "/health", timeout=30) as response:
            health = json.loads(response.read())
    finally:
        remote.close()
    assert health["status"] == "ok" and health["models"]["act"]["policy_type"] == "act"
    assert health["models"]["act"]["fingerprint"] == remote.identity["fingerprint"]
    assert health["sessions"] >= 1


def test_sessions_share_the_model_but_not_the_processor_pipelines(checkpoint) -> None:
    from lerobot_ros_policy.remote.server import LoadedModel, ModelEntry

    model = LoadedModel(ModelEntry("act", str(checkpoint), warmup=0))
    first, second = model.session_runtime(), model.session_runtime()
    assert first.model is second.model is model.runtime.model
    assert first.preprocessor is not second.preprocessor is not model.runtime.preprocessor
    assert first.postprocessor is not second.postprocessor
    observation = observations(1, CAMERAS, seed=8)[0]
    np.testing.assert_array_equal(first.predict_chunk(observation), model.runtime.predict_chunk(observation))


def test_newest_request_wins_and_late_requests_expire(checkpoint) -> None:
    """In process, with the inference worker stopped so that requests queue up deterministically."""
    from lerobot_ros_policy.remote.server import ModelEntry, PolicyServer, ServerConfig

    server = PolicyServer(ServerConfig(models=(ModelEntry("act", str(checkpoint), warmup=0),)))
    server.close()  # the worker thread ends; requests stay pending until computed below
    replies: dict[int, tuple[Header, dict]] = {}

    def send(kind: Kind, sequence: int, body: dict) -> None:
        def reply(data: bytes) -> None:
            replies[sequence] = protocol.decode(data)

        server.handle(protocol.encode(Header(kind, sequence=sequence), body), reply)

    local = server.models["act"].runtime
    send(
        Kind.HELLO,
        1,
        {"session": "s", "client": "t", "model": "act", "action_names": ACTION_NAMES, "features": features_of(local)},
    )
    assert replies[1][0].kind == Kind.WELCOME
    inputs = observations(2, CAMERAS, seed=9)

    def infer_body(observation: dict, deadline: float) -> dict:
        packed = {key: protocol.pack_array(value) for key, value in observation.items()}
        return {"session": "s", "observation": packed, "task": None, "deadline_s": deadline}

    send(Kind.INFER, 2, infer_body(inputs[0], 60.0))
    assert 2 not in replies  # pending
    send(Kind.INFER, 3, infer_body(inputs[1], 60.0))
    assert replies[2][0].kind == Kind.ERROR and replies[2][1]["code"] == ErrorCode.SUPERSEDED
    _, pending = server._pending.popitem(last=False)
    server._compute(pending)
    header, body = replies[3]
    assert header.kind == Kind.CHUNK and header.sequence == 3
    np.testing.assert_array_equal(protocol.unpack_array(body["actions"], "actions"), local.predict_chunk(inputs[1]))

    send(Kind.INFER, 4, infer_body(inputs[0], 0.0))
    _, pending = server._pending.popitem(last=False)
    pending.received -= 1.0  # it has waited a second: past its deadline of 0 s
    server._compute(pending)
    assert replies[4][1]["code"] == ErrorCode.EXPIRED
