"""Errors raised while loading or running a LeRobot checkpoint; each message names the file, the key,
the value and the cause."""


class CheckpointError(Exception):
    """A checkpoint cannot be loaded or run."""


class CheckpointNotFoundError(CheckpointError):
    """Neither a local directory nor a cached Hub snapshot holds the checkpoint."""


class MissingCheckpointFileError(CheckpointError):
    """A file the checkpoint needs (config.json, model.safetensors, processor files) is absent."""


class CheckpointFormatError(CheckpointError):
    """A checkpoint file is present but malformed or inconsistent with the others."""


class UnsupportedPolicyError(CheckpointError):
    """The checkpoint's policy type, processor step or option has no runtime here."""


class FeatureMismatchError(CheckpointError):
    """Features differ (names, order, shapes) between two descriptions that must agree."""


class ObservationError(ValueError):
    """An observation handed to a runtime does not match the checkpoint's input features."""
