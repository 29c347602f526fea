"""Feature contract, resampler, LeRobot v3.0 dataset writer, recorder node and rosbag conversion."""
