"""RTC quality: discontinuity of the executed actions at chunk boundaries, RTC against naive
replacement and temporal ensembling, on the native SmolVLA runtime.

A small random-weight SmolVLA (see `rtc_support.smolvla_checkpoint`) runs closed loop through the
policy node's execution core on a simulated 30 fps clock: each chunk arrives an injected 3–10
control steps after its request, the ideal arm executes what the executor plans, and the next
observation carries the executed action as its state. The three modes see the same seeded noise
for the same request. Per mode and delay it prints the largest step |Δa| and jerk (third
difference) that straddle a chunk boundary, beside the same figures inside chunks (the motion
itself), in LeRobot units (degrees) per control step. Target: boundary |Δa| with RTC ≥ 10× smaller
than with naive replacement. Writes docs/rtc_boundaries.png (executed vs predicted actions).

    source scripts/env.sh && python benchmarks/rtc_quality.py [--delays 3 5 10] [--steps 300]
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("rtc_support", ROOT / "src/lerobot_ros_policy/test/rtc_support.py")
support = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = support  # its dataclasses look their module up
_spec.loader.exec_module(support)

LABELS = {"replace": "naive replacement", "ensemble": "temporal ensembling", "rtc": "RTC"}


def plot(rollouts: dict[str, object], delay: int, joint: int, out: Path, window: tuple[int, int]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(rollouts), 1, figsize=(11, 3.1 * len(rollouts)), sharex=True)
    first, last = window
    for ax, (mode, rollout) in zip(axes, rollouts.items(), strict=True):
        for index, (start, chunk) in enumerate(rollout.chunks):
            steps = np.arange(start, start + len(chunk))
            shown = (steps >= first) & (steps <= last)
            if shown.any():
                ax.plot(steps[shown], chunk[shown, joint], color=f"C{index % 10}", alpha=0.45, lw=1.0)
        steps, actions = rollout.sequence()
        shown = (steps >= first) & (steps <= last)
        ax.plot(steps[shown], actions[shown, joint], color="black", lw=2.0, label="executed")
        for b in rollout.boundaries:
            if first <= b <= last:
                ax.axvline(b - 0.5, color="grey", lw=0.6, ls=":")
        ax.set_title(f"{LABELS[mode]}: executed (black) and predicted chunks (colours)", fontsize=10)
        ax.set_ylabel(f"action {joint} (deg)")
    axes[-1].set_xlabel(f"control step (30 fps), inference delay {delay} steps; dotted: chunk boundaries")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delays", type=int, nargs="+", default=[3, 5, 7, 10])
    parser.add_argument("--steps", type=int, default=300, help="control steps per rollout")
    parser.add_argument("--seeds", type=int, default=2, help="rollouts per mode and delay")
    parser.add_argument("--plot", type=Path, default=ROOT / "docs" / "rtc_boundaries.png")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: steady on a loaded machine)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as tmp:
        runtime = support.smolvla_runtime(Path(tmp))
    rtc = support.RtcConfig()
    print(
        f"SmolVLA (native, random weights, {support.describe(runtime)}), chunk {runtime.chunk_size}, "
        f"queue threshold 0.5, RTC {rtc.schedule} schedule, horizon {rtc.execution_horizon}, "
        f"max guidance weight {rtc.max_guidance_weight:g}; {args.steps} steps × {args.seeds} seeds per cell"
    )
    header = (
        f"{'delay':>5} {'mode':<20} {'chunks':>6} {'bnd max|Δa|':>12} {'in max|Δa|':>11} {'bnd jerk':>9} {'in jerk':>8}"
    )
    print(header)
    ratios = []
    for delay in args.delays:
        results = {}
        for mode in ("replace", "ensemble", "rtc"):
            figures, chunks, started = [], 0, time.perf_counter()
            for seed in range(args.seeds):
                rollout = support.simulate(runtime, mode, delay, args.steps, rtc=rtc, seed=seed)
                figures.append(support.smoothness(rollout, skip_steps=runtime.chunk_size))
                chunks += len(rollout.chunks)
                if seed == 0 and delay == args.delays[len(args.delays) // 2]:
                    results.setdefault("plot", {})[mode] = rollout
            worst = {f: max(getattr(s, f) for s in figures) for f in support.Smoothness.__dataclass_fields__}
            results[mode] = worst
            print(
                f"{delay:>5} {LABELS[mode]:<20} {chunks:>6} {worst['boundary_max_step']:>12.3f} "
                f"{worst['inside_max_step']:>11.3f} {worst['boundary_max_jerk']:>9.3f} {worst['inside_max_jerk']:>8.3f}"
                f"   ({time.perf_counter() - started:.0f} s)"
            )
        ratio = results["replace"]["boundary_max_step"] / max(results["rtc"]["boundary_max_step"], 1e-12)
        ratios.append(ratio)
        ensemble = results["ensemble"]["boundary_max_step"] / max(results["rtc"]["boundary_max_step"], 1e-12)
        print(f"{'':>5} boundary max|Δa|: naive / RTC = {ratio:.1f}×, ensembling / RTC = {ensemble:.1f}×")
        if "plot" in results:
            middle = args.steps // 2
            plot(results["plot"], delay, joint=0, out=args.plot, window=(middle - 60, middle + 60))
    print(f"naive / RTC boundary jump over delays {args.delays}: min {min(ratios):.1f}× (target ≥ 10×)")
    print(f"plot: {args.plot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
