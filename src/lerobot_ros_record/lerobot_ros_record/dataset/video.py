"""Streaming video encoding (one thread per camera, bounded queue) and stream-copy concatenation.

Each episode of a camera is encoded while it is recorded into a staging MP4; saving the episode
appends it to the camera's current video file by copying packets (no re-encode), shifting their
timestamps so that frame k of the episode sits at exactly from_timestamp + k / fps.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from .depth import DepthQuantizer
from .errors import EncoderError
from .layout import is_disk_full
from .stats import downsample_factor

# Codec names as LeRobot's `vcodec` (and info.json's `video.codec`) → FFmpeg encoder.
ENCODERS = {"libsvtav1": "libsvtav1", "h264": "libx264", "hevc": "libx265"}
# Depth as LeRobot 0.6's DepthEncoderConfig encodes it: hevc (libx265), gray12le, x265 lossless=1.
DEPTH_ENCODER = "libx265"
DEPTH_PIX_FMT = "gray12le"

_log = logging.getLogger(__name__)
# SVT-AV1 prints its banner and configuration at info level for every stream; keep errors only.
os.environ.setdefault("SVT_LOG", "1")
# libx265 with B-frames emits garbage DTS for clips of one or two frames (which MP4 then rejects).
_X265_PARAMS = "bframes=0:log-level=error"


@dataclass(frozen=True)
class VideoSettings:
    """Encoder settings; the defaults are LeRobot's (libsvtav1, yuv420p, g=2, crf=30, preset 12)."""

    fps: int
    codec: str = "libsvtav1"
    pix_fmt: str = "yuv420p"
    gop: int | None = 2
    crf: int | None = 30
    preset: int | str | None = 12
    threads: int | None = None

    def __post_init__(self) -> None:
        if self.codec not in ENCODERS:
            raise ValueError(f"video codec {self.codec!r} not supported; use one of {sorted(ENCODERS)}")
        if ENCODERS[self.codec] not in av.codecs_available:
            raise EncoderError(f"FFmpeg encoder {ENCODERS[self.codec]!r} (for {self.codec}) is not in this PyAV build")

    def encoder_and_options(self, depth: bool) -> tuple[str, str, dict[str, str]]:
        """(FFmpeg encoder, pixel format, options) for a colour or a depth stream."""
        options: dict[str, str] = {}
        if self.gop is not None:
            options["g"] = str(self.gop)
        if depth:
            params = f"lossless=1:{_X265_PARAMS}"
            if self.threads is not None:
                params += f":pools={self.threads}"
            options["x265-params"] = params
            return DEPTH_ENCODER, DEPTH_PIX_FMT, options
        encoder = ENCODERS[self.codec]
        if self.crf is not None:
            options["crf"] = str(self.crf)
        if self.preset is not None:
            options["preset"] = str(self.preset)
        if encoder == "libsvtav1":
            if self.threads is not None:
                options["svtav1-params"] = f"lp={self.threads}"
        elif encoder == "libx265":
            options["x265-params"] = _X265_PARAMS + (f":pools={self.threads}" if self.threads else "")
        elif self.threads is not None:
            options["threads"] = str(self.threads)
        return encoder, self.pix_fmt, options


class FrameSampler:
    """Keeps a downsampled copy of every frame in a spill file, so stats can sample the episode afterwards."""

    def __init__(self, path: Path, height: int, width: int, channels: int, dtype: np.dtype) -> None:
        self.path = path
        self.stride = downsample_factor(height, width)
        self.shape = (len(range(0, height, self.stride)), len(range(0, width, self.stride)), channels)
        self.dtype = np.dtype(dtype)
        self.count = 0
        self._file = path.open("wb")

    def add(self, frame: np.ndarray) -> None:
        small = frame[:: self.stride, :: self.stride].reshape(self.shape)
        self._file.write(np.ascontiguousarray(small).tobytes())
        self.count += 1

    def read(self, indices: np.ndarray) -> np.ndarray:
        """The downsampled frames at `indices`, as (len(indices), h, w, c)."""
        self._file.flush()
        frames = np.memmap(self.path, dtype=self.dtype, mode="r", shape=(self.count, *self.shape))
        try:
            return np.array(frames[indices])
        finally:
            del frames

    def close(self) -> None:
        self._file.close()
        self.path.unlink(missing_ok=True)


