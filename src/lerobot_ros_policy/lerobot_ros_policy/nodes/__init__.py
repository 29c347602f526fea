"""ROS nodes of the policy package (thin adapters over checkpoint/, runtimes/, execution/)."""
