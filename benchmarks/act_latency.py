"""Per-chunk ACT latency on CPU: the suite's native runtimes vs. LeRobot 0.4.4, same machine, one run.

LeRobot builds a random-weight ACT (default architecture: ResNet-18, dim 512, 4 encoder layers, chunk
100) for two 480×640 cameras and a 6-joint SO-101 state and saves it with its own `save_pretrained`
and processors. Three workers then load that checkpoint and time one chunk from the same uint8
observation (image conversion, preprocessing, model, postprocessing):

* LeRobot: `ACTPolicy.from_pretrained` + `make_pre_post_processors`, `predict_action_chunk`
  (reference venv);
* native in the reference venv: the suite's runtime on LeRobot's torch build (implementations compared
  alone);
* native in the suite's venv: what users get (exact path, the default);
* native fast path in the suite's venv: `accel="onnx"` (ONNX Runtime; exported to a temporary cache
  first, so its start includes the export).

The workers take turns chunk by chunk, so a load change on this shared machine hits all of them alike.
Besides wall-clock latency each reports the CPU time of its process per chunk (all its threads): the
work a chunk takes, which load on the machine changes little.
Each checks its actions against LeRobot's on that checkpoint first (max |Δ|, LeRobot units).

Run by hand (not part of the tests):
    source scripts/env.sh && python benchmarks/act_latency.py [--runs 20] [--height 480 --width 640] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

WORKSPACE = Path(__file__).resolve().parents[1]
PACKAGE = WORKSPACE / "src" / "lerobot_ros_policy"
REFERENCE_PYTHON = WORKSPACE / ".venv-lerobot" / "bin" / "python"
ORACLE = PACKAGE / "test" / "act_reference_oracle.py"

WORKER = """
import json, sys, time
import numpy as np
import torch

mode, package, checkpoint, reference, cache, threads = sys.argv[1:7]
if int(threads):
    torch.set_num_threads(int(threads))
data = np.load(reference)
observation = {k.split("/", 1)[1]: data[k] for k in data.files if k.startswith("input0/")}
if mode == "lerobot":
    from lerobot.policies.act.modeling_act import ACTPolicy
    from lerobot.policies.factory import make_pre_post_processors

    policy = ACTPolicy.from_pretrained(checkpoint).eval()
    preprocessor, postprocessor = make_pre_post_processors(policy.config, pretrained_path=checkpoint)

    def chunk():
        batch = {}
        for key, value in observation.items():
            tensor = torch.from_numpy(value)
            if "image" in key:
                tensor = tensor.type(torch.float32).div(255).permute(2, 0, 1).contiguous()
            batch[key] = tensor.unsqueeze(0)
        batch["task"] = ""
        with torch.no_grad():
            return postprocessor(policy.predict_action_chunk(preprocessor(batch)))[0].numpy()
else:
    sys.path.insert(0, package)
    from lerobot_ros_policy.runtimes import load_runtime

    runtime = load_runtime(checkpoint, accel="onnx" if mode == "onnx" else "none", accel_cache_dir=cache)
    if runtime.accel != ("onnx" if mode == "onnx" else "none"):
        sys.exit(f"accel unavailable: {runtime.accel_fallback}")

    def chunk():
        return runtime.predict_chunk(observation)

diff = float(np.abs(chunk() - data["chunks"][0]).max())
chunk()
print("READY", json.dumps({"diff": diff, "torch": torch.__version__, "threads": torch.get_num_threads()}), flush=True)
for _ in sys.stdin:
    start, cpu = time.perf_counter(), time.process_time()
    chunk()
    print(time.perf_counter() - start, time.process_time() - cpu, flush=True)
"""


def reference_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "AMENT", "COLCON"))}
    env.pop("VIRTUAL_ENV", None)
    env["HF_HUB_OFFLINE"] = "1"
    return env


class Worker:
    """A process that times one chunk each time it is asked."""

    def __init__(
        self, label: str, python: Path | str, mode: str, out: Path, env: dict[str, str], *, threads: int
    ) -> None:
        self.label = label
        self.process = subprocess.Popen(
            [
                str(python),
                "-c",
                WORKER,
                mode,
                str(PACKAGE),
                str(out / "checkpoint"),
                str(out / "reference.npz"),
                str(out / "cache"),
                str(threads),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        line = ""
        while not line.startswith("READY "):  # LeRobot prints progress messages of its own
            line = self.process.stdout.readline()
            if not line:
                sys.exit(f"{label}: worker failed to start (see its error output above)")
        self.info = json.loads(line.removeprefix("READY "))
        self.durations: list[float] = []
        self.cpu_times: list[float] = []

    def time_one(self) -> None:
        self.process.stdin.write("\n")
        self.process.stdin.flush()
        wall, cpu = self.process.stdout.readline().split()
        self.durations.append(float(wall))
        self.cpu_times.append(float(cpu))

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=60)


def summary(durations: list[float]) -> str:
    ms = np.array(durations) * 1e3
    return f"median {np.median(ms):7.1f} ms   p90 {np.percentile(ms, 90):7.1f} ms   min {ms.min():7.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20, help="timed chunks per implementation")
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--threads", type=int, default=0, help="torch (and ONNX Runtime) threads; 0 = torch's default")
    args = parser.parse_args()
    if not REFERENCE_PYTHON.exists():
        sys.exit(f"LeRobot reference venv missing ({REFERENCE_PYTHON}): run scripts/setup.sh --with-reference")

    spec = {
        "cameras": {"front": [args.height, args.width], "wrist": [args.height, args.width]},
        "state_dim": 6,
        "action_dim": 6,
        "seed": 0,
        "n_inputs": 1,
    }
    with tempfile.TemporaryDirectory() as tmp:
        print(f"LeRobot 0.4.4 builds a default ACT for 2 cameras {args.height}×{args.width}, state 6 ...")
        subprocess.run(
            [str(REFERENCE_PYTHON), str(ORACLE), json.dumps({"bench": spec}), tmp],
            env=reference_env(),
            check=True,
            stdout=subprocess.DEVNULL,
        )
        out = Path(tmp) / "bench"
        workers = [
            Worker("LeRobot ACT", REFERENCE_PYTHON, "lerobot", out, reference_env(), threads=args.threads),
            Worker(
                "native ACT, LeRobot's torch", REFERENCE_PYTHON, "native", out, reference_env(), threads=args.threads
            ),
            Worker("native ACT, suite's torch", sys.executable, "native", out, dict(os.environ), threads=args.threads),
            Worker("native ACT, accel=onnx", sys.executable, "onnx", out, dict(os.environ), threads=args.threads),
        ]
        for _ in range(args.runs):
            for worker in workers:
                worker.time_one()
        for worker in workers:
            worker.close()

    lerobot = np.median(workers[0].durations)
    lerobot_cpu = np.median(workers[0].cpu_times)
    print(f"{args.runs} chunks each, taking turns; CPU, 2 cameras {args.height}×{args.width}")
    for worker in workers:
        info = worker.info
        wall, cpu = np.median(worker.durations), np.median(worker.cpu_times)
        print(
            f"{worker.label:29s}: {summary(worker.durations)}   ratio {wall / lerobot:4.2f}×   "
            f"CPU {cpu * 1e3:7.1f} ms ({cpu / lerobot_cpu:4.2f}×)   (torch {info['torch']}, {info['threads']} "
            f"threads, max |Δ| vs LeRobot {info['diff']:.1e})"
        )
    print("targets: native ≤ 1.0× LeRobot (bit-identical); accel=onnx ≤ 0.5× LeRobot, max |Δ| ≤ 1e-4")


if __name__ == "__main__":
    main()
