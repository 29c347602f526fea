"""Leader → follower mappings in joint space and end-effector space (no rclpy)."""
