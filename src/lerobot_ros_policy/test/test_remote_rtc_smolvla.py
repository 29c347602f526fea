"""Remote RTC: a small SmolVLA (saved by LeRobot 0.4.4) served by `lerobot-ros policy-server` gives the
same chunks and merged queues as in process, with and without the RTC prefix, when both sides start
from the same noise."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from lerobot_ros_policy.execution import ChunkExecutor, ExecutionConfig
from lerobot_ros_policy.remote import RemoteRuntime
from lerobot_ros_policy.runtimes import PrefixGuidance, load_runtime

_spec = importlib.util.spec_from_file_location("remote_support", Path(__file__).with_name("remote_support.py"))
support = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(support)

HERE = Path(__file__).parent
CAMERAS = {"front": (48, 64)}
SPEC = {
    "backbone": str(HERE / "data" / "smolvlm2_standin"),
    "backbone_overrides": {
        "text_config": {
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "head_dim": 16,
            "num_hidden_layers": 2,
        },
        "vision_config": {
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_attention_heads": 2,
            "num_hidden_layers": 1,
            "image_size": 64,
            "patch_size": 16,
        },
    },
    "cameras": {"front": [48, 64]},
    "state_dim": 6,
    "action_dim": 6,
    "policy": {
        "chunk_size": 10,
        "n_action_steps": 10,
        "num_steps": 3,
        "resize_imgs_with_padding": [64, 64],
        "num_vlm_layers": 2,
    },
    "perturb": 0.02,
    "tasks": ["pick the cube"],
    "rtc": {"delay": 2, "execution_horizon": 6, "schedule": "LINEAR", "max_guidance_weight": 10.0, "shift": 1},
    "seed": 0,
}


@pytest.fixture(scope="module")
def smolvla(tmp_path_factory: pytest.TempPathFactory, reference_python: Path) -> Path:
    out = tmp_path_factory.mktemp("smolvla")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "AMENT", "COLCON", "VIRTUAL_ENV"))}
    env["HF_HUB_OFFLINE"] = "1"
    result = subprocess.run(
        [str(reference_python), str(HERE / "smolvla_reference_oracle.py"), json.dumps({"tiny": SPEC}), str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return out / "tiny"


@pytest.mark.reference
@pytest.mark.slow
def test_remote_smolvla_with_rtc_equals_local(smolvla: Path, tmp_path: Path) -> None:
    checkpoint, backbone = smolvla / "checkpoint", smolvla / "backbone"
    local = load_runtime(checkpoint, vlm_path=str(backbone))
    port = support.free_port()
    entry = {"name": "smolvla", "path": str(checkpoint), "options": {"vlm_path": str(backbone)}, "warmup": 0}
    server = support.ServerProcess(support.write_manifest(tmp_path / "manifest.yaml", port, [entry]))
    server.start()
    features = {key: list(feature.shape) for key, feature in local.input_features.items()}
    config = support.client_config(port, image_encoding="raw", request_timeout_s=60.0, max_reply_age_s=120.0)
    remote = RemoteRuntime("smolvla", config, features, support.ACTION_NAMES)
    assert remote.supports_prefix_guidance
    rng = np.random.default_rng(3)
    inputs = support.observations(4, CAMERAS, seed=4)
    noises = [rng.normal(size=(local.chunk_size, local.architecture.max_action_dim)).astype(np.float32) for _ in inputs]

    def episode(runtime, rtc: bool) -> tuple[list, list]:
        executor = ChunkExecutor(ExecutionConfig(fps=30.0), support.ACTION_NAMES, origin_ns=0)
        dt = executor.dt_ns
        chunks, queues = [], []
        for index, observation in enumerate(inputs):
            now = index * 4 * dt + dt // 2
            request = executor.make_request(now)
            guidance = None
            if rtc and executor.queue.depth(request.step) > 0:
                guidance = PrefixGuidance(executor.queue.remaining(request.step).copy(), delay=2, execution_horizon=6)
            chunk = runtime.predict_chunk(observation, "pick the cube", guidance, noise=noises[index])
            chunks.append(chunk)
            executor.accept_chunk(request, chunk, latency_s=2 * dt * 1e-9, now_ns=now + 2 * dt)
            queues.append(executor.queue.remaining(executor.queue.start_step).copy())
        return chunks, queues

    try:
        results = {}
        for rtc in (False, True):
            ours, theirs = episode(local, rtc), episode(remote, rtc)
            for a, b in zip(ours[0] + ours[1], theirs[0] + theirs[1], strict=True):
                np.testing.assert_array_equal(a, b)
            results[rtc] = ours[0]
        # the prefix changed the guided chunks (RTC did something, on both sides alike)
        assert not np.allclose(results[True][1], results[False][1], atol=1e-3)
    finally:
        remote.close()
        server.stop()
