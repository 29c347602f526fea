"""Live recording load test: 3 cameras 640×480@30 + joint states 100 Hz + wrench 100 Hz → recorder node.

Publishers run in separate processes (one per camera, one for both arms' joint states, one for the
wrench), as on a robot; the recorder node records one episode of `--duration` seconds (the issue's
target: 300 s, zero dropped frames) with libsvtav1. Printed side by side:

* frames written against the frames the duration should give (duration × fps), the episodes they
  form (a stream past its sync limit ends an episode: the rest is the next one), frames held per
  stream, and camera frames the encoders could not keep up with;
* CPU of the recorder process against the publishers' (user+system seconds / wall seconds).

Run by hand (not part of the tests):
    source scripts/env.sh && python benchmarks/recorder_live.py [--duration 300] [--codec libsvtav1]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

WORKSPACE = Path(__file__).resolve().parents[1]
RECORDER = WORKSPACE / "install" / "lerobot_ros_record" / "lib" / "lerobot_ros_record" / "recorder_node"
FASTDDS_PROFILE = WORKSPACE / "src" / "lerobot_ros_bringup" / "config" / "fastdds.xml"  # what scripts/env.sh sets
JOINTS = ["shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper"]

PUBLISHER = (
    r"""
import sys, numpy as np, rclpy
from rclpy.executors import ExternalShutdownException
from lerobot_ros_core.node.qos import SENSOR_QOS
kind, name, content, index = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
rclpy.init()
node = rclpy.create_node(f"bench_{name}")
k = 0
if kind == "camera":
    from sensor_msgs.msg import Image
    pub = node.create_publisher(Image, f"cameras/{name}/image_raw", SENSOR_QOS)
    if content == "scene":
        sys.path.insert(0, BENCHMARKS)
        from dataset_ingest import make_frames
        images = np.roll(make_frames(POOL), 20 * index, axis=0)
    else:
        noise = np.random.default_rng(index).integers(0, 255, (480, 640, 3), dtype=np.uint8)
        images = [np.roll(noise, 4 * i, axis=1) for i in range(POOL)]
    pool = []  # built once: a camera driver does not pay numpy -> message conversions per frame here
    for image in images:
        msg = Image(height=480, width=640, encoding="rgb8", step=640 * 3)
        msg.data = image.tobytes()
        pool.append(msg)
    def tick():
        global k
        msg = pool[k % POOL]
        msg.header.stamp = node.get_clock().now().to_msg()
        pub.publish(msg); k += 1
    node.create_timer(1 / 30, tick)
elif kind == "joints":
    from sensor_msgs.msg import JointState
    pubs = [node.create_publisher(JointState, f"{arm}/joint_states", SENSOR_QOS) for arm in ("follower", "leader")]
    def tick():
        global k
        for i, pub in enumerate(pubs):
            msg = JointState(name=JOINTS_LIST, position=list(np.sin(np.arange(6) + k / 100 + i) * 0.5))
            msg.header.stamp = node.get_clock().now().to_msg()
            pub.publish(msg)
        k += 1
    node.create_timer(1 / 100, tick)
else:
    from geometry_msgs.msg import WrenchStamped
    pub = node.create_publisher(WrenchStamped, "force/wrench", SENSOR_QOS)
    def tick():
        global k
        msg = WrenchStamped(); msg.header.stamp = node.get_clock().now().to_msg()
        msg.wrench.force.z = float(np.sin(k / 50)); pub.publish(msg); k += 1
    node.create_timer(1 / 100, tick)
print("ready", flush=True)
started = node.get_clock().now()
try:
    rclpy.spin(node)
except (KeyboardInterrupt, ExternalShutdownException):
    pass
print(name, k / ((node.get_clock().now() - started).nanoseconds * 1e-9), flush=True)  # ticks per second
""".replace("JOINTS_LIST", repr(JOINTS))
    .replace("BENCHMARKS", repr(str(Path(__file__).parent)))
    .replace("POOL", "60")
)

CLIENT = r"""
import json, sys, time, rclpy
from rclpy.action import ActionClient
from lerobot_ros_msgs.action import RecordEpisode
from lerobot_ros_msgs.msg import RecorderStatus
from std_srvs.srv import Trigger
duration = float(sys.argv[1])
rclpy.init()
node = rclpy.create_node("bench_client")
status = []
node.create_subscription(RecorderStatus, "recorder/status", status.append, 10)
client = ActionClient(node, RecordEpisode, "recorder/record_episode")
assert client.wait_for_server(timeout_sec=60)
goal = client.send_goal_async(RecordEpisode.Goal(task="benchmark", episode_time_s=duration))
rclpy.spin_until_future_complete(node, goal, timeout_sec=60)
result = goal.result().get_result_async()
rclpy.spin_until_future_complete(node, result, timeout_sec=duration + 600)
r = result.result().result
final = status[-1]
fin = node.create_client(Trigger, "recorder/finalize"); fin.wait_for_service(timeout_sec=10)
f = fin.call_async(Trigger.Request()); rclpy.spin_until_future_complete(node, f, timeout_sec=60)
print(json.dumps({"saved": r.saved, "frames": r.frames, "message": r.message,
                  "dropped_video_frames": final.dropped_video_frames,
                  "streams": [{"feature": s.feature, "received": s.messages_received, "held": s.frames_held,
                               "limit_hits": s.limit_hits, "p95_ms": s.staleness_p95 * 1e3,
                               "max_ms": s.staleness_max * 1e3, "gaps": s.gaps}
                              for s in final.streams]}))
