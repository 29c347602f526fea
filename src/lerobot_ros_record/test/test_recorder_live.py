"""The recorder node over real DDS: live recording equals bag conversion, crash and resume, bad input."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import av
import numpy as np
import pyarrow.parquet as pq
import pytest
from rclpy.qos import QoSProfile, ReliabilityPolicy
from std_msgs.msg import String
from std_srvs.srv import Trigger

from lerobot_ros_bringup.graph.description import NodeSpec
from lerobot_ros_core.contract import load_contract
from lerobot_ros_core.node.qos import SENSOR_QOS
from lerobot_ros_msgs.action import RecordEpisode
from lerobot_ros_msgs.msg import EpisodeEvent, RecorderStatus
from lerobot_ros_msgs.srv import SaveEpisode
from lerobot_ros_record.bag import convert_bags
from lerobot_ros_record.dataset import WriterConfig

S = 1_000_000_000
RELIABLE = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)


def recorder(contract: Path, root: Path, required: bool = True, **params) -> NodeSpec:
    parameters = {
        "contract": str(contract),
        "root": str(root),
        "video_codec": "h264",
        "optional_wait_s": 0.5,
        "status_period_s": 0.2,
        "queue_depth": 2000,  # the test publishes bursts; a loaded CI machine must not lose any
        **params,
    }
    return NodeSpec("lerobot_ros_record", "recorder_node", "recorder", parameters=[parameters], required=required)


class Session:
    """Drives a running recorder from the test's probe node."""

    def __init__(self, probe, tools) -> None:
        self.probe, self.tools = probe, tools
        self.status: list[RecorderStatus] = probe.collect("/recorder/status", RecorderStatus)
        self.events: list[EpisodeEvent] = probe.collect("/recorder/episode_events", EpisodeEvent)
        self.publishers = {
            "/follower/joint_states": probe.publisher(
                "/follower/joint_states", tools.joint_state(1, 0).__class__, SENSOR_QOS
            ),
            "/leader/joint_states": probe.publisher(
                "/leader/joint_states", tools.joint_state(1, 0).__class__, RELIABLE
            ),
            "/cameras/front/image_raw": probe.publisher(
                "/cameras/front/image_raw", tools.camera_image(1, 0).__class__, SENSOR_QOS
            ),
        }

    def wait_subscribed(self) -> None:
        self.probe.wait_until(
            lambda: all(p.get_subscription_count() > 0 for p in self.publishers.values()),
            timeout=60,
            message="the recorder did not subscribe to every topic",
        )

    def start(self, task: str, episode_time_s: float = 0.0):
        # A SIGKILLed server lingers in discovery for a while: a goal sent there is lost (and re-sent).
        goal = RecordEpisode.Goal(task=task, episode_time_s=episode_time_s)
        handle = self.probe.send_goal(RecordEpisode, "/recorder/record_episode", goal, timeout=90)
        assert handle.accepted
        self.probe.wait_until(
            lambda: self.status and self.status[-1].state == RecorderStatus.STATE_RECORDING,
            timeout=60,
            message="recorder never started recording",
        )
        return handle

    def publish(self, records, pace: float = 0.004) -> dict[str, int]:
        counts: dict[str, int] = {}
        for topic, _, msg in records:
            self.publishers[topic].publish(msg)
            counts[topic] = counts.get(topic, 0) + 1
            time.sleep(pace)
        return counts

    def wait_received(self, expected: dict[str, int], timeout: float = 60) -> None:
        def done() -> bool:
            if not self.status or not self.status[-1].streams:
                return False
            received = {"/" + s.topic.lstrip("/"): s.messages_received for s in self.status[-1].streams}
            return all(received.get(topic, 0) >= count for topic, count in expected.items())

        self.probe.wait_until(done, timeout=timeout, message=f"recorder did not receive {expected}: {self.status[-1:]}")

    def save(self) -> SaveEpisode.Response:
        return self.probe.call_service("/recorder/save_episode", SaveEpisode, timeout=120)

    def finalize(self) -> Trigger.Response:
        return self.probe.call_service("/recorder/finalize", Trigger, timeout=120)


def read_frames(root: Path) -> dict:
    table = pq.read_table(next((root / "data").rglob("*.parquet"))).to_pydict()
    video = next((root / "videos" / "observation.images.front").rglob("*.mp4"))
    with av.open(str(video)) as container:
        pixels = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    return {**{k: table[k] for k in ("observation.state", "action", "timestamp", "frame_index")}, "pixels": pixels}


