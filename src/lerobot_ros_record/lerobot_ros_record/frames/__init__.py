"""ROS messages → LeRobot frame values, shared by the recorder, the bag converter and the policy node."""

from lerobot_ros_record.frames.convert import (
    FeatureConverter,
    FrameError,
    action_to_joint_positions,
    converters,
    stamp_to_ns,
)
from lerobot_ros_record.frames.episode import EmptyEpisodeError, EpisodeFrames, SavedEpisode

__all__ = [
    "EmptyEpisodeError",
    "EpisodeFrames",
    "FeatureConverter",
    "FrameError",
    "SavedEpisode",
    "action_to_joint_positions",
    "converters",
    "stamp_to_ns",
]
