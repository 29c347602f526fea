"""The feature contract: one YAML file mapping ROS topics to LeRobot features.

The recorder, the bag converter and the policy node all build features from the same contract,
so a policy sees at run time exactly what it was trained on. Every dataset stores the contract
that produced it (`meta/lerobot_ros_contract.yaml`). Format reference: docs/recorder.md.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import yaml

from lerobot_ros_core.contract.units import Unit, UnitError, make_unit

CONTRACT_META_FILE = "lerobot_ros_contract.yaml"
"""Name of the contract file under a dataset's meta/ folder."""

RESERVED_KEYS = ("timestamp", "frame_index", "episode_index", "index", "task_index")

SyncRuleName = Literal["interpolate", "hold", "nearest"]
PastLimitName = Literal["split", "pad", "fail"]
StampSource = Literal["header", "receive"]
Kind = Literal["vector", "image", "depth"]


class ContractError(ValueError):
    """The contract is invalid; the message names the file, the setting and the cause."""


@dataclass(frozen=True)
class MessageType:
    """What the contract knows about one ROS message type."""

    name: str
    family: Literal["joint_state", "joint_trajectory", "image", "compressed_image", "wrench", "array"]
    has_header: bool


MESSAGE_TYPES = {
    t.name: t
    for t in (
        MessageType("sensor_msgs/msg/JointState", "joint_state", True),
        MessageType("trajectory_msgs/msg/JointTrajectory", "joint_trajectory", True),
        MessageType("sensor_msgs/msg/Image", "image", True),
        MessageType("sensor_msgs/msg/CompressedImage", "compressed_image", True),
        MessageType("geometry_msgs/msg/WrenchStamped", "wrench", True),
        MessageType("std_msgs/msg/Float64MultiArray", "array", False),
        MessageType("std_msgs/msg/Float32MultiArray", "array", False),
    )
}

JOINT_STATE_FIELDS = {
    "position": ("angle", "pos"),
    "velocity": ("angular_velocity", "vel"),
    "effort": ("effort", "eff"),
}
TRAJECTORY_FIELDS = {
    "positions": ("angle", "pos"),
    "velocities": ("angular_velocity", "vel"),
    "accelerations": ("any", "acc"),
    "effort": ("effort", "eff"),
}
WRENCH_FIELDS = {
    "force.x": ("force", "fx"),
    "force.y": ("force", "fy"),
    "force.z": ("force", "fz"),
    "torque.x": ("torque", "tx"),
    "torque.y": ("torque", "ty"),
    "torque.z": ("torque", "tz"),
}
DEFAULT_UNITS = {
    "angle": "rad",
    "angular_velocity": "rad/s",
    "effort": "raw",
    "force": "N",
    "torque": "Nm",
    "any": "raw",
}
COLOR_ENCODINGS = ("rgb8", "bgr8", "rgba8", "bgra8", "mono8", "mono16", "yuv422", "uyvy", "yuv422_yuy2", "yuyv")
DEPTH_ENCODINGS = ("16UC1", "mono16", "32FC1")


@dataclass(frozen=True)
class SyncRule:
    """How a stream is sampled at each frame tick (seconds), and what happens at a tick it has no usable sample for.

    past_limit: ``split`` ends the episode there (the rest becomes the next one), ``pad`` repeats the
    latest sample (counted), ``fail`` drops the episode with the reason. Frames are never renumbered.
    """

    rule: SyncRuleName
    max_age: float
    tolerance: float
    gap: float
    past_limit: PastLimitName = "split"


@dataclass(frozen=True)
class ImageSpec:
    height: int
    width: int
    encoding: str | None  # required input encoding, None = any convertible one
    resize: bool  # resize other sizes to height x width instead of rejecting them
    storage: Literal["video", "image"]


