from glob import glob

from setuptools import find_packages, setup

package_name = "lerobot_ros_bringup"


def tree(folder: str) -> list[tuple[str, list[str]]]:
    """data_files entries that install `folder` under share/<package>/ keeping its sub-folders."""
    entries: dict[str, list[str]] = {}
    for path in glob(f"{folder}/**/*", recursive=True):
        if "." in path.rsplit("/", 1)[-1]:
            target = f"share/{package_name}/" + path.rsplit("/", 1)[0]
            entries.setdefault(target, []).append(path)
    return sorted(entries.items())


setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{package_name}"]),
        (f"share/{package_name}", ["package.xml"]),
        ("bin", ["bin/lerobot-ros"]),
        *tree("launch"),
        *tree("config"),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="lerobot-ros maintainers",
    maintainer_email="maintainers@lerobot-ros.dev",
    description="Graph descriptions, launch files, runner, CLI, robot descriptions, rviz and MoveIt configuration.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "lerobot-ros = lerobot_ros_bringup.cli:main",
            "visualization_node = lerobot_ros_bringup.nodes.visualization_node:main",
            "episode_coordinator_node = lerobot_ros_bringup.nodes.episode_coordinator_node:main",
        ],
        "lerobot_ros.commands": [
            "launch = lerobot_ros_bringup.runner.command:COMMAND",
            "demo = lerobot_ros_bringup.demo:COMMAND",
        ],
        "lerobot_ros.graphs": [
            "teleop = lerobot_ros_bringup.graphs.teleop:GRAPH",
            "record = lerobot_ros_bringup.graphs.record:GRAPH",
            "rollout = lerobot_ros_bringup.graphs.rollout:GRAPH",
        ],
    },
)
