"""Edit the features of an existing LeRobot v3.0 dataset into a new one: add EE features, rename, remove.

Videos are never re-encoded: their files are hard-linked (copied across file systems) into the new
dataset, under the new key when a camera is renamed. Data parquet files are rewritten with the new
columns (one row group per episode, LeRobot's `huggingface` schema metadata), the episodes metadata
gets the per-episode stats of added features, and `meta/stats.json` folds them in episode order, as
the writer does while recording. Renamed features keep their stats, removed ones lose them. The
stored feature contract follows every edit, so a policy trained on the result can be rolled out.

EE features are computed by `DerivedFeatures` from the stored float32 joint values: the numbers
the recorder writes for the same feature live.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import os
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from lerobot_ros_core.contract import CONTRACT_META_FILE, Contract, ContractError, parse_contract
from lerobot_ros_core.dataset_paths import INFO_PATH, STATS_PATH
from lerobot_ros_core.kinematics.ee_features import DerivedFeatures

from . import stats as stats_lib
from .errors import DatasetError
from .features import DEFAULT_FEATURES, data_schema, parse_features
from .layout import json_bytes
from .lock import DatasetLock

EPISODES_GLOB = "meta/episodes/chunk-*/file-*.parquet"
DATA_GLOB = "data/chunk-*/file-*.parquet"


@dataclass
class FeatureEdit:
    """What to do: EE features to add (contract entries `{key: {"ee": {...}}}`), renames, removals."""

    add_ee: dict[str, dict[str, Any]] = field(default_factory=dict)
    rename: dict[str, str] = field(default_factory=dict)
    remove: set[str] = field(default_factory=set)


@dataclass
class EditResult:
    frames: int
    episodes: int
    added: list[str]
    renamed: dict[str, str]
    removed: list[str]
    linked_videos: int


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise DatasetError(f"cannot read {path}: {error}") from error


def _link(source: Path, target: Path) -> None:
    """Hard link (a copy where the file system refuses): the file's bytes are not touched."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _stored_contract(root: Path, contract: Contract | None) -> Contract | None:
    if contract is not None:
        return contract
    path = root / "meta" / CONTRACT_META_FILE
    if not path.is_file():
        return None
    return parse_contract(path.read_text(encoding="utf-8"), source=str(path), base_dir=path.parent)


def _plan_contract(
    contract: Contract | None, edit: FeatureEdit, features: Mapping[str, Any], root: Path
) -> Contract | None:
    """The contract of the edited dataset (None when the dataset has none and no EE feature is added)."""
    if contract is None:
        if edit.add_ee:
            raise DatasetError(
                f"{root} stores no feature contract ({CONTRACT_META_FILE}): give the contract it was recorded "
                "with, so the joint features' units and joint names are known"
            )
        return None
    try:
        contract = contract.restricted_to(features)
    except ContractError as error:
        raise DatasetError(f"the contract does not describe {root}: {error}") from error
    raw_features = dict(contract.raw["features"])
    for key, entry in edit.add_ee.items():
        if key in features:
            raise DatasetError(f"feature {key!r} already exists in {root}")
        raw_features[key] = entry
    try:
        planned = parse_contract({**contract.raw, "features": raw_features}, source=contract.source)
        dropped = set(edit.remove)
        sources = {ee.source for k in planned.keys if k not in dropped and (ee := planned.end_effector(k))}
        kept_for_ee = dropped & sources
        if kept_for_ee:  # still read live to compute the EE features a policy may use
            planned = planned.unrecorded(kept_for_ee)
        if dropped - kept_for_ee:
            planned = planned.without(dropped - kept_for_ee, check_required=False)
        if edit.rename:
            planned = planned.renamed(edit.rename)
    except (ContractError, KeyError) as error:
        raise DatasetError(f"the edit does not fit the dataset's contract: {error}") from error
    return planned


