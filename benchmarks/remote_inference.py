"""Remote inference on loopback: what the transport and serialization add, and server throughput.

1. Round-trip overhead, two 640x480 cameras: a `lerobot-ros policy-server` process serves an ACT
   checkpoint; a `RemoteRuntime` in this process sends the same observations. Overhead = the
   client's round trip minus the server's model time (so it holds client encoding, Zenoh both
   ways, server decoding and queueing). Baseline, same run: the same checkpoint in process.
   Target: < 10 ms on loopback.
2. Throughput of one server with 1, 4 and 8 clients (threads, one session each) on a small ACT,
   against the same model called back to back in this process.
3. LeRobot 0.4.4's gRPC policy_server (its own `PolicyServer` behind LeRobot's `serve()` set-up) and
   robot_client calls (pickle, `send_bytes_in_chunks`, `SendObservations`, `GetActions`) on the same
   checkpoint and cameras, in the reference venv: round trip minus its model time, the same figure.

Run: python benchmarks/remote_inference.py [--requests 40] [--seconds 15]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from lerobot_ros_policy.remote import RemoteRuntime, protocol
from lerobot_ros_policy.remote.protocol import Header, Kind
from lerobot_ros_policy.runtimes import load_runtime

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location(
    "remote_support", ROOT / "src" / "lerobot_ros_policy" / "test" / "remote_support.py"
)
support = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(support)


def percentiles(values: list[float]) -> str:
    ms = np.asarray(values) * 1e3
    return f"p50 {np.percentile(ms, 50):6.2f} ms  p95 {np.percentile(ms, 95):6.2f} ms  max {ms.max():6.2f} ms"


def serve(directory: Path, checkpoint: Path) -> tuple[support.ServerProcess, int]:
    port = support.free_port()
    manifest = support.write_manifest(
        directory / f"manifest_{checkpoint.parent.name}.yaml",
        port,
        [{"name": "act", "path": str(checkpoint), "warmup": 3}],
    )
    server = support.ServerProcess(manifest, "--log-level", "WARNING")
    server.start()
    return server, port


def connect(port: int, local, encoding: str) -> RemoteRuntime:
    features = {key: list(feature.shape) for key, feature in local.input_features.items()}
    config = support.client_config(
        port, image_encoding=encoding, request_timeout_s=30.0, max_reply_age_s=60.0, degraded_rtt_s=60.0
    )
    return RemoteRuntime("act", config, features, support.ACTION_NAMES)


def round_trip(directory: Path, requests: int) -> Path:
    """Section 1; returns the checkpoint, which section 3 serves with LeRobot's server."""
    cameras = {"front": (480, 640), "wrist": (480, 640)}
    checkpoint = support.make_checkpoint(directory / "vga", cameras, chunk_size=100)
    inputs = support.observations(8, cameras, seed=1)
    local = load_runtime(checkpoint)
    for observation in inputs[:3]:
        local.predict_chunk(observation)
    server, port = serve(directory, checkpoint)
    print("\n1. round trip, ACT (ResNet-18) with two 640x480 cameras, chunk 100x6, CPU, loopback")
    print("   (in-process and remote requests alternate, so both see the same machine load)")
    try:
        for encoding in ("raw", "jpeg"):
            remote = connect(port, local, encoding)
            in_process, rtts, overheads, decodes = [], [], [], []
            for index in range(requests + 3):
                observation = inputs[index % len(inputs)]
                started = time.perf_counter()
                local.predict_chunk(observation)
                local_time = time.perf_counter() - started
                remote.predict_chunk(observation)
                if index < 3:
                    continue
                reply = remote.last_reply
                in_process.append(local_time)
                rtts.append(reply["rtt_s"])
                overheads.append(reply["rtt_s"] - reply["inference_s"])
                decodes.append(reply["decode_s"])
            size = len(protocol.encode(Header(Kind.INFER), remote._request_body(inputs[0], None, None)))
            encode_times = []
            for observation in inputs:
                started = time.perf_counter()
                protocol.encode(Header(Kind.INFER), remote._request_body(observation, None, None))
                encode_times.append(time.perf_counter() - started)
            remote.close()
            print(f"   remote, {encoding:4} images ({size / 1e6:5.2f} MB/request):")
            print(f"     in-process inference (baseline) {percentiles(in_process)}")
            print(f"     round trip                     {percentiles(rtts)}")
            print(f"     overhead (round trip - model)  {percentiles(overheads)}")
            print(f"       of which client encode       {percentiles(encode_times)}")
            print(f"       of which server decode       {percentiles(decodes)}")
    finally:
        server.stop()
    return checkpoint


