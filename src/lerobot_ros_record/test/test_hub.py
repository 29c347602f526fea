"""Pushing a dataset to the Hub: the repo, the card, what is uploaded, and the v3.0 tag LeRobot loads by.

The client is huggingface_hub's own `HfApi`. Its tag calls run unchanged over HTTP to a stand-in for
the Hub's REST API (an httpx2 mock transport that answers as the Hub does: 409 for a tag that
exists, 404 `RevisionNotFound` for one that does not). Repo creation and uploads, whose wire
protocol (LFS, xet) is beside the point here, are answered at the method level with the client's
own result types and its own ignore-pattern filter.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import httpx2
import numpy as np
import pytest
from huggingface_hub import CommitInfo, HfApi, RepoUrl
from huggingface_hub.hf_api import DEFAULT_IGNORE_PATTERNS
from huggingface_hub.utils import filter_repo_objects, set_client_factory
from huggingface_hub.utils._http import default_client_factory

from lerobot_ros_record.dataset import DatasetWriter, WriterConfig
from lerobot_ros_record.nodes.hub import push_dataset

ENDPOINT = "https://huggingface.co"  # never reached: every request goes to the mock transport
REPO = "me/ds"
TOKEN = "hf_secret_token_value"


class Hub:
    """The Hub's side of one dataset repo: its commits (each with the files it holds) and its tags."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.commits: list[tuple[str, dict[str, bytes]]] = []
        self.tags: dict[str, str] = {}

    @property
    def head(self) -> str:
        return self.commits[-1][0]

    def files_at(self, oid: str) -> dict[str, bytes]:
        return next(files for commit, files in self.commits if commit == oid)

    def commit(self, message: str, changed: dict[str, bytes]) -> CommitInfo:
        files = {**(self.commits[-1][1] if self.commits else {}), **changed}
        oid = hashlib.sha1(f"{len(self.commits)}:{message}".encode()).hexdigest()
        self.commits.append((oid, files))
        return CommitInfo(
            commit_url=f"{ENDPOINT}/datasets/{REPO}/commit/{oid}",
            commit_message=message,
            commit_description="",
            oid=oid,
        )

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        """POST /api/datasets/<repo>/tag/<revision> {"tag": ...} and DELETE /api/datasets/<repo>/tag/<tag>."""
        prefix = f"/api/datasets/{REPO}/tag/"
        path = unquote(request.url.path)
        assert path.startswith(prefix), path
        name = path.removeprefix(prefix)
        self.calls.append(f"{request.method} tag {name}")
        if request.method == "POST":
            tag = json.loads(request.content)["tag"]
            if tag in self.tags:
                return httpx2.Response(409, json={"error": f"Tag {tag} already exists"})
            if name != "main" and name not in dict(self.commits):
                return httpx2.Response(404, headers={"X-Error-Code": "RevisionNotFound"}, json={"error": "no such"})
            self.tags[tag] = self.head if name == "main" else name
            return httpx2.Response(200, json={})
        if request.method == "DELETE":
            if name not in self.tags:
                return httpx2.Response(404, headers={"X-Error-Code": "RevisionNotFound"}, json={"error": "no tag"})
            del self.tags[name]
            return httpx2.Response(200, json={})
        return httpx2.Response(405)


class HubApi(HfApi):
    """huggingface_hub's client with repo creation and uploads answered by `Hub` (see the module docstring)."""

    def __init__(self, hub: Hub) -> None:
        super().__init__(endpoint=ENDPOINT, token=TOKEN)
        self.hub = hub

    def create_repo(self, repo_id: str, **kwargs) -> RepoUrl:  # type: ignore[override]
        assert repo_id == REPO
        self.hub.calls.append(f"create_repo {json.dumps(kwargs, sort_keys=True)}")
        return RepoUrl(f"{ENDPOINT}/datasets/{repo_id}", endpoint=ENDPOINT)

    def upload_file(self, *, path_or_fileobj: bytes, path_in_repo: str, **kwargs) -> CommitInfo:  # type: ignore[override]
        self.hub.calls.append(f"upload_file {path_in_repo}")
        return self.hub.commit(f"Upload {path_in_repo}", {path_in_repo: path_or_fileobj})

    def upload_folder(self, *, folder_path: str, ignore_patterns: list[str], **kwargs) -> CommitInfo:  # type: ignore[override]
        self.hub.calls.append("upload_folder")
        root = Path(folder_path)
        paths = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
        kept = filter_repo_objects(paths, ignore_patterns=[*ignore_patterns, *DEFAULT_IGNORE_PATTERNS])
        return self.hub.commit("Upload folder", {path: (root / path).read_bytes() for path in kept})


