"""ACT's CPU fast path: the native model exported to ONNX and run by ONNX Runtime.

ONNX Runtime folds the frozen batch norms into the convolutions, runs them in its blocked (NCHWc)
layout with the activations and residual additions fused, and schedules its thread pool dynamically,
which keeps both threads busy when other processes compete for the cores (OpenMP's static split
waits for the slowest thread at every operation). Same float32 model, other summation orders: not
bit-identical to LeRobot, so it is opt-in and checked against the exact path when it is loaded.

The export (TorchScript-based exporter, 10–30 s) is cached per checkpoint: the file name is a hash
of the weights, `config.json` and the torch version.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from lerobot_ros_policy.checkpoint import OBS_ENV_STATE, OBS_STATE, PolicyCheckpoint
from lerobot_ros_policy.checkpoint.loader import CONFIG_FILE
from lerobot_ros_policy.runtimes.act.model import ACTModel

ACCELERATORS = ("none", "onnx")
"""`none`: the exact torch path (bit-identical to LeRobot); `onnx`: ONNX Runtime on the CPU."""
OPSET = 17
EXPORT_FORMAT = 1  # bump when the exported graph changes, so that caches are rebuilt
CACHE_ENV = "LEROBOT_ROS_CACHE"


class AcceleratorUnavailableError(RuntimeError):
    """The fast path cannot run here (package missing, export or session failed); the reason says why."""


def default_cache_dir() -> Path:
    """`$LEROBOT_ROS_CACHE/act_onnx`, else `$XDG_CACHE_HOME/lerobot_ros/act_onnx` (`~/.cache/...`)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]) / "act_onnx"
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "lerobot_ros" / "act_onnx"


def model_input_keys(model: ACTModel) -> list[str]:
    """The normalized batch entries the model reads, in the exported graph's input order."""
    keys = [OBS_STATE] if model.has_state else []
    if model.has_env_state:
        keys.append(OBS_ENV_STATE)
    return keys + model.image_keys


def export_key(checkpoint: PolicyCheckpoint) -> str:
    """Hash of what the exported graph depends on: weights, architecture and shapes, exporter."""
    digest = hashlib.sha256()
    for path in (checkpoint.weights_path, checkpoint.root / CONFIG_FILE):
        with path.open("rb") as file:
            for block in iter(lambda: file.read(1 << 20), b""):
                digest.update(block)
    digest.update(f"torch {torch.__version__} opset {OPSET} format {EXPORT_FORMAT}".encode())
    return digest.hexdigest()[:32]


class _Positional(nn.Module):
    """The model with positional inputs (what the exporter traces)."""

    def __init__(self, model: ACTModel, keys: list[str]) -> None:
        super().__init__()
        self.model = model
        self.keys = keys

    def forward(self, *inputs: Tensor) -> Tensor:
        return self.model(dict(zip(self.keys, inputs, strict=True)))


def export_onnx(model: ACTModel, example: dict[str, Tensor], path: Path) -> None:
    """Export `model` (batch size 1, the example's shapes) to `path`, atomically (written beside it,
    then renamed: concurrent loaders of one checkpoint never read a partial file)."""
    keys = model_input_keys(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=path.stem, suffix=".partial")
    os.close(handle)
    partial = Path(name)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # The TorchScript-based exporter is deprecated in favour of the torch.export one, which
            # takes minutes for ACT and needs onnxscript; torch < 2.14 (requirements/suite.txt) has it.
            warnings.simplefilter("ignore")
            torch.onnx.export(
                _Positional(model, keys),
                tuple(example[key] for key in keys),
                str(partial),
                input_names=keys,
                output_names=["actions"],
                opset_version=OPSET,
                dynamo=False,
            )
        partial.chmod(0o644)  # mkstemp's 0600 would hide a shared cache from other users
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)


class OnnxACT:
    """ONNX Runtime session over the exported model: normalized batch in, normalized actions out."""

    def __init__(self, path: Path, keys: list[str], threads: int) -> None:
        try:
            import onnxruntime
        except ImportError as err:
            raise AcceleratorUnavailableError(f"onnxruntime is not installed ({err})") from err
        options = onnxruntime.SessionOptions()
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # No busy-waiting between operations: the other nodes on the robot computer keep the cores.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.keys = keys
        self.path = path

    def __call__(self, batch: dict[str, Tensor]) -> Tensor:
        feeds = {key: np.ascontiguousarray(batch[key].float().numpy()) for key in self.keys}
        return torch.from_numpy(self.session.run(None, feeds)[0])


def load_onnx_act(
    model: ACTModel,
    checkpoint: PolicyCheckpoint,
    example: dict[str, Tensor],
    cache_dir: Path,
    threads: int,
) -> OnnxACT:
    """The cached export of this checkpoint (exported first if absent) in an ONNX Runtime session.

    Raises `AcceleratorUnavailableError` with the reason when onnxruntime/onnx are missing or the export
    or the session fails.
    """
    try:
        import onnxruntime  # noqa: F401  (checked before an export that would be wasted)
    except ImportError as err:
        raise AcceleratorUnavailableError(f"onnxruntime is not installed ({err})") from err
    path = cache_dir / f"act-{export_key(checkpoint)}.onnx"
    try:
        if not path.is_file():
            export_onnx(model, example, path)
        return OnnxACT(path, model_input_keys(model), threads)
    except AcceleratorUnavailableError:
        raise
    except Exception as err:  # exporter and onnxruntime errors have no common base class
        raise AcceleratorUnavailableError(f"{type(err).__name__}: {err}") from err
