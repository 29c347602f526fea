"""The feature contract: one YAML file mapping ROS topics to LeRobot features.

The recorder, the bag converter and the policy node all build features from the same contract,
so a policy sees at run time exactly what it was trained on. Every dataset stores the contract
that produced it (`meta/lerobot_ros_contract.yaml`). Format reference: docs/recorder.md; end-effector
features (`ee:`): docs/end-effector.md.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import yaml

from lerobot_ros_core.contract.units import Unit, UnitError, make_unit
from lerobot_ros_core.description import PACKAGE_SCHEME, resolve_description_path

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
EE_POSE_NAMES = ("ee.x", "ee.y", "ee.z", "ee.wx", "ee.wy", "ee.wz")
"""LeRobot's end-effector feature names: position (m, base frame) and rotation vector (rad)."""
EE_GRIPPER_NAME = "ee.gripper_pos"
"""The gripper joint beside the pose, in the unit of its joint feature."""
DEFAULT_EE_FRAME = "gripper_frame_link"


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
class EndEffectorSpec:
    """Tool pose of the arm whose joints a joint-position feature (`source`) holds, by forward kinematics."""

    source: str
    urdf: str  # absolute path of the robot description
    frame: str
    joints: tuple[str, ...]  # arm joints of the kinematic chain, a subset of the source's joints
    gripper: str | None  # source joint reported as ee.gripper_pos, None for a pose only

    @property
    def names(self) -> tuple[str, ...]:
        return EE_POSE_NAMES + ((EE_GRIPPER_NAME,) if self.gripper else ())


