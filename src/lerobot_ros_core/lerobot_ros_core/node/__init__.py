"""ROS plumbing every node shares: declared parameters, QoS profiles, diagnostics, stamps, `run_node`."""
