"""SO-100/SO-101 Feetech arm drivers, teleoperation, cameras, force/torque sensor and simulated hardware."""
