"""LeRobot's policy processor pipelines (`policy_preprocessor.json`, `policy_postprocessor.json` and
their `.safetensors` state), read and applied without lerobot.

The arithmetic follows LeRobot 0.4.4's normalizer step exactly (same operations in the same order,
float32 statistics), because actions must match LeRobot's to 1e-5.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from lerobot_ros_policy.checkpoint.config import (
    ACTION,
    FeatureType,
    NormalizationMode,
    PolicyFeature,
    parse_features,
    parse_normalization_mapping,
)
from lerobot_ros_policy.checkpoint.errors import (
    CheckpointFormatError,
    MissingCheckpointFileError,
    ObservationError,
    UnsupportedPolicyError,
)

RENAME_STEP = "rename_observations_processor"
BATCH_STEP = "to_batch_processor"
DEVICE_STEP = "device_processor"
NORMALIZER_STEP = "normalizer_processor"
UNNORMALIZER_STEP = "unnormalizer_processor"

# LeRobot's DeviceProcessorStep names for its optional float conversion.
_FLOAT_DTYPES = {
    "float16": torch.float16,
    "half": torch.float16,
    "float32": torch.float32,
    "float": torch.float32,
    "float64": torch.float64,
    "bfloat16": torch.bfloat16,
}

# Statistics each mode needs (LeRobot raises when a normalized feature lacks them).
_REQUIRED_STATS = {
    NormalizationMode.MEAN_STD: ("mean", "std"),
    NormalizationMode.MIN_MAX: ("min", "max"),
    NormalizationMode.QUANTILES: ("q01", "q99"),
    NormalizationMode.QUANTILE10: ("q10", "q90"),
}


@dataclass(frozen=True)
class ProcessorStepSpec:
    """One step of a saved pipeline: its registry name, its config and its tensor state (if any)."""

    registry_name: str
    config: dict[str, Any]
    state: dict[str, torch.Tensor] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class ProcessorPipelineSpec:
    """A saved pipeline (`policy_preprocessor.json` or `policy_postprocessor.json`)."""

    name: str
    steps: tuple[ProcessorStepSpec, ...]
    source: Path

    def find(self, registry_name: str) -> ProcessorStepSpec | None:
        return next((step for step in self.steps if step.registry_name == registry_name), None)


def read_pipeline(root: Path, filename: str) -> ProcessorPipelineSpec:
    """Read a pipeline JSON and the state files its steps name."""
    path = root / filename
    if not path.is_file():
        raise MissingCheckpointFileError(
            f"{path}: missing. LeRobot ≥0.4 checkpoints carry their normalization in {filename}; a checkpoint "
            "without it predates the processor pipelines (convert it with lerobot's "
            "migrate_policy_normalization) or is incomplete"
        )
    try:
        raw = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise CheckpointFormatError(f"{path}: not valid JSON: {err}") from err
    if not isinstance(raw, dict) or not isinstance(raw.get("steps"), list):
        raise CheckpointFormatError(f"{path}: expected an object with a 'steps' list")
    steps = []
    for index, entry in enumerate(raw["steps"]):
        if not isinstance(entry, dict):
            raise CheckpointFormatError(f"{path}: step {index} is not an object")
        registry_name = entry.get("registry_name") or entry.get("class")
        if not registry_name:
            raise CheckpointFormatError(f"{path}: step {index} has neither 'registry_name' nor 'class'")
        state: dict[str, torch.Tensor] = {}
        if "state_file" in entry:
            state_path = root / entry["state_file"]
            if not state_path.is_file():
                raise MissingCheckpointFileError(
                    f"{state_path}: missing (state of step {index} '{registry_name}' in {path.name})"
                )
            try:
                state = load_file(str(state_path))
            except (SafetensorError, OSError) as err:
                raise CheckpointFormatError(f"{state_path}: unreadable safetensors file: {err}") from err
        steps.append(ProcessorStepSpec(str(registry_name), dict(entry.get("config") or {}), state))
    return ProcessorPipelineSpec(str(raw.get("name", path.stem)), tuple(steps), path)


class Normalizer:
    """LeRobot's (un)normalizer step: per-feature statistics, mode chosen by the feature's type."""

    def __init__(self, spec: ProcessorStepSpec, where: str) -> None:
        config = spec.config
        self.features = parse_features(config.get("features", {}), f"{where} features")
        self.norm_map = parse_normalization_mapping(config.get("norm_map", {}), f"{where} norm_map")
        self.eps = float(config.get("eps", 1e-8))
        keys = config.get("normalize_observation_keys")
        self.observation_keys = set(keys) if keys is not None else None
        self.stats: dict[str, dict[str, torch.Tensor]] = {}
        for flat_key, tensor in spec.state.items():
            key, _, stat_name = flat_key.rpartition(".")
            self.stats.setdefault(key, {})[stat_name] = tensor.to(torch.float32)
        for key, feature in self.features.items():
            mode = self.mode(feature.type)
            if key in self.stats and mode in _REQUIRED_STATS:
                missing = [s for s in _REQUIRED_STATS[mode] if s not in self.stats[key]]
                if missing:
                    raise CheckpointFormatError(
                        f"{where}: feature '{key}' is normalized with {mode.value} but its state lacks {missing} "
                        f"(has {sorted(self.stats[key])})"
                    )

    def mode(self, feature_type: FeatureType) -> NormalizationMode:
        return self.norm_map.get(feature_type, NormalizationMode.IDENTITY)

    @property
    def features_without_stats(self) -> list[str]:
        """Features whose mode needs statistics the checkpoint lacks: LeRobot passes them through
        unchanged, and so does this (callers may want to warn)."""
        return [
            k
            for k, f in self.features.items()
            if self.mode(f.type) != NormalizationMode.IDENTITY and k not in self.stats
        ]

    def to(self, device: torch.device) -> Normalizer:
        self.stats = {k: {s: t.to(device) for s, t in sub.items()} for k, sub in self.stats.items()}
        return self

    def apply(self, key: str, tensor: torch.Tensor, *, inverse: bool) -> torch.Tensor:
        feature = self.features.get(key)
        if feature is None or key not in self.stats:
            return tensor
        mode = self.mode(feature.type)
        if mode == NormalizationMode.IDENTITY:
            return tensor
        stats = {name: value.to(device=tensor.device, dtype=tensor.dtype) for name, value in self.stats[key].items()}
        if mode == NormalizationMode.MEAN_STD:
            mean, std = stats["mean"], stats["std"]
            return tensor * std + mean if inverse else (tensor - mean) / (std + self.eps)
        low_name, high_name = {
            NormalizationMode.MIN_MAX: ("min", "max"),
            NormalizationMode.QUANTILES: ("q01", "q99"),
            NormalizationMode.QUANTILE10: ("q10", "q90"),
        }[mode]
        low, high = stats[low_name], stats[high_name]
        span = high - low
        span = torch.where(span == 0, torch.tensor(self.eps, device=tensor.device, dtype=tensor.dtype), span)
        if mode == NormalizationMode.MIN_MAX:
            return (tensor + 1) / 2 * span + low if inverse else 2 * (tensor - low) / span - 1
        return (tensor + 1.0) * span / 2.0 + low if inverse else 2.0 * (tensor - low) / span - 1.0

    def normalizes_observation(self, key: str) -> bool:
        """Whether `normalize_observation` touches this observation key."""
        feature = self.features.get(key)
        if feature is None or feature.type == FeatureType.ACTION:
            return False
        return self.observation_keys is None or key in self.observation_keys

    def normalize_observation(self, observation: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {
            key: self.apply(key, value, inverse=False) if self.normalizes_observation(key) else value
            for key, value in observation.items()
        }


def _device_step_dtype(spec: ProcessorStepSpec, where: str) -> torch.dtype | None:
    name = spec.config.get("float_dtype")
    if name is None:
        return None
    if name not in _FLOAT_DTYPES:
        raise CheckpointFormatError(f"{where}: unknown float_dtype {name!r} (known: {sorted(_FLOAT_DTYPES)})")
    return _FLOAT_DTYPES[name]


def _uint8_to_unit(tensor: torch.Tensor) -> torch.Tensor:
    """uint8 pixels → float32 in [0, 1], as LeRobot's `prepare_observation_for_inference` computes them."""
    return tensor.to(torch.float32).div_(255)


