"""The writer produces the files LeRobot 0.4.4 writes: layout, parquet schemas and metadata, info, stats."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from lerobot_ros_record.dataset import DatasetWriter, WriterConfig

PARQUET_FILES = ("data/chunk-000/file-000.parquet", "meta/episodes/chunk-000/file-000.parquet", "meta/tasks.parquet")


def files_of(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def schema_and_metadata(path: Path) -> tuple[object, dict]:
    """Arrow schema (without metadata) and the schema metadata, the datasets fingerprint left out."""
    schema = pq.ParquetFile(path).schema_arrow
    metadata = {k.decode(): json.loads(v) for k, v in (schema.metadata or {}).items()}
    metadata.get("huggingface", {}).pop("fingerprint", None)
    return schema.remove_metadata(), metadata


def row_groups(path: Path) -> list[int]:
    meta = pq.ParquetFile(path).metadata
    return [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]


def assert_close_tree(mine: object, theirs: object, where: str) -> None:
    np.testing.assert_allclose(np.asarray(mine, float), np.asarray(theirs, float), rtol=1e-9, atol=1e-12, err_msg=where)


def true_image_std(frames: list[np.ndarray]) -> np.ndarray:
    pixels = np.concatenate([f.reshape(-1, 3) for f in frames]).astype(np.float64) / 255
    return pixels.std(axis=0).reshape(3, 1, 1)


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory, reference_episodes) -> Path:
    root = tmp_path_factory.mktemp("format") / "dataset"
    reference_episodes.write(root)
    return root


def test_same_file_layout_as_lerobot(written: Path, reference_dataset: Path) -> None:
    assert files_of(written) == files_of(reference_dataset)


@pytest.mark.parametrize("relative", PARQUET_FILES)
def test_same_parquet_schemas_and_metadata(written: Path, reference_dataset: Path, relative: str) -> None:
    mine_schema, mine_meta = schema_and_metadata(written / relative)
    ref_schema, ref_meta = schema_and_metadata(reference_dataset / relative)
    assert mine_schema.equals(ref_schema), f"{relative}:\n{mine_schema}\n!=\n{ref_schema}"
    assert mine_meta == ref_meta
    assert row_groups(written / relative) == row_groups(reference_dataset / relative)


def test_same_data_rows(written: Path, reference_dataset: Path) -> None:
    mine = pq.read_table(written / PARQUET_FILES[0])
    assert mine.equals(pq.read_table(reference_dataset / PARQUET_FILES[0]))


def test_same_info_json(written: Path, reference_dataset: Path) -> None:
    mine = json.loads((written / "meta/info.json").read_text())
    reference = json.loads((reference_dataset / "meta/info.json").read_text())
    assert mine == reference
    assert list(mine) == list(reference)
    assert list(mine["features"]) == list(reference["features"])


def test_same_tasks(written: Path, reference_dataset: Path) -> None:
    assert pq.read_table(written / PARQUET_FILES[2]).equals(pq.read_table(reference_dataset / PARQUET_FILES[2]))


def test_same_episodes_metadata_and_stats(written: Path, reference_dataset: Path, reference_episodes) -> None:
    """Every episodes column matches LeRobot's, except image `std`, which LeRobot 0.4.4 gets wrong (uint8 overflow)."""
    mine = pq.read_table(written / PARQUET_FILES[1]).to_pylist()
    reference = pq.read_table(reference_dataset / PARQUET_FILES[1]).to_pylist()
    assert [list(row) for row in mine] == [list(row) for row in reference]
    for episode, (row, ref_row) in enumerate(zip(mine, reference, strict=True)):
        for column, value in row.items():
            if column.startswith("stats/observation.images.") and column.endswith("/std"):
                camera = column.split("/")[1]
                frames = [reference_episodes.frame(episode, i)[camera] for i in range(row["length"])]
                assert_close_tree(value, true_image_std(frames), column)
            elif isinstance(value, str) or (isinstance(value, list) and isinstance(value[0], str)):
                assert value == ref_row[column], column
            else:
                assert_close_tree(value, ref_row[column], f"episode {episode} {column}")


