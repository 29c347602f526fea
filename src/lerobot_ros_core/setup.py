from setuptools import find_packages, setup

package_name = "lerobot_ros_core"

setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{package_name}"]),
        (f"share/{package_name}", ["package.xml"]),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="lerobot-ros maintainers",
    maintainer_email="maintainers@lerobot-ros.dev",
    description="Node plumbing, the feature contract and message converters shared by every lerobot-ros package.",
    license="Apache-2.0",
)
