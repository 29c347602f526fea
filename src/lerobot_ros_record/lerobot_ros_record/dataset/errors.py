"""Errors of the dataset writer: each names the feature, the value and the cause."""

from __future__ import annotations


class DatasetError(Exception):
    """Base class of every error the dataset writer raises."""


class FeatureSpecError(DatasetError):
    """The feature description given to `DatasetWriter.create` is not one the writer can store."""


class FrameError(DatasetError):
    """A frame does not match the features (missing/extra key, wrong shape or dtype, NaN); nothing was written."""


class EpisodeStateError(DatasetError):
    """An episode call came in the wrong order (no episode open, one already open, empty episode)."""


class DiskFullError(DatasetError):
    """The file system ran out of space; the episode being saved was dropped, earlier episodes are intact."""


class EncoderError(DatasetError):
    """A video encoder thread failed (codec missing, I/O error)."""


class CorruptDatasetError(DatasetError):
    """Files on disk contradict the committed episode metadata in a way resume cannot repair."""


class DatasetLockedError(DatasetError):
    """Another writer (recorder, converter) holds the dataset; the message names it (pid, host, start time)."""
