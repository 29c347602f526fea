"""Create-or-resume of the dataset a recording session writes into (shared by the recorder and bag2dataset)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lerobot_ros_core.contract import CONTRACT_META_FILE, Contract, ContractError


class DatasetExistsError(RuntimeError):
    """The root already holds a dataset and resuming was not allowed."""


@dataclass(frozen=True)
class DatasetConfig:
    """How to open a dataset root."""

    repo_id: str
    writer: Any  # the dataset writer's WriterConfig
    resume: bool = True  # append to a dataset found at the root (else DatasetExistsError)


@dataclass(frozen=True)
class OpenedDataset:
    writer: Any  # DatasetWriter
    contract: Contract  # the contract the dataset is written with (stored under meta/)
    resumed: bool


def open_dataset(
    root: str | Path, contract: Contract, config: DatasetConfig, absent: Collection[str] = ()
) -> OpenedDataset:
    """Resume the dataset at `root` (the contract restricted to its features) or create it from `contract`.

    `absent`: optional features without data, left out of a new dataset (a resumed one keeps its own).
    Raises ContractError when a resumed dataset's features do not match the contract (the writer is closed).
    """
    from lerobot_ros_core.dataset_paths import INFO_PATH
    from lerobot_ros_record.dataset import DatasetWriter  # pyarrow and PyAV: only once a dataset is opened

    root = Path(root)
    resumed = (root / INFO_PATH).exists()
    if resumed:
        if not config.resume:
            raise DatasetExistsError(f"{root} already holds a dataset")
        writer = DatasetWriter.resume(root, config.writer, repo_id=config.repo_id)
        try:
            contract = contract.restricted_to(writer.features)
        except ContractError as error:
            writer.finalize()
            raise ContractError(f"cannot append to {root}: {error}") from error
    else:
        contract = contract.without(set(absent)) if absent else contract
        writer = DatasetWriter.create(
            root, config.repo_id, contract.features(), config.writer, robot_type=contract.robot_type
        )
    writer.write_meta_file(CONTRACT_META_FILE, contract.to_yaml().encode())
    return OpenedDataset(writer, contract, resumed)
