"""Feetech bus cycle time against the emulator, next to the 1 Mbaud wire-time bound.

One control cycle = one SYNC_READ of 6 Present_Position + one SYNC_WRITE of 6 Goal_Position, what the
follower does per JointState. The emulator runs in its own process (as the hardware would be a
separate device). Printed side by side:

- the wire-time bound: bytes on the wire × 10 bits / baud rate (no servo latency, no USB latency);
- ArmBus (our port: blocking waits, stale-input flush) cycle time, p50/p99, and CPU per cycle;
- the same cycle with the stock scservo_sdk PortHandler (busy polling), as baseline for CPU cost.

Usage: python benchmarks/feetech_bus.py [--cycles 2000]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import scservo_sdk as scs

from lerobot_ros_drivers.calibration.files import load_calibration, sim_calibration_path
from lerobot_ros_drivers.feetech.arm_bus import ArmBus
from lerobot_ros_drivers.feetech.protocol import sync_read_bytes, sync_write_bytes, wire_time_s

BAUDRATE = 1_000_000
N_MOTORS = 6


def serve(link: str, ready: multiprocessing.Event, stop: multiprocessing.Event) -> None:
    from lerobot_ros_drivers.feetech.emulator import PtyServoBus, ServoBusEmulator, so_arm_servos

    emulator = ServoBusEmulator(so_arm_servos(load_calibration(sim_calibration_path("follower"))))
    with PtyServoBus(emulator, link):
        ready.set()
        stop.wait()


def measure(cycle, cycles: int) -> tuple[np.ndarray, float]:
    for _ in range(50):  # warm-up
        cycle()
    durations = np.empty(cycles)
    cpu_start = time.process_time()
    for i in range(cycles):
        start = time.perf_counter()
        cycle()
        durations[i] = time.perf_counter() - start
    return durations, (time.process_time() - cpu_start) / cycles


def report(name: str, durations: np.ndarray, cpu_per_cycle: float) -> None:
    p50, p99 = np.percentile(durations, [50, 99]) * 1e3
    print(
        f"{name:<44} p50 {p50:7.3f} ms  p99 {p99:7.3f} ms  {1 / np.median(durations):7.0f} cycles/s"
        f"  CPU {cpu_per_cycle * 1e3:6.3f} ms/cycle"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cycles", type=int, default=2000)
    args = parser.parse_args()

    link = str(Path(tempfile.mkdtemp(prefix="feetech_bench_")) / "bus")
    ready, stop = multiprocessing.Event(), multiprocessing.Event()
    emulator = multiprocessing.Process(target=serve, args=(link, ready, stop), daemon=True)
    emulator.start()
    if not ready.wait(30):
        raise SystemExit("emulator did not start")
    try:
        arm = ArmBus(link, load_calibration(sim_calibration_path("follower")))
        arm.connect()
        arm.set_torque(True)
        goal = arm.read_positions()

        def arm_cycle() -> None:
            arm.read_positions()
            arm.write_positions(goal)

        def read_only() -> None:
            arm.read_positions()

        results = {
            "ArmBus read + write (sync read 6, sync write 6)": measure(arm_cycle, args.cycles),
            "ArmBus read only (sync read 6)": measure(read_only, args.cycles),
        }
        arm.disconnect(torque_off=True)

        port = scs.PortHandler(link)
        packets = scs.PacketHandler(0)
        port.openPort()
        port.setBaudRate(BAUDRATE)
        reader = scs.GroupSyncRead(port, packets, 56, 2)
        writer = scs.GroupSyncWrite(port, packets, 42, 2)
        for ident in range(1, N_MOTORS + 1):
            reader.addParam(ident)
            writer.addParam(ident, [0x00, 0x08])

        stock_failures = []

        def stock_cycle() -> None:
            if (result := reader.txRxPacket()) != scs.COMM_SUCCESS:
                stock_failures.append(packets.getTxRxResult(result))  # no retries, no input flush
            writer.txPacket()

        results["stock scservo_sdk read + write (busy polling)"] = measure(stock_cycle, args.cycles)
        port.closePort()
    finally:
        stop.set()
        emulator.join(10)

    n_bytes = sync_read_bytes(N_MOTORS, 2) + sync_write_bytes(N_MOTORS, 2)
    bound = wire_time_s(n_bytes, BAUDRATE)
    read_bound = wire_time_s(sync_read_bytes(N_MOTORS, 2), BAUDRATE)
    print(f"Feetech bus cycle, {N_MOTORS} servos, {args.cycles} cycles, emulator on a pty in another process")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (timings include scheduling delays)")
    print(
        f"{'wire-time bound at 1 Mbaud (read + write)':<44} {bound * 1e3:7.3f} ms"
        f" ({n_bytes} bytes × 10 bits)  {1 / bound:7.0f} cycles/s"
    )
    print(
        f"{'wire-time bound at 1 Mbaud (read only)':<44} {read_bound * 1e3:7.3f} ms"
        f" ({sync_read_bytes(N_MOTORS, 2)} bytes × 10 bits)  {1 / read_bound:7.0f} cycles/s"
    )
    for name, (durations, cpu) in results.items():
        report(name, durations, cpu)
    if stock_failures:
        print(f"stock scservo_sdk: {len(stock_failures)} failed sync reads ({stock_failures[0]})")


if __name__ == "__main__":
    main()
