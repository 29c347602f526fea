"""Paths inside a LeRobot v3.0 dataset root, as LeRobot 0.4.4 names them.

The recorder writes these files (`lerobot_ros_record.dataset.layout` adds its numbering and its own
staging files) and the policy package reads `meta/` to build checkpoints for a dataset: both take
the paths from here.
"""

from __future__ import annotations

CODEBASE_VERSION = "v3.0"
META_DIR = "meta"
INFO_PATH = "meta/info.json"
STATS_PATH = "meta/stats.json"
TASKS_PATH = "meta/tasks.parquet"
DATA_DIR = "data"
VIDEOS_DIR = "videos"
EPISODES_DIR = "meta/episodes"
DATA_PATH = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
VIDEO_PATH = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
EPISODES_PATH = "meta/episodes/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