def throughput(directory: Path, seconds: float) -> None:
    cameras = {"front": (96, 128), "wrist": (96, 128)}
    checkpoint = support.make_checkpoint(directory / "small", cameras, chunk_size=30)
    local = load_runtime(checkpoint)
    inputs = support.observations(8, cameras, seed=2)
    for observation in inputs[:3]:
        local.predict_chunk(observation)

    def in_process_rate() -> float:
        count, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds / 2:
            local.predict_chunk(inputs[count % len(inputs)])
            count += 1
        return count / (time.perf_counter() - started)

    server, port = serve(directory, checkpoint)
    print("\n2. server throughput, small ACT (ResNet-18, two 96x128 cameras, chunk 30), CPU, loopback, jpeg")
    print("   (baseline: the same model back to back in this process, measured just before each row)")
    try:
        for clients in (1, 4, 8):
            baseline = in_process_rate()
            runtimes = [connect(port, local, "jpeg") for _ in range(clients)]
            counts = [0] * clients
            rtts: list[list[float]] = [[] for _ in range(clients)]
            stop = threading.Event()

            def run(index: int, runtimes=runtimes, counts=counts, rtts=rtts, stop=stop) -> None:
                while not stop.is_set():
                    runtimes[index].predict_chunk(inputs[(index + counts[index]) % len(inputs)])
                    rtts[index].append(runtimes[index].last_reply["rtt_s"])
                    counts[index] += 1

            threads = [threading.Thread(target=run, args=(index,)) for index in range(clients)]
            started = time.perf_counter()
            for thread in threads:
                thread.start()
            time.sleep(seconds)
            stop.set()
            for thread in threads:
                thread.join()
            elapsed = time.perf_counter() - started
            total = sum(counts)
            print(
                f"   {clients} client(s): {total / elapsed:6.1f} chunks/s total, per client "
                f"{min(counts) / elapsed:5.1f}-{max(counts) / elapsed:5.1f}/s, round trip "
                f"{percentiles([r for per in rtts for r in per])}; in-process {baseline:6.1f} chunks/s"
            )
            for runtime in runtimes:
                runtime.close()
    finally:
        server.stop()