@dataclass(frozen=True)
class DerivedFeature:
    """A feature computed from another feature of the same frame (no topic of its own)."""

    key: str
    ee: EndEffectorSpec

    @property
    def names(self) -> tuple[str, ...]:
        return self.ee.names

    def lerobot_feature(self) -> dict[str, Any]:
        return {"dtype": "float32", "shape": [len(self.names)], "names": list(self.names)}


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
    record: bool = True  # False: read (e.g. to derive EE features from it) but not stored in the dataset
    ee: EndEffectorSpec | None = None  # set when the topic carries an EE vector (a teleop's EE action)

    @property
    def is_joint_positions(self) -> bool:
        return (
            self.ee is None
            and self.message_type.family in ("joint_state", "joint_trajectory")
            and self.field in ("position", "positions")
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
    features_spec: tuple[FeatureSpec, ...]  # every feature read from a topic, recorded or not
    raw: Mapping[str, Any] = field(repr=False, compare=False)
    source: str = "<contract>"
    max_stamp_leap: float = 1.0  # header stamps advancing this much more than receive times: a clock jump
    derived: tuple[DerivedFeature, ...] = ()  # computed from other features of the frame (EE poses)

    def _recorded(self) -> dict[str, FeatureSpec | DerivedFeature]:
        """The dataset's features, in the contract's order."""
        every = {spec.key: spec for spec in (*self.features_spec, *self.derived)}
        return {key: every[key] for key in self.raw["features"] if key in every and getattr(every[key], "record", True)}

    def features(self) -> dict[str, dict[str, Any]]:
        """LeRobot `features` for the dataset writer (info.json format)."""
        return {key: spec.lerobot_feature() for key, spec in self._recorded().items()}

    def feature(self, key: str) -> FeatureSpec:
        for spec in self.features_spec:
            if spec.key == key:
                return spec
        raise KeyError(f"{self.source}: no feature {key!r} read from a topic (features: {', '.join(self.keys)})")

    def derived_feature(self, key: str) -> DerivedFeature | None:
        return next((d for d in self.derived if d.key == key), None)

    def end_effector(self, key: str) -> EndEffectorSpec | None:
        """The kinematics of an EE feature (derived or read from a topic), None for any other feature."""
        derived = self.derived_feature(key)
        if derived is not None:
            return derived.ee
        return next((spec.ee for spec in self.features_spec if spec.key == key), None)

    @property
    def keys(self) -> tuple[str, ...]:
        """Keys of the features the dataset stores."""
        return tuple(self._recorded())

    @property
    def action(self) -> FeatureSpec | None:
        return next((spec for spec in self.features_spec if spec.key == "action"), None)

    def without(self, keys: set[str] | frozenset[str], *, check_required: bool = True) -> Contract:
        """This contract without some (optional) features: the one to store with a dataset lacking them.

        EE features computed from a feature that is left out go with it.
        """
        every = {s.key for s in self.features_spec} | {d.key for d in self.derived}
        unknown = set(keys) - every
        if unknown:
            raise KeyError(f"{self.source}: no feature(s) {sorted(unknown)}")
        missing_required = [
            k for k in keys if check_required and k not in self.derived_keys and self.feature(k).required
        ]
        if missing_required:
            raise ContractError(f"{self.source}: required feature(s) {missing_required} cannot be left out")
        keys = set(keys)
        dependants = {k for k in every if (ee := self.end_effector(k)) is not None and ee.source in keys}
        if dependants - keys:
            return self.without(keys | dependants, check_required=check_required)
        raw = dict(self.raw)
        raw["features"] = {k: v for k, v in self.raw["features"].items() if k not in keys}
        return replace(
            self,
            features_spec=tuple(s for s in self.features_spec if s.key not in keys),
            derived=tuple(d for d in self.derived if d.key not in keys),
            raw=raw,
        )

    @property
    def derived_keys(self) -> tuple[str, ...]:
        return tuple(d.key for d in self.derived)

    def renamed(self, mapping: Mapping[str, str]) -> Contract:
        """The contract with features renamed (`{old: new}`, swaps allowed), EE sources following them."""
        unknown = sorted(set(mapping) - set(self.raw["features"]))
        if unknown:
            raise KeyError(f"{self.source}: no feature(s) {unknown}")
        features: dict[str, Any] = {}
        for key, raw in self.raw["features"].items():
            value = dict(raw)
            if isinstance(value.get("ee"), Mapping) and value["ee"].get("from") in mapping:
                value["ee"] = {**value["ee"], "from": mapping[value["ee"]["from"]]}
            features[mapping.get(key, key)] = value
        if len(features) != len(self.raw["features"]):
            raise ContractError(f"{self.source}: renaming {dict(mapping)} makes two features share a name")
        return parse_contract({**self.raw, "features": features}, source=self.source)

    def unrecorded(self, keys: set[str] | frozenset[str]) -> Contract:
        """The contract still reading features `keys` from their topics but no longer storing them."""
        raw_features = {k: ({**v, "record": False} if k in keys else v) for k, v in self.raw["features"].items()}
        return parse_contract({**self.raw, "features": raw_features}, source=self.source)

    def restricted_to(self, dataset_features: Mapping[str, Any]) -> Contract:
        """The contract limited to the features an existing dataset has; raises on other dtypes, shapes or names."""
        ignored = set(RESERVED_KEYS)
        unknown = sorted(set(dataset_features) - set(self.keys) - ignored)
        if unknown:
            raise ContractError(f"{self.source}: the dataset has features the contract lacks: {unknown}")
        contract = self.without({k for k in self.keys if k not in dataset_features}, check_required=False)
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
    """Read and validate a contract file; raises ContractError naming the file and the setting.

    Relative robot description paths (`ee.urdf`) are resolved against the file's directory.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ContractError(f"cannot read contract {path}: {error.strerror or error}") from error
    return parse_contract(text, source=str(path), base_dir=path.resolve().parent)


def parse_contract(
    text: str | Mapping[str, Any], source: str = "<contract>", base_dir: str | Path | None = None
) -> Contract:
    """Validate a contract given as YAML text or as an already-parsed mapping.

    `base_dir` resolves relative `ee.urdf` paths (default: the working directory); the parsed
    contract's YAML names the resolved absolute path, so a stored copy finds it too.
    """
    if isinstance(text, str):
        try:
            data = yaml.load(text, Loader=_UniqueKeyLoader)
        except ContractError as error:
            raise ContractError(f"{source}: {error}") from None
        except yaml.YAMLError as error:
            raise ContractError(f"{source}: not valid YAML: {error}") from error
    else:
        data = text
    return _Parser(source, Path(base_dir) if base_dir is not None else Path.cwd()).contract(data)


_KEY_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")
_TOPIC_PATTERN = re.compile(r"^/?[A-Za-z~][A-Za-z0-9_/~{}]*$")


class _Parser:
    def __init__(self, source: str, base_dir: Path) -> None:
        self.source = source
        self.past_limit: PastLimitName = "split"  # the contract's default, for features without their own
        self.base_dir = base_dir

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
        self._features = {str(k): v for k, v in features.items() if isinstance(v, Mapping)}
        streams = {
            str(k): v for k, v in features.items() if not (isinstance(v, Mapping) and "ee" in v and "topic" not in v)
        }
        specs = [self.feature(key, value, fps, default_stamp) for key, value in streams.items()]
        by_key = {spec.key: spec for spec in specs}
        raw_features = dict(features)
        derived = []
        for name, value in features.items():
            key = str(name)
            if not isinstance(value, Mapping) or "ee" not in value:
                continue
            ee = self.end_effector(f"features.{key}.ee", value["ee"], key, by_key)
            if not str(value["ee"]["urdf"]).startswith(PACKAGE_SCHEME):  # package:// URIs stay portable
                raw_features[key] = {**value, "ee": {**value["ee"], "urdf": ee.urdf}}
            if key in by_key:
                stream = by_key[key]
                specs[specs.index(stream)] = replace(
                    stream, ee=ee, names=ee.names, selection=ee.names, units=self.ee_units(ee, by_key)
                )
            else:
                self.mapping(value, f"features.{key}", ("ee",))
                self.feature_key(key, f"features.{key}")
                derived.append(DerivedFeature(key, ee))
        return Contract(
            fps=fps,
            robot_type=robot_type,
            task=task,
            task_topic=task_topic,
            max_backward_jump=backward,
            max_forward_jump=forward,
            max_stamp_leap=leap,
            features_spec=tuple(specs),
            raw={**top, "features": raw_features},
            source=self.source,
            derived=tuple(derived),
        )

    def end_effector(self, where: str, value: Any, key: str, streams: Mapping[str, FeatureSpec]) -> EndEffectorSpec:
        ee = self.mapping(value, where, ("from", "urdf", "frame", "joints", "gripper"))
        source_key = ee.get("from")
        source = streams.get(source_key) if isinstance(source_key, str) else None
        if source is None or not source.is_joint_positions or "ee" in self._raw_feature(source_key):
            raise self.error(
                f"{where}.from",
                f"{source_key!r} is not a joint-position feature of this contract read from a topic "
                f"(candidates: {[k for k, s in streams.items() if s.is_joint_positions and k != key]})",
            )
        urdf_value = ee.get("urdf")
        if not isinstance(urdf_value, str) or not urdf_value:
            raise self.error(
                f"{where}.urdf", "the robot description (URDF file path or package://<package>/<path>) is required"
            )
        try:
            urdf = resolve_description_path(urdf_value, self.base_dir)
            root = ET.fromstring(urdf.read_text(encoding="utf-8"))
        except FileNotFoundError as error:
            raise self.error(f"{where}.urdf", f"cannot read the robot description {urdf_value}: {error}") from None
        except (OSError, ET.ParseError) as error:
            raise self.error(f"{where}.urdf", f"cannot read the robot description {urdf}: {error}") from None
        frame = ee.get("frame", DEFAULT_EE_FRAME)
        links = {link.get("name") for link in root.iter("link")}
        if frame not in links:
            raise self.error(f"{where}.frame", f"{frame!r} is not a link of {urdf}")
        movable = {
            j.get("name") for j in root.iter("joint") if j.get("type") in ("revolute", "prismatic", "continuous")
        }
        gripper = ee.get("gripper", "gripper" if "gripper" in source.selection else None)
        if gripper is not None and gripper not in source.selection:
            raise self.error(f"{where}.gripper", f"{gripper!r} is not a joint of feature {source_key!r}")
        joints = (
            self.string_list(ee["joints"], f"{where}.joints")
            if "joints" in ee
            else tuple(j for j in source.selection if j != gripper)
        )
        missing = [j for j in joints if j not in source.selection or j not in movable]
        if missing:
            raise self.error(
                f"{where}.joints", f"{missing} must be joints of feature {source_key!r} and movable joints of {urdf}"
            )
        return EndEffectorSpec(source_key, str(urdf.resolve()), frame, joints, gripper)

    def ee_units(self, ee: EndEffectorSpec, streams: Mapping[str, FeatureSpec]) -> tuple[Unit, ...]:
        """An EE vector read from a topic: SI pose, the gripper in its joint feature's unit."""
        pose = (make_unit("raw", "any"),) * len(EE_POSE_NAMES)
        if ee.gripper is None:
            return pose
        source = streams[ee.source]
        return (*pose, source.units[source.selection.index(ee.gripper)])

    def _raw_feature(self, key: str) -> Mapping[str, Any]:
        return self._features.get(key, {})

    def feature_key(self, key: str, where: str) -> None:
        if key in RESERVED_KEYS:
            raise self.error(where, f"{key!r} is a column LeRobot adds itself; choose another feature name")
        if not _KEY_PATTERN.match(key) or "/" in key:
            raise self.error(where, f"{key!r} is not a valid LeRobot feature key (letters, digits, '_', '.', '-')")

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
        self.feature_key(key, where)
        allowed = (
            "topic", "type", "joints", "field", "point", "names", "units", "fields", "indices",
            "image", "depth", "sync", "required", "stamp", "record", "ee",
        )  # fmt: skip
        spec = self.mapping(value, where, allowed)
        record = spec.get("record", True)
        if not isinstance(record, bool):
            raise self.error(f"{where}.record", f"expected true or false, got {record!r}")
        if "ee" in spec:
            spec = self.ee_stream(where, spec)
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
        common = {
            "key": key,
            "topic": topic,
            "message_type": message_type,
            "required": required,
            "stamp": stamp,
            "record": record,
        }
        if is_image:
            return self.image_feature(where, spec, fps, common)
        return self.vector_feature(where, spec, fps, common)

    def ee_stream(self, where: str, spec: Mapping[str, Any]) -> Mapping[str, Any]:
        """An EE vector published on a topic: a JointState whose names are LeRobot's EE names."""
        clashing = [s for s in ("joints", "field", "names", "units", "point") if s in spec]
        if clashing:
            raise self.error(f"{where}.{clashing[0]}", "an EE feature's names and units follow from its `ee` setting")
        if _normalize_type(str(spec.get("type"))) != "sensor_msgs/msg/JointState":
            raise self.error(f"{where}.type", "an EE feature read from a topic needs sensor_msgs/msg/JointState")
        ee = spec["ee"]
        has_gripper = isinstance(ee, Mapping) and ee.get("gripper", "gripper") is not None
        names = list(EE_POSE_NAMES) + ([EE_GRIPPER_NAME] if has_gripper else [])
        return {k: v for k, v in spec.items() if k != "ee"} | {"joints": names}

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
