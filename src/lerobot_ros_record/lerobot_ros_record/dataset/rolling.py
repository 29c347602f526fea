"""Rolling files: the data files, each camera's video files and the episodes-metadata files.

Each is a series `chunk-NNN/file-NNN`: episodes are appended to the last file until it would pass
its size limit, then a new file starts, and a new chunk directory after `chunks_size` files
(LeRobot's rule, with LeRobot's size estimate).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .layout import FileIndex, size_in_mb


@dataclass(frozen=True)
class Placement:
    """Where an episode goes in a rolling series: appended to `path`, or the first units of a new file."""

    index: FileIndex
    path: Path
    append: bool
    offset: int  # units (frames or episodes) already in the file before the episode


@dataclass
class RollingFile:
    """One rolling series and its last file. `units` counts frames (data, video) or episodes (metadata)."""

    root: Path
    path_of: Callable[[FileIndex], str]
    limit_mb: float
    chunks_size: int
    current: FileIndex | None = None
    units: int = 0

    def place(self, units: int, added_mb: float | None = None) -> Placement:
        """Where `units` more go. They are appended while the file stays under the limit: `added_mb` is
        their size, estimated from the current file's size per unit when not given."""
        if self.current is not None:
            path = self.root / self.path_of(self.current)
            size = size_in_mb(path)
            if added_mb is None:
                added_mb = (size / self.units if self.units else 0.0) * units
            if size + added_mb < self.limit_mb:
                return Placement(self.current, path, True, self.units)
        index = FileIndex() if self.current is None else self.current.next(self.chunks_size)
        return Placement(index, self.root / self.path_of(index), False, 0)

    def advance(self, placement: Placement, units: int) -> None:
        """The episode placed there was committed."""
        self.current, self.units = placement.index, placement.offset + units