def _new_info_features(info: dict[str, Any], contract: Contract | None, edit: FeatureEdit) -> dict[str, Any]:
    features = {k: v for k, v in info["features"].items() if k not in edit.remove}
    added = contract.features() if contract is not None else {}
    for key in edit.add_ee:
        features[key] = added[key]
    out: dict[str, Any] = {}
    user = [k for k in features if k not in DEFAULT_FEATURES]
    for key in user:
        out[edit.rename.get(key, key)] = copy.deepcopy(features[key])
    for key in DEFAULT_FEATURES:
        if key in features:
            out[key] = features[key]
    if len(out) != len([*user, *(k for k in DEFAULT_FEATURES if k in features)]):
        raise DatasetError(f"renaming {edit.rename} makes two features share a name")
    return out


def _episode_bounds(table: pa.Table) -> Iterator[tuple[int, int]]:
    episode = table.column("episode_index").to_numpy()
    boundaries = [0, *(np.flatnonzero(np.diff(episode)) + 1).tolist(), len(episode)]
    return itertools.pairwise(boundaries)


def _vector_column(values: np.ndarray) -> pa.Array:
    flat = pa.array(np.ascontiguousarray(values, dtype=np.float32).reshape(-1), type=pa.float32())
    return pa.FixedSizeListArray.from_arrays(flat, values.shape[1])


def edit_dataset(
    source: Path, output: Path, edit: FeatureEdit, contract: Contract | None = None, repo_id: str | None = None
) -> EditResult:
    """Write `source` with `edit` applied to `output` (a new directory); `source` is left untouched.

    Both roots are locked like a writer locks them: a dataset still being recorded is not read half-written.
    """
    source, output = Path(source), Path(output)
    if not (source / INFO_PATH).is_file():
        raise DatasetError(f"no LeRobot dataset in {source}: {INFO_PATH} is missing")
    if output.exists() and any(output.iterdir()):
        raise DatasetError(f"cannot write the edited dataset to {output}: the directory is not empty")
    source_lock = DatasetLock.acquire(source)
    output.mkdir(parents=True, exist_ok=True)
    output_lock = DatasetLock.acquire(output)
    try:
        return _edit(source, output, edit, contract, repo_id)
    finally:
        output_lock.release()
        source_lock.release()


