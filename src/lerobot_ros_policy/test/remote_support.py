"""Helpers of the remote-inference tests and benchmark: small random ACT checkpoints and a
`lerobot-ros policy-server` process on loopback."""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from lerobot_ros_policy.checkpoint.random_act import create_random_act_checkpoint
from lerobot_ros_policy.remote import RemoteClientConfig, ZenohConfig

JOINTS = ["shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper"]
ACTION_NAMES = [f"{joint}.pos" for joint in JOINTS]


def make_checkpoint(
    root: Path, cameras: dict[str, tuple[int, int]], *, seed: int = 0, chunk_size: int = 10, dim_model: int = 64
) -> Path:
    """A random-weight ACT checkpoint (ResNet-18, small transformer) for an SO-101 dataset layout."""
    vector = {"dtype": "float32", "shape": [6], "names": ACTION_NAMES}
    features: dict[str, Any] = {"observation.state": vector, "action": vector}
    stats: dict[str, Any] = {}
    for key in ("observation.state", "action"):
        stats[key] = {"mean": [0, 0, 0, 0, 0, 30], "std": [20] * 6, "min": [-60] * 6, "max": [60] * 6}
    for name, (height, width) in cameras.items():
        key = f"observation.images.{name}"
        features[key] = {"dtype": "video", "shape": [height, width, 3], "names": ["height", "width", "channels"]}
        stats[key] = {"mean": [[[0.4]], [[0.5]], [[0.6]]], "std": [[[0.2]], [[0.25]], [[0.3]]]}
    dataset = root / "dataset"
    (dataset / "meta").mkdir(parents=True, exist_ok=True)
    (dataset / "meta" / "info.json").write_text(json.dumps({"features": features, "fps": 30}))
    (dataset / "meta" / "stats.json").write_text(json.dumps(stats))
    checkpoint = create_random_act_checkpoint(
        root / "pretrained_model",
        dataset,
        seed=seed,
        dim_model=dim_model,
        n_encoder_layers=1,
        n_decoder_layers=1,
        chunk_size=chunk_size,
        n_action_steps=chunk_size,
    )
    shutil.rmtree(dataset)
    return checkpoint


def observations(count: int, cameras: dict[str, tuple[int, int]], seed: int = 0) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    result = []
    for _ in range(count):
        observation = {"observation.state": rng.normal(0, 20, 6).astype(np.float32)}
        for name, (height, width) in cameras.items():
            observation[f"observation.images.{name}"] = rng.integers(0, 256, (height, width, 3), np.uint8)
        result.append(observation)
    return result


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def client_config(port: int, **overrides: Any) -> RemoteClientConfig:
    transport = overrides.pop("transport", ZenohConfig(connect=(f"tcp/127.0.0.1:{port}",)))
    return RemoteClientConfig(transport=transport, connect_timeout_s=60.0, **overrides)


class ServerProcess:
    """`lerobot-ros policy-server MANIFEST` in its own process group; output collected line by line."""

    def __init__(self, manifest: Path, *args: str) -> None:
        self.manifest = manifest
        self.args = args
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        self.process: subprocess.Popen[str] | None = None

    def start(self, timeout: float = 180.0) -> str:
        """Start and wait for the ready line (checkpoint loaded and warmed up); returns it."""
        command = [sys.executable, "-c", "import sys; from lerobot_ros_bringup.cli import main; sys.exit(main())"]
        self.process = subprocess.Popen(
            [*command, "policy-server", str(self.manifest), "--http-port", "0", *self.args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        threading.Thread(target=self._pump, daemon=True).start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=1.0)
            except queue.Empty:
                if self.process.poll() is not None:
                    break
                continue
            if " ready: " in line:
                return line
        self.stop()
        raise RuntimeError("policy server did not become ready:\n" + "".join(self.output[-40:]))

    def _pump(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)
            self.lines.put(line)

    @property
    def http_url(self) -> str:
        line = next(line for line in self.output if " ready: " in line)
        return line.split(" http ", 1)[1].split()[0]

    def kill(self) -> None:
        """SIGKILL, as a crash would end it."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGINT)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(30)


def write_manifest(path: Path, port: int, models: list[dict[str, Any]], **extra: Any) -> Path:
    transport = extra.pop("transport", {"listen": [f"tcp/127.0.0.1:{port}"]})
    path.write_text(yaml.safe_dump({"models": models, "transport": transport, **extra}))
    return path
