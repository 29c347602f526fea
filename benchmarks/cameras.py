"""Camera pipeline costs at 640×480@30, each printed beside its baseline measured in the same run.

1. Conversion cost per frame (numpy ↔ Image / CompressedImage) against a plain numpy copy.
2. Capture → publish latency and CPU per frame of camera_node (raw rgb8, and raw + JPEG),
   against a bare rclpy publisher of a prepared frame (no capture, no decode, no conversion).
   camera_node plays an MJPG .avi (the format USB cameras stream at 640×480@30); latency is
   receive time minus header stamp (the capture time), in this process, same clock.

Run by hand:  source scripts/env.sh && python benchmarks/cameras.py [--seconds 8]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

WIDTH, HEIGHT, FPS = 640, 480, 30
WORKSPACE = Path(__file__).resolve().parents[1]
CAMERA_NODE = WORKSPACE / "install" / "lerobot_ros_drivers" / "lib" / "lerobot_ros_drivers" / "camera_node"


def per_call_ms(function, repeat: int = 200) -> float:
    function()
    start = time.perf_counter()
    for _ in range(repeat):
        function()
    return (time.perf_counter() - start) / repeat * 1e3


def conversions() -> None:
    from lerobot_ros_core.messages.images import (
        compressed_to_numpy,
        image_to_numpy,
        numpy_to_compressed,
        numpy_to_image,
        to_rgb8,
    )

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    frame = np.dstack([xx % 256, yy % 256, (xx + yy) % 256]).astype(np.uint8)
    frame[::7] ^= rng.integers(0, 32, (len(frame[::7]), WIDTH, 3), dtype=np.uint8)  # some texture for JPEG
    baseline = per_call_ms(frame.copy)
    msg = numpy_to_image(frame, "rgb8")
    bgr = numpy_to_image(np.ascontiguousarray(frame[:, :, ::-1]), "bgr8")
    jpeg = numpy_to_compressed(frame, "jpeg", 90)
    rows = [
        ("numpy_to_image rgb8 (bytes into msg.data)", per_call_ms(lambda: numpy_to_image(frame, "rgb8"))),
        ("image_to_numpy rgb8 (view)", per_call_ms(lambda: image_to_numpy(msg), 2000)),
        ("to_rgb8 from bgr8", per_call_ms(lambda: to_rgb8(bgr))),
        ("numpy_to_compressed JPEG q90", per_call_ms(lambda: numpy_to_compressed(frame, "jpeg", 90), 50)),
        ("compressed_to_numpy JPEG", per_call_ms(lambda: compressed_to_numpy(jpeg), 50)),
    ]
    print(f"\n1. Conversion per {WIDTH}x{HEIGHT} rgb8 frame (baseline: numpy copy of the frame = {baseline:.3f} ms)")
    print(f"   {'operation':45s} {'ms/frame':>9s} {'× copy':>8s}")
    for name, cost in rows:
        print(f"   {name:45s} {cost:9.3f} {cost / baseline:8.2f}")
    print(f"   (JPEG size {len(jpeg.data) / 1024:.0f} KiB; raw {len(msg.data) / 1024:.0f} KiB)")


def write_mjpeg(path: Path, frames: int = 90) -> None:
    import av

    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mjpeg", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuvj422p"
        for index in range(frames):
            image = np.dstack([(xx + 4 * index) % 256, yy % 256, np.full_like(xx, index * 2)]).astype(np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())


BASELINE_PUBLISHER = textwrap.dedent(
    """
    import time, numpy as np, rclpy
    from sensor_msgs.msg import Image
    from lerobot_ros_core.node.qos import SENSOR_QOS
    rclpy.init()
    node = rclpy.create_node("baseline_publisher")
    pub = node.create_publisher(Image, "cameras/front/image_raw", SENSOR_QOS)
    data = np.zeros((480, 640, 3), np.uint8).tobytes()
    def tick():
        msg = Image(height=480, width=640, encoding="rgb8", step=640 * 3)
        msg.header.stamp = node.get_clock().now().to_msg()
        msg.data = data
        pub.publish(msg)
    node.create_timer(1 / 30, tick)
    rclpy.spin(node)
    """
)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(command: list[str], seconds: float, compressed: bool) -> tuple[float, float, float, float]:
    """(median latency ms, p95 latency ms, CPU ms per published frame, frames/s received) of `command`.

    Both publishers are paced at FPS, so CPU per frame is the CPU time over FPS × elapsed frames.
    """
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import CompressedImage, Image

    from lerobot_ros_core.node.qos import subscriber_qos

    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node("camera_benchmark", context=context)
    latencies: list[float] = []
    topic, msg_type = (
        ("cameras/front/image_raw/compressed", CompressedImage) if compressed else ("cameras/front/image_raw", Image)
    )

    def on_message(msg) -> None:
        now = node.get_clock().now().nanoseconds
        latencies.append((now - (msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec)) / 1e6)

    node.create_subscription(msg_type, topic, on_message, subscriber_qos(10))
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while len(latencies) < 30 and time.monotonic() < deadline:  # warm-up: discovery, first frames
            executor.spin_once(timeout_sec=0.05)
        latencies.clear()
        cpu_start, wall_start = cpu_seconds(process.pid), time.monotonic()
        while time.monotonic() - wall_start < seconds:
            executor.spin_once(timeout_sec=0.05)
        cpu = cpu_seconds(process.pid) - cpu_start
        elapsed = time.monotonic() - wall_start
    finally:
        process.terminate()
        process.wait(10)
        executor.shutdown()
        node.destroy_node()
        rclpy.shutdown(context=context)
    return (
        float(np.median(latencies)),
        float(np.percentile(latencies, 95)),
        cpu / (FPS * elapsed) * 1e3,
        len(latencies) / elapsed,
    )


def pipeline(seconds: float) -> None:
    with tempfile.TemporaryDirectory() as folder:
        video = Path(folder) / "camera.avi"
        write_mjpeg(video)
        node = [str(CAMERA_NODE), "--ros-args", "-p", "name:=front", "-p", f"source:={video}", "-p", "loop:=true"]
        runs = [
            ("baseline: bare rclpy publisher, prepared frame", [sys.executable, "-c", BASELINE_PUBLISHER], False),
            ("camera_node raw rgb8 (MJPG decode + publish)", node, False),
            ("camera_node JPEG q90 on image_raw/compressed", [*node, "-p", "publish_compressed:=true"], True),
        ]
        print(
            f"\n2. Capture -> publish at {WIDTH}x{HEIGHT}@{FPS}, {seconds:g} s each (latency = receive - capture stamp)"
        )
        print(f"   {'publisher':50s} {'median ms':>9s} {'p95 ms':>7s} {'CPU ms/frame':>12s} {'received fps':>12s}")
        for name, command, compressed in runs:
            median, p95, cpu, fps = measure(command, seconds, compressed)
            print(f"   {name:50s} {median:9.2f} {p95:7.2f} {cpu:12.2f} {fps:12.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=8.0, help="measurement time per pipeline run")
    args = parser.parse_args()
    conversions()
    pipeline(args.seconds)


if __name__ == "__main__":
    main()