def test_same_dataset_stats(written: Path, reference_dataset: Path) -> None:
    mine = json.loads((written / "meta/stats.json").read_text())
    reference = json.loads((reference_dataset / "meta/stats.json").read_text())
    assert sorted(mine) == sorted(reference)
    for feature, stats in mine.items():
        assert list(stats) == list(reference[feature])
        for name, value in stats.items():
            if feature.startswith("observation.images.") and name == "std":
                assert np.asarray(value).shape == (3, 1, 1)
                assert np.all(np.asarray(value) > 0.05)  # true spread of the test pattern, not LeRobot's wrapped 0
                continue
            assert_close_tree(value, reference[feature][name], f"{feature}/{name}")


def test_video_timestamps_are_frame_index_over_fps(written: Path) -> None:
    import av

    episodes = pq.read_table(written / PARQUET_FILES[1]).to_pylist()
    for camera in ("observation.images.front", "observation.images.wrist"):
        with av.open(str(written / f"videos/{camera}/chunk-000/file-000.mp4")) as container:
            times = [frame.time for frame in container.decode(video=0)]
        expected = [ep[f"videos/{camera}/from_timestamp"] + k / 30 for ep in episodes for k in range(ep["length"])]
        np.testing.assert_allclose(times, expected, atol=1e-9)
        for ep in episodes:
            assert ep[f"videos/{camera}/to_timestamp"] == pytest.approx(
                ep[f"videos/{camera}/from_timestamp"] + ep["length"] / 30
            )


@pytest.mark.reference
def test_lerobot_loads_frames_pixels_stats_and_boundaries(written: Path, reference_episodes, load_with_lerobot) -> None:
    loaded = load_with_lerobot(written)
    lengths = [len(s) for s in reference_episodes.states]
    assert loaded.meta["len"] == sum(lengths)
    assert loaded.meta["num_episodes"] == 3
    bounds = np.cumsum([0, *lengths])
    assert [(e["dataset_from_index"], e["dataset_to_index"]) for e in loaded.meta["episodes"]] == list(
        zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True)
    )
    np.testing.assert_array_equal(loaded.arrays["observation.state"], np.concatenate(reference_episodes.states))
    np.testing.assert_array_equal(loaded.arrays["action"], np.concatenate(reference_episodes.actions))
    episode_of = np.repeat(np.arange(3), lengths)
    frame_of = np.concatenate([np.arange(n) for n in lengths])
    np.testing.assert_array_equal(loaded.arrays["episode_index"], episode_of)
    np.testing.assert_array_equal(loaded.arrays["frame_index"], frame_of)
    np.testing.assert_allclose(loaded.arrays["timestamp"], frame_of / 30, atol=1e-6)
    assert loaded.meta["tasks"] == [reference_episodes.tasks[e] for e in episode_of]
    expected_front = np.stack(
        [reference_episodes.frame(e, f)["observation.images.front"] for e, f in zip(episode_of, frame_of, strict=True)]
    )
    decoded = np.rint(loaded.arrays["observation.images.front"] * 255).transpose(0, 2, 3, 1)
    error = np.abs(decoded - expected_front)
    assert error.mean() < 6, f"mean abs pixel error {error.mean():.2f} (AV1 crf 30 on a synthetic pattern)"
    assert np.median(error) <= 4
    stats = loaded.meta["stats"]
    np.testing.assert_allclose(
        stats["observation.state"]["min"], np.concatenate(reference_episodes.states).min(0), rtol=1e-6
    )
    assert np.asarray(stats["observation.images.front"]["mean"]).shape == (3, 1, 1)


