"""Arm driver and teleop figures against emulated servo buses (run by hand, not in the test suite).

    source scripts/env.sh && python benchmarks/arm_teleop.py [--steps 200] [--seconds 5]

Both servo buses are emulated in this process (pty, real SDK on the driver side), so one clock
times the leader's bus read and the follower's Goal_Position write. Printed side by side:

- joint_states rate of the follower and leader drivers (6 servos) vs the 200 Hz target, the rate
  of a bare ArmBus read+write loop on the same emulator (no ROS), and the wire-time bound at 1 Mbaud;
- teleop latency (leader Present_Position read → follower Goal_Position written, p50/p99) through
  leader_node → DDS → teleop_node → DDS → follower_node, vs the 10 ms target and the same step
  relayed by a bare in-process loop (leader ArmBus read → follower ArmBus write, no ROS);
- CPU of each node process (% of one core).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from lerobot_ros_drivers.calibration.files import load_calibration, sim_calibration_path
from lerobot_ros_drivers.feetech.arm_bus import ArmBus
from lerobot_ros_drivers.feetech.emulator import PtyServoBus, ServoBusEmulator, so_arm_servos

BAUD = 1_000_000
STEP_RAD = 0.06


def wire_bound_hz(servos: int = 6) -> float:
    """Cycles/s if the line carried only one sync read of Present_Position and one sync write of Goal_Position."""
    sync_read = 8 + servos  # header 2, id, length, instruction, address, size, ids..., checksum
    status = 8  # per servo: header 2, id, length, error, 2 data bytes, checksum
    sync_write = 8 + 3 * servos  # header 2, id, length, instruction, address, size, (id + 2 bytes)..., checksum
    return BAUD / (10 * (sync_read + servos * status + sync_write))


class Probe:
    """Timestamps what the emulators see: leader Present_Position reads, follower Goal_Position changes."""

    def __init__(self, leader: ServoBusEmulator, follower: ServoBusEmulator) -> None:
        self.leader_reads: list[float] = []
        self.goal_changes: list[tuple[float, int]] = []
        self._pan = follower.servo(1)
        self._last_goal = self._pan.value("Goal_Position")
        self._wrap(leader, self._on_leader)
        self._wrap(follower, self._on_follower)

    @staticmethod
    def _wrap(emulator: ServoBusEmulator, hook) -> None:
        receive = emulator.receive

        def timed(data: bytes, baudrate: int | None = None) -> list[bytes]:
            replies = receive(data, baudrate)
            hook(time.perf_counter(), data)
            return replies

        emulator.receive = timed

    def _on_leader(self, now: float, data: bytes) -> None:
        if len(data) > 4 and data[4] == 0x82:  # SYNC_READ
            self.leader_reads.append(now)

    def _on_follower(self, now: float, data: bytes) -> None:
        goal = self._pan.value("Goal_Position")
        if goal != self._last_goal:
            self._last_goal = goal
            self.goal_changes.append((now, goal))


def step_latencies(leader_pan, probe: Probe, steps: int, rng: np.random.Generator) -> np.ndarray:
    """Move the leader's shoulder_pan by hand in steps; per step, first leader read → first follower goal change."""
    middle = leader_pan.present
    amplitude = STEP_RAD * 4095 / (2 * np.pi)
    latencies = []
    for k in range(steps):
        target = middle + (amplitude if k % 2 == 0 else -amplitude)
        changes_before = len(probe.goal_changes)
        t_step = time.perf_counter()
        leader_pan.hand = lambda _now, target=target: target
        deadline = t_step + 1.0
        while len(probe.goal_changes) == changes_before and time.perf_counter() < deadline:
            time.sleep(0.001)
        if len(probe.goal_changes) > changes_before:
            written = probe.goal_changes[changes_before][0]
            reads = [t for t in probe.leader_reads if t >= t_step]
            if reads and reads[0] <= written:
                latencies.append(written - reads[0])
        time.sleep(rng.uniform(0.02, 0.05))
    return np.array(latencies) * 1e3


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bare_loop(leader: ArmBus, follower: ArmBus, stop: threading.Event, rate: float, cycles: list[float]) -> None:
    period = 1.0 / rate
    while not stop.is_set():
        start = time.perf_counter()
        follower.write_positions(leader.read_positions())
        cycles.append(time.perf_counter() - start)
        time.sleep(max(0.0, period - (time.perf_counter() - start)))