def _check_uint8_image(key: str, shape: tuple[int, ...], feature: PolicyFeature) -> None:
    expected = (*feature.shape[1:], feature.shape[0])
    if shape != expected:
        raise ObservationError(
            f"observation '{key}': uint8 image of shape {list(shape)}, the checkpoint expects "
            f"(H, W, C) = {list(expected)}"
        )


def _as_uint8_array(value: Any) -> np.ndarray | None:
    """A uint8 numpy array or CPU tensor as a numpy array (a view, no copy); None for anything else."""
    if isinstance(value, np.ndarray):
        return value if value.dtype == np.uint8 else None
    if isinstance(value, torch.Tensor) and value.dtype == torch.uint8 and value.device.type == "cpu":
        return value.numpy()
    return None


# cv2.LUT splits calls of 2^18 pixels or more over OpenCV's thread pool; a memory-bound lookup gains
# little from that, and on a busy CPU the fork/join waits milliseconds for a descheduled worker
# (measured: 1 ms → 6 ms per pair of 640×480 images). Blocks below that size run in the calling thread.
_SERIAL_LUT_PIXELS = 1 << 17


class ImageLookup:
    """A camera's `uint8 (H, W, C)` image → its pre-processed `(1, C, H, W)` float32 tensor by table lookup.

    A uint8 channel takes only 256 values, so the per-pixel arithmetic (÷255, then the normalizer
    step's operations with the channel's statistics) is evaluated once per value and channel when
    the checkpoint is loaded, with the same torch operations. Converting an image is then one table
    lookup per pixel (cv2.LUT in row blocks, in the calling thread, straight into the output): bit
    for bit the values the per-pixel computation gives. The channel planes are split into buffers
    kept between calls, and with `reuse_output` so is the output: fresh multi-megabyte buffers cost
    more in page faults than the lookup itself. Not thread-safe (one per preprocessor, one thread).
    """

    def __init__(self, table: torch.Tensor, *, reuse_output: bool = False) -> None:
        """`table`: `(C, 256)`, row c = the output for each value of channel c. `reuse_output`: the
        returned tensor is overwritten by the next call (for callers done with it by then)."""
        self.tables = [np.ascontiguousarray(row) for row in table.to("cpu", torch.float32).numpy()]
        self.reuse_output = reuse_output
        self._planes: list[np.ndarray] = []
        self._output: np.ndarray | None = None

    def __call__(self, image: np.ndarray) -> torch.Tensor:
        import cv2

        height, width, channels = image.shape
        shape = (1, channels, height, width)
        if not self._planes or self._planes[0].shape != (height, width):
            self._planes = [np.empty((height, width), np.uint8) for _ in range(channels)]
        self._planes = list(cv2.split(np.ascontiguousarray(image), self._planes))
        out = self._output if self._output is not None and self._output.shape == shape else np.empty(shape, np.float32)
        rows = max(1, _SERIAL_LUT_PIXELS // width)
        for channel, plane in enumerate(self._planes):
            for top in range(0, height, rows):
                cv2.LUT(plane[top : top + rows], self.tables[channel], dst=out[0, channel, top : top + rows])
        if self.reuse_output:
            self._output = out
        return torch.from_numpy(out)


def _to_policy_tensor(key: str, value: Any, feature: PolicyFeature) -> torch.Tensor:
    """One observation value → float tensor in LeRobot's policy layout, validated against its feature.

    Images: `uint8 (H, W, 3)` → float32 `(3, H, W)` / 255 (what LeRobot's
    `prepare_observation_for_inference` does), or floating point `(3, H, W)` in [0, 1] as is.
    """
    tensor = torch.from_numpy(np.ascontiguousarray(value)) if isinstance(value, np.ndarray) else value
    if not isinstance(tensor, torch.Tensor):
        raise ObservationError(
            f"observation '{key}': expected a numpy array or torch tensor, got {type(value).__name__}"
        )
    if feature.type == FeatureType.VISUAL:
        if tensor.dtype == torch.uint8:
            _check_uint8_image(key, tuple(tensor.shape), feature)
            return _uint8_to_unit(tensor.permute(2, 0, 1))  # uint8 is always finite
        if not tensor.is_floating_point():
            raise ObservationError(f"observation '{key}': image dtype {tensor.dtype}, expected uint8 or float")
        if tuple(tensor.shape) != feature.shape:
            raise ObservationError(
                f"observation '{key}': float image of shape {list(tensor.shape)}, the checkpoint expects "
                f"(C, H, W) = {list(feature.shape)}"
            )
    elif tuple(tensor.shape) != feature.shape:
        raise ObservationError(
            f"observation '{key}': shape {list(tensor.shape)}, the checkpoint expects {list(feature.shape)}"
        )
    if not tensor.is_floating_point():
        tensor = tensor.to(torch.float32)
    if not bool(torch.isfinite(tensor).all()):
        raise ObservationError(f"observation '{key}': contains NaN or inf")
    return tensor


class Preprocessor:
    """`policy_preprocessor.json` applied to one un-batched observation.

    Steps named in `handled_by_runtime` (e.g. a tokenizer) are left to the runtime; any other step this
    module does not know is refused at load time, so a checkpoint never runs with part of its
    preprocessing silently skipped. `normalize=False` validates and converts only (for runtimes that
    normalize themselves). Camera images in uint8 go through an `ImageLookup`; with
    `reuse_image_buffers` their tensors are overwritten by the next call (for runtimes whose model
    has consumed the batch by then; not for policies that queue observations).
    """

    def __init__(
        self,
        spec: ProcessorPipelineSpec,
        input_features: Mapping[str, PolicyFeature],
        device: torch.device,
        *,
        rename_map: Mapping[str, str] | None = None,
        handled_by_runtime: Collection[str] = (),
        normalize: bool = True,
        reuse_image_buffers: bool = False,
    ) -> None:
        where = spec.source.name
        self.input_features = dict(input_features)
        self.device = device
        self.rename_map: dict[str, str] = {}
        self.float_dtype: torch.dtype | None = None
        self.normalizer: Normalizer | None = None
        self.batched = False
        for index, step in enumerate(spec.steps):
            step_where = f"{where} step {index} '{step.registry_name}'"
            if step.registry_name == RENAME_STEP:
                self.rename_map.update(step.config.get("rename_map") or {})
            elif step.registry_name == BATCH_STEP:
                self.batched = True
            elif step.registry_name == DEVICE_STEP:
                self.float_dtype = _device_step_dtype(step, step_where)
            elif step.registry_name == NORMALIZER_STEP and normalize:
                self.normalizer = Normalizer(step, step_where).to(device)
            elif step.registry_name not in handled_by_runtime:
                raise UnsupportedPolicyError(
                    f"{step_where}: processor step not supported by this runtime (supported: "
                    f"{sorted({RENAME_STEP, BATCH_STEP, DEVICE_STEP, NORMALIZER_STEP, *handled_by_runtime})})"
                )
        self.rename_map.update(rename_map or {})
        if not self.batched:
            raise UnsupportedPolicyError(f"{where}: no '{BATCH_STEP}' step; unbatched pipelines are not supported")
        self.image_lookups = self._image_lookups(reuse_image_buffers)

    def _normalize(self, key: str, tensor: torch.Tensor) -> torch.Tensor:
        if self.normalizer is None or not self.normalizer.normalizes_observation(key):
            return tensor
        return self.normalizer.apply(key, tensor, inverse=False)

    def _image_lookups(self, reuse_output: bool) -> dict[str, ImageLookup]:
        """A lookup table per camera whose pre-processing acts on each channel separately: float32
        output and statistics that are one value per channel (LeRobot's `(C, 1, 1)` image stats).
        Other cameras (per-pixel statistics, a reduced `float_dtype`) take the per-pixel path."""
        if self.float_dtype not in (None, torch.float32):
            return {}
        values = _uint8_to_unit(torch.arange(256, dtype=torch.uint8))
        lookups = {}
        for key, feature in self.input_features.items():
            if feature.type != FeatureType.VISUAL or len(feature.shape) != 3:
                continue
            channels = feature.shape[0]
            stats = self.normalizer.stats.get(key, {}) if self.normalizer is not None else {}
            if any(torch.broadcast_shapes(s.shape, (channels, 1, 1)) != (channels, 1, 1) for s in stats.values()):
                continue
            probe = values.expand(1, channels, 1, values.numel())
            lookups[key] = ImageLookup(self._normalize(key, probe)[0, :, 0, :], reuse_output=reuse_output)
        return lookups

    @property
    def caller_features(self) -> dict[str, PolicyFeature]:
        """Input features keyed by the names the caller supplies (rename map undone)."""
        inverse = {target: source for source, target in self.rename_map.items()}
        return {inverse.get(key, key): feature for key, feature in self.input_features.items()}

    def __call__(self, observation: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        """Validate, convert, rename, batch, move and normalize one observation."""
        renamed = {self.rename_map.get(key, key): value for key, value in observation.items()}
        missing = [key for key in self.input_features if key not in renamed]
        if missing:
            inverse = {target: source for source, target in self.rename_map.items()}
            raise ObservationError(
                f"observation lacks {[inverse.get(k, k) for k in missing]} (checkpoint inputs: "
                f"{list(self.caller_features)}; got {sorted(observation)})"
            )
        batch = {}
        for key, feature in self.input_features.items():
            lookup = self.image_lookups.get(key)
            image = _as_uint8_array(renamed[key]) if lookup is not None else None
            if image is not None:
                _check_uint8_image(key, image.shape, feature)
                batch[key] = lookup(image).to(self.device)
                continue
            tensor = _to_policy_tensor(key, renamed[key], feature).unsqueeze(0).to(self.device)
            if self.float_dtype is not None:
                tensor = tensor.to(self.float_dtype)
            batch[key] = self._normalize(key, tensor)
        return batch


class Postprocessor:
    """`policy_postprocessor.json` applied to a batch of normalized action chunks."""

    def __init__(self, spec: ProcessorPipelineSpec) -> None:
        where = spec.source.name
        self.unnormalizer: Normalizer | None = None
        for index, step in enumerate(spec.steps):
            step_where = f"{where} step {index} '{step.registry_name}'"
            if step.registry_name == UNNORMALIZER_STEP:
                self.unnormalizer = Normalizer(step, step_where)
            elif step.registry_name != DEVICE_STEP:
                raise UnsupportedPolicyError(
                    f"{step_where}: processor step not supported (supported: {UNNORMALIZER_STEP}, {DEVICE_STEP})"
                )

    def __call__(self, actions: torch.Tensor) -> torch.Tensor:
        if self.unnormalizer is not None:
            actions = self.unnormalizer.apply(ACTION, actions, inverse=True)
        return actions.to("cpu")

    def normalize(self, actions: torch.Tensor) -> torch.Tensor:
        """LeRobot units → model space (the inverse of `__call__`), for RTC prefixes."""
        if self.unnormalizer is None:
            return actions
        return self.unnormalizer.apply(ACTION, actions, inverse=False)
