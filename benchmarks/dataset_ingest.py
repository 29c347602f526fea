"""Ingest cost per 640x480 camera frame: the suite's writer vs LeRobot 0.4.4 vs the bare encoder, in one run.

    python benchmarks/dataset_ingest.py [--frames 300] [--episodes 2]

Every contender gets the same frames (one camera plus a 6-dof state and action):
  * bare encoder: PyAV libsvtav1 with LeRobot's settings (yuv420p, g=2, crf=30, preset 12), nothing else;
  * this writer: DatasetWriter add_frame for every frame + save_episode per episode (video, parquet, stats);
  * LeRobot 0.4.4 (reference venv, subprocess): LeRobotDataset add_frame + save_episode, as `create` sets it
    up by default (PNG frames, encoded at save), with lerobot-record's 4 image-writer threads, and with its
    streaming encoder.
Targets: >= 2x LeRobot's throughput, <= 1.25x the bare encoder's cost.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from lerobot_ros_record.dataset import DatasetWriter, WriterConfig

WORKSPACE = Path(__file__).resolve().parent.parent
REFERENCE_PYTHON = WORKSPACE / ".venv-lerobot" / "bin" / "python"
HEIGHT, WIDTH, FPS = 480, 640, 30
FEATURES = {
    "observation.state": {"dtype": "float32", "shape": [6], "names": [f"j{i}.pos" for i in range(6)]},
    "action": {"dtype": "float32", "shape": [6], "names": [f"j{i}.pos" for i in range(6)]},
    "observation.images.front": {
        "dtype": "video",
        "shape": [HEIGHT, WIDTH, 3],
        "names": ["height", "width", "channels"],
    },
}

LEROBOT_RUN = """
import json, sys, time
import numpy as np
from lerobot.datasets.lerobot_dataset import LeRobotDataset
frames = np.load(sys.argv[1], mmap_mode="r")
root, episodes, mode = sys.argv[2], int(sys.argv[3]), sys.argv[4]
features = json.loads(sys.argv[5])
for spec in features.values():
    spec["shape"] = tuple(spec["shape"])
options = {"default": {}, "threads": {"image_writer_threads": 4}, "streaming": {"streaming_encoding": True}}[mode]
ds = LeRobotDataset.create("bench/lerobot", fps=30, features=features, root=root, **options)
per_episode = len(frames) // episodes
state = np.zeros(6, np.float32)
start = time.perf_counter()
for episode in range(episodes):
    for i in range(episode * per_episode, (episode + 1) * per_episode):
        ds.add_frame({"observation.state": state, "action": state, "observation.images.front": np.array(frames[i]),
                      "task": "bench"})
    ds.save_episode()
ds.finalize()
print(json.dumps({"seconds": time.perf_counter() - start, "frames": per_episode * episodes}))
"""


def make_frames(count: int) -> np.ndarray:
    """A moving textured scene with sensor noise: compresses like a camera image, not like a flat test card."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    texture = rng.integers(0, 40, (HEIGHT, WIDTH, 3)).astype(np.float32)
    frames = np.empty((count, HEIGHT, WIDTH, 3), np.uint8)
    for i in range(count):
        cx, cy = 320 + 200 * np.sin(i / 20), 240 + 150 * np.cos(i / 27)
        blob = 120 * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / 4000)
        base = np.stack([x / 3 + i, y / 2, (x + y) / 5 - i], axis=-1) % 160
        noise = rng.normal(0, 3, (HEIGHT, WIDTH, 3))
        frames[i] = np.clip(base + texture + blob[..., None] + noise, 0, 255).astype(np.uint8)
    return frames


def bare_encoder(frames: np.ndarray, path: Path) -> float:
    start = time.perf_counter()
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libsvtav1", rate=FPS, options={"g": "2", "crf": "30", "preset": "12"})
        stream.pix_fmt, stream.width, stream.height = "yuv420p", WIDTH, HEIGHT
        stream.time_base = Fraction(1, FPS)
        for i, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, FPS)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return time.perf_counter() - start


def this_writer(frames: np.ndarray, root: Path, episodes: int) -> tuple[float, int]:
    writer = DatasetWriter.create(root, "bench/suite", FEATURES, WriterConfig(fps=FPS, encoder_queue_size=len(frames)))
    per_episode = len(frames) // episodes
    state = np.zeros(6, np.float32)
    dropped = 0
    start = time.perf_counter()
    for episode in range(episodes):
        writer.start_episode("bench")
        for i in range(episode * per_episode, (episode + 1) * per_episode):
            writer.add_frame({"observation.state": state, "action": state, "observation.images.front": frames[i]})
        dropped += writer.save_episode().total_dropped_frames
    writer.finalize()
    return time.perf_counter() - start, dropped


def lerobot(frames_file: Path, root: Path, episodes: int, mode: str) -> float | None:
    if not REFERENCE_PYTHON.exists():
        return None
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "AMENT", "COLCON"))}
    env.pop("VIRTUAL_ENV", None)
    env["HF_HUB_OFFLINE"] = "1"
    result = subprocess.run(
        [
            str(REFERENCE_PYTHON),
            "-c",
            LEROBOT_RUN,
            str(frames_file),
            str(root),
            str(episodes),
            mode,
            json.dumps(FEATURES),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if result.returncode != 0:
        print(f"LeRobot ({mode}) failed:\n{result.stderr[-2000:]}", file=sys.stderr)
        return None
    return json.loads(result.stdout.strip().splitlines()[-1])["seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--episodes", type=int, default=2)
    args = parser.parse_args()
    frames = make_frames(args.frames - args.frames % args.episodes)
    n = len(frames)
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        np.save(tmp / "frames.npy", frames)
        bare = bare_encoder(frames, tmp / "bare.mp4")
        ours, dropped = this_writer(frames, tmp / "suite", args.episodes)
        shutil.rmtree(tmp / "suite")
        theirs = {
            mode: lerobot(tmp / "frames.npy", tmp / f"lerobot_{mode}", args.episodes, mode)
            for mode in ("default", "threads", "streaming")
        }

    def ms(seconds: float) -> str:
        return f"{1000 * seconds / n:7.2f} ms/frame  ({n / seconds:6.1f} frames/s)"

    print(
        f"{n} frames {WIDTH}x{HEIGHT}, {args.episodes} episodes, libsvtav1 crf 30 preset 12 g 2, {os.cpu_count()} CPUs"
    )
    print(f"bare encoder (PyAV)                 {ms(bare)}")
    print(f"this writer                         {ms(ours)}  dropped frames: {dropped}")
    labels = {
        "default": "LeRobot 0.4.4 (create defaults)",
        "threads": "LeRobot 0.4.4 (4 image writers)",
        "streaming": "LeRobot 0.4.4 (streaming_encoding)",
    }
    for mode, seconds in theirs.items():
        print(f"{labels[mode]:<36}{ms(seconds) if seconds else 'not run (reference venv missing or failed)'}")
    print(f"\nthis writer / bare encoder cost:    {ours / bare:5.2f}x   (target <= 1.25x)")
    for mode, seconds in theirs.items():
        if seconds:
            print(f"throughput vs {labels[mode]:<36} {seconds / ours:5.2f}x   (target >= 2x)")


if __name__ == "__main__":
    main()
