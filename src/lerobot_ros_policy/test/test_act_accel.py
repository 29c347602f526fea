"""ACT's opt-in fast path (`accel="onnx"`, ONNX Runtime) vs. LeRobot 0.4.4: actions within 1e-4 (LeRobot
units) on checkpoints LeRobot saved; the export cache; the fallback to the exact path; the node parameter."""

from __future__ import annotations

import importlib.util
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lerobot_ros_policy.checkpoint import UnsupportedPolicyError
from lerobot_ros_policy.runtimes import load_runtime
from lerobot_ros_policy.runtimes.act import runtime as act_runtime

ActReference = Any  # conftest.ActReference: checkpoint, inputs, chunks, select_action

ACCEL_TOLERANCE = 1e-4  # the fast path's bound (LeRobot units)
EXACT_TOLERANCE = 1e-5  # test_act_parity.py's bound for the exact path

_spec = importlib.util.spec_from_file_location(
    "policy_node_support", Path(__file__).with_name("policy_node_support.py")
)
support = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(support)


def max_deviation(runtime: Any, reference: ActReference) -> float:
    chunks = np.stack([runtime.predict_chunk(observation) for observation in reference.inputs])
    assert chunks.dtype == np.float32 and chunks.shape == reference.chunks.shape
    return max(
        float(np.abs(chunks - reference.chunks).max()),
        float(np.abs(chunks[:, 0] - reference.select_action).max()),
    )


def test_act_onnx_matches_lerobot(act_variant_reference: ActReference, tmp_path: Path) -> None:
    runtime = load_runtime(act_variant_reference.checkpoint, accel="onnx", accel_cache_dir=tmp_path)
    assert runtime.accel == "onnx", runtime.accel_fallback
    assert runtime.accel_fallback is None
    assert 0 <= runtime.accel_deviation <= ACCEL_TOLERANCE
    assert len(list(tmp_path.glob("act-*.onnx"))) == 1
    assert max_deviation(runtime, act_variant_reference) <= ACCEL_TOLERANCE
    assert not [name for name in sys.modules if name.split(".")[0] == "lerobot"], "fast path imported lerobot"


def test_act_onnx_export_is_cached_per_checkpoint(act_references: dict[str, ActReference], tmp_path: Path) -> None:
    first = load_runtime(act_references["mean_std"].checkpoint, accel="onnx", accel_cache_dir=tmp_path)
    (exported,) = tmp_path.glob("act-*.onnx")
    stamp = exported.stat().st_mtime_ns
    again = load_runtime(act_references["mean_std"].checkpoint, accel="onnx", accel_cache_dir=tmp_path)
    assert again.accel == "onnx" and list(tmp_path.glob("act-*.onnx")) == [exported]
    assert exported.stat().st_mtime_ns == stamp  # loaded, not exported again
    observation = act_references["mean_std"].inputs[0]
    np.testing.assert_array_equal(again.predict_chunk(observation), first.predict_chunk(observation))
    other = load_runtime(act_references["min_max"].checkpoint, accel="onnx", accel_cache_dir=tmp_path)
    assert other.accel == "onnx"
    assert len(list(tmp_path.glob("act-*.onnx"))) == 2
    assert not list(tmp_path.glob("*.partial"))


def test_act_accel_falls_back_without_onnxruntime(
    act_reference: ActReference, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # `import onnxruntime` raises ImportError
    with caplog.at_level(logging.WARNING, logger=act_runtime.__name__):
        runtime = load_runtime(act_reference.checkpoint, accel="onnx", accel_cache_dir=tmp_path)
    assert runtime.accel == "none"
    assert "onnxruntime is not installed" in runtime.accel_fallback
    assert "accel 'onnx' unavailable, running the exact torch path: onnxruntime is not installed" in caplog.text
    assert not list(tmp_path.iterdir()), "nothing exported for a session that cannot run"
    exact = load_runtime(act_reference.checkpoint)
    for observation in act_reference.inputs:
        np.testing.assert_array_equal(runtime.predict_chunk(observation), exact.predict_chunk(observation))
    assert max_deviation(runtime, act_reference) <= EXACT_TOLERANCE


def test_act_accel_falls_back_when_deviation_exceeds_tolerance(
    act_reference: ActReference, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The load-time comparison with the exact path decides: float32 reordering is never exactly 0 here."""
    monkeypatch.setattr(act_runtime, "ACCEL_TOLERANCE", 0.0)
    runtime = load_runtime(act_reference.checkpoint, accel="onnx", accel_cache_dir=tmp_path)
    assert runtime.accel == "none"
    assert "deviate by" in runtime.accel_fallback and "from the exact path's (tolerance 0)" in runtime.accel_fallback
    assert max_deviation(runtime, act_reference) <= EXACT_TOLERANCE


def test_act_accel_rejects_unknown_accelerator(act_reference: ActReference) -> None:
    with pytest.raises(ValueError, match=r"ACT accel 'tensorrt' not supported \(supported: \['none', 'onnx'\]\)"):
        load_runtime(act_reference.checkpoint, accel="tensorrt")


def test_runtime_options_another_runtime_does_not_take_are_refused(act_reference: ActReference) -> None:
    # runtime_accel is ACT's; a SmolVLA checkpoint given it must be told so, not hit a TypeError.
    with pytest.raises(UnsupportedPolicyError, match="the native 'act' runtime has no option 'vlm_path'"):
        load_runtime(act_reference.checkpoint, vlm_path="/nowhere")


@pytest.fixture(scope="module")
def node_checkpoint(tmp_path_factory: pytest.TempPathFactory, reference_python: Path) -> Path:
    return support.make_checkpoint(tmp_path_factory.mktemp("act") / "pretrained_model", {"front": (48, 64)})


@pytest.mark.reference
@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"runtime_accel": "tensorrt"}, "parameter 'runtime_accel' = 'tensorrt' is not one of none, onnx"),
        ({"runtime_accel": "onnx", "runtime": "lerobot"}, "parameter 'runtime_accel': 'onnx' needs runtime 'native'"),
    ],
)
def test_policy_node_validates_runtime_accel(
    node_checkpoint: Path, tmp_path: Path, parameters: dict[str, str], message: str
) -> None:
    contract = support.write_contract(tmp_path / "contract.yaml", support.contract_dict({"front": (48, 64)}))
    args = [str(support.policy_executable()), "--ros-args", "-p", f"checkpoint:={node_checkpoint}"]
    args += ["-p", f"contract:={contract}"]
    for name, value in parameters.items():
        args += ["-p", f"{name}:={value}"]
    result = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 1, result.stderr
    assert "policy_node: cannot start: " in result.stderr and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
