"""ROS helpers shared by every node of the suite: parameters, QoS, diagnostics, stamps, images."""
