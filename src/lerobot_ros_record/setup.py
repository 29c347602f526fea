from glob import glob

from setuptools import find_packages, setup

package_name = "lerobot_ros_record"

setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    package_data={"": ["*.yaml", "*.json", "*.urdf", "*.xacro", "*.srdf"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{package_name}"]),
        (f"share/{package_name}", ["package.xml"]),
        (f"share/{package_name}/config", glob("config/*.yaml")),
        (f"share/{package_name}/config/contracts", glob("config/contracts/*.yaml")),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="lerobot-ros maintainers",
    maintainer_email="maintainers@lerobot-ros.dev",
    description="Feature contract, resampler, LeRobot v3.0 dataset writer, recorder node and rosbag conversion.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "recorder_node = lerobot_ros_record.nodes.recorder_node:main",
            "keyboard_client = lerobot_ros_record.nodes.keyboard_client:main",
        ],
        "lerobot_ros.commands": [
            "bag2dataset = lerobot_ros_record.commands.bag2dataset:COMMAND",
            "record-keys = lerobot_ros_record.commands.record_keys:COMMAND",
            "dataset = lerobot_ros_record.commands.dataset:COMMAND",
        ],
    },
)
