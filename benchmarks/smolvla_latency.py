"""Per-chunk SmolVLA latency on CPU: the suite's native runtime vs. LeRobot 0.4.4, same machine, one run.

LeRobot builds a random-weight SmolVLA at the published size (stand-in SmolVLM2-500M backbone from
`src/lerobot_ros_policy/test/data/smolvlm2_standin`: 16 of its 32 text layers, 12-layer vision
encoder at 512×512, action expert of width 720, chunk 50, 10 denoising steps; ≈450 M parameters)
for two cameras and a 6-joint SO-101 state, and saves it with its own `save_pretrained` and
processors. Workers then load that checkpoint and time one chunk from the same uint8 observation,
task and start noise (preprocessing, tokenization, vision, prefix, 10 denoising steps,
postprocessing), plain and with RTC guidance (delay 4, execution horizon 10, LINEAR):

* LeRobot: `SmolVLAPolicy.from_pretrained` + `make_pre_post_processors`, `predict_action_chunk`
  (reference venv; RTC through its `RTCProcessor`);
* native in the reference venv: the suite's runtime on LeRobot's torch build (implementations alone);
* native in the suite's venv: what users get.

The workers take turns chunk by chunk, so a load change on this shared machine hits all alike. Each
checks its plain and guided actions against LeRobot's on that checkpoint first.

Run by hand (not part of the tests):
    source scripts/env.sh && python benchmarks/smolvla_latency.py [--runs 5] [--height 480 --width 640]
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
ORACLE = PACKAGE / "test" / "smolvla_reference_oracle.py"
STANDIN = PACKAGE / "test" / "data" / "smolvlm2_standin"
TASK = "pick up the cube and put it in the bowl"
RTC = {"shift": 4, "delay": 4, "execution_horizon": 10, "schedule": "linear", "max_guidance_weight": 10.0}

WORKER = """
import json, sys, time
import numpy as np
import torch

mode, package, checkpoint, reference, task, rtc = sys.argv[1:7]
rtc = json.loads(rtc)
data = np.load(reference)
observation = {k.split("/", 1)[1]: data[k] for k in data.files if k.startswith("input0/")}
noise, prefix = data["noise0"], data["prefixes"][0]
if mode == "lerobot":
    from lerobot.configs.types import RTCAttentionSchedule
    from lerobot.policies.factory import make_pre_post_processors
    from lerobot.policies.rtc.configuration_rtc import RTCConfig
    from lerobot.policies.smolvla.modeling_smolvla import SmolVLAPolicy

    policy = SmolVLAPolicy.from_pretrained(checkpoint).eval()
    preprocessor, postprocessor = make_pre_post_processors(policy.config, pretrained_path=checkpoint)
    rtc_config = RTCConfig(enabled=True, prefix_attention_schedule=RTCAttentionSchedule(rtc["schedule"].upper()),
                           max_guidance_weight=rtc["max_guidance_weight"], execution_horizon=rtc["execution_horizon"])

    def chunk(guided):
        batch = {}
        for key, value in observation.items():
            tensor = torch.from_numpy(value)
            if "image" in key:
                tensor = tensor.type(torch.float32).div(255).permute(2, 0, 1).contiguous()
            batch[key] = tensor.unsqueeze(0)
        batch["task"] = task
        policy.config.rtc_config = rtc_config if guided else None
        policy.init_rtc_processor()
        kwargs = {}
        if guided:
            left_over = postprocessor.steps[0]._normalize_action(torch.from_numpy(prefix), inverse=False)
            kwargs = dict(inference_delay=rtc["delay"], prev_chunk_left_over=left_over.unsqueeze(0),
                          execution_horizon=rtc["execution_horizon"])
        with torch.no_grad():
            actions = policy.predict_action_chunk(preprocessor(batch), noise=torch.from_numpy(noise)[None], **kwargs)
            return postprocessor(actions)[0].numpy()
else:
    sys.path.insert(0, package)
    from lerobot_ros_policy.runtimes import load_runtime
    from lerobot_ros_policy.runtimes.base import PrefixGuidance

    runtime = load_runtime(checkpoint)
    guidance = PrefixGuidance(prefix=prefix, delay=rtc["delay"], execution_horizon=rtc["execution_horizon"],
                              schedule=rtc["schedule"], max_guidance_weight=rtc["max_guidance_weight"])

    def chunk(guided):
        return runtime.predict_chunk(observation, task=task, guidance=guidance if guided else None, noise=noise)

