"""Feature descriptions in LeRobot's `info.json` format: validation, parquet schema, frame checks."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from .errors import FeatureSpecError, FrameError

# Columns LeRobot adds to every dataset, in its order; the writer fills them itself.
DEFAULT_FEATURES: dict[str, dict[str, Any]] = {
    "timestamp": {"dtype": "float32", "shape": [1], "names": None},
    "frame_index": {"dtype": "int64", "shape": [1], "names": None},
    "episode_index": {"dtype": "int64", "shape": [1], "names": None},
    "index": {"dtype": "int64", "shape": [1], "names": None},
    "task_index": {"dtype": "int64", "shape": [1], "names": None},
}
NUMERIC_DTYPES = {
    "float32": pa.float32(),
    "float64": pa.float64(),
    "int8": pa.int8(),
    "int16": pa.int16(),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "uint8": pa.uint8(),
    "uint16": pa.uint16(),
    "uint32": pa.uint32(),
    "uint64": pa.uint64(),
    "bool": pa.bool_(),
}
# Arrow layout of `datasets.Image()` (PNG bytes embedded in the parquet file).
IMAGE_ARROW_TYPE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
# LeRobot 0.6 marks depth features with `info["is_depth_map"]`; it still reads (and migrates) the older
# `video.is_depth_map`, which LeRobot 0.4.4 writes as false on every video.
DEPTH_FLAG = "is_depth_map"
LEGACY_DEPTH_FLAG = "video.is_depth_map"


@dataclass(frozen=True)
class Feature:
    """One user feature, normalised: `kind` is "numeric", "video", "depth" or "image"."""

    key: str
    kind: str
    dtype: str
    shape: tuple[int, ...]

    @property
    def is_visual(self) -> bool:
        return self.kind in ("video", "depth", "image")

    @property
    def height(self) -> int:
        return self.shape[0]

    @property
    def width(self) -> int:
        return self.shape[1]


def parse_features(features: Mapping[str, Mapping[str, Any]]) -> tuple[dict[str, dict[str, Any]], list[Feature]]:
    """Check user features and return (info.json features incl. the default columns, parsed features)."""
    if not features:
        raise FeatureSpecError("no features given: a dataset needs at least one feature")
    info_features: dict[str, dict[str, Any]] = {}
    parsed: list[Feature] = []
    for key, spec in features.items():
        parsed.append(_parse_one(key, spec))
        info_features[key] = _normalised_spec(spec)
    info_features.update(copy.deepcopy(DEFAULT_FEATURES))
    return info_features, parsed


def is_depth_spec(spec: Mapping[str, Any]) -> bool:
    """Whether a feature's spec flags a depth map, under either of LeRobot's flag names."""
    info = spec.get("info") or {}
    return bool(info.get(DEPTH_FLAG) or info.get(LEGACY_DEPTH_FLAG))


def _normalised_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(dict(spec))
    out["shape"] = [int(n) for n in spec["shape"]]
    info = out.get("info")
    if isinstance(info, dict) and LEGACY_DEPTH_FLAG in info:
        info.setdefault(DEPTH_FLAG, info.pop(LEGACY_DEPTH_FLAG))
    return out


def _parse_one(key: str, spec: Mapping[str, Any]) -> Feature:
    if not isinstance(key, str) or not key:
        raise FeatureSpecError(f"feature name {key!r} must be a non-empty string")
    if "/" in key:
        raise FeatureSpecError(f"feature '{key}': names must not contain '/' (LeRobot flattens stats with '/')")
    if key in DEFAULT_FEATURES or key == "task":
        raise FeatureSpecError(f"feature '{key}' is a column the writer adds itself; remove it from the features")
    if not isinstance(spec, Mapping) or "dtype" not in spec or "shape" not in spec:
        raise FeatureSpecError(f"feature '{key}': needs at least 'dtype' and 'shape', got {spec!r}")
    dtype = spec["dtype"]
    try:
        shape = tuple(int(n) for n in spec["shape"])
    except (TypeError, ValueError) as error:
        raise FeatureSpecError(f"feature '{key}': shape {spec['shape']!r} is not a list of integers") from error
    if not shape or any(n <= 0 for n in shape):
        raise FeatureSpecError(f"feature '{key}': shape {list(shape)} must be non-empty and positive")
    if dtype in ("video", "image"):
        is_depth = is_depth_spec(spec)
        if dtype == "image" and is_depth:
            raise FeatureSpecError(f"feature '{key}': depth is stored as video only (dtype 'video')")
        channels = 1 if is_depth else 3
        if len(shape) != 3 or shape[2] != channels:
            raise FeatureSpecError(
                f"feature '{key}': {'depth' if is_depth else dtype} shape must be [height, width, {channels}],"
                f" got {list(shape)}"
            )
        if dtype == "video" and (shape[0] % 2 or shape[1] % 2):
            raise FeatureSpecError(f"feature '{key}': video size {shape[1]}x{shape[0]} must be even (yuv420p)")
        kind = "depth" if is_depth else dtype
        return Feature(key, kind, "uint16" if is_depth else "uint8", shape)
    if dtype not in NUMERIC_DTYPES:
        raise FeatureSpecError(
            f"feature '{key}': dtype {dtype!r} not supported (use video, image or one of {sorted(NUMERIC_DTYPES)})"
        )
    if len(shape) != 1:
        raise FeatureSpecError(f"feature '{key}': numeric features must be vectors (shape [n]), got {list(shape)}")
    return Feature(key, "numeric", dtype, shape)


def hf_feature_json(feature: Feature | None, spec: Mapping[str, Any]) -> dict[str, Any]:
    """The `datasets.Features` JSON of one parquet column (what LeRobot stores in the `huggingface` metadata)."""
    if feature is not None and feature.kind == "image":
        return {"_type": "Image"}
    value = {"dtype": spec["dtype"], "_type": "Value"}
    if list(spec["shape"]) == [1]:
        return value
    return {"feature": value, "length": int(spec["shape"][0]), "_type": "List"}


def arrow_type(feature: Feature | None, spec: Mapping[str, Any]) -> pa.DataType:
    if feature is not None and feature.kind == "image":
        return IMAGE_ARROW_TYPE
    value = NUMERIC_DTYPES[spec["dtype"]]
    if list(spec["shape"]) == [1]:
        return value
    return pa.list_(value, int(spec["shape"][0]))


def data_schema(info_features: Mapping[str, Mapping[str, Any]], parsed: list[Feature], fingerprint: str) -> pa.Schema:
    """Schema of the data parquet files: every non-video column, with LeRobot's `huggingface` metadata."""
    by_key = {f.key: f for f in parsed}
    fields = []
    hf_features = {}
    for key, spec in info_features.items():
        if spec["dtype"] == "video":
            continue
        feature = by_key.get(key)
        fields.append(pa.field(key, arrow_type(feature, spec)))
        hf_features[key] = hf_feature_json(feature, spec)
    metadata = {"huggingface": json.dumps({"info": {"features": hf_features}, "fingerprint": fingerprint})}
    return pa.schema(fields, metadata=metadata)