def _edit(source: Path, output: Path, edit: FeatureEdit, contract: Contract | None, repo_id: str | None) -> EditResult:
    info = _read_json(source / INFO_PATH)
    if info.get("codebase_version") != "v3.0":
        raise DatasetError(f"{source} is a {info.get('codebase_version')} dataset; only v3.0 can be edited")
    features = info["features"]
    unknown = sorted((set(edit.rename) | edit.remove) - set(features))
    if unknown:
        raise DatasetError(f"{source} has no feature(s) {unknown} (features: {list(features)})")
    protected = sorted((set(edit.rename) | set(edit.rename.values()) | edit.remove) & set(DEFAULT_FEATURES))
    if protected:
        raise DatasetError(f"{protected} are LeRobot's own columns; they cannot be renamed or removed")
    contract = _plan_contract(_stored_contract(source, contract), edit, features, source)
    new_features = _new_info_features(info, contract, edit)
    derived = DerivedFeatures(contract, list(edit.add_ee)) if contract is not None and edit.add_ee else None
    _, parsed = parse_features({k: v for k, v in new_features.items() if k not in DEFAULT_FEATURES})
    repo_id = repo_id or f"local/{output.name}"

    # Data files: rename/drop columns, compute added ones per episode, keep one row group per episode.
    episode_stats: dict[int, dict[str, stats_lib.Stats]] = {}
    frames = 0
    for path in sorted(source.glob(DATA_GLOB)):
        relative = path.relative_to(source).as_posix()
        table = pq.read_table(path)
        frames += table.num_rows
        fingerprint = hashlib.sha256(f"{repo_id}/{relative}".encode()).hexdigest()[:16]
        schema = data_schema(new_features, parsed, fingerprint)
        columns: dict[str, pa.Array | pa.ChunkedArray] = {}
        for old in table.column_names:
            if old not in edit.remove:
                columns[edit.rename.get(old, old)] = table.column(old)
        if derived is not None:
            values = {
                key: np.asarray(table.column(key).combine_chunks().flatten(), dtype=np.float32).reshape(
                    table.num_rows, -1
                )
                for key in derived.sources
            }
            added = {
                key: np.zeros((table.num_rows, len(f.ee.names)), np.float32) for key, f in derived.features.items()
            }
            for row in range(table.num_rows):
                for key, value in derived.compute({k: v[row] for k, v in values.items()}).items():
                    added[key][row] = value
            episodes = table.column("episode_index").to_numpy()
            for start, stop in _episode_bounds(table):
                per_episode = episode_stats.setdefault(int(episodes[start]), {})
                for key, value in added.items():
                    per_episode[key] = stats_lib.vector_stats(value[start:stop])
            columns.update({key: _vector_column(value) for key, value in added.items()})
        new_table = pa.Table.from_arrays([columns[f.name] for f in schema], schema=schema)
        target = output / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        with pq.ParquetWriter(target, schema, compression="snappy", use_dictionary=True) as writer:
            for start, stop in _episode_bounds(new_table):
                writer.write_table(new_table.slice(start, stop - start))

    # Videos: link every file of every kept camera under its (new) key.
    linked = 0
    video_keys = [k for k, v in features.items() if v.get("dtype") == "video" and k not in edit.remove]
    for key in video_keys:
        for path in sorted((source / "videos" / key).rglob("*.mp4")):
            _link(path, output / "videos" / edit.rename.get(key, key) / path.relative_to(source / "videos" / key))
            linked += 1

    # Episodes metadata: rename/drop per-feature columns, add the stats of added features.
    episode_count = 0
    for path in sorted(source.glob(EPISODES_GLOB)):
        table = pq.read_table(path)
        episode_count += table.num_rows
        before, stats_columns, after = {}, {}, {}
        for name in table.column_names:
            kind, _, rest = name.partition("/")
            renamed = name
            if kind in ("stats", "videos"):
                key, _, stat = rest.rpartition("/")
                if key in edit.remove:
                    continue
                if kind == "stats":
                    stats_columns[(edit.rename.get(key, key), stat)] = table.column(name)
                    continue
                renamed = f"videos/{edit.rename.get(key, key)}/{stat}"
            (after if stats_columns else before)[renamed] = table.column(name)
        indices = table.column("episode_index").to_pylist()
        for key in edit.add_ee:
            for stat in stats_lib.STAT_KEYS:
                stats_columns[(key, stat)] = pa.array(
                    [np.asarray(episode_stats[i][key][stat]).tolist() for i in indices]
                )
        ordered = {  # the writer's column order: stats per feature in info.json order
            f"stats/{key}/{stat}": stats_columns[(key, stat)]
            for key in new_features
            for stat in stats_lib.STAT_KEYS
            if (key, stat) in stats_columns
        }
        columns = {**before, **ordered, **after}
        target = output / path.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table(columns), target, compression="snappy", use_dictionary=True)

    # stats.json: renamed and kept as they are, added folded episode by episode.
    old_stats = _read_json(source / STATS_PATH) if (source / STATS_PATH).is_file() else {}
    new_stats: dict[str, Any] = {}
    for key, value in old_stats.items():
        if key not in edit.remove:
            new_stats[edit.rename.get(key, key)] = value
    if edit.add_ee:
        running: dict[str, stats_lib.Stats] | None = None
        for index in sorted(episode_stats):
            running = stats_lib.aggregate_into(running, episode_stats[index])
        assert running is not None
        new_stats.update(stats_lib.to_json(running))
    order = [k for k in new_features if k in new_stats]
    (output / STATS_PATH).write_bytes(json_bytes({k: new_stats[k] for k in order}))

    new_info = {**info, "features": new_features}
    if not any(v.get("dtype") == "video" for v in new_features.values()):
        new_info["video_path"] = None
    (output / INFO_PATH).write_bytes(json_bytes(new_info))
    for path in sorted((source / "meta").iterdir()):
        if path.is_file() and path.name not in ("info.json", "stats.json", CONTRACT_META_FILE):
            shutil.copy2(path, output / "meta" / path.name)
    if contract is not None:
        (output / "meta" / CONTRACT_META_FILE).write_text(contract.to_yaml(), encoding="utf-8")
    return EditResult(
        frames=frames,
        episodes=episode_count,
        added=list(edit.add_ee),
        renamed=dict(edit.rename),
        removed=sorted(edit.remove),
        linked_videos=linked,
    )