@pytest.mark.slow
@pytest.mark.reference
def test_recorder_live_frames_equal_bag_conversion(
    tmp_path, small_contract_path, tools, ros_graph, ros_probe, load_with_lerobot
):
    graph = ros_graph([recorder(small_contract_path, tmp_path / "live")], actions=["/recorder/record_episode"])
    session = Session(ros_probe, tools)
    session.wait_subscribed()
    handle = session.start("live task")
    records = tools.synthetic_stream(1000 * S, 2.0)
    counts = session.publish(records)
    session.wait_received(counts)
    saved = session.save()
    assert saved.success, saved.message
    result_future = handle.get_result_async()
    ros_probe.wait_until(result_future.done, timeout=60)
    result = result_future.result().result
    assert result.saved and result.episode_index == 0 and result.frames == saved.frames
    assert session.finalize().success
    graph.check_alive()

    bag = tools.write_bag(tmp_path / "bag", records, "mcap")
    contract = load_contract(small_contract_path)
    converted = convert_bags(
        [bag], contract, tmp_path / "bag_ds", "local/bag", task="live task",
        writer_config=WriterConfig(fps=30, video_codec="h264"), log=lambda _: None,
    )  # fmt: skip
    assert converted.episodes[0].frames == saved.frames > 50
    live, offline = read_frames(tmp_path / "live"), read_frames(tmp_path / "bag_ds")
    for key in ("observation.state", "action", "timestamp", "frame_index"):
        assert live[key] == offline[key], key
    assert len(live["pixels"]) == len(offline["pixels"]) == saved.frames
    for a, b in zip(live["pixels"], offline["pixels"], strict=True):
        np.testing.assert_array_equal(a, b)
    loaded = load_with_lerobot(tmp_path / "live")
    assert loaded["episodes"] == 1 and loaded["lengths"] == [saved.frames]
    assert loaded["samples"][0]["task"] == "live task"
    live_contract = load_contract(tmp_path / "live" / "meta" / "lerobot_ros_contract.yaml")
    assert "observation.force" not in live_contract.keys  # optional, never published


