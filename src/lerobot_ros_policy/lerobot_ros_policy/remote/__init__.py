"""Remote inference: `lerobot-ros policy-server` on a GPU machine, `RemoteRuntime` on the robot.

Zenoh transport, MessagePack bodies behind a fixed header (`protocol`), no pickle. See
docs/remote-inference.md.
"""

from lerobot_ros_policy.remote.client import (
    LinkState,
    RemoteClientConfig,
    RemoteDeadError,
    RemoteError,
    RemoteRefusedError,
    RemoteRuntime,
    RemoteStalledError,
)
from lerobot_ros_policy.remote.transport import TlsConfig, ZenohConfig

__all__ = [
    "LinkState",
    "RemoteClientConfig",
    "RemoteDeadError",
    "RemoteError",
    "RemoteRefusedError",
    "RemoteRuntime",
    "RemoteStalledError",
    "TlsConfig",
    "ZenohConfig",
]