@pytest.fixture
def hub() -> Iterator[Hub]:
    hub = Hub()
    set_client_factory(lambda: httpx2.Client(transport=httpx2.MockTransport(hub.handle)))
    try:
        yield hub
    finally:
        set_client_factory(default_client_factory)


FEATURES = {
    "observation.state": {"dtype": "float32", "shape": [2], "names": ["a", "b"]},
    "observation.images.front": {"dtype": "video", "shape": [32, 32, 3], "names": ["height", "width", "channels"]},
}


def record_episode(writer: DatasetWriter, value: int) -> None:
    writer.start_episode("move")
    for _ in range(3):
        writer.add_frame(
            {
                "observation.state": np.full(2, value, np.float32),
                "observation.images.front": np.full((32, 32, 3), value, np.uint8),
            }
        )
    writer.save_episode()


def test_push_creates_the_repo_uploads_the_dataset_and_tags_it(tmp_path, hub, caplog) -> None:
    root = tmp_path / "ds"
    writer = DatasetWriter.create(root, REPO, FEATURES, WriterConfig(fps=10, video_codec="h264"), "so101_follower")
    record_episode(writer, 1)
    writer.start_episode("still recording")  # staging files and the writer's lock exist
    writer.add_frame(
        {"observation.state": np.zeros(2, np.float32), "observation.images.front": np.zeros((32, 32, 3), np.uint8)}
    )
    assert (root / ".lerobot_ros_lock").is_file() and any((root / ".lerobot_ros_staging").iterdir())

    url = push_dataset(root, REPO, private=True, tags=["LeRobot", "so101"], api=HubApi(hub))
    writer.finalize()

    assert url == f"{ENDPOINT}/datasets/{REPO}"
    assert hub.calls == [
        'create_repo {"exist_ok": true, "private": true, "repo_type": "dataset"}',
        "upload_file README.md",
        "upload_folder",
        "DELETE tag v3.0",
        f"POST tag {hub.head}",
    ]
    assert hub.tags == {"v3.0": hub.head}
    uploaded = hub.files_at(hub.tags["v3.0"])
    card = uploaded["README.md"].decode()
    assert "- LeRobot\n- so101\n" in card and "so101_follower" in card
    assert sorted(uploaded) == sorted(
        ["README.md", *(p.relative_to(root).as_posix() for p in (root / "meta").rglob("*") if p.is_file())]
        + [p.relative_to(root).as_posix() for d in ("data", "videos") for p in (root / d).rglob("*") if p.is_file()]
    )
    assert TOKEN not in caplog.text + repr(hub.calls)


def test_a_repush_moves_the_v30_tag_to_the_new_upload(tmp_path, hub) -> None:
    """LeRobot loads a dataset at its v3.0 tag: left on the first upload, users would get the old episodes."""
    root = tmp_path / "ds"
    config = WriterConfig(fps=10, video_codec="h264")
    writer = DatasetWriter.create(root, REPO, FEATURES, config)
    record_episode(writer, 1)
    writer.finalize()
    push_dataset(root, REPO, api=HubApi(hub))
    first = hub.tags["v3.0"]

    writer = DatasetWriter.resume(root, config)
    record_episode(writer, 2)
    writer.finalize()
    push_dataset(root, REPO, api=HubApi(hub))

    assert hub.tags["v3.0"] == hub.head != first
    info = json.loads(hub.files_at(hub.tags["v3.0"])["meta/info.json"])
    assert info["total_episodes"] == 2