@pytest.mark.slow
def test_timed_episode_counts_its_time_from_the_first_frame(tmp_path, small_contract_path, tools, ros_graph, ros_probe):
    """A stream that comes up late (a driver still connecting) does not shorten a timed episode, and
    one that runs ahead of this node's clock adds no frame: episode_time_s × fps frames at k/fps."""
    graph = ros_graph([recorder(small_contract_path, tmp_path / "ds")], actions=["/recorder/record_episode"])
    session = Session(ros_probe, tools)
    session.wait_subscribed()
    handle = session.start("timed", episode_time_s=1.0)
    start = 1000 * S  # header stamps on another clock than the recorder's
    late = start + S // 2
    records = [r for r in tools.synthetic_stream(start, 3.0) if r[0] != "/follower/joint_states" or r[1] >= late]
    session.publish(records, pace=0.002)  # the stamps' clock runs ahead of the recorder's
    result_future = handle.get_result_async()
    ros_probe.wait_until(result_future.done, timeout=60)
    result = result_future.result().result
    assert result.saved, result.message
    assert result.frames == 30, result.message
    assert session.finalize().success
    table = pq.read_table(next((tmp_path / "ds" / "data").rglob("*.parquet"))).to_pydict()
    np.testing.assert_allclose(table["timestamp"], np.arange(30) / 30, atol=1e-6)
    # Frame 0 is the first instant every stream has data: the late follower's first joint state.
    first_state = tools.joint_state(late, (late - start) // 10_000_000)
    np.testing.assert_allclose(table["observation.state"][0][:5], np.degrees(first_state.position[:5]), atol=1e-3)
    graph.check_alive()


@pytest.mark.slow
@pytest.mark.reference
def test_recorder_sigkill_mid_episode_then_resume(
    tmp_path, small_contract_path, tools, ros_graph, ros_probe, load_with_lerobot
):
    root = tmp_path / "ds"
    graph = ros_graph([recorder(small_contract_path, root, required=False)], actions=["/recorder/record_episode"])
    session = Session(ros_probe, tools)
    session.wait_subscribed()
    session.start("first")
    session.wait_received(session.publish(tools.synthetic_stream(10 * S, 1.0)))
    first = session.save()
    assert first.success and first.episode_index == 0
    session.start("killed")
    session.wait_received(session.publish(tools.synthetic_stream(20 * S, 0.5)))
    os.kill(graph.process("recorder").process.pid, signal.SIGKILL)
    graph.process("recorder").process.wait(timeout=30)

    ros_graph([recorder(small_contract_path, root)], actions=["/recorder/record_episode"])
    session = Session(ros_probe, tools)  # fresh clients for the new server
    session.wait_subscribed()
    session.start("after restart")
    session.wait_received(session.publish(tools.synthetic_stream(30 * S, 1.0)))
    second = session.save()
    assert second.success and second.episode_index == 1, second.message
    assert session.finalize().success
    loaded = load_with_lerobot(root)
    assert loaded["episodes"] == 2 and loaded["lengths"] == [first.frames, second.frames]
    assert {s["task"] for s in loaded["samples"]} == {"first", "after restart"}


@pytest.mark.slow
def test_recorder_missing_topic_and_bad_messages(tmp_path, small_contract_path, tools, ros_graph, ros_probe):
    graph = ros_graph([recorder(small_contract_path, tmp_path / "ds")], actions=["/recorder/record_episode"])
    session = Session(ros_probe, tools)
    session.wait_subscribed()
    # camera silent: no complete frame → a clear refusal, nothing written
    session.start("no camera")
    joints_only = [r for r in tools.synthetic_stream(5 * S, 0.5) if "image" not in r[0]]
    session.wait_received(session.publish(joints_only))
    empty = session.save()
    assert not empty.success and "no complete frame" in empty.message and "observation.images.front" in empty.message
    # wrong image size and NaN: rejected messages, reported per stream, the episode still saves
    session.start("bad messages")
    records = tools.synthetic_stream(6 * S, 1.0)
    small = tools.camera_image(6 * S + 500_000_000, 1, height=24, width=32)
    nan = tools.joint_state(6 * S + 501_000_000, 0)
    nan.position[0] = float("nan")
    records += [("/cameras/front/image_raw", 0, small), ("/follower/joint_states", 0, nan)]
    session.wait_received(session.publish(sorted(records, key=lambda r: r[1])))
    saved = session.save()
    assert saved.success and saved.episode_index == 0, saved.message
    output = graph.output("recorder")
    assert "image is 32x24, the contract expects 64x48" in output
    assert "non-finite value(s) for ['shoulder_pan.pos']" in output
    assert session.finalize().success
    assert [e.event for e in session.events] == [
        EpisodeEvent.START,
        EpisodeEvent.DISCARD,
        EpisodeEvent.START,
        EpisodeEvent.END,
    ]


@pytest.mark.slow
def test_recorder_camera_gap_splits_like_bag_conversion(tmp_path, small_contract_path, tools, ros_graph, ros_probe):
    """A 0.5 s camera gap: the recorder ends the episode there and goes on as the next, as bag2dataset does."""
    graph = ros_graph([recorder(small_contract_path, tmp_path / "live")], actions=["/recorder/record_episode"])
    session = Session(ros_probe, tools)
    session.wait_subscribed()
    handle = session.start("gap")
    records = [
        r
        for r in tools.synthetic_stream(1000 * S, 3.0)
        if not ("image" in r[0] and 1001 * S <= r[1] < 1001 * S + S // 2)
    ]
    session.publish(records)
    ros_probe.wait_until(  # the status counts the open episode: the second one's 44 frames (as converted below)
        lambda: session.status and (session.status[-1].episode_index, session.status[-1].frames) == (1, 44),
        timeout=60,
        message=f"the recorder did not record the second episode: {session.status[-1:]}",
    )
    saved = session.save()
    assert saved.success and saved.episode_index == 0, saved.message
    assert "split into episodes 0, 1" in saved.message
    result_future = handle.get_result_async()
    ros_probe.wait_until(result_future.done, timeout=60)
    assert result_future.result().result.frames == saved.frames
    ended = [s.message for s in session.status if "ended: no usable sample from observation.images.front" in s.message]
    assert ended and "recording goes on as episode 1" in ended[0]
    assert session.finalize().success
    graph.check_alive()
    assert [e.event for e in session.events] == [EpisodeEvent.START, EpisodeEvent.END] * 2
    assert [e.episode_index for e in session.events] == [0, 0, 1, 1]

    bag = tools.write_bag(tmp_path / "bag", records, "mcap")
    converted = convert_bags(
        [bag], load_contract(small_contract_path), tmp_path / "bag_ds", "local/bag", task="gap",
        writer_config=WriterConfig(fps=30, video_codec="h264"), log=lambda _: None,
    )  # fmt: skip
    assert [e.frames for e in converted.episodes] == [saved.frames - converted.episodes[1].frames, 44]
    live, offline = read_frames(tmp_path / "live"), read_frames(tmp_path / "bag_ds")
    for key in ("observation.state", "action", "timestamp", "frame_index"):
        assert live[key] == offline[key], key
    for a, b in zip(live["pixels"], offline["pixels"], strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_recorder_warns_about_a_publisher_it_cannot_hear(tmp_path, small_contract_path, ros_graph, ros_probe):
    """The task topic is subscribed reliably: a best-effort task publisher would be silently unheard."""
    graph = ros_graph([recorder(small_contract_path, tmp_path / "ds")], actions=["/recorder/record_episode"])
    ros_probe.publisher("/task", String, SENSOR_QOS)
    ros_probe.wait_until(
        lambda: "QoS mismatch" in graph.output("recorder"), timeout=60, message="no QoS mismatch warning"
    )
    warning = next(line for line in graph.output("recorder").splitlines() if "QoS mismatch" in line)
    assert "task: publisher" in warning and "RELIABLE but the publisher is BEST_EFFORT" in warning
