"""Splines between two trajectory knots, as joint_trajectory_controller interpolates.

The degree follows what the knots carry: positions only → linear, positions and velocities →
cubic Hermite, positions, velocities and accelerations → quintic. All functions are vectorised
over the joints.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class JointSample:
    """Desired state of every joint at one instant (radians, rad/s, rad/s²)."""

    positions: np.ndarray
    velocities: np.ndarray
    accelerations: np.ndarray

    @classmethod
    def at_rest(cls, positions: np.ndarray) -> JointSample:
        positions = np.asarray(positions, dtype=float).copy()
        return cls(positions, np.zeros_like(positions), np.zeros_like(positions))


def linear(p0: np.ndarray, p1: np.ndarray, duration: float, t: float) -> JointSample:
    s = t / duration
    velocity = (p1 - p0) / duration
    return JointSample(p0 + (p1 - p0) * s, velocity, np.zeros_like(p0))


def cubic(start: JointSample, end: JointSample, duration: float, t: float) -> JointSample:
    """Cubic Hermite: matches positions and velocities at both ends (accelerations ignored)."""
    p0, v0, p1, v1, d = start.positions, start.velocities, end.positions, end.velocities, duration
    a2 = (3.0 * (p1 - p0) - (2.0 * v0 + v1) * d) / d**2
    a3 = (2.0 * (p0 - p1) + (v0 + v1) * d) / d**3
    position = p0 + v0 * t + a2 * t**2 + a3 * t**3
    velocity = v0 + 2.0 * a2 * t + 3.0 * a3 * t**2
    acceleration = 2.0 * a2 + 6.0 * a3 * t
    return JointSample(position, velocity, acceleration)


def quintic(start: JointSample, end: JointSample, duration: float, t: float) -> JointSample:
    """Quintic: matches positions, velocities and accelerations at both ends."""
    p0, v0, acc0 = start.positions, start.velocities, start.accelerations
    p1, v1, acc1 = end.positions, end.velocities, end.accelerations
    d = duration
    a2 = acc0 / 2.0
    a3 = (20.0 * (p1 - p0) - (8.0 * v1 + 12.0 * v0) * d - (3.0 * acc0 - acc1) * d**2) / (2.0 * d**3)
    a4 = (30.0 * (p0 - p1) + (14.0 * v1 + 16.0 * v0) * d + (3.0 * acc0 - 2.0 * acc1) * d**2) / (2.0 * d**4)
    a5 = (12.0 * (p1 - p0) - (6.0 * v1 + 6.0 * v0) * d - (acc0 - acc1) * d**2) / (2.0 * d**5)
    position = p0 + v0 * t + a2 * t**2 + a3 * t**3 + a4 * t**4 + a5 * t**5
    velocity = v0 + 2 * a2 * t + 3 * a3 * t**2 + 4 * a4 * t**3 + 5 * a5 * t**4
    acceleration = 2 * a2 + 6 * a3 * t + 12 * a4 * t**2 + 20 * a5 * t**3
    return JointSample(position, velocity, acceleration)
