"""Bag conversion throughput: a multi-camera MCAP bag → LeRobot dataset, against the bare encoder, one run.

Writes an MCAP bag (N cameras 640×480 rgb8 at 30 Hz, follower and leader joint states at 100 Hz,
moving synthetic content), then times

* `convert_bags` (the code path of `lerobot-ros bag2dataset`: bag reading, CDR decoding,
  conversion, resampling, parquet, one libsvtav1 encoder thread per camera);
* the bare encoder: the same camera frames (already decoded to numpy) through PyAV with LeRobot's
  settings (libsvtav1, yuv420p, g=2, crf=30, preset 12), one thread per camera.

Run by hand (not part of the tests):
    source scripts/env.sh && python benchmarks/bag_conversion.py [--seconds 10] [--cameras 3]
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

import av
import numpy as np
from rosbags.rosbag2 import StoragePlugin, Writer

from lerobot_ros_core.contract import parse_contract
from lerobot_ros_record.bag import convert_bags, typestore
from lerobot_ros_record.dataset import WriterConfig

JOINTS = ["shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper"]


def contract_text(cameras: int, height: int, width: int) -> str:
    lines = ["fps: 30", "robot_type: so101_follower", "task: benchmark", "features:"]
    for key, topic in (("observation.state", "follower"), ("action", "leader")):
        lines += [f"  {key}:", f"    topic: {topic}/joint_states", "    type: sensor_msgs/msg/JointState"]
        lines += [f"    joints: {JOINTS}", "    units: {default: deg, gripper: percent}"]
    for index in range(cameras):
        lines += [f"  observation.images.cam{index}:", f"    topic: cameras/cam{index}/image_raw"]
        lines += ["    type: sensor_msgs/msg/Image", f"    image: {{height: {height}, width: {width}}}"]
    return "\n".join(lines) + "\n"


def frame_pixels(k: int, camera: int, height: int, width: int) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    pixels = np.empty((height, width, 3), dtype=np.uint8)
    pixels[..., 0] = (x + 4 * k) % 256
    pixels[..., 1] = (y + 2 * k + 40 * camera) % 256
    pixels[..., 2] = ((x // 32 + y // 32 + k // 5) % 2) * 200
    return pixels


def write_bag(path: Path, seconds: float, cameras: int, height: int, width: int) -> dict[int, list[np.ndarray]]:
    store = typestore()
    types = store.types
    time_type, header_type = types["builtin_interfaces/msg/Time"], types["std_msgs/msg/Header"]
    joint_state_type, image_type = types["sensor_msgs/msg/JointState"], types["sensor_msgs/msg/Image"]
    start = 1_000_000_000_000
    frames: dict[int, list[np.ndarray]] = {c: [] for c in range(cameras)}
    records = []
    for k in range(int(seconds * 100)):
        stamp = start + k * 10_000_000
        for arm in ("follower", "leader"):
            header = header_type(stamp=time_type(sec=stamp // 10**9, nanosec=stamp % 10**9), frame_id="")
            msg = joint_state_type(
                header=header,
                name=list(JOINTS),
                position=np.sin(np.arange(6) + k / 50.0) * 0.5,
                velocity=np.zeros(0),
                effort=np.zeros(0),
            )
            records.append((stamp, f"/{arm}/joint_states", "sensor_msgs/msg/JointState", msg))
    for k in range(int(seconds * 30)):
        stamp = start + k * 33_333_333 + 1_000_000
        for camera in range(cameras):
            pixels = frame_pixels(k, camera, height, width)
            frames[camera].append(pixels)
            header = header_type(stamp=time_type(sec=stamp // 10**9, nanosec=stamp % 10**9), frame_id="")
            msg = image_type(
                header=header,
                height=height,
                width=width,
                encoding="rgb8",
                is_bigendian=0,
                step=width * 3,
                data=pixels.reshape(-1),
            )
            records.append((stamp, f"/cameras/cam{camera}/image_raw", "sensor_msgs/msg/Image", msg))
    records.sort(key=lambda r: r[0])
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        connections = {}
        for stamp, topic, msgtype, msg in records:
            if topic not in connections:
                connections[topic] = writer.add_connection(topic, msgtype, typestore=store)
            writer.write(connections[topic], stamp, store.serialize_cdr(msg, msgtype))
    return frames


def bare_encode(frames: dict[int, list[np.ndarray]], directory: Path) -> None:
    def encode(camera: int) -> None:
        with av.open(str(directory / f"bare{camera}.mp4"), "w") as container:
            stream = container.add_stream("libsvtav1", rate=30)
            first = frames[camera][0]
            stream.width, stream.height, stream.pix_fmt = first.shape[1], first.shape[0], "yuv420p"
            stream.options = {"g": "2", "crf": "30", "preset": "12"}
            for pixels in frames[camera]:
                container.mux(stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")))
            container.mux(stream.encode())

    threads = [threading.Thread(target=encode, args=(c,)) for c in frames]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="bag duration")
    parser.add_argument("--cameras", type=int, default=3)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--width", type=int, default=640)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        print(f"writing a {args.seconds:.0f} s MCAP bag with {args.cameras} cameras {args.width}x{args.height} ...")
        frames = write_bag(directory / "bag", args.seconds, args.cameras, args.height, args.width)
        size_mb = sum(p.stat().st_size for p in (directory / "bag").iterdir()) / 1e6
        contract = parse_contract(contract_text(args.cameras, args.height, args.width))

        started = time.perf_counter()
        result = convert_bags(
            [directory / "bag"], contract, directory / "ds", "local/bench",
            writer_config=WriterConfig(fps=30), log=lambda _: None,
        )  # fmt: skip
        convert_s = time.perf_counter() - started
        dataset_frames = sum(e.frames for e in result.episodes)

        camera_frames = sum(len(f) for f in frames.values())
        started = time.perf_counter()
        bare_encode(frames, directory)
        bare_s = time.perf_counter() - started

    print(f"bag: {size_mb:.0f} MB, {camera_frames} camera frames, dataset: {dataset_frames} frames")
    print(f"bag2dataset : {dataset_frames / convert_s:7.1f} dataset frames/s ({convert_s:.1f} s)")
    print(f"bare encoder: {camera_frames / args.cameras / bare_s:7.1f} frames/s per camera set ({bare_s:.1f} s)")
    print(f"conversion cost relative to the bare encoder: {convert_s / bare_s:.2f}x")


if __name__ == "__main__":
    main()