@pytest.mark.reference
def test_same_files_as_lerobot_for_force_scalar_and_image_features(tmp_path: Path, run_reference) -> None:
    """LeRobot 0.4.4 and the writer store the same frames with image, float64 scalar and int features alike."""
    features = {
        "observation.state": {"dtype": "float32", "shape": [3], "names": ["a", "b", "c"]},
        "observation.force": {"dtype": "float32", "shape": [6], "names": ["fx", "fy", "fz", "tx", "ty", "tz"]},
        "observation.gripper_closed": {"dtype": "float64", "shape": [1], "names": None},
        "observation.step": {"dtype": "int64", "shape": [2], "names": ["a", "b"]},
        "observation.images.top": {"dtype": "image", "shape": [12, 16, 3], "names": ["height", "width", "channels"]},
    }
    rng = np.random.default_rng(0)
    lengths = [5, 1, 7]
    frames = [
        [
            {
                "observation.state": rng.normal(size=3).astype(np.float32),
                "observation.force": rng.normal(size=6).astype(np.float32),
                "observation.gripper_closed": np.array([rng.uniform()]),
                "observation.step": np.array([i, e], np.int64),
                "observation.images.top": rng.integers(0, 256, (12, 16, 3), dtype=np.uint8),
            }
            for i in range(n)
        ]
        for e, n in enumerate(lengths)
    ]
    tasks = ["push", "pull", "push"]
    np.save(tmp_path / "frames.npy", np.array(frames, dtype=object), allow_pickle=True)
    theirs = tmp_path / "lerobot"
    run_reference(
        """
import json, sys
import numpy as np
from lerobot.datasets.lerobot_dataset import LeRobotDataset
frames = np.load(sys.argv[2], allow_pickle=True)
features = json.loads(sys.argv[3])
for spec in features.values():
    spec["shape"] = tuple(spec["shape"])
tasks = json.loads(sys.argv[4])
ds = LeRobotDataset.create("lerobot_ros/test", fps=15, features=features, root=sys.argv[1], use_videos=False)
for episode, task in zip(frames, tasks):
    for frame in episode:
        ds.add_frame({**frame, "task": task})
    ds.save_episode()
ds.finalize()
""",
        str(theirs),
        str(tmp_path / "frames.npy"),
        json.dumps(features),
        json.dumps(tasks),
    )
    mine = tmp_path / "mine"
    writer = DatasetWriter.create(mine, "lerobot_ros/test", features, WriterConfig(fps=15))
    for episode, task in zip(frames, tasks, strict=True):
        writer.start_episode(task)
        for frame in episode:
            writer.add_frame(frame)
        writer.save_episode()
    writer.finalize()

    assert [f for f in files_of(mine)] == [f for f in files_of(theirs) if not f.startswith("images/")]
    for relative in PARQUET_FILES:
        assert schema_and_metadata(mine / relative) == schema_and_metadata(theirs / relative), relative
        assert row_groups(mine / relative)[0] == row_groups(theirs / relative)[0]
    assert json.loads((mine / "meta/info.json").read_text()) == json.loads((theirs / "meta/info.json").read_text())
    mine_data = pq.read_table(mine / PARQUET_FILES[0])
    their_data = pq.read_table(theirs / PARQUET_FILES[0])
    for column in mine_data.column_names:
        if column == "observation.images.top":
            continue
        assert mine_data.column(column).equals(their_data.column(column)), column
    mine_images = [cell["path"] for cell in mine_data.column("observation.images.top").to_pylist()]
    assert mine_images == [cell["path"] for cell in their_data.column("observation.images.top").to_pylist()]
    mine_eps = pq.read_table(mine / PARQUET_FILES[1]).to_pylist()
    their_eps = pq.read_table(theirs / PARQUET_FILES[1]).to_pylist()
    for row, their_row in zip(mine_eps, their_eps, strict=True):
        for column, value in row.items():
            if column == "tasks":
                assert value == their_row[column]
            elif not (column.startswith("stats/observation.images.") and column.endswith("/std")):
                assert_close_tree(value, their_row[column], column)
