"""Kinematics of fixed-base arms with placo (no rclpy): FK/IK of a tool frame, EE pose vectors, bounded EE targets."""
