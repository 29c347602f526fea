"""Graphs shipped with the suite (registered in entry point group `lerobot_ros.graphs`)."""
