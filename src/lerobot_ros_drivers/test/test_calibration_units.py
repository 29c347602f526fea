"""LeRobot calibration files and joint units, checked against LeRobot 0.4.4 itself where it matters."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import scservo_sdk

from lerobot_ros_core.description import SO101_GRIPPER_LIMITS_RAD as GRIPPER_LIMITS_RAD
from lerobot_ros_drivers.calibration import (
    FOLLOWER_NAMES,
    LEADER_NAMES,
    SO_ARM_JOINTS,
    CalibrationError,
    JointCodec,
    MotorCalibration,
    calibration_dir,
    find_calibration,
    load_calibration,
    save_calibration,
    sim_calibration_path,
)

RAW_SAMPLES = [0, 1, 750, 851, 2047, 2048, 2075, 2999, 3400, 3401, 4095]


def reference_calibration(shared_reference: Path) -> dict[str, MotorCalibration]:
    return load_calibration(shared_reference / "calibration" / "robots" / "so_follower" / "my_follower.json")


def test_reads_the_reference_lerobot_file(shared_reference: Path) -> None:
    calibration = reference_calibration(shared_reference)
    assert list(calibration) == list(SO_ARM_JOINTS)
    assert calibration["shoulder_pan"] == MotorCalibration(1, 0, -1456, 750, 3400)
    assert calibration["wrist_roll"] == MotorCalibration(5, 0, -1200, 0, 4095)


def test_save_load_round_trip_is_byte_identical_to_lerobot_layout(shared_reference: Path, tmp_path: Path) -> None:
    source = shared_reference / "calibration" / "robots" / "so_follower" / "my_follower.json"
    target = tmp_path / "robots" / "so_follower" / "copy.json"
    save_calibration(target, load_calibration(source))
    assert target.read_text() == source.read_text()  # LeRobot writes json indent=4, no trailing newline


def test_directory_layout_and_lookup_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_LEROBOT_CALIBRATION", str(tmp_path))
    assert calibration_dir("robots", "so_follower") == tmp_path / "robots" / "so_follower"
    assert calibration_dir("teleoperators", "so_leader", root=Path("/r")) == Path("/r/teleoperators/so_leader")
    with pytest.raises(ValueError, match="'robots' or 'teleoperators'"):
        calibration_dir("robot", "x")  # type: ignore[arg-type]
    assert find_calibration("robots", "arm", FOLLOWER_NAMES) is None
    cal = {"gripper": MotorCalibration(6, 0, 0, 10, 20)}
    save_calibration(tmp_path / "robots" / "so_follower" / "arm.json", cal)
    assert find_calibration("robots", "arm", FOLLOWER_NAMES) == tmp_path / "robots" / "so_follower" / "arm.json"
    save_calibration(tmp_path / "robots" / "so100_follower" / "arm.json", cal)
    assert find_calibration("robots", "arm", FOLLOWER_NAMES).parent.name == "so100_follower"  # earlier name wins
    assert find_calibration("teleoperators", "arm", LEADER_NAMES) is None
    monkeypatch.delenv("HF_LEROBOT_CALIBRATION")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    assert calibration_dir("robots", "x") == tmp_path / "hf" / "lerobot" / "calibration" / "robots" / "x"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", "not valid JSON"),
        ("[]", "expected an object of motors"),
        ('{"gripper": 3}', "motor 'gripper' is not an object"),
        ('{"gripper": {"id": 6, "drive_mode": 0, "range_min": 1, "range_max": 2}}', "lacks homing_offset"),
        (
            '{"gripper": {"id": 6, "drive_mode": 0, "homing_offset": 1.5, "range_min": 1, "range_max": 2}}',
            "non-integer",
        ),
        ('{"gripper": {"id": 6, "drive_mode": 0, "homing_offset": 0, "range_min": 9, "range_max": 2}}', "range_min 9"),
    ],
)
def test_malformed_files_are_rejected_precisely(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(CalibrationError, match=message):
        load_calibration(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CalibrationError, match="does not exist"):
        load_calibration(tmp_path / "none.json")


def test_shipped_sim_calibrations_load() -> None:
    for role in ("follower", "leader"):
        assert list(load_calibration(sim_calibration_path(role))) == list(SO_ARM_JOINTS)
    with pytest.raises(CalibrationError, match="no simulated calibration"):
        sim_calibration_path("leader", robot="so999")


def test_units_by_formula(shared_reference: Path) -> None:
    codec = JointCodec(reference_calibration(shared_reference))
    mid = np.array([2075, 2050, 2000, 2025, 2047.5, 2700])
    raw = np.array([2075, 2050 + 4095 // 4, 2000, 2025, 0, 3400])
    lerobot = codec.raw_to_lerobot(raw)
    np.testing.assert_allclose(lerobot[:5], (raw - mid)[:5] * 360 / 4095)
    assert lerobot[5] == pytest.approx(100.0)  # gripper at range_max
    rad = codec.raw_to_radians(raw)
    np.testing.assert_allclose(rad[:5], np.deg2rad(lerobot[:5]))
    assert rad[1] == pytest.approx(np.deg2rad(1023 * 360 / 4095))
    assert rad[5] == pytest.approx(GRIPPER_LIMITS_RAD[1])
    assert codec.raw_to_radians([2075, 2050, 2000, 2025, 0, 2000])[5] == pytest.approx(GRIPPER_LIMITS_RAD[0])
    np.testing.assert_allclose(codec.lower_limits_rad[:5], np.deg2rad((codec.range_min - mid)[:5] * 360 / 4095))
    assert (codec.lower_limits_rad[5], codec.upper_limits_rad[5]) == GRIPPER_LIMITS_RAD


def test_radians_round_trip_to_the_nearest_step_and_clamp(shared_reference: Path) -> None:
    codec = JointCodec(reference_calibration(shared_reference))
    rng = np.random.default_rng(0)
    for _ in range(200):
        raw = rng.integers(codec.range_min, codec.range_max + 1)
        np.testing.assert_array_equal(codec.radians_to_raw(codec.raw_to_radians(raw)), raw)
    clamped = codec.radians_to_raw(np.array([10.0, -10.0, 0, 0, 0, 5.0]))
    assert clamped[0] == 3400 and clamped[1] == 850 and clamped[5] == 3400
    with pytest.raises(ValueError, match="non-finite value for wrist_roll"):
        codec.radians_to_raw([0, 0, 0, 0, np.inf, 0])
    with pytest.raises(ValueError, match="expected 6 values"):
        codec.radians_to_raw([0, 0, 0])


def test_lerobot_radians_conversions_are_inverse(shared_reference: Path) -> None:
    codec = JointCodec(reference_calibration(shared_reference))
    values = np.array([-30.0, 12.5, 90.0, -45.0, 170.0, 37.0])
    np.testing.assert_allclose(codec.radians_to_lerobot(codec.lerobot_to_radians(values)), values)


def test_drive_mode_flips_the_gripper() -> None:
    cal = {j: MotorCalibration(i, 1, 0, 1000, 3000) for i, j in enumerate(SO_ARM_JOINTS, 1)}
    codec = JointCodec(cal)
    raw = np.array([1000, 1500, 2000, 2500, 3000, 1500])
    values = codec.raw_to_lerobot(raw)
    assert values[5] == pytest.approx(75.0)  # 25 % of the range, inverted
    assert codec.raw_to_radians(raw)[5] == pytest.approx(GRIPPER_LIMITS_RAD[0] + 0.75 * np.diff(GRIPPER_LIMITS_RAD)[0])
    np.testing.assert_array_equal(codec.lerobot_to_raw(values), raw)
    np.testing.assert_array_equal(codec.radians_to_raw(codec.raw_to_radians(raw)), raw)
    assert codec.radians_per_step()[5] < 0


def test_codec_rejects_bad_calibrations() -> None:
    with pytest.raises(ValueError, match="no entry for joint"):
        JointCodec({"gripper": MotorCalibration(6, 0, 0, 1, 2)})


LEROBOT_ORACLE = r"""
import json, sys
from pathlib import Path
sys.path.insert(0, sys.argv[4])  # scservo_sdk (the lerobot[feetech] extra) taken from the suite's venv
from lerobot.motors import Motor, MotorCalibration, MotorNormMode
from lerobot.motors.feetech import FeetechMotorsBus
from lerobot.robots.so_follower import SO101Follower, SO101FollowerConfig

