"""Pushing a finished dataset to the Hugging Face Hub (huggingface_hub; the token never reaches a log)."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lerobot_ros_core.dataset_paths import CODEBASE_VERSION, INFO_PATH
from lerobot_ros_record.dataset.layout import NOT_UPLOADED

CODEBASE_TAG = CODEBASE_VERSION
"""LeRobot resolves dataset revisions by this tag (the codebase version)."""


def dataset_card(repo_id: str, tags: Sequence[str], robot_type: str | None) -> str:
    tag_lines = "".join(f"- {tag}\n" for tag in tags)
    return (
        f"---\nlicense: apache-2.0\ntask_categories:\n- robotics\ntags:\n{tag_lines}configs:\n- config_name: default\n"
        f"  data_files: data/*/*.parquet\n---\n\n# {repo_id}\n\n"
        f"Recorded with lerobot-ros (LeRobot v3.0 format){f', robot type {robot_type}' if robot_type else ''}.\n"
    )


def push_dataset(
    root: Path, repo_id: str, *, private: bool = False, tags: Sequence[str] = (), api: Any | None = None
) -> str:
    """Create the dataset repo (if needed), upload `root`, point the v3.0 tag at that upload; returns the repo URL.

    On a re-push the tag is moved: LeRobot downloads a dataset at its tag, so a tag left on the old
    commit would serve the old data."""
    import json

    from huggingface_hub import HfApi
    from huggingface_hub.errors import RevisionNotFoundError

    api = api or HfApi()
    info = json.loads((Path(root) / INFO_PATH).read_text())
    url = api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    api.upload_file(
        path_or_fileobj=dataset_card(repo_id, tags, info.get("robot_type")).encode(),
        path_in_repo="README.md",
        repo_id=repo_id,
        repo_type="dataset",
    )
    commit = api.upload_folder(
        folder_path=str(root), repo_id=repo_id, repo_type="dataset", ignore_patterns=list(NOT_UPLOADED)
    )
    with contextlib.suppress(RevisionNotFoundError):  # a first push: no tag to move yet
        api.delete_tag(repo_id, tag=CODEBASE_TAG, repo_type="dataset")
    api.create_tag(repo_id, tag=CODEBASE_TAG, revision=commit.oid, repo_type="dataset")
    return str(url)
