"""Policy node overhead per inference at two 640x480 cameras, beside the model's own inference time.

Overhead = what the node adds around the model for one chunk: observation assembly from ROS
messages with the recorder's converters (2 x 640x480 rgb8 images + joint state), the runtime's
pre- and post-processing (normalization, image to float tensors, un-normalization), LeRobot units
→ radians, the execution core (trim, checks, plan) and building + publishing the JointTrajectory
and ActionChunk with rclpy. Baselines, measured in the same run on the same inputs: the model
forward pass alone, and the runtime's pre-processing with per-pixel image arithmetic (the path
before the lookup tables: uint8 → float ÷ 255 → normalize, as LeRobot computes it). Target:
overhead ≤ 3 ms.

The checkpoint is a random-weight ACT saved by LeRobot 0.4.4 (needs .venv-lerobot), with LeRobot's
default ACT architecture (ResNet-18, dim_model 512, 4+1 layers, chunk 100) and 480x640 inputs.

    source scripts/env.sh && python benchmarks/policy_node_overhead.py [--runs 20]
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import rclpy
import torch
from sensor_msgs.msg import Image, JointState

from lerobot_ros_core.contract import parse_contract
from lerobot_ros_msgs.msg import ActionChunk
from lerobot_ros_policy.checkpoint import Preprocessor
from lerobot_ros_policy.execution import ChunkExecutor, ExecutionConfig
from lerobot_ros_policy.execution.observation import ObservationAssembler, match_checkpoint
from lerobot_ros_policy.nodes.policy_node import chunk_message, trajectory_message
from lerobot_ros_policy.runtimes import load_runtime

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location(
    "policy_node_support", ROOT / "src/lerobot_ros_policy/test/policy_node_support.py"
)
support = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(support)
CAMERAS = {"front": (480, 640), "wrist": (480, 640)}


def image_message(rng: np.random.Generator, stamp) -> Image:
    data = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    msg = Image(height=480, width=640, encoding="rgb8", step=640 * 3, data=data.tobytes())
    msg.header.stamp = stamp
    return msg


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = support.make_checkpoint(Path(tmp) / "act", CAMERAS, chunk_size=100, architecture="default")
        contract = parse_contract(support.contract_dict(CAMERAS))
        runtime = load_runtime(checkpoint)
        per_pixel = Preprocessor(runtime.checkpoint.preprocessor, runtime.config.input_features, runtime.device)
        per_pixel.image_lookups = {}
        columns = match_checkpoint(contract, runtime.input_features, runtime.config.action_feature)
        rclpy.init()
        node = rclpy.create_node("policy_overhead_benchmark")
        from trajectory_msgs.msg import JointTrajectory

        trajectory_pub = node.create_publisher(JointTrajectory, "follower/joint_trajectory", 10)
        chunk_pub = node.create_publisher(ActionChunk, "policy/action_chunk", 10)
        assembler = ObservationAssembler(contract, list(runtime.input_features))
        clock = node.get_clock()
        executor = ChunkExecutor(ExecutionConfig(fps=30.0), columns.joints, clock.now().nanoseconds)
        rng = np.random.default_rng(0)

        overhead, model, assembly, processing, publish, per_pixel_processing = [], [], [], [], [], []
        for run in range(args.runs + 2):
            stamp = clock.now().to_msg()
            joint_state = JointState(name=support.JOINTS, position=rng.uniform(-0.5, 0.5, 6).tolist())
            joint_state.header.stamp = stamp
            assembler.update("observation.state", joint_state, clock.now().nanoseconds)
            for name in CAMERAS:
                assembler.update(f"observation.images.{name}", image_message(rng, stamp), clock.now().nanoseconds)

            t0 = time.perf_counter()
            now = clock.now().nanoseconds
            observation = assembler.assemble(now, max_age_s=1.0)
            request = executor.make_request(now)
            t1 = time.perf_counter()
            with torch.inference_mode():
                batch = runtime.preprocessor(observation)
                t2 = time.perf_counter()
                raw = runtime.model(batch)
                t3 = time.perf_counter()
                actions = runtime.postprocessor(raw)[0].to(torch.float32).numpy()
            chunk = columns.to_ros(actions)
            t4 = time.perf_counter()
            plan = executor.accept_chunk(request, chunk, t4 - t0, executor.time_of(request.step) + 1)
            trajectory_pub.publish(trajectory_message(plan.trajectory))
            chunk_pub.publish(chunk_message(plan))
            t5 = time.perf_counter()
            executor.reset(clock.now().nanoseconds)
            with torch.inference_mode():
                t6 = time.perf_counter()
                per_pixel(observation)
                t7 = time.perf_counter()
            if run < 2:  # warm-up
                continue
            assembly.append(t1 - t0)
            processing.append((t2 - t1) + (t4 - t3))
            model.append(t3 - t2)
            publish.append(t5 - t4)
            overhead.append((t1 - t0) + (t2 - t1) + (t4 - t3) + (t5 - t4))
            per_pixel_processing.append(t7 - t6)

        def ms(values: list[float]) -> str:
            return f"median {statistics.median(values) * 1e3:7.2f} ms   p95 {np.percentile(values, 95) * 1e3:7.2f} ms"

        print(f"policy node overhead per inference, ACT chunk 100 x 6, 2 x 640x480 rgb8 + state, {args.runs} runs")
        print(f"  observation assembly        {ms(assembly)}")
        print(f"  pre/post-processing + units {ms(processing)}")
        print(f"  execution core + publish    {ms(publish)}")
        print(f"  node overhead (total)       {ms(overhead)}   target <= 3 ms")
        print(f"  baseline: model forward     {ms(model)}")
        print(f"  baseline: per-pixel preproc {ms(per_pixel_processing)}   (pre-processing without lookup tables)")
        node.destroy_node()
        rclpy.shutdown()


if __name__ == "__main__":
    main()