root, raws, lerobot_values = Path(sys.argv[1]), json.loads(sys.argv[2]), json.loads(sys.argv[3])
robot = SO101Follower(SO101FollowerConfig(port="/dev/null", id="written_by_lerobot", calibration_dir=root))
joints = list(robot.bus.motors)
robot.calibration = {
    m: MotorCalibration(id=i + 1, drive_mode=int(m == "gripper"), homing_offset=100 * i - 250,
                        range_min=700 + 37 * i, range_max=3300 - 41 * i)
    for i, m in enumerate(joints)
}
robot._save_calibration()
bus = robot.bus
bus.calibration = robot.calibration
normalized = [[bus._normalize({i + 1: r[i]})[i + 1] for i in range(6)] for r in raws]
unnormalized = [[bus._unnormalize({i + 1: v[i]})[i + 1] for i in range(6)] for v in lerobot_values]
print(json.dumps({"path": str(robot.calibration_fpath), "joints": joints,
                  "normalized": normalized, "unnormalized": unnormalized}))
"""


@pytest.mark.reference
@pytest.mark.slow
def test_lerobot_writes_a_file_we_read_and_converts_units_as_we_do(tmp_path: Path, run_reference) -> None:
    raws = [[r] * 6 for r in RAW_SAMPLES]
    values = [[-181.0, -45.3, 0.0, 12.7, 99.9, 100.0], [33.3, 179.9, -0.4, 0.6, 250.0, -5.0], [0.0] * 6]
    values += [[d, -d, d / 2, -d / 3, d, p] for d, p in zip((1.7, 88.8, 123.4), (0.5, 42.0, 99.6), strict=True)]
    sdk_path = tmp_path / "sdk"
    sdk_path.mkdir()
    (sdk_path / "scservo_sdk").symlink_to(Path(scservo_sdk.__file__).parent)
    args = (str(tmp_path), json.dumps(raws), json.dumps(values), str(sdk_path))
    result = json.loads(run_reference(LEROBOT_ORACLE, *args).stdout)
    path = Path(result["path"])
    assert path == tmp_path / "written_by_lerobot.json"
    calibration = load_calibration(path)
    assert list(calibration) == result["joints"] == list(SO_ARM_JOINTS)
    assert calibration["gripper"] == MotorCalibration(6, 1, 250, 885, 3095)
    codec = JointCodec(calibration)
    ours = np.array([codec.raw_to_lerobot(r) for r in raws])
    np.testing.assert_allclose(ours, np.array(result["normalized"]), rtol=0, atol=1e-9)
    back = np.array([codec.lerobot_to_raw(v) for v in values])
    np.testing.assert_array_equal(back, np.array(result["unnormalized"]))
