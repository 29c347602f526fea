"""Keyboard client key decoding over a real pty, automatic mode (Hub push: test_hub.py)."""

from __future__ import annotations

import json
import os
import termios
import threading
import time

import pytest

from lerobot_ros_bringup.graph.description import NodeSpec
from lerobot_ros_msgs.msg import EpisodeEvent, RecorderStatus
from lerobot_ros_record.nodes.keyboard_client import KeyDecoder, read_keys


def test_recorder_keys_decode_arrows_escape_and_split_sequences():
    decoder = KeyDecoder()
    assert decoder.feed(b"\x1b[C\x1b[D\r") == ["right", "left", "enter"]
    assert decoder.feed(b"\x1b") == []  # maybe the start of a sequence
    assert decoder.feed(b"[") == []
    assert decoder.feed(b"C") == ["right"]
    assert decoder.feed(b"\x1b") == []
    assert decoder.timeout() == ["escape"]  # nothing followed: the Esc key
    assert decoder.feed(b"\x1bOD") == ["left"]  # application cursor mode
    assert decoder.feed(b"x\x1b[Aq") == ["quit"]  # other keys ignored


def test_recorder_keys_from_a_terminal():
    controller, terminal = os.openpty()
    keys = []

    def reader() -> None:
        for key in read_keys(terminal):
            keys.append(key)
            if key == "escape":
                return

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while termios.tcgetattr(terminal)[3] & termios.ICANON and time.monotonic() < deadline:
        time.sleep(0.01)  # until the client switched the terminal to cbreak mode
    os.write(controller, b"\x1b[C")
    time.sleep(0.2)
    os.write(controller, b"\x1b[D")
    time.sleep(0.2)
    os.write(controller, b"\x1b")
    thread.join(timeout=10)
    os.close(controller)
    os.close(terminal)
    assert keys == ["right", "left", "escape"]


@pytest.mark.slow
def test_recorder_automatic_mode(tmp_path, small_contract_path, tools, ros_graph, ros_probe):
    parameters = {
        "contract": str(small_contract_path),
        "root": str(tmp_path / "ds"),
        "video_codec": "h264",
        "optional_wait_s": 0.2,
        "num_episodes": 2,
        "episode_time_s": 1.0,
        "reset_time_s": 0.5,
        "task": "auto",
    }
    status = ros_probe.collect("/recorder/status", RecorderStatus)
    events = ros_probe.collect("/recorder/episode_events", EpisodeEvent)
    publishers = {
        topic: ros_probe.publisher(topic, type(msg), 100) for topic, _, msg in tools.synthetic_stream(10**9, 0.05)
    }
    ros_graph([NodeSpec("lerobot_ros_record", "recorder_node", "recorder", parameters=[parameters])])
    stop = threading.Event()

    def stream() -> None:  # sensors publishing in real time, stamped now
        k = 0
        while not stop.is_set():
            now = ros_probe.node.get_clock().now().nanoseconds
            publishers["/follower/joint_states"].publish(tools.joint_state(now, k))
            publishers["/leader/joint_states"].publish(tools.joint_state(now, k, 0.5))
            if k % 3 == 0:
                publishers["/cameras/front/image_raw"].publish(tools.camera_image(now, k))
            k += 1
            time.sleep(0.01)

    thread = threading.Thread(target=stream, daemon=True)
    thread.start()
    try:
        ros_probe.wait_until(
            lambda: status and status[-1].state == RecorderStatus.STATE_FINALIZED,
            timeout=90,
            message=f"automatic mode did not finish: {status[-1:]}",
        )
    finally:
        stop.set()
        thread.join(timeout=5)
    # two recordings; a loaded machine may stall the publishers past a stream's limit, which splits one
    saved = status[-1].episodes_saved
    assert saved >= 2
    assert any(s.state == RecorderStatus.STATE_RESETTING for s in status)
    # an episode that got no frame (sensors not up yet) is discarded and recorded again
    assert [e.event for e in events].count(EpisodeEvent.END) == saved
    info = json.loads((tmp_path / "ds" / "meta" / "info.json").read_text())
    assert info["total_episodes"] == saved and 0 < info["total_frames"] <= 62