@dataclass
class EncodedEpisode:
    path: Path
    frames: int
    dropped: int
    sampler: FrameSampler


@dataclass
class _Result:
    error: BaseException | None = None
    frames: int = 0
    filled: list[int] = field(default_factory=list)


class EpisodeEncoder:
    """Encodes one camera's frames for one episode in a background thread.

    `submit` never blocks: when the queue is full (the encoder cannot keep up) the frame is dropped,
    counted, and its slot in the video is filled with the previous frame, so video timestamps stay
    exactly frame_index / fps and the dataset stays loadable.
    """

    def __init__(  # noqa: PLR0917
        self,
        key: str,
        path: Path,
        settings: VideoSettings,
        height: int,
        width: int,
        queue_size: int,
        depth: DepthQuantizer | None = None,
    ) -> None:
        self.key = key
        self.path = path
        self._settings = settings
        self._height = height
        self._width = width
        self._depth = depth
        self._frame_time_base = Fraction(1, settings.fps)
        self._queue: queue.Queue[tuple[int, np.ndarray] | None] = queue.Queue(maxsize=max(1, queue_size))
        self._cancel = threading.Event()
        self._result = _Result()
        self.submitted = 0
        self.dropped = 0
        channels = 1 if depth is not None else 3
        dtype = np.uint16 if depth is not None else np.uint8
        self.sampler = FrameSampler(path.with_suffix(".samples"), height, width, channels, dtype)
        self._thread = threading.Thread(target=self._run, name=f"encoder:{key}", daemon=True)
        self._thread.start()

    def submit(self, frame_index: int, image: np.ndarray) -> bool:
        """Queue a frame (copied); False if it was dropped because the encoder is behind."""
        self._raise_if_failed()
        self.submitted += 1
        try:
            self._queue.put_nowait((frame_index, image.copy()))
        except queue.Full:
            self.dropped += 1
            if self.dropped in (1, 10, 100) or self.dropped % 1000 == 0:
                _log.warning("encoder for '%s' is behind: %d frame(s) dropped this episode", self.key, self.dropped)
            return False
        return True

    def finish(self, length: int) -> EncodedEpisode:
        """Wait for the encoder to drain; the video then holds exactly `length` frames."""
        self._queue.put((length, None))  # type: ignore[arg-type]
        self._thread.join()
        self._raise_if_failed()
        return EncodedEpisode(self.path, self._result.frames, self.dropped, self.sampler)

    def cancel(self) -> None:
        self._cancel.set()
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._queue.put(None)
        self._thread.join()
        self.sampler.close()
        self.path.unlink(missing_ok=True)

    def _raise_if_failed(self) -> None:
        error = self._result.error
        if error is not None:
            if is_disk_full(error):
                raise error
            raise EncoderError(f"video encoder for '{self.key}' failed: {error}") from error

    def _run(self) -> None:
        container = None
        try:
            encoder, pix_fmt, options = self._settings.encoder_and_options(self._depth is not None)
            container = av.open(str(self.path), "w")
            stream = container.add_stream(encoder, rate=self._settings.fps, options=options)
            stream.pix_fmt = pix_fmt
            stream.width = self._width
            stream.height = self._height
            stream.time_base = self._frame_time_base
            next_index = 0
            previous: np.ndarray | None = None
            while True:
                item = self._queue.get()
                if item is None or self._cancel.is_set():  # cancelled: close the encoder cleanly, file discarded
                    for packet in stream.encode():
                        container.mux(packet)
                    return
                index, image = item
                if image is None:  # end of episode: fill any dropped tail, then flush
                    while previous is not None and next_index < index:
                        next_index = self._encode(container, stream, previous, next_index)
                    for packet in stream.encode():
                        container.mux(packet)
                    self._result.frames = next_index
                    return
                while previous is not None and next_index < index:  # frames dropped before this one
                    next_index = self._encode(container, stream, previous, next_index)
                next_index = self._encode(container, stream, image, next_index)
                previous = image
        except BaseException as error:
            self._result.error = error
        finally:
            if container is not None:
                try:
                    container.close()
                except BaseException as error:
                    self._result.error = self._result.error or error

    def _encode(
        self, container: av.container.OutputContainer, stream: av.VideoStream, image: np.ndarray, pts: int
    ) -> int:
        if self._depth is not None:
            codes = self._depth.encode(image.reshape(self._height, self._width))
            frame = av.VideoFrame.from_ndarray(codes, format=DEPTH_PIX_FMT)
        else:
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        frame.pts = pts
        frame.time_base = self._frame_time_base
        for packet in stream.encode(frame):
            container.mux(packet)
        self.sampler.add(image)
        return pts + 1


