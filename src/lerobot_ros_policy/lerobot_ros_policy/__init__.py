"""LeRobot checkpoint runtimes (ACT, SmolVLA, Pi0), Real-Time Chunking and the policy node for lerobot-ros."""
