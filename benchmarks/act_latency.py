"""Per-chunk ACT latency on CPU: the suite's native runtime vs. LeRobot 0.4.4, same machine, one run.

LeRobot builds a random-weight ACT (default architecture: ResNet-18, dim 512, 4 encoder layers, chunk
100) for two 480×640 cameras and a 6-joint SO-101 state, saves it with its own `save_pretrained` and
processors, and times `preprocessor → predict_action_chunk → postprocessor` on a fixed observation
(in the reference venv, a subprocess). The native runtime then loads that checkpoint and times
`predict_chunk` on the same observation (which also includes the uint8 → float image conversion
LeRobot's timing leaves out). Both check that they produce the same actions.

Run by hand (not part of the tests):
    source scripts/env.sh && python benchmarks/act_latency.py [--runs 20] [--height 480 --width 640]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from lerobot_ros_policy.runtimes import load_runtime

WORKSPACE = Path(__file__).resolve().parents[1]
REFERENCE_PYTHON = WORKSPACE / ".venv-lerobot" / "bin" / "python"
ORACLE = WORKSPACE / "src" / "lerobot_ros_policy" / "test" / "act_reference_oracle.py"


def run_lerobot(spec: dict, out: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "AMENT", "COLCON"))}
    env.pop("VIRTUAL_ENV", None)
    env["HF_HUB_OFFLINE"] = "1"
    result = subprocess.run(
        [str(REFERENCE_PYTHON), str(ORACLE), json.dumps({"bench": spec}), str(out)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if result.returncode != 0:
        sys.exit(f"LeRobot reference run failed:\n{result.stdout}\n{result.stderr}")


def summary(durations: np.ndarray) -> str:
    ms = durations * 1e3
    return f"median {np.median(ms):7.1f} ms   p90 {np.percentile(ms, 90):7.1f} ms   min {ms.min():7.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20, help="timed chunks per implementation")
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--width", type=int, default=640)
    args = parser.parse_args()
    if not REFERENCE_PYTHON.exists():
        sys.exit(f"LeRobot reference venv missing ({REFERENCE_PYTHON}): run scripts/setup.sh --with-reference")

    spec = {
        "cameras": {"front": [args.height, args.width], "wrist": [args.height, args.width]},
        "state_dim": 6,
        "action_dim": 6,
        "seed": 0,
        "n_inputs": 1,
        "timing_runs": args.runs,
    }
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        print(f"LeRobot 0.4.4: building and timing a default ACT, 2 cameras {args.height}×{args.width} ...")
        run_lerobot(spec, out)
        reference = np.load(out / "bench" / "reference.npz")
        observation = {k.split("/", 1)[1]: reference[k] for k in reference.files if k.startswith("input0/")}

        runtime = load_runtime(out / "bench" / "checkpoint")
        parity = float(np.abs(runtime.predict_chunk(observation) - reference["chunks"][0]).max())
        runtime.predict_chunk(observation)  # warm-up, as the reference had two
        native = []
        for _ in range(args.runs):
            start = time.perf_counter()
            runtime.predict_chunk(observation)
            native.append(time.perf_counter() - start)
    native_s, lerobot_s = np.array(native), reference["timings"]

    print(
        f"{args.runs} chunks each; native: torch {torch.__version__}, {torch.get_num_threads()} threads; "
        f"LeRobot: torch {reference['torch_version']}, {int(reference['torch_threads'])} threads"
    )
    print(f"LeRobot ACT : {summary(lerobot_s)}")
    print(f"native ACT  : {summary(native_s)}")
    print(f"ratio native/LeRobot (median): {np.median(native_s) / np.median(lerobot_s):.2f}×  (target ≤ 1.0×)")
    print(f"max |native − LeRobot| over the chunk: {parity:.2e}")


if __name__ == "__main__":
    main()