@dataclass(frozen=True)
class FeatureSpec:
    """One LeRobot feature and the ROS stream it is built from."""

    key: str
    topic: str
    message_type: MessageType
    kind: Kind
    names: tuple[str, ...]
    selection: tuple[str, ...]  # joint names, wrench fields or array indices, in feature order
    field: str  # JointState / JointTrajectory field
    point: Literal["first", "last"]  # JointTrajectory point to take
    units: tuple[Unit, ...]
    image: ImageSpec | None
    sync: SyncRule
    required: bool
    stamp: StampSource

    @property
    def is_joint_positions(self) -> bool:
        return self.message_type.family in ("joint_state", "joint_trajectory") and self.field in (
            "position",
            "positions",
        )

    def lerobot_feature(self) -> dict[str, Any]:
        """The feature as LeRobot's info.json describes it."""
        if self.kind == "vector":
            return {"dtype": "float32", "shape": [len(self.names)], "names": list(self.names)}
        assert self.image is not None
        channels = 1 if self.kind == "depth" else 3
        feature: dict[str, Any] = {
            "dtype": self.image.storage,
            "shape": [self.image.height, self.image.width, channels],
            "names": ["height", "width", "channels"],
        }
        if self.kind == "depth":
            feature["info"] = {"is_depth_map": True}
        return feature


@dataclass(frozen=True)
class Contract:
    """A validated feature contract."""

    fps: int
    robot_type: str | None
    task: str | None  # default task text
    task_topic: str | None  # std_msgs/String topic carrying the task
    max_backward_jump: float
    max_forward_jump: float
    features_spec: tuple[FeatureSpec, ...]
    raw: Mapping[str, Any] = field(repr=False, compare=False)
    source: str = "<contract>"
    max_stamp_leap: float = 1.0  # header stamps advancing this much more than receive times: a clock jump

    def features(self) -> dict[str, dict[str, Any]]:
        """LeRobot `features` for the dataset writer (info.json format)."""
        return {spec.key: spec.lerobot_feature() for spec in self.features_spec}

    def feature(self, key: str) -> FeatureSpec:
        for spec in self.features_spec:
            if spec.key == key:
                return spec
        raise KeyError(f"{self.source}: no feature {key!r} (features: {', '.join(self.keys)})")

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(spec.key for spec in self.features_spec)

    @property
    def action(self) -> FeatureSpec | None:
        return next((spec for spec in self.features_spec if spec.key == "action"), None)

    def without(self, keys: set[str] | frozenset[str]) -> Contract:
        """This contract without some (optional) features: the one to store with a dataset lacking them."""
        unknown = set(keys) - set(self.keys)
        if unknown:
            raise KeyError(f"{self.source}: no feature(s) {sorted(unknown)}")
        missing_required = [k for k in keys if self.feature(k).required]
        if missing_required:
            raise ContractError(f"{self.source}: required feature(s) {missing_required} cannot be left out")
        raw = dict(self.raw)
        raw["features"] = {k: v for k, v in self.raw["features"].items() if k not in keys}
        return replace(
            self,
            features_spec=tuple(s for s in self.features_spec if s.key not in keys),
            raw=raw,
        )

    def restricted_to(self, dataset_features: Mapping[str, Any]) -> Contract:
        """The contract limited to the features an existing dataset has; raises on other dtypes, shapes or names."""
        ignored = set(RESERVED_KEYS)
        unknown = sorted(set(dataset_features) - set(self.keys) - ignored)
        if unknown:
            raise ContractError(f"{self.source}: the dataset has features the contract lacks: {unknown}")
        contract = self.without({k for k in self.keys if k not in dataset_features})
        for key, expected in contract.features().items():
            have = dataset_features[key]
            if have.get("dtype") != expected["dtype"] or list(have.get("shape", ())) != expected["shape"]:
                raise ContractError(
                    f"{self.source}: feature {key!r} is {expected['dtype']} {expected['shape']} in the contract "
                    f"but {have.get('dtype')} {list(have.get('shape', ()))} in the dataset"
                )
            if have.get("names") is not None and have["names"] != expected["names"]:
                raise ContractError(
                    f"{self.source}: feature {key!r} has names {expected['names']} in the contract but "
                    f"{have['names']} in the dataset: same shape, other columns (names or order)"
                )
        return contract

    def to_yaml(self) -> str:
        return yaml.safe_dump(dict(self.raw), sort_keys=False, allow_unicode=True)


