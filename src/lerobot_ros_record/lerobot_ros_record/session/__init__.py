"""The recording session (state machine and create-or-resume of the dataset), shared by the recorder and bag2dataset."""

from lerobot_ros_record.session.dataset import DatasetConfig, DatasetExistsError, OpenedDataset, open_dataset
from lerobot_ros_record.session.session import (
    EpisodeDiscarded,
    EpisodeFailed,
    EpisodeRefused,
    EpisodeSaved,
    EpisodeSplit,
    EpisodeStarted,
    Event,
    Finalized,
    RecordingSession,
    SessionError,
    SessionState,
)

__all__ = [
    "DatasetConfig",
    "DatasetExistsError",
    "EpisodeDiscarded",
    "EpisodeFailed",
    "EpisodeRefused",
    "EpisodeSaved",
    "EpisodeSplit",
    "EpisodeStarted",
    "Event",
    "Finalized",
    "OpenedDataset",
    "RecordingSession",
    "SessionError",
    "SessionState",
    "open_dataset",
]