def _ticks_per_frame(stream: av.VideoStream, fps: int) -> int:
    ticks = Fraction(1, fps) / stream.time_base
    if ticks.denominator != 1:
        raise EncoderError(f"video time base {stream.time_base} cannot hold frames at exactly 1/{fps} s")
    return int(ticks)


def concatenate(first: Path, first_frames: int, second: Path, out: Path, fps: int) -> None:
    """Write `first` followed by `second` into `out` by stream copy; `second` starts at frame `first_frames`."""
    with av.open(str(first)) as a, av.open(str(second)) as b:
        stream_a = a.streams.video[0]
        stream_b = b.streams.video[0]
        if stream_a.time_base != stream_b.time_base:
            raise EncoderError(f"cannot append {second}: time base {stream_b.time_base} != {stream_a.time_base}")
        shift = first_frames * _ticks_per_frame(stream_a, fps)
        with av.open(str(out), "w", options={"movflags": "faststart"}) as output:
            stream_out = output.add_stream_from_template(stream_a, opaque=True)
            stream_out.time_base = stream_a.time_base
            _copy_packets(a, stream_a, output, stream_out, 0, None)
            _copy_packets(b, stream_b, output, stream_out, shift, None)


def truncate(source: Path, frames: int, out: Path, fps: int) -> None:
    """Write the first `frames` frames of `source` into `out` by stream copy (drops an unsaved tail)."""
    with av.open(str(source)) as src:
        stream = src.streams.video[0]
        end = frames * _ticks_per_frame(stream, fps)
        with av.open(str(out), "w", options={"movflags": "faststart"}) as output:
            stream_out = output.add_stream_from_template(stream, opaque=True)
            stream_out.time_base = stream.time_base
            _copy_packets(src, stream, output, stream_out, 0, end)


def _copy_packets(  # noqa: PLR0917
    source: av.container.InputContainer,
    stream: av.VideoStream,
    output: av.container.OutputContainer,
    stream_out: av.VideoStream,
    shift: int,
    end: int | None,
) -> None:
    for packet in source.demux(stream):
        if packet.dts is None:
            continue
        if end is not None and packet.pts >= end:
            continue
        packet.pts += shift
        packet.dts += shift
        packet.stream = stream_out
        output.mux(packet)


def count_frames(path: Path) -> int:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return sum(1 for packet in container.demux(stream) if packet.dts is not None)


def probe_info(path: Path) -> dict[str, object]:
    """The `info` of a video feature as LeRobot writes it in info.json, read from the file."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        pix_fmt = stream.pix_fmt
        channels = 1 if "gray" in pix_fmt else 4 if ("rgba" in pix_fmt or "yuva" in pix_fmt) else 3
        return {
            "video.height": stream.height,
            "video.width": stream.width,
            "video.codec": stream.codec_context.codec.canonical_name,
            "video.pix_fmt": pix_fmt,
            "video.is_depth_map": False,
            "video.fps": int(stream.base_rate),
            "video.channels": channels,
            "has_audio": len(container.streams.audio) > 0,
        }
