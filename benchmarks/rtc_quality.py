"""RTC quality: discontinuity of the executed actions at chunk boundaries, RTC against naive
replacement and temporal ensembling, on the native SmolVLA runtime.

A tiny random-weight SmolVLA (LeRobot-saved, `rtc_support.make_smolvla_checkpoint`) runs closed loop
through the policy node's execution core on a simulated 30 fps clock: each chunk arrives an injected
3–10 control steps after its request, an ideal arm executes what the executor plans, and the next
observation carries the executed action as its state. The three modes draw the same seeded start
noise for the same request. Random weights turn white start noise into per-step noise that no merge
can smooth, so the main table correlates the noise along the chunk (smooth chunks, like a trained
policy's); the white-noise table follows. Per mode and delay (worst over seeds), in LeRobot units
(degrees, gripper percent) per control step:

* switch jump: max |new plan − previous plan| at the first step taken from a new chunk, the
  discontinuity the switch adds to the motion (0 = the motion just continues);
* boundary max |Δa| and jerk (third difference) over the steps that straddle a boundary, beside the
  same figures inside chunks (the motion itself).

Target: boundary jumps with RTC ≥ 10× smaller than with naive replacement. Writes
docs/rtc_boundaries.png (executed vs predicted actions across boundaries).

    source scripts/env.sh && python benchmarks/rtc_quality.py [--delays 3 5 10] [--steps 240]
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

from lerobot_ros_policy.execution import RtcConfig  # noqa: E402

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


def run(runtime, args, smooth: float, plot_path: Path | None) -> list[float]:
    """One table (all delays and modes) for one kind of start noise; returns naive/RTC jump ratios."""
    rtc = RtcConfig(execution_horizon=args.horizon or runtime.chunk_size)
    noise = f"start noise correlated over {smooth:g} steps" if smooth else "white start noise"
    settings = f"RTC {rtc.schedule}, horizon {rtc.execution_horizon}, max guidance weight {rtc.max_guidance_weight:g}"
    print(f"\n{noise}; {settings}")
    print(
        f"{'delay':>5} {'mode':<20} {'chunks':>6} {'switch jump':>11} {'bnd max|Δa|':>11} {'in max|Δa|':>10} "
        f"{'bnd jerk':>9} {'in jerk':>8}"
    )
    ratios = []
    for delay in args.delays:
        worst, plotted = {}, {}
        for mode in ("replace", "ensemble", "rtc"):
            figures, chunks, started = [], 0, time.perf_counter()
            for seed in range(args.seeds):
                rollout = support.simulate(runtime, mode, delay, args.steps, rtc=rtc, seed=seed, smooth_steps=smooth)
                figures.append(support.smoothness(rollout, skip_steps=runtime.chunk_size))
                chunks += len(rollout.chunks)
                if seed == 0:
                    plotted[mode] = rollout
            worst[mode] = {
                name: max(getattr(f, name) for f in figures) for name in support.Smoothness.__dataclass_fields__
            }
            w = worst[mode]
            print(
                f"{delay:>5} {LABELS[mode]:<20} {chunks:>6} {w['switch_jump']:>11.3f} {w['boundary_max_step']:>11.3f} "
                f"{w['inside_max_step']:>10.3f} {w['boundary_max_jerk']:>9.3f} {w['inside_max_jerk']:>8.3f}"
                f"   ({time.perf_counter() - started:.0f} s)"
            )
        naive, ours, ensemble = worst["replace"], worst["rtc"], worst["ensemble"]
        ratio = naive["switch_jump"] / max(ours["switch_jump"], 1e-12)
        ratios.append(ratio)
        print(
            f"{'':>5} naive / RTC: switch jump {ratio:.0f}×, boundary max|Δa| "
            f"{naive['boundary_max_step'] / max(ours['boundary_max_step'], 1e-12):.1f}×, boundary jerk "
            f"{naive['boundary_max_jerk'] / max(ours['boundary_max_jerk'], 1e-12):.1f}×; ensembling / RTC: switch jump "
            f"{ensemble['switch_jump'] / max(ours['switch_jump'], 1e-12):.0f}×"
        )
        if plot_path is not None and delay == args.plot_delay:
            middle = args.steps // 2
            plot(plotted, delay, joint=0, out=plot_path, window=(middle - 50, middle + 50))
    return ratios


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delays", type=int, nargs="+", default=[3, 5, 7, 10])
    parser.add_argument("--steps", type=int, default=240, help="control steps per rollout")
    parser.add_argument("--seeds", type=int, default=1, help="rollouts per mode and delay")
    parser.add_argument("--chunk", type=int, default=50, help="chunk size of the random SmolVLA")
    parser.add_argument("--horizon", type=int, default=0, help="RTC execution horizon; 0 = chunk size (node default)")
    parser.add_argument("--smooth", type=float, default=8.0, help="start-noise correlation, steps (0: white only)")
    parser.add_argument("--plot", type=Path, default=ROOT / "docs" / "rtc_boundaries.png")
    parser.add_argument("--plot-delay", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: steady on a loaded machine)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as tmp:
        runtime = support.smolvla_runtime(Path(tmp), chunk_size=args.chunk)
    print(
        f"native SmolVLA, random weights (LeRobot-saved, shrunk SmolVLM2 stand-in), chunk {runtime.chunk_size}, "
        f"30 fps, queue threshold 0.5, {args.steps} steps x {args.seeds} seed(s) per cell, ideal follower; "
        "degrees (gripper percent) per control step"
    )
    ratios = run(runtime, args, args.smooth, args.plot) if args.smooth else []
    white = run(runtime, args, 0.0, None if args.smooth else args.plot)
    print(
        f"\nnaive / RTC switch jump, delays {args.delays}: smooth noise min {min(ratios, default=0):.0f}×, "
        f"white noise min {min(white):.0f}× (target ≥ 10×)"
    )
    print(f"plot: {args.plot} (delay {args.plot_delay})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