"""

CAMERAS = ("front", "wrist", "top")
_ARM = "type: sensor_msgs/msg/JointState, joints: {joints}, units: {{default: deg, gripper: percent}}"
CONTRACT = "\n".join(
    [
        "fps: 30",
        "robot_type: so101_follower",
        "task: benchmark",
        "features:",
        "  observation.state: {topic: follower/joint_states, " + _ARM.format(joints=JOINTS) + "}",
        "  action: {topic: leader/joint_states, " + _ARM.format(joints=JOINTS) + "}",
        "  observation.force: {topic: force/wrench, type: geometry_msgs/msg/WrenchStamped}",
        *(
            f"  observation.images.{name}: {{topic: cameras/{name}/image_raw, type: sensor_msgs/msg/Image, "
            "image: {height: 480, width: 640}}"
            for name in CAMERAS
        ),
    ]
)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its waited-for children (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(v) for v in fields[11:15])
    return ticks / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=300.0, help="episode length (s)")
    parser.add_argument("--codec", default="libsvtav1", choices=("libsvtav1", "h264", "hevc"))
    parser.add_argument(
        "--content", default="scene", choices=("scene", "noise"),
        help="camera images: a moving textured scene with sensor noise (compresses like a camera), or "
        "scrolling uniform noise (the encoder's worst case, ~25%% more CPU)",
    )  # fmt: skip
    args = parser.parse_args()
    env = {
        **os.environ,
        "ROS_DOMAIN_ID": os.environ.get("ROS_DOMAIN_ID", "77"),
        "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
        "FASTDDS_DEFAULT_PROFILES_FILE": os.environ.get("FASTDDS_DEFAULT_PROFILES_FILE", str(FASTDDS_PROFILE)),
    }
    print(f"Fast DDS profile: {env['FASTDDS_DEFAULT_PROFILES_FILE']}")
    with tempfile.TemporaryDirectory() as tmp:
        contract = Path(tmp) / "contract.yaml"
        contract.write_text(CONTRACT)
        recorder = subprocess.Popen(
            [str(RECORDER), "--ros-args", "-p", f"contract:={contract}", "-p", f"root:={tmp}/ds",
             "-p", f"video_codec:={args.codec}", "-p", "optional_wait_s:=3.0"],
            env=env, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        publishers = [
            subprocess.Popen(
                [sys.executable, "-c", PUBLISHER, kind, name, args.content, str(index)], env=env,
                start_new_session=True, stdout=subprocess.PIPE, text=True,
            )
            for index, (kind, name) in enumerate(
                (*(("camera", c) for c in CAMERAS), ("joints", "arms"), ("wrench", "ft"))
            )
        ]  # fmt: skip
        load = LoadSampler()
        try:
            for publisher in publishers:  # images built: every stream flows before the episode starts
                publisher.stdout.readline()
            time.sleep(3.0)
            started = time.monotonic()
            cpu_before = {p.pid: cpu_seconds(p.pid) for p in [recorder, *publishers]}
            load.start()
            client = subprocess.run(
                [sys.executable, "-c", CLIENT, str(args.duration)], env=env, capture_output=True, text=True,
                timeout=args.duration + 900, check=False,
            )  # fmt: skip
            load.stop()
            wall = time.monotonic() - started
            cpu = {pid: cpu_seconds(pid) - before for pid, before in cpu_before.items()}
        finally:
            for process in [*publishers, recorder]:
                os.killpg(process.pid, signal.SIGINT)
            for process in [*publishers, recorder]:
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
        rates = dict(line.split() for p in publishers for line in p.stdout.read().splitlines() if line.strip())
        if client.returncode != 0:
            print(client.stdout, client.stderr, recorder.stdout.read() if recorder.stdout else "")
            sys.exit(1)
        report = json.loads(client.stdout.strip().splitlines()[-1])
        info = json.loads((Path(tmp) / "ds" / "meta" / "info.json").read_text())
    expected = int(args.duration * 30)
    print(
        f"episode {args.duration:.0f} s, codec {args.codec}, {args.content} images: "
        f"{report['frames']} frames written, {expected} expected"
    )
    print(f"dataset episodes: {info['total_episodes']} ({report['message']})")
    print(
        f"camera frames the encoders dropped: {report['dropped_video_frames']}; dataset: {info['total_frames']} frames"
    )
    for stream in report["streams"]:
        rate = stream["received"] / args.duration
        print(f"  {stream['feature']:28s} {stream['received']:7d} msgs ({rate:5.1f}/s)  "
              f"staleness p95 {stream['p95_ms']:5.1f} ms max {stream['max_ms']:6.1f} ms  gaps {stream['gaps']}  "
              f"held {stream['held']}  limit hits {stream['limit_hits']} (last episode)")  # fmt: skip
    print("publish rates (messages/s per topic): " + ", ".join(f"{n} {float(r):.1f}" for n, r in rates.items()))
    recorder_cpu = cpu[recorder.pid] / wall
    publishers_cpu = sum(cpu[p.pid] for p in publishers) / wall
    print(f"CPU (cores): recorder {recorder_cpu:.2f}, the 5 publishers {publishers_cpu:.2f} (of {os.cpu_count()})")
    print(f"load average (1 min) during the episode: {load.summary()}")


class LoadSampler:
    """The 1-minute load average every 5 s while the episode runs (the machine may be shared)."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(5.0):
            self.samples.append(float(Path("/proc/loadavg").read_text().split()[0]))

    def summary(self) -> str:
        if not self.samples:
            return "not sampled"
        mean = sum(self.samples) / len(self.samples)
        return f"min {min(self.samples):.1f}, mean {mean:.1f}, max {max(self.samples):.1f}"


if __name__ == "__main__":
    main()
