"""ROS message classes from their type names, as contracts and bags spell them."""

from __future__ import annotations

import importlib


def message_class(type_name: str) -> type:
    """The rclpy class of `pkg/msg/Name` (or `pkg/Name`); `ValueError` naming the type when it is unknown."""
    parts = type_name.split("/")
    if len(parts) == 3 and parts[1] == "msg":
        package, name = parts[0], parts[2]
    elif len(parts) == 2:
        package, name = parts
    else:
        raise ValueError(f"message type {type_name!r} is not of the form 'package/msg/Name'")
    try:
        return getattr(importlib.import_module(f"{package}.msg"), name)
    except (ImportError, AttributeError) as error:
        raise ValueError(f"message type {type_name!r} is not installed ({error})") from error
