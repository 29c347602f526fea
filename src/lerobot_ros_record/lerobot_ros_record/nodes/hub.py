"""Pushing a finished dataset to the Hugging Face Hub (huggingface_hub; the token never reaches a log)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

CODEBASE_TAG = "v3.0"
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
    """Create the dataset repo (if needed), upload `root`, tag it v3.0; returns the repo URL."""
    import json

    from huggingface_hub import HfApi

    api = api or HfApi()
    info = json.loads((Path(root) / "meta" / "info.json").read_text())
    url = api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    api.upload_file(
        path_or_fileobj=dataset_card(repo_id, tags, info.get("robot_type")).encode(),
        path_in_repo="README.md",
        repo_id=repo_id,
        repo_type="dataset",
    )
    api.upload_folder(
        folder_path=str(root), repo_id=repo_id, repo_type="dataset", ignore_patterns=[".lerobot_ros_staging/*"]
    )
    api.create_tag(repo_id, tag=CODEBASE_TAG, repo_type="dataset", exist_ok=True)
    return str(url)
