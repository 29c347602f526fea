"""Find and read a LeRobot policy checkpoint: a local directory (a `pretrained_model/` folder as
`lerobot-train` writes it, or its parent) or a Hub repo id resolved from the local Hugging Face cache
(offline by default)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from lerobot_ros_policy.checkpoint.config import PolicyConfig, parse_policy_config
from lerobot_ros_policy.checkpoint.errors import (
    CheckpointFormatError,
    CheckpointNotFoundError,
    MissingCheckpointFileError,
)
from lerobot_ros_policy.checkpoint.processors import ProcessorPipelineSpec, read_pipeline

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
PREPROCESSOR_FILE = "policy_preprocessor.json"
POSTPROCESSOR_FILE = "policy_postprocessor.json"
PRETRAINED_SUBDIR = "pretrained_model"


@dataclass(frozen=True)
class PolicyCheckpoint:
    """A checkpoint's config and processor pipelines; weights are read on demand (they can be GBs)."""

    root: Path
    config: PolicyConfig
    preprocessor: ProcessorPipelineSpec
    postprocessor: ProcessorPipelineSpec

    @property
    def weights_path(self) -> Path:
        return self.root / WEIGHTS_FILE

    def load_state_dict(self, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
        """The policy's `model.safetensors` (keys as LeRobot's policy module names them)."""
        try:
            return load_file(str(self.weights_path), device=str(device))
        except (SafetensorError, OSError) as err:
            raise CheckpointFormatError(f"{self.weights_path}: unreadable safetensors file: {err}") from err


def _looks_like_repo_id(source: str) -> bool:
    parts = source.split("/")
    return len(parts) == 2 and all(parts) and not source.startswith((".", "~"))


def resolve_checkpoint_dir(
    source: str | Path,
    *,
    revision: str | None = None,
    cache_dir: str | Path | None = None,
    local_files_only: bool = True,
) -> Path:
    """Directory holding `config.json`: `source` itself, its `pretrained_model/`, or a Hub snapshot."""
    path = Path(source).expanduser()
    if path.is_dir():
        for candidate in (path, path / PRETRAINED_SUBDIR):
            if (candidate / CONFIG_FILE).is_file():
                return candidate
        raise MissingCheckpointFileError(
            f"{path}: no {CONFIG_FILE} here or in {PRETRAINED_SUBDIR}/: not a LeRobot policy checkpoint"
        )
    if isinstance(source, Path) or not _looks_like_repo_id(str(source)):
        raise CheckpointNotFoundError(f"{source}: no such checkpoint directory")
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError, RepositoryNotFoundError

    try:
        snapshot = snapshot_download(
            repo_id=str(source),
            revision=revision,
            cache_dir=cache_dir,
            local_files_only=local_files_only,
            allow_patterns=["*.json", "*.safetensors"],
        )
    except LocalEntryNotFoundError as err:
        raise CheckpointNotFoundError(
            f"Hub checkpoint '{source}' (revision {revision or 'main'}) is not in the local Hugging Face cache "
            f"and downloads are off: fetch it once with `hf download {source}` (or allow downloads)"
        ) from err
    except (RepositoryNotFoundError, HfHubHTTPError, OSError) as err:
        raise CheckpointNotFoundError(f"Hub checkpoint '{source}': {err}") from err
    return resolve_checkpoint_dir(Path(snapshot))


def load_checkpoint(
    source: str | Path,
    *,
    revision: str | None = None,
    cache_dir: str | Path | None = None,
    local_files_only: bool = True,
) -> PolicyCheckpoint:
    """Read `config.json` and both processor pipelines (with their state); check the weights exist."""
    root = resolve_checkpoint_dir(source, revision=revision, cache_dir=cache_dir, local_files_only=local_files_only)
    config_path = root / CONFIG_FILE
    try:
        raw = json.loads(config_path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise CheckpointFormatError(f"{config_path}: not valid JSON: {err}") from err
    config = parse_policy_config(raw, str(config_path))
    if not (root / WEIGHTS_FILE).is_file():
        raise MissingCheckpointFileError(f"{root / WEIGHTS_FILE}: missing (the policy weights)")
    return PolicyCheckpoint(
        root=root,
        config=config,
        preprocessor=read_pipeline(root, PREPROCESSOR_FILE),
        postprocessor=read_pipeline(root, POSTPROCESSOR_FILE),
    )
