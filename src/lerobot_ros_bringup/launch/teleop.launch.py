from lerobot_ros_bringup.graph.launch import launch_description_for


def generate_launch_description():
    return launch_description_for("teleop")
