"""The follower's control core (no rclpy): trajectory validation, sampling and splicing, tolerances, safety."""