def measure_rate(topic: str, seconds: float) -> float:
    import rclpy
    from sensor_msgs.msg import JointState

    from lerobot_ros_core.node.qos import subscriber_qos

    node = rclpy.create_node("arm_teleop_benchmark_rate")
    stamps: list[float] = []
    node.create_subscription(JointState, topic, lambda _m: stamps.append(time.perf_counter()), subscriber_qos())
    end = time.perf_counter() + seconds + 1.0
    while time.perf_counter() < end:
        rclpy.spin_once(node, timeout_sec=0.01)
    node.destroy_node()
    stamps = [s for s in stamps if s >= stamps[0] + 1.0] if stamps else []
    return (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    follower_cal = load_calibration(sim_calibration_path("follower"))
    leader_cal = load_calibration(sim_calibration_path("leader"))
    tmp = Path(tempfile.mkdtemp(prefix="arm_teleop_bench_"))
    leader_emu = ServoBusEmulator(so_arm_servos(leader_cal))
    follower_emu = ServoBusEmulator(so_arm_servos(follower_cal))
    probe = Probe(leader_emu, follower_emu)
    leader_pan = leader_emu.servo(1)
    with (
        PtyServoBus(leader_emu, tmp / "leader") as leader_pty,
        PtyServoBus(follower_emu, tmp / "follower") as follower_pty,
    ):
        # Baseline: the bare bus path, no ROS.
        leader_bus, follower_bus = ArmBus(leader_pty.port, leader_cal), ArmBus(follower_pty.port, follower_cal)
        leader_bus.connect()
        follower_bus.connect()
        leader_bus.set_torque(False)
        follower_bus.set_torque(True)
        stop, cycles = threading.Event(), []
        loop = threading.Thread(target=bare_loop, args=(leader_bus, follower_bus, stop, 1000.0, cycles), daemon=True)
        loop.start()
        time.sleep(1.0)
        bare = step_latencies(leader_pan, probe, args.steps, rng)
        stop.set()
        loop.join()
        leader_bus.disconnect(torque_off=True)
        follower_bus.disconnect(torque_off=False)
        bare_rate = len(cycles) / sum(cycles)

        # The ROS path: three node processes.
        lib = (
            Path(os.environ.get("COLCON_PREFIX_PATH", "install").split(":")[0])
            / "lerobot_ros_drivers/lib/lerobot_ros_drivers"
        )
        commands = {
            "leader_node": [
                "-r",
                "__ns:=/leader",
                "-p",
                f"port:={leader_pty.port}",
                "-p",
                f"calibration_file:={sim_calibration_path('leader')}",
            ],
            "follower_node": [
                "-r",
                "__ns:=/follower",
                "-p",
                f"port:={follower_pty.port}",
                "-p",
                f"calibration_file:={sim_calibration_path('follower')}",
            ],
            "teleop_node": [],
        }
        processes = {
            name: subprocess.Popen(
                [str(lib / name), "--ros-args", *extra], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
            )
            for name, extra in commands.items()
        }
        try:
            import rclpy

            rclpy.init()
            deadline = time.monotonic() + 60
            while not probe.goal_changes and time.monotonic() < deadline:
                leader_pan.hand = lambda _now: leader_pan.present + (1 if int(time.monotonic() * 4) % 2 else -1) * 20
                time.sleep(0.1)
            if not probe.goal_changes:
                sys.exit("teleop did not start within 60 s")
            time.sleep(1.0)
            cpu_start = {name: cpu_seconds(p.pid) for name, p in processes.items()}
            wall_start = time.monotonic()
            follower_rate = measure_rate("/follower/joint_states", args.seconds)
            leader_rate = measure_rate("/leader/joint_states", args.seconds)
            ros = step_latencies(leader_pan, probe, args.steps, rng)
            wall = time.monotonic() - wall_start
            cpu = {name: 100 * (cpu_seconds(p.pid) - cpu_start[name]) / wall for name, p in processes.items()}
            rclpy.shutdown()
        finally:
            for process in processes.values():
                process.send_signal(2)
            for process in processes.values():
                process.wait(timeout=20)

    print(f"\n{'figure':<52}{'measured':>14}{'baseline / target':>34}")
    print(f"{'follower joint_states rate (6 servos)':<52}{follower_rate:>11.0f} Hz{'target >= 200 Hz':>34}")
    print(f"{'leader joint_states rate (6 servos)':<52}{leader_rate:>11.0f} Hz{'target >= 200 Hz':>34}")
    print(
        f"{'bare ArmBus read+write loop (no ROS, same emulator)':<52}{bare_rate:>11.0f} Hz"
        f"{f'wire bound at 1 Mbaud: {wire_bound_hz():.0f} Hz':>34}"
    )
    print(
        f"{'bare bus cycle time (read + write)':<52}{1e3 * np.median(cycles):>11.2f} ms"
        f"{f'wire time: {1e3 / wire_bound_hz():.2f} ms':>34}"
    )
    for label, values in (("teleop latency over DDS", ros), ("bare relay latency (no ROS)", bare)):
        print(
            f"{label + ' p50':<52}{np.percentile(values, 50):>11.2f} ms"
            f"{'target p99 <= 10 ms' if label.startswith('teleop') else '':>34}"
        )
        print(f"{label + ' p99':<52}{np.percentile(values, 99):>11.2f} ms{f'({len(values)} steps)':>34}")
    for name, value in cpu.items():
        print(f"{'CPU ' + name:<52}{value:>12.1f} %{'% of one core':>34}")


if __name__ == "__main__":
    main()