class _UniqueKeyLoader(yaml.SafeLoader):
    """Rejects duplicate mapping keys, which plain YAML loading silently overwrites."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise ContractError(
                f"duplicate key {key!r} at line {key_node.start_mark.line + 1} "
                f"(first at line {seen[key] + 1}): feature names and settings must be unique"
            )
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_contract(path: str | Path) -> Contract:
    """Read and validate a contract file; raises ContractError naming the file and the setting."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ContractError(f"cannot read contract {path}: {error.strerror or error}") from error
    return parse_contract(text, source=str(path))


def parse_contract(text: str | Mapping[str, Any], source: str = "<contract>") -> Contract:
    """Validate a contract given as YAML text or as an already-parsed mapping."""
    if isinstance(text, str):
        try:
            data = yaml.load(text, Loader=_UniqueKeyLoader)
        except ContractError as error:
            raise ContractError(f"{source}: {error}") from None
        except yaml.YAMLError as error:
            raise ContractError(f"{source}: not valid YAML: {error}") from error
    else:
        data = text
    return _Parser(source).contract(data)


_KEY_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")
_TOPIC_PATTERN = re.compile(r"^/?[A-Za-z~][A-Za-z0-9_/~{}]*$")


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.past_limit: PastLimitName = "split"  # the contract's default, for features without their own

    def error(self, where: str, message: str) -> ContractError:
        return ContractError(f"{self.source}: {where}: {message}")

    def mapping(self, value: Any, where: str, allowed: tuple[str, ...]) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.error(where, f"expected a mapping, got {type(value).__name__}")
        unknown = [k for k in value if k not in allowed]
        if unknown:
            raise self.error(where, f"unknown setting(s) {unknown} (allowed: {', '.join(allowed)})")
        return value

    def number(self, value: Any, where: str, positive: bool = True) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise self.error(where, f"expected a finite number, got {value!r}")
        if positive and value <= 0:
            raise self.error(where, f"must be positive, got {value!r}")
        return float(value)

    def string_list(self, value: Any, where: str) -> tuple[str, ...]:
        if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
            raise self.error(where, f"expected a non-empty list of names, got {value!r}")
        duplicates = sorted({v for v in value if value.count(v) > 1})
        if duplicates:
            raise self.error(where, f"duplicate name(s) {duplicates}")
        return tuple(value)

    def contract(self, data: Any) -> Contract:
        top = self.mapping(
            data,
            "top level",
            ("version", "fps", "robot_type", "task", "stamp", "clock", "past_limit", "features", "description"),
        )
        if top.get("version", 1) != 1:
            raise self.error("version", f"unsupported contract version {top['version']!r} (this suite reads 1)")
        fps = top.get("fps")
        if isinstance(fps, bool) or not isinstance(fps, int) or not 1 <= fps <= 1000:
            raise self.error("fps", f"expected an integer frame rate in 1..1000, got {fps!r}")
        robot_type = top.get("robot_type")
        if robot_type is not None and not isinstance(robot_type, str):
            raise self.error("robot_type", f"expected a string, got {robot_type!r}")
        task, task_topic = self.task(top.get("task"))
        default_stamp = top.get("stamp", "header")
        if default_stamp not in ("header", "receive"):
            raise self.error("stamp", f"expected 'header' or 'receive', got {default_stamp!r}")
        clock = self.mapping(top.get("clock", {}), "clock", ("max_backward_jump", "max_forward_jump", "max_stamp_leap"))
        backward = self.number(clock.get("max_backward_jump", 1.0), "clock.max_backward_jump")
        forward = self.number(clock.get("max_forward_jump", 10.0), "clock.max_forward_jump")
        leap = self.number(clock.get("max_stamp_leap", 1.0), "clock.max_stamp_leap")
        self.past_limit = self.past_limit_name(top.get("past_limit", "split"), "past_limit")
        features = top.get("features")
        if not isinstance(features, Mapping) or not features:
            raise self.error("features", "expected a non-empty mapping of LeRobot feature keys to streams")
        specs = tuple(self.feature(str(key), value, fps, default_stamp) for key, value in features.items())
        return Contract(
            fps=fps,
            robot_type=robot_type,
            task=task,
            task_topic=task_topic,
            max_backward_jump=backward,
            max_forward_jump=forward,
            max_stamp_leap=leap,
            features_spec=specs,
            raw=dict(top),
            source=self.source,
        )

    def task(self, value: Any) -> tuple[str | None, str | None]:
        if value is None:
            return None, None
        if isinstance(value, str):
            return value, None
        task = self.mapping(value, "task", ("default", "topic"))
        default, topic = task.get("default"), task.get("topic")
        if default is not None and not isinstance(default, str):
            raise self.error("task.default", f"expected a string, got {default!r}")
        if topic is not None:
            self.topic(topic, "task.topic")
        return default, topic

    def topic(self, value: Any, where: str) -> str:
        if not isinstance(value, str) or not _TOPIC_PATTERN.match(value) or "//" in value or value.endswith("/"):
            raise self.error(where, f"not a valid ROS topic name: {value!r}")
        return value

    def feature(self, key: str, value: Any, fps: int, default_stamp: str) -> FeatureSpec:
        where = f"features.{key}"
        if key in RESERVED_KEYS:
            raise self.error(where, f"{key!r} is a column LeRobot adds itself; choose another feature name")
        if not _KEY_PATTERN.match(key) or "/" in key:
            raise self.error(where, f"{key!r} is not a valid LeRobot feature key (letters, digits, '_', '.', '-')")
        allowed = (
            "topic", "type", "joints", "field", "point", "names", "units", "fields", "indices",
            "image", "depth", "sync", "required", "stamp",
        )  # fmt: skip
        spec = self.mapping(value, where, allowed)
        topic = self.topic(spec.get("topic"), f"{where}.topic")
        type_name = spec.get("type")
        message_type = MESSAGE_TYPES.get(_normalize_type(type_name)) if isinstance(type_name, str) else None
        if message_type is None:
            raise self.error(
                f"{where}.type",
                f"unknown or unsupported message type {type_name!r} (supported: {', '.join(MESSAGE_TYPES)})",
            )
        required = spec.get("required", True)
        if not isinstance(required, bool):
            raise self.error(f"{where}.required", f"expected true or false, got {required!r}")
        stamp = spec.get("stamp", default_stamp if message_type.has_header else "receive")
        if stamp not in ("header", "receive"):
            raise self.error(f"{where}.stamp", f"expected 'header' or 'receive', got {stamp!r}")
        if stamp == "header" and not message_type.has_header:
            raise self.error(f"{where}.stamp", f"{message_type.name} has no header; use stamp: receive")
        family = message_type.family
        is_image = family in ("image", "compressed_image")
        for setting, applies in (
            ("joints", family in ("joint_state", "joint_trajectory")),
            ("field", family in ("joint_state", "joint_trajectory")),
            ("point", family == "joint_trajectory"),
            ("fields", family == "wrench"),
            ("indices", family == "array"),
            ("image", is_image),
            ("depth", is_image),
            ("units", not is_image),
            ("names", not is_image),
        ):
            if setting in spec and not applies:
                raise self.error(f"{where}.{setting}", f"does not apply to {message_type.name}")
        common = {"key": key, "topic": topic, "message_type": message_type, "required": required, "stamp": stamp}
        if is_image:
            return self.image_feature(where, spec, fps, common)
        return self.vector_feature(where, spec, fps, common)

    def vector_feature(self, where: str, spec: Mapping[str, Any], fps: int, common: dict) -> FeatureSpec:
        family = common["message_type"].family
        field_name, point = "", "last"
        if family in ("joint_state", "joint_trajectory"):
            selection = self.string_list(spec.get("joints"), f"{where}.joints")
            fields = JOINT_STATE_FIELDS if family == "joint_state" else TRAJECTORY_FIELDS
            field_name = spec.get("field", "position" if family == "joint_state" else "positions")
            if field_name not in fields:
                raise self.error(f"{where}.field", f"{field_name!r} is not one of {', '.join(fields)}")
            quantity, suffix = fields[field_name]
            quantities = [quantity] * len(selection)
            default_names = [f"{joint}.{suffix}" for joint in selection]
            point = spec.get("point", "last")
            if point not in ("first", "last"):
                raise self.error(f"{where}.point", f"expected 'first' or 'last', got {point!r}")
        elif family == "wrench":
            selection = self.string_list(spec.get("fields", list(WRENCH_FIELDS)), f"{where}.fields")
            unknown = [f for f in selection if f not in WRENCH_FIELDS]
            if unknown:
                raise self.error(
                    f"{where}.fields", f"unknown wrench field(s) {unknown} (known: {', '.join(WRENCH_FIELDS)})"
                )
            quantities = [WRENCH_FIELDS[f][0] for f in selection]
            default_names = [WRENCH_FIELDS[f][1] for f in selection]
        else:
            indices = spec.get("indices")
            if (
                not isinstance(indices, list)
                or not indices
                or not all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in indices)
            ):
                raise self.error(f"{where}.indices", f"expected a non-empty list of array indices, got {indices!r}")
            if len(set(indices)) != len(indices):
                raise self.error(f"{where}.indices", f"duplicate indices in {indices}")
            if "names" not in spec:
                raise self.error(f"{where}.names", "required for array messages (one name per index)")
            selection = tuple(str(i) for i in indices)
            quantities = ["any"] * len(selection)
            default_names = []
        names = self.string_list(spec["names"], f"{where}.names") if "names" in spec else tuple(default_names)
        if len(names) != len(selection):
            raise self.error(f"{where}.names", f"{len(names)} names for {len(selection)} selected values")
        units = self.units(where, spec.get("units"), selection, names, quantities)
        sync = self.sync(where, spec.get("sync"), fps, "interpolate", image=False)
        return FeatureSpec(
            **common,
            kind="vector",
            names=names,
            selection=selection,
            field=field_name,
            point=point,
            units=units,
            image=None,
            sync=sync,
        )

    def units(
        self, where: str, value: Any, selection: tuple[str, ...], names: tuple[str, ...], quantities: list[str]
    ) -> tuple[Unit, ...]:
        """Per-element units, given once for all (`deg`) or per joint / field / name (`{default: deg, ...}`)."""
        if value is None:
            per_element: Mapping[str, Any] = {}
        elif isinstance(value, str) or (isinstance(value, Mapping) and "unit" in value):
            per_element = {"default": value}
        elif isinstance(value, Mapping):
            per_element = value
        else:
            raise self.error(f"{where}.units", f"expected a unit name or a mapping per element, got {value!r}")
        unknown = [k for k in per_element if k != "default" and k not in selection and k not in names]
        if unknown:
            raise self.error(f"{where}.units", f"unit given for {unknown}, which are not selected ({list(selection)})")
        units = []
        for element, name, source_quantity in zip(selection, names, quantities, strict=True):
            fallback = per_element.get("default", DEFAULT_UNITS[source_quantity])
            unit_value = per_element.get(element, per_element.get(name, fallback))
            prismatic = source_quantity == "angle" and unit_value in ("mm", "m")
            quantity = "length" if prismatic else source_quantity
            try:
                if isinstance(unit_value, Mapping):
                    unit_map = self.mapping(unit_value, f"{where}.units.{element}", ("unit", "range"))
                    span = unit_map.get("range")
                    if span is not None and (
                        not isinstance(span, list)
                        or len(span) != 2
                        or not all(isinstance(v, int | float) for v in span)
                    ):
                        raise UnitError(f"range must be [low, high], got {span!r}")
                    units.append(make_unit(str(unit_map.get("unit")), quantity, tuple(span) if span else None))
                else:
                    units.append(make_unit(str(unit_value), quantity))
            except UnitError as error:
                raise self.error(f"{where}.units.{element}", str(error)) from None
        return tuple(units)

    def sync(self, where: str, value: Any, fps: int, default_rule: str, image: bool) -> SyncRule:
        sync = self.mapping(
            value if value is not None else {}, f"{where}.sync", ("rule", "max_age", "tolerance", "gap", "past_limit")
        )
        rule = sync.get("rule", default_rule)
        if rule not in ("interpolate", "hold", "nearest"):
            raise self.error(f"{where}.sync.rule", f"expected interpolate, hold or nearest, got {rule!r}")
        if image and rule == "interpolate":
            raise self.error(f"{where}.sync.rule", "images cannot be interpolated; use nearest or hold")
        period = 1.0 / fps
        max_age = self.number(sync.get("max_age", max(0.1, 3 * period)), f"{where}.sync.max_age")
        tolerance = self.number(sync.get("tolerance", period), f"{where}.sync.tolerance")
        gap = self.number(sync.get("gap", max(0.1, 3 * period)), f"{where}.sync.gap")
        past_limit = self.past_limit_name(sync.get("past_limit", self.past_limit), f"{where}.sync.past_limit")
        return SyncRule(rule, max_age, tolerance, gap, past_limit)

    def past_limit_name(self, value: Any, where: str) -> PastLimitName:
        if value not in ("split", "pad", "fail"):
            raise self.error(where, f"expected split, pad or fail, got {value!r}")
        return value

    def image_feature(self, where: str, spec: Mapping[str, Any], fps: int, common: dict) -> FeatureSpec:
        depth = spec.get("depth", False)
        if not isinstance(depth, bool):
            raise self.error(f"{where}.depth", f"expected true or false, got {depth!r}")
        if depth and common["message_type"].family == "compressed_image":
            raise self.error(
                f"{where}.depth", "depth from CompressedImage is not supported; record the raw 16UC1 topic"
            )
        image = self.mapping(spec.get("image"), f"{where}.image", ("height", "width", "encoding", "resize", "storage"))
        size = {}
        for dim in ("height", "width"):
            number = image.get(dim)
            if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= 16384:
                raise self.error(f"{where}.image.{dim}", f"expected a pixel count in 1..16384, got {number!r}")
            size[dim] = number
        encoding = image.get("encoding")
        accepted = DEPTH_ENCODINGS if depth else COLOR_ENCODINGS
        if encoding is not None and encoding not in accepted:
            kind = "depth" if depth else "colour"
            raise self.error(
                f"{where}.image.encoding", f"{encoding!r} is not a {kind} encoding ({', '.join(accepted)})"
            )
        resize = image.get("resize", False)
        if not isinstance(resize, bool):
            raise self.error(f"{where}.image.resize", f"expected true or false, got {resize!r}")
        storage = image.get("storage", "video")
        if storage not in ("video", "image"):
            raise self.error(f"{where}.image.storage", f"expected 'video' or 'image', got {storage!r}")
        if depth and storage != "video":
            raise self.error(f"{where}.image.storage", "depth is stored as video (LeRobot's depth convention)")
        sync = self.sync(where, spec.get("sync"), fps, "hold", image=True)
        return FeatureSpec(
            **common,
            kind="depth" if depth else "image",
            names=(),
            selection=(),
            field="",
            point="last",
            units=(),
            image=ImageSpec(size["height"], size["width"], encoding, resize, storage),
            sync=sync,
        )


def _normalize_type(name: str) -> str:
    """'sensor_msgs/JointState' and 'sensor_msgs/msg/JointState' name the same type."""
    parts = name.strip().split("/")
    if len(parts) == 2:
        return f"{parts[0]}/msg/{parts[1]}"
    return name.strip()
