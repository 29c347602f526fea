"""Graph descriptions, launch files, runner, CLI, robot descriptions, rviz and MoveIt configuration for lerobot-ros."""
