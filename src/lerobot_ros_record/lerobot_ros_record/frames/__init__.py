"""Episode frames: converted messages resampled onto the dataset clock (live recorder and bag converter)."""

from lerobot_ros_record.frames.episode import EmptyEpisodeError, EpisodeFrames, Sample, SavedEpisode

__all__ = ["EmptyEpisodeError", "EpisodeFrames", "Sample", "SavedEpisode"]
