"""Forward and inverse kinematics of the SO-100/SO-101 arms with placo (no rclpy)."""