def validate_frame(frame: Mapping[str, Any], parsed: list[Feature], allow_nan: bool) -> None:
    """Raise `FrameError` naming every problem of a frame; nothing is stored when it raises."""
    if not isinstance(frame, Mapping):
        raise FrameError(f"a frame must be a dict of feature name -> numpy array, got {type(frame).__name__}")
    expected = {f.key for f in parsed}
    problems = []
    missing = sorted(expected - set(frame))
    extra = sorted(set(frame) - expected)
    if missing:
        problems.append(f"missing features {missing}")
    if extra:
        problems.append(f"unknown features {extra} (expected exactly {sorted(expected)})")
    for feature in parsed:
        if feature.key in frame:
            problem = _check_value(feature, frame[feature.key], allow_nan)
            if problem:
                problems.append(problem)
    if problems:
        raise FrameError("bad frame: " + "; ".join(problems))


def _check_value(feature: Feature, value: Any, allow_nan: bool) -> str | None:
    if not isinstance(value, np.ndarray):
        return f"feature '{feature.key}' must be a numpy array, got {type(value).__name__}"
    if feature.kind == "depth":
        shapes = (feature.shape[:2], feature.shape)
        if value.shape not in shapes:
            return f"depth feature '{feature.key}' has shape {value.shape}, expected {feature.shape[:2]} (mm)"
    elif value.shape != feature.shape:
        return f"feature '{feature.key}' has shape {value.shape}, expected {feature.shape}"
    if value.dtype != np.dtype(feature.dtype):
        what = {"video": "RGB uint8", "image": "RGB uint8", "depth": "uint16 millimetres"}.get(feature.kind, "")
        return f"feature '{feature.key}' has dtype {value.dtype}, expected {feature.dtype} {what}".rstrip()
    if feature.kind == "numeric" and value.dtype.kind == "f" and not allow_nan and not np.isfinite(value).all():
        bad = np.flatnonzero(~np.isfinite(value)).tolist()
        return f"feature '{feature.key}' has non-finite values {value[bad].tolist()} at positions {bad}"
    return None
