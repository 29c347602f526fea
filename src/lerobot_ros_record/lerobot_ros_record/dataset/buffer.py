"""Frame buffering: the open episode's frames until it is saved or discarded.

Numeric features are kept in memory, image features as PNG cells, videos go to one encoder thread
per camera. Images and videos also keep a downsampled copy of each frame for the episode stats.
Everything on disk lives in the staging directory and is gone after `release`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from . import stats as stats_lib
from .depth import DepthQuantizer
from .errors import DiskFullError, EncoderError
from .features import Feature
from .images import PngEncoder, image_cell
from .layout import is_disk_full
from .staging import Staging
from .video import EncodedEpisode, EpisodeEncoder, FrameSampler, VideoSettings


class EpisodeBuffer:
    """One episode being recorded. Frames must be validated before `add`."""

    def __init__(  # noqa: PLR0917
        self,
        index: int,
        task: str,
        features: list[Feature],
        staging: Staging,
        video: VideoSettings | None,
        queue_size: int,
        depth: DepthQuantizer,
        png: dict[str, PngEncoder],
    ) -> None:
        """Start the episode: its sample files and encoder threads (`png`: the writer's reusable PNG encoders)."""
        self.index = index
        self.task = task
        self.length = 0
        self._features = features
        self._png = png
        self._numeric: dict[str, list[np.ndarray]] = {}
        self._images: dict[str, list[dict[str, object]]] = {}
        self._image_samplers: dict[str, FrameSampler] = {}
        self._encoders: dict[str, EpisodeEncoder] = {}
        try:
            for feature in features:
                if feature.kind == "numeric":
                    self._numeric[feature.key] = []
                elif feature.kind == "image":
                    self._images[feature.key] = []
                    self._image_samplers[feature.key] = FrameSampler(
                        staging.path(f"{feature.key}.samples"), feature.height, feature.width, 3, np.uint8
                    )
                else:
                    assert video is not None
                    self._encoders[feature.key] = EpisodeEncoder(
                        feature.key,
                        staging.path(f"{feature.key}.episode.mp4"),
                        video,
                        feature.height,
                        feature.width,
                        queue_size,
                        depth if feature.kind == "depth" else None,
                    )
        except BaseException:
            self.release()
            raise

    def add(self, frame: Mapping[str, np.ndarray]) -> None:
        """Append a validated frame; raises `DiskFullError` or `EncoderError` when a video encoder failed."""
        index = self.length
        for feature in self._features:
            value = frame[feature.key]
            if feature.kind == "numeric":
                self._numeric[feature.key].append(value.copy())
            elif feature.kind == "image":
                encoder = self._png.get(feature.key) or self._png.setdefault(
                    feature.key, PngEncoder(feature.height, feature.width)
                )
                self._images[feature.key].append(image_cell(encoder.encode(value), index))
                self._image_samplers[feature.key].add(value)
            else:
                self._submit(feature.key, index, value)
        self.length += 1

    def _submit(self, key: str, index: int, image: np.ndarray) -> None:
        try:
            self._encoders[key].submit(index, image)
        except OSError as error:
            if is_disk_full(error):
                raise DiskFullError(f"no space left on device while encoding '{key}': {error}") from error
            raise EncoderError(f"video encoder for '{key}' failed: {error}") from error

    def finish_videos(self) -> dict[str, EncodedEpisode]:
        """Wait for the encoders: one staged MP4 per camera with exactly `length` frames."""
        return {key: encoder.finish(self.length) for key, encoder in self._encoders.items()}

    def columns(self, task_index: int, first_index: int, fps: int) -> dict[str, Any]:
        """The episode's data columns, the default ones (`timestamp` = frame_index / fps, ...) included."""
        length = self.length
        frame_index = np.arange(length, dtype=np.int64)
        columns: dict[str, Any] = {}
        for feature in self._features:
            if feature.kind == "numeric":
                columns[feature.key] = np.stack(self._numeric[feature.key])
            elif feature.kind == "image":
                columns[feature.key] = self._images[feature.key]
        columns["timestamp"] = frame_index / fps
        columns["frame_index"] = frame_index
        columns["episode_index"] = np.full(length, self.index, dtype=np.int64)
        columns["index"] = np.arange(first_index, first_index + length, dtype=np.int64)
        columns["task_index"] = np.full(length, task_index, dtype=np.int64)
        return columns

    def stats(
        self, keys: list[str], columns: dict[str, Any], encoded: dict[str, EncodedEpisode]
    ) -> dict[str, stats_lib.Stats]:
        """Per-feature episode stats, in `keys` order (info.json's), computed as LeRobot does."""
        samples = stats_lib.stat_sample_indices(self.length)
        out: dict[str, stats_lib.Stats] = {}
        by_key = {f.key: f for f in self._features}
        for key in keys:
            feature = by_key.get(key)
            if feature is None or feature.kind == "numeric":
                out[key] = stats_lib.vector_stats(np.asarray(columns[key]))
            elif feature.kind == "image":
                out[key] = stats_lib.image_stats(self._image_samplers[key].read(samples))
            elif feature.kind == "depth":  # like LeRobot 0.6: the recorded millimetres, not rescaled
                out[key] = stats_lib.image_stats(encoded[key].sampler.read(samples), scale=1.0)
            else:
                out[key] = stats_lib.image_stats(encoded[key].sampler.read(samples))
        return out

    def release(self) -> None:
        """Stop the encoders and delete the episode's staging files."""
        for encoder in self._encoders.values():
            encoder.cancel()
        for sampler in self._image_samplers.values():
            sampler.close()
