"""Feature contract, resampler, LeRobot v3.0 dataset writer, recorder node and rosbag-to-dataset conversion for lerobot-ros."""
