from glob import glob

from setuptools import find_packages, setup

package_name = "lerobot_ros_drivers"

setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    package_data={"": ["*.yaml", "*.json", "*.urdf", "*.xacro", "*.srdf"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{package_name}"]),
        (f"share/{package_name}", ["package.xml"]),
        (f"share/{package_name}/config", glob("config/*")),
        # package://lerobot_ros_drivers/description/so101.urdf, as ROS tools resolve robot descriptions
        (f"share/{package_name}/description", glob(f"{package_name}/description/*.urdf")),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="lerobot-ros maintainers",
    maintainer_email="maintainers@lerobot-ros.dev",
    description="SO-100/SO-101 Feetech arm drivers, teleoperation, cameras, force/torque sensor, simulated hardware.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "servo_bus_emulator_node = lerobot_ros_drivers.nodes.servo_bus_emulator_node:main",
            "camera_node = lerobot_ros_drivers.nodes.camera_node:main",
            "realsense_node = lerobot_ros_drivers.nodes.realsense_node:main",
            "sim_camera_node = lerobot_ros_drivers.nodes.sim_camera_node:main",
            "force_sensor_node = lerobot_ros_drivers.nodes.force_sensor_node:main",
            "follower_node = lerobot_ros_drivers.nodes.follower_node:main",
            "leader_node = lerobot_ros_drivers.nodes.leader_node:main",
            "teleop_node = lerobot_ros_drivers.nodes.teleop_node:main",
        ],
        "lerobot_ros.commands": [
            "calibrate = lerobot_ros_drivers.commands.calibrate:COMMAND",
            "find-cameras = lerobot_ros_drivers.commands.find_cameras:COMMAND",
            "find-port = lerobot_ros_drivers.commands.find_port:COMMAND",
            "setup-motors = lerobot_ros_drivers.commands.setup_motors:COMMAND",
        ],
    },
)