LEROBOT_GRPC = r"""
import json, pickle, socket, sys, time
from concurrent import futures

import grpc
import numpy as np
from lerobot.async_inference.configs import PolicyServerConfig
from lerobot.async_inference.helpers import RemotePolicyConfig, TimedObservation
from lerobot.async_inference.policy_server import PolicyServer
from lerobot.datasets.utils import hw_to_dataset_features
from lerobot.transport import services_pb2, services_pb2_grpc
from lerobot.transport.utils import grpc_channel_options, send_bytes_in_chunks

checkpoint, requests, cameras, names = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3]), json.loads(sys.argv[4])
with socket.socket() as probe:
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
# LeRobot's serve(), with the model time of each request recorded: overhead = round trip - model.
policy_server = PolicyServer(PolicyServerConfig(host="127.0.0.1", port=port, fps=30, inference_latency=0.0))
model_times = []
predict = policy_server._predict_action_chunk
def timed_predict(observation):
    started = time.perf_counter()
    result = predict(observation)
    model_times.append(time.perf_counter() - started)
    return result
policy_server._predict_action_chunk = timed_predict
server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
services_pb2_grpc.add_AsyncInferenceServicer_to_server(policy_server, server)
server.add_insecure_port(f"127.0.0.1:{port}")
server.start()

# LeRobot's robot_client, its calls one after the other (it sends from its control loop and
# receives in a thread; here one observation, then its chunk).
channel = grpc.insecure_channel(f"127.0.0.1:{port}", grpc_channel_options())
stub = services_pb2_grpc.AsyncInferenceStub(channel)
stub.Ready(services_pb2.Empty())
hardware = {name: float for name in names} | {camera: (h, w, 3) for camera, (h, w) in cameras.items()}
features = hw_to_dataset_features(hardware, "observation", use_video=False)
instructions = RemotePolicyConfig("act", checkpoint, features, actions_per_chunk=100, device="cpu")
stub.SendPolicyInstructions(services_pb2.PolicySetup(data=pickle.dumps(instructions)))
rng = np.random.default_rng(1)
observations = []
for _ in range(8):
    raw = {name: float(v) for name, v in zip(names, rng.normal(0, 20, len(names)))}
    raw |= {camera: rng.integers(0, 256, (h, w, 3), np.uint8) for camera, (h, w) in cameras.items()}
    observations.append(raw | {"task": ""})
round_trips, sizes, serialize = [], [], []
for index in range(requests + 3):
    started = time.perf_counter()
    observation = TimedObservation(time.time(), index, observations[index % len(observations)], must_go=True)
    data = pickle.dumps(observation)
    serialize.append(time.perf_counter() - started)
    stub.SendObservations(send_bytes_in_chunks(data, services_pb2.Observation, silent=True))
    reply = stub.GetActions(services_pb2.Empty())
    actions = pickle.loads(reply.data)
    round_trips.append(time.perf_counter() - started)
    sizes.append(len(data))
    assert len(actions) == 100, len(actions)
server.stop(0)
figures = {"rtt": round_trips[3:], "model": model_times[3:], "serialize": serialize[3:], "bytes": sizes[-1]}
print("RESULT", json.dumps(figures))
"""


def lerobot_grpc(checkpoint: Path, requests: int) -> None:
    print("\n3. LeRobot 0.4.4 gRPC policy_server / robot_client calls, same checkpoint and cameras, loopback")
    python = ROOT / ".venv-lerobot" / "bin" / "python"
    if not python.exists():
        print("   not run: no reference venv (.venv-lerobot; scripts/setup.sh --with-reference)")
        return
    cameras = {"front": [480, 640], "wrist": [480, 640]}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "AMENT", "COLCON", "VIRTUAL_ENV"))}
    command = [str(python), "-c", LEROBOT_GRPC, str(checkpoint), str(requests)]
    command += [json.dumps(cameras), json.dumps(support.ACTION_NAMES)]
    # cwd: LeRobot's server logs into ./logs of its working directory.
    result = subprocess.run(
        command, capture_output=True, text=True, env=env, check=False, timeout=3600, cwd=checkpoint.parent
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    if result.returncode != 0 or not lines:
        reason = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else f"exit {result.returncode}"
        print(f"   not run: {reason} (the reference venv needs lerobot[async]: scripts/setup.sh --with-reference)")
        return
    figures = json.loads(lines[-1].removeprefix("RESULT "))
    overheads = [rtt - model for rtt, model in zip(figures["rtt"], figures["model"], strict=True)]
    print(f"   pickled observations over gRPC ({figures['bytes'] / 1e6:5.2f} MB/request):")
    print(f"     server model time (its _predict_action_chunk) {percentiles(figures['model'])}")
    print(f"     round trip                     {percentiles(figures['rtt'])}")
    print(f"     overhead (round trip - model)  {percentiles(overheads)}")
    print(f"       of which client pickle       {percentiles(figures['serialize'])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=40, help="requests per round-trip measurement")
    parser.add_argument("--seconds", type=float, default=15.0, help="duration of each throughput measurement")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # stop the server process on `timeout`/kill too
    with tempfile.TemporaryDirectory(prefix="remote_bench_") as directory:
        checkpoint = round_trip(Path(directory), args.requests)
        throughput(Path(directory), args.seconds)
        lerobot_grpc(checkpoint, args.requests)


if __name__ == "__main__":
    main()
