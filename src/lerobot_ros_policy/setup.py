from glob import glob

from setuptools import find_packages, setup

package_name = "lerobot_ros_policy"

setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    package_data={"": ["*.yaml", "*.json", "*.urdf", "*.xacro", "*.srdf"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{package_name}"]),
        (f"share/{package_name}", ["package.xml"]),
        (f"share/{package_name}/config", glob("config/*")),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="lerobot-ros maintainers",
    maintainer_email="maintainers@lerobot-ros.dev",
    description="LeRobot checkpoint runtimes (ACT, SmolVLA, Pi0), Real-Time Chunking and the policy node.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "policy_node = lerobot_ros_policy.nodes.policy_node:main",
        ],
        "lerobot_ros.commands": [
            "policy-server = lerobot_ros_policy.commands.policy_server:COMMAND",
        ],
    },
)
