"""`lerobot-ros demo`: the whole workflow on simulated hardware, in about two minutes.

1. record: the `record` graph with emulated servo buses, a scripted leader and two simulated
   cameras records a few short episodes into a LeRobot v3.0 dataset;
2. a small random-weight ACT checkpoint is created for the dataset's features (normalization
   from the dataset's stats), as a training run would leave one;
3. rollout: the `rollout` graph runs that checkpoint on the simulated follower for a few seconds.

Node output goes to log files next to the dataset; the terminal shows progress and summaries.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np

from lerobot_ros_bringup.graph import get_graph
from lerobot_ros_bringup.runner import GraphRunner
from lerobot_ros_bringup.testing.probe import RosProbe
from lerobot_ros_core.cli import Command

DEMO_CONFIG = "demo"


def _demo_config_dir() -> Path:
    from lerobot_ros_bringup.graphs.parts import config_dir

    return config_dir() / DEMO_CONFIG


def _say(text: str) -> None:
    print(f"\033[1m[demo]\033[0m {text}", flush=True)


def record(probe: RosProbe, output: Path, episodes: int, episode_time: float) -> Path:
    from lerobot_ros_msgs.msg import RecorderStatus

    dataset = output / "dataset"
    config = _demo_config_dir()
    arguments = {
        "hardware": "sim",
        "robot_config": str(config / "robot.yaml"),
        "contract": str(config / "contract.yaml"),
        "root": str(dataset),
        "repo_id": "local/lerobot_ros_demo",
        "num_episodes": str(episodes),
        "episode_time_s": str(episode_time),
        "reset_time_s": "1",
    }
    nodes = get_graph("record").nodes(arguments)
    _say(f"recording {episodes} episodes of {episode_time:.0f} s: {', '.join(n.name for n in nodes)}")
    statuses: list[RecorderStatus] = probe.collect("/recorder/status", RecorderStatus)
    with (output / "record.log").open("w") as log:
        runner = GraphRunner(nodes, output=log)
        runner.start()
        last = ""
        try:
            while runner.poll():
                if statuses:
                    status = statuses[-1]
                    episode = min(status.episode_index + 1, episodes)
                    line = (
                        f"  {status.state:<10} episode {episode}/{episodes}  "
                        f"{status.frames:4d} frames  {status.elapsed:4.1f}/{episode_time:.0f} s  "
                        f"saved {status.episodes_saved}"
                    )
                    if line != last:
                        print(line, flush=True)
                        last = line
                time.sleep(0.5)
        finally:
            code = runner.wait()
    if code != 0 or not (dataset / "meta" / "info.json").is_file():
        raise RuntimeError(f"recording failed ({runner.failure or f'exit code {code}'}); see {output / 'record.log'}")
    return dataset


def summarize_dataset(dataset: Path) -> dict:
    info = json.loads((dataset / "meta" / "info.json").read_text())
    videos = sorted(p.relative_to(dataset) for p in (dataset / "videos").rglob("*.mp4"))
    _say(f"dataset: {dataset} (repo id {info.get('repo_id', 'local/lerobot_ros_demo')})")
    print(f"  {info['total_episodes']} episodes, {info['total_frames']} frames at {info['fps']} fps")
    print(f"  features: {', '.join(info['features'])}")
    for video in videos:
        print(f"  video: {video}")
    sync_file = dataset / "meta" / "lerobot_ros_sync.json"
    if sync_file.is_file():
        print("  sync report per episode (stream: staleness p95, gaps, frames held/padded):")
        for episode, report in json.loads(sync_file.read_text()).items():
            cells = [
                f"{name.removeprefix('observation.')}: {s['staleness_p95'] * 1000:.0f} ms, {s['gaps']}, "
                f"{s['frames_held']}/{s['frames_padded']}"
                for name, s in report["streams"].items()
            ]
            print(
                f"    episode {episode}: {report['frames']} frames, {report['frames_held']} held, "
                f"{report['frames_padded']} padded | " + " | ".join(cells)
            )
    print(
        f"  LeRobot loads it as LeRobotDataset('local/lerobot_ros_demo', root='{dataset}'); train with\n"
        f"  lerobot-train --dataset.repo_id=local/lerobot_ros_demo --dataset.root={dataset} --policy.type=act"
    )
    return info


def rollout(probe: RosProbe, output: Path, checkpoint: Path, seconds: float) -> dict[str, float]:
    from sensor_msgs.msg import JointState
    from trajectory_msgs.msg import JointTrajectory

    from lerobot_ros_msgs.msg import PolicyStatus

    config = _demo_config_dir()
    arguments = {
        "hardware": "sim",
        "robot_config": str(config / "robot.yaml"),
        "contract": str(config / "contract.yaml"),
        "policy_path": str(checkpoint),
    }
    nodes = get_graph("rollout").nodes(arguments)
    _say(f"rollout for {seconds:.0f} s: {', '.join(n.name for n in nodes)}")
    trajectories = probe.collect("/follower/joint_trajectory", JointTrajectory)
    states = probe.collect("/follower/joint_states", JointState)
    policy_status = probe.collect("/policy/status", PolicyStatus)
    with (output / "rollout.log").open("w") as log:
        runner = GraphRunner(nodes, output=log)
        runner.start()
        try:
            deadline = time.monotonic() + 120
            while not trajectories:
                if not runner.poll() or time.monotonic() > deadline:
                    raise RuntimeError(f"the policy published no trajectory; see {output / 'rollout.log'}")
                time.sleep(0.2)
            first_state = len(states)
            end = time.monotonic() + seconds
            while time.monotonic() < end and runner.poll():
                time.sleep(1.0)
                print(f"  {len(trajectories)} trajectories received by the follower", flush=True)
        finally:
            runner.stop()
    positions = np.array([s.position for s in states[first_state:]])
    motion = float(np.abs(np.diff(positions, axis=0)).sum()) if len(positions) > 1 else 0.0
    latency = policy_status[-1].latency_p50 if policy_status else float("nan")
    summary = {"trajectories": len(trajectories), "joint_motion_rad": motion, "latency_p50_s": latency}
    _say(
        f"rollout: {summary['trajectories']} timed trajectories executed, follower moved "
        f"{motion:.2f} rad in total, inference latency p50 {latency * 1000:.0f} ms"
    )
    return summary


def run_demo(output: Path, episodes: int, episode_time: float, rollout_time: float) -> int:
    from lerobot_ros_policy.checkpoint.random_act import create_random_act_checkpoint

    started = time.monotonic()
    if output.exists():
        shutil.rmtree(output)
    output.mkdir(parents=True)
    probe = RosProbe("demo")  # one DDS participant for the whole demo
    try:
        dataset = record(probe, output, episodes, episode_time)
        summarize_dataset(dataset)
        checkpoint = output / "checkpoint" / "pretrained_model"
        _say(f"creating a random-weight ACT checkpoint for the dataset's features: {checkpoint}")
        create_random_act_checkpoint(checkpoint, dataset)
        rollout(probe, output, checkpoint, rollout_time)
    finally:
        probe.close()
    _say(f"done in {time.monotonic() - started:.0f} s; logs in {output}")
    return 0


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", type=Path, default=Path("outputs/demo"), help="where the dataset and logs go")
    parser.add_argument("--episodes", type=int, default=3, help="episodes to record")
    parser.add_argument("--episode-time", type=float, default=8.0, help="seconds per episode")
    parser.add_argument("--rollout-time", type=float, default=10.0, help="seconds of policy rollout")


def _run(args: argparse.Namespace) -> int:
    try:
        return run_demo(args.output.resolve(), args.episodes, args.episode_time, args.rollout_time)
    except RuntimeError as error:
        _say(f"failed: {error}")
        return 1


COMMAND = Command(
    help="record a dataset and roll out a policy on simulated hardware (no robot needed)",
    description=__doc__,
    configure=_configure,
    run=_run,
)
