"""ROS message helpers: image conversions (`images`) and message classes by type name (`message_class`)."""

from lerobot_ros_core.messages.types import message_class

__all__ = ["message_class"]