diff = float(np.abs(chunk(False) - data["chunks"][0]).max())
diff_rtc = float(np.abs(chunk(True) - data["guided_chunks"][0]).max())
print("READY", json.dumps({"diff": diff, "diff_rtc": diff_rtc, "torch": torch.__version__,
                           "threads": torch.get_num_threads()}), flush=True)
for line in sys.stdin:
    start = time.perf_counter()
    chunk(line.strip() == "rtc")
    print(time.perf_counter() - start, flush=True)
"""


def reference_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "AMENT", "COLCON"))}
    env.pop("VIRTUAL_ENV", None)
    env["HF_HUB_OFFLINE"] = "1"
    return env


class Worker:
    """A process that times one chunk (plain or RTC-guided) each time it is asked."""

    def __init__(self, label: str, python: Path | str, mode: str, out: Path, env: dict[str, str]) -> None:
        self.label = label
        argv = [mode, str(PACKAGE), str(out / "checkpoint"), str(out / "reference.npz"), TASK, json.dumps(RTC)]
        self.process = subprocess.Popen(
            [str(python), "-c", WORKER, *argv], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
        )
        line = ""
        while not line.startswith("READY "):  # LeRobot prints progress messages of its own
            line = self.process.stdout.readline()
            if not line:
                sys.exit(f"{label}: worker failed to start (see its error output above)")
        self.info = json.loads(line.removeprefix("READY "))
        self.durations: dict[str, list[float]] = {"plain": [], "rtc": []}

    def time_one(self, kind: str) -> None:
        self.process.stdin.write(f"{kind}\n")
        self.process.stdin.flush()
        self.durations[kind].append(float(self.process.stdout.readline()))

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=120)


def summary(durations: list[float]) -> str:
    ms = np.array(durations) * 1e3
    return f"median {np.median(ms):7.0f} ms   min {ms.min():7.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="timed chunks per implementation and kind")
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--no-reference-native", action="store_true", help="skip the native worker on LeRobot's torch")
    parser.add_argument(
        "--out", type=Path, help="keep LeRobot's checkpoint and outputs here; reused when present (saves the build)"
    )
    args = parser.parse_args()
    if not REFERENCE_PYTHON.exists():
        sys.exit(f"LeRobot reference venv missing ({REFERENCE_PYTHON}): run scripts/setup.sh --with-reference")

    spec = {
        "backbone": str(STANDIN),
        "cameras": {"front": [args.height, args.width], "wrist": [args.height, args.width]},
        "state_dim": 6,
        "action_dim": 6,
        "seed": 0,
        "tasks": [TASK],
        "rtc": RTC,
    }
    with tempfile.TemporaryDirectory() as tmp:
        root = args.out or Path(tmp)
        out = root / "bench"
        if (out / "reference.npz").is_file():
            print(f"reusing LeRobot's SmolVLA checkpoint and outputs in {out}")
        else:
            print(f"LeRobot 0.4.4 builds a default-size SmolVLA for 2 cameras {args.height}×{args.width}, state 6 ...")
            subprocess.run(
                [str(REFERENCE_PYTHON), str(ORACLE), json.dumps({"bench": spec}), str(root)],
                env=reference_env(),
                check=True,
                stdout=subprocess.DEVNULL,
            )
        workers = [Worker("LeRobot SmolVLA", REFERENCE_PYTHON, "lerobot", out, reference_env())]
        if not args.no_reference_native:
            workers.append(Worker("native, LeRobot's torch", REFERENCE_PYTHON, "native", out, reference_env()))
        workers.append(Worker("native, suite's torch", sys.executable, "native", out, dict(os.environ)))
        for _ in range(args.runs):
            for kind in ("plain", "rtc"):
                for worker in workers:
                    worker.time_one(kind)
        for worker in workers:
            worker.close()

    print(
        f"{args.runs} chunks each per kind, taking turns; CPU, 2 cameras {args.height}×{args.width}, chunk 50, 10 steps"
    )
    for kind in ("plain", "rtc"):
        lerobot = np.median(workers[0].durations[kind])
        for worker in workers:
            info = worker.info
            diff = info["diff" if kind == "plain" else "diff_rtc"]
            print(
                f"{kind:5s} {worker.label:24s}: {summary(worker.durations[kind])}   "
                f"ratio {np.median(worker.durations[kind]) / lerobot:4.2f}×   "
                f"(torch {info['torch']}, {info['threads']} threads, max |Δ| vs LeRobot {diff:.1e})"
            )
    print("target: native ≤ 1.0× LeRobot")


if __name__ == "__main__":
    main()
