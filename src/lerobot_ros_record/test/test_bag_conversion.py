"""bag2dataset: sqlite3 and MCAP bags → datasets LeRobot 0.4.4 loads; splitting, tasks, bad bags."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from std_msgs.msg import String

from lerobot_ros_core.contract import load_contract, parse_contract
from lerobot_ros_msgs.msg import EpisodeEvent
from lerobot_ros_record.bag import BagError, convert_bags
from lerobot_ros_record.dataset import WriterConfig

S = 1_000_000_000


def h264(contract):
    return WriterConfig(fps=contract.fps, video_codec="h264")


def event(kind: int, index: int, stamp_ns: int, task: str = "") -> EpisodeEvent:
    msg = EpisodeEvent(event=kind, episode_index=index, task=task)
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp_ns, S)
    return msg


@pytest.mark.reference
def test_bag_many_bags_many_episodes_load_in_lerobot(tmp_path, small_contract_path, tools, load_with_lerobot):
    contract = load_contract(small_contract_path)
    bags = [
        tools.write_bag(tmp_path / "a", tools.synthetic_stream(10 * S, 1.0), "mcap", {"task": "stack"}),
        tools.write_bag(tmp_path / "b", tools.synthetic_stream(50 * S, 0.7), "sqlite3"),
    ]
    result = convert_bags(bags, contract, tmp_path / "ds", "local/ds", writer_config=h264(contract), log=lambda _: None)
    assert [e.index for e in result.episodes] == [0, 1]
    assert "observation.force" not in result.contract.keys  # optional, no bag carries it
    stored = load_contract(tmp_path / "ds" / "meta" / "lerobot_ros_contract.yaml")
    assert stored.features() == result.contract.features()
    reports = json.loads((tmp_path / "ds" / "meta" / "lerobot_ros_sync.json").read_text())
    assert set(reports) == {"0", "1"} and reports["0"]["frames"] == result.episodes[0].frames
    loaded = load_with_lerobot(tmp_path / "ds")
    assert loaded["episodes"] == 2 and loaded["lengths"] == [e.frames for e in result.episodes]
    tasks = {s["episode_index"]: s["task"] for s in loaded["samples"]}
    assert tasks == {0: "stack", 1: "default task"}  # bag metadata, then the contract default
    first = loaded["samples"][0]
    # t0 = camera's first stamp (5 ms after the joints' first): joints interpolated halfway, in degrees.
    expected = np.degrees([0.15 * (np.sin(i) + np.sin(1 / 20 + i)) for i in range(5)])
    np.testing.assert_allclose(first["observation.state"][:5], expected, rtol=1e-5)


def test_bag_split_by_episode_events_and_discard(tmp_path, small_contract_path, tools):
    contract = load_contract(small_contract_path)
    records = tools.synthetic_stream(100 * S, 3.0)
    records += [
        ("/recorder/episode_events", 100 * S, event(0, 0, 100 * S, "first")),
        ("/recorder/episode_events", 101 * S, event(1, 0, 101 * S)),
        ("/recorder/episode_events", 101 * S + 200_000_000, event(0, 1, 0, "thrown away")),
        ("/recorder/episode_events", 101 * S + 500_000_000, event(2, 1, 0)),
        ("/recorder/episode_events", 102 * S, event(0, 1, 0, "second")),
        ("/recorder/episode_events", 102 * S + 600_000_000, event(1, 1, 0)),
    ]
    bag = tools.write_bag(tmp_path / "bag", sorted(records, key=lambda r: r[1]))
    result = convert_bags([bag], contract, tmp_path / "ds", "local/ds", writer_config=h264(contract), log=print)
    assert [(e.index, e.summary.task) for e in result.episodes] == [(0, "first"), (1, "second")]
    assert 28 <= result.episodes[0].frames <= 30 and 16 <= result.episodes[1].frames <= 18


def test_bag_split_by_task_topic_and_task_argument(tmp_path, small_contract_path, tools):
    contract = load_contract(small_contract_path)
    records = [*tools.synthetic_stream(S, 2.0), ("/task", S, String(data="a")), ("/task", 2 * S, String(data="b"))]
    bag = tools.write_bag(tmp_path / "bag", sorted(records, key=lambda r: r[1]), "sqlite3")
    result = convert_bags(
        [bag], contract, tmp_path / "ds", "local/ds", writer_config=h264(contract), split_by_task=True, log=print
    )
    assert [e.summary.task for e in result.episodes] == ["a", "b"]
    forced = convert_bags(
        [bag], contract, tmp_path / "ds2", "local/ds", task="given", writer_config=h264(contract), log=print
    )
    assert [e.summary.task for e in forced.episodes] == ["given"]


@pytest.mark.reference
def test_bag_damaged_message_keeps_earlier_episodes(tmp_path, small_contract_path, tools, load_with_lerobot):
    contract = load_contract(small_contract_path)
    good = tools.write_bag(tmp_path / "good", tools.synthetic_stream(S, 0.5), "mcap")
    records = tools.synthetic_stream(10 * S, 2.0)
    records.insert(len(records) // 2, ("/follower/joint_states", 11 * S, b"\x00\x01\x00\x00\x07"))  # cut short
    bad = tools.write_bag(tmp_path / "bad", records, "mcap")
    with pytest.raises(BagError, match=r"bad is truncated or corrupt after \d+ messages"):
        convert_bags([good, bad], contract, tmp_path / "ds", "local/ds", writer_config=h264(contract), log=print)
    loaded = load_with_lerobot(tmp_path / "ds")
    # 15 camera frames, the last one 4 ns before the 15th tick: the episode ends at the 14th
    assert loaded["episodes"] == 1 and loaded["lengths"] == [14]


def test_bag_truncated_mcap_is_refused_before_writing(tmp_path, small_contract_path, tools):
    contract = load_contract(small_contract_path)
    bad = tools.write_bag(tmp_path / "bad", tools.synthetic_stream(S, 1.0), "mcap")
    mcap = next(bad.glob("*.mcap"))
    mcap.write_bytes(mcap.read_bytes()[: mcap.stat().st_size // 2])
    with pytest.raises(BagError, match=r"bad (cannot be opened|is truncated or corrupt)"):
        convert_bags([bad], contract, tmp_path / "ds", "local/ds", writer_config=h264(contract), log=print)
    assert not (tmp_path / "ds" / "data").exists()


def test_bag_truncated_sqlite_reports_clear_error(tmp_path, small_contract_path, tools):
    contract = load_contract(small_contract_path)
    bad = tools.write_bag(tmp_path / "bad", tools.synthetic_stream(S, 2.0), "sqlite3")
    db = next(bad.glob("*.db3"))
    db.write_bytes(db.read_bytes()[:8192])
    with pytest.raises(BagError, match=r"bad"):
        convert_bags([bad], contract, tmp_path / "ds", "local/ds", writer_config=h264(contract), log=print)


def test_bag_contract_topic_mismatch(tmp_path, small_contract_path, tools):
    contract = load_contract(small_contract_path)
    records = [r for r in tools.synthetic_stream(S, 0.5) if r[0] != "/leader/joint_states"]
    bag = tools.write_bag(tmp_path / "bag", records)
    with pytest.raises(BagError, match=r"no topic /leader/joint_states for the contract's required feature 'action'"):
        convert_bags([bag], contract, tmp_path / "ds", "local/ds", log=print)
    assert not (tmp_path / "ds").exists()


def test_bag_topic_with_wrong_type(tmp_path, small_contract_path, tools):
    contract = load_contract(small_contract_path)
    records = [*tools.synthetic_stream(S, 0.5), ("/force/wrench", S, String(data="x"))]
    bag = tools.write_bag(tmp_path / "bag", sorted(records, key=lambda r: r[1]))
    with pytest.raises(
        BagError, match=r"/force/wrench has type std_msgs/msg/String.*expects geometry_msgs/msg/WrenchStamped"
    ):
        convert_bags([bag], contract, tmp_path / "ds", "local/ds", log=print)


def test_bag_missing_bag_and_empty_episode(tmp_path, small_contract_path, tools):
    contract = load_contract(small_contract_path)
    with pytest.raises(BagError, match="does not exist"):
        convert_bags([tmp_path / "nope"], contract, tmp_path / "ds", "local/ds", log=print)
    # the camera never overlaps the joints: no complete frame → the episode is skipped, not written
    records = [r for r in tools.synthetic_stream(S, 0.5) if "image" not in r[0]]
    records += [r for r in tools.synthetic_stream(100 * S, 0.5) if "image" in r[0]]
    bag = tools.write_bag(tmp_path / "bag", sorted(records, key=lambda r: r[1]))
    result = convert_bags([bag], contract, tmp_path / "ds", "local/ds", writer_config=h264(contract), log=print)
    assert result.episodes == [] and "no complete frame" in result.skipped[0]


def test_bag_bad_messages_are_rejected_and_reported(tmp_path, tools):
    contract = parse_contract(tools.SMALL_CONTRACT)
    records = tools.synthetic_stream(S, 1.0)
    bad_image = tools.camera_image(S + 500_000_000, 3, height=24, width=32)  # size changes mid-episode
    nan_state = tools.joint_state(S + 505_000_000, 0)
    nan_state.position[2] = float("nan")
    wrong_encoding = tools.camera_image(S + 600_000_000, 4)
    wrong_encoding.encoding = "32FC1"
    records += [
        ("/cameras/front/image_raw", S + 500_000_000, bad_image),
        ("/follower/joint_states", S + 505_000_000, nan_state),
        ("/cameras/front/image_raw", S + 600_000_000, wrong_encoding),
    ]
    bag = tools.write_bag(tmp_path / "bag", sorted(records, key=lambda r: r[1]))
    result = convert_bags([bag], contract, tmp_path / "ds", "local/ds", writer_config=h264(contract), log=print)
    report = result.episodes[0].report
    camera = report.streams["observation.images.front"].rejected
    assert any("image is 32x24, the contract expects 64x48" in reason for reason in camera)
    assert any("'32FC1' is depth data" in reason for reason in camera)
    assert report.streams["observation.state"].rejected == {"non-finite value(s) for ['elbow_flex.pos']": 1}
    assert result.episodes[0].frames >= 28


def test_bag_cli_end_to_end(tmp_path, small_contract_path, tools):
    bag = tools.write_bag(tmp_path / "bag", tools.synthetic_stream(S, 0.5))
    cli = "import sys; from lerobot_ros_bringup.cli import main; sys.exit(main())"
    command = [sys.executable, "-c", cli, "bag2dataset", str(bag)]
    command += ["--contract", str(small_contract_path), "--output", str(tmp_path / "ds"), "--codec", "h264"]
    done = subprocess.run([*command, "--task", "cli task"], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "1 episode(s) written" in done.stdout
    info = json.loads((tmp_path / "ds" / "meta" / "info.json").read_text())
    assert info["total_episodes"] == 1 and info["robot_type"] == "so101_follower"
    again = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert again.returncode == 1 and "already holds a dataset" in again.stderr
    bad = subprocess.run(
        [*command[:5], "--contract", str(tmp_path / "missing.yaml"), "--output", "x"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert bad.returncode == 2 and "cannot read contract" in bad.stderr
    resumed = subprocess.run([*command, "--resume"], capture_output=True, text=True, timeout=120, check=False)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads((tmp_path / "ds" / "meta" / "info.json").read_text())["total_episodes"] == 2


def test_bag_typestore_knows_suite_messages():
    from lerobot_ros_record.bag import typestore

    assert "lerobot_ros_msgs/msg/EpisodeEvent" in typestore().types
    assert "sensor_msgs/msg/JointState" in typestore().types
    assert Path(__file__).name.startswith("test_bag_")


def camera_gap_records(tools, start_ns: int = S, seconds: float = 3.0) -> list:
    """The synthetic SO-101 streams with no camera frame from 1.0 s to 1.5 s after the start."""
    return [
        r
        for r in tools.synthetic_stream(start_ns, seconds)
        if not ("image" in r[0] and start_ns + S <= r[1] < start_ns + 3 * S // 2)
    ]


def true_state_deg(t_ns: int, start_ns: int = S) -> np.ndarray:
    """The follower's first five joints at time t (synthetic_stream's motion), in degrees."""
    k = (t_ns - start_ns) / 10_000_000
    return np.degrees([0.3 * np.sin(k / 20 + i) for i in range(5)])


def episode_rows(root: Path) -> dict[int, dict[str, list]]:
    import pyarrow.parquet as pq

    table = pq.read_table(next((root / "data").rglob("*.parquet"))).to_pydict()
    rows: dict[int, dict[str, list]] = {}
    for i, episode in enumerate(table["episode_index"]):
        row = rows.setdefault(episode, {"timestamp": [], "frame_index": [], "observation.state": []})
        for key in row:
            row[key].append(table[key][i])
    return rows


def check_dataset_clock(root: Path, starts_ns: list[int]) -> None:
    """Frame k of each episode is at exactly k/fps, and its state is the true motion at start + k/fps."""
    rows = episode_rows(root)
    assert sorted(rows) == list(range(len(starts_ns)))
    for episode, start in enumerate(starts_ns):
        row = rows[episode]
        assert row["frame_index"] == list(range(len(row["frame_index"])))
        np.testing.assert_array_equal(row["timestamp"], np.float32(np.arange(len(row["timestamp"])) / 30))
        for k, state in enumerate(row["observation.state"]):
            np.testing.assert_allclose(state[:5], true_state_deg(start + k * S // 30), atol=0.02)


def test_bag_camera_gap_splits_the_episode_never_compresses_time(tmp_path, small_contract_path, tools):
    contract = load_contract(small_contract_path)
    bag = tools.write_bag(tmp_path / "bag", camera_gap_records(tools))
    result = convert_bags([bag], contract, tmp_path / "ds", "local/ds", writer_config=h264(contract), log=print)
    first, second = result.episodes
    # episode 0 starts at the first camera frame (5 ms), episode 1 at the first one after the gap
    camera_after_gap = S + 45 * 33_333_333 + 5_000_000
    check_dataset_clock(tmp_path / "ds", [S + 5_000_000, camera_after_gap])
    last_before_gap = S + 29 * 33_333_333 + 5_000_000
    assert 0.1 - 1 / 30 < (S + 5_000_000 + (first.frames - 1) * S // 30 - last_before_gap) / S <= 0.1
    assert second.frames == 44  # 1.505 s up to the last camera frame (2.97 s)
    reports = json.loads((tmp_path / "ds" / "meta" / "lerobot_ros_sync.json").read_text())
    assert "no usable sample from observation.images.front" in reports["0"]["ended"]
    assert "(past_limit: split)" in reports["0"]["ended"]
    assert reports["0"]["streams"]["observation.images.front"]["limit_hits"] == 1
    assert reports["1"]["ended"] is None and reports["1"]["streams"]["observation.images.front"]["limit_hits"] == 0


def test_bag_camera_gap_padded_or_failed_as_the_contract_says(tmp_path, tools):
    bag = tools.write_bag(tmp_path / "bag", camera_gap_records(tools))
    padded = parse_contract("past_limit: pad\n" + tools.SMALL_CONTRACT)
    result = convert_bags([bag], padded, tmp_path / "pad", "local/pad", writer_config=h264(padded), log=print)
    [episode] = result.episodes
    check_dataset_clock(tmp_path / "pad", [S + 5_000_000])
    assert episode.frames == 89  # every tick from 5 ms to the last camera frame
    stats = episode.report.streams["observation.images.front"]
    assert stats.padded == stats.limit_hits > 0 and episode.report.frames_padded == stats.padded
    assert "padded" in episode.report.summary()

    failing = parse_contract("past_limit: fail\n" + tools.SMALL_CONTRACT)
    with pytest.raises(BagError, match=r"episode 0 failed: no usable sample from observation\.images\.front .*fail"):
        convert_bags([bag], failing, tmp_path / "fail", "local/fail", writer_config=h264(failing), log=print)


def test_bag_clock_leap_of_every_stream_is_a_clock_jump(tmp_path, small_contract_path, tools):
    """Header stamps leap 5 s at 1 s while the log times go on: one clock jump, not 150 dropped ticks."""
    from lerobot_ros_core.node.stamps import time_from_nanoseconds

    records = tools.synthetic_stream(S, 2.0)
    for _, log_time, msg in records:
        if log_time >= 2 * S:
            msg.header.stamp = time_from_nanoseconds(log_time + 5 * S)
    bag = tools.write_bag(tmp_path / "bag", records)
    contract = load_contract(small_contract_path)
    result = convert_bags([bag], contract, tmp_path / "ds", "local/ds", writer_config=h264(contract), log=print)
    first, second = result.episodes
    [jump] = first.report.clock_jumps
    assert jump.direction == "forward" and jump.to_s - jump.from_s == pytest.approx(5.0, abs=0.02)
    assert first.report.ended.startswith("clock jump forward")
    for report in (first.report, second.report):
        assert all(stats.limit_hits == 0 for stats in report.streams.values())
    assert first.frames + second.frames >= 55  # 2 s at 30 fps, less the warm-up after the jump
