"""The parquet files' content as LeRobot writes it: data rows, episode rows, tasks."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

# Column layout of meta/tasks.parquet as LeRobot writes it (a pandas frame indexed by task text).
_TASKS_PANDAS_METADATA = {
    "index_columns": ["__index_level_0__"],
    "column_indexes": [
        {
            "name": None,
            "field_name": None,
            "pandas_type": "unicode",
            "numpy_type": "str",
            "metadata": {"encoding": "UTF-8"},
        }
    ],
    "columns": [
        {
            "name": "task_index",
            "field_name": "task_index",
            "pandas_type": "int64",
            "numpy_type": "int64",
            "metadata": None,
        },
        {
            "name": None,
            "field_name": "__index_level_0__",
            "pandas_type": "object",
            "numpy_type": "str",
            "metadata": None,
        },
    ],
    "attributes": {},
    "creator": {"library": "pyarrow", "version": pa.__version__},
    # The pandas release whose layout this reproduces (LeRobot 0.4.4 reference environment).
    "pandas_version": "3.1.1",
}
TASK_COLUMN = "__index_level_0__"


def data_table(columns: dict[str, Any], schema: pa.Schema) -> pa.Table:
    """One episode's data rows (`columns`: one array or list per column) in the data file's schema."""
    arrays = []
    for field_ in schema:
        value = columns[field_.name]
        if pa.types.is_fixed_size_list(field_.type):
            dtype = field_.type.value_type.to_pandas_dtype()
            flat = pa.array(np.asarray(value, dtype=dtype).reshape(-1), type=field_.type.value_type)
            arrays.append(pa.FixedSizeListArray.from_arrays(flat, field_.type.list_size))
        elif pa.types.is_struct(field_.type):
            arrays.append(pa.array(value, type=field_.type))
        else:
            dtype = field_.type.to_pandas_dtype()
            arrays.append(pa.array(np.asarray(value, dtype=dtype).reshape(-1), type=field_.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def write_data_file(out: Path, schema: pa.Schema, columns: dict[str, Any]) -> None:
    """A new data file holding one episode (one row group)."""
    _write_row_groups(out, schema, [data_table(columns, schema)])


def append_data_file(source: Path, columns: dict[str, Any], out: Path) -> None:
    """`source`'s row groups plus one episode's as one more, written to `out`."""
    existing = pq.ParquetFile(source)
    groups = map(existing.read_row_group, range(existing.num_row_groups))  # one at a time: files reach 100 MB
    table = data_table(columns, existing.schema_arrow)
    _write_row_groups(out, existing.schema_arrow, itertools.chain(groups, [table]))


def truncate_data_file(source: Path, frames: int, out: Path) -> None:
    """The first `frames` rows of `source`, with its schema, one row group per episode."""
    keep = pq.read_table(source).slice(0, frames)
    episode = keep.column("episode_index").to_numpy()
    boundaries = [0, *(np.flatnonzero(np.diff(episode)) + 1).tolist(), len(episode)]
    groups = [keep.slice(start, stop - start) for start, stop in itertools.pairwise(boundaries)]
    _write_row_groups(out, pq.ParquetFile(source).schema_arrow, groups)


def _write_row_groups(path: Path, schema: pa.Schema, groups: Iterable[pa.Table]) -> None:
    with pq.ParquetWriter(path, schema, compression="snappy", use_dictionary=True) as out:
        for group in groups:
            out.write_table(group)


def write_episodes_file(out: Path, row: dict[str, Any]) -> None:
    """A new episodes-metadata file holding one episode's row."""
    _write_table(out, pa.Table.from_pydict({k: [v] for k, v in row.items()}))


def append_episodes_file(source: Path, row: dict[str, Any], out: Path) -> None:
    """`source`'s episode rows plus one more (cast to its schema), written to `out`."""
    existing = pq.read_table(source)
    _write_table(out, pa.concat_tables([existing, pa.Table.from_pylist([row]).cast(existing.schema)]))


def _write_table(path: Path, table: pa.Table) -> None:
    pq.write_table(table, path, compression="snappy", use_dictionary=True)


def write_tasks(path: Path, tasks: list[str]) -> None:
    schema = pa.schema(
        [("task_index", pa.int64()), (TASK_COLUMN, pa.large_string())],
        metadata={"pandas": json.dumps(_TASKS_PANDAS_METADATA)},
    )
    table = pa.Table.from_arrays(
        [pa.array(range(len(tasks)), pa.int64()), pa.array(tasks, pa.large_string())], schema=schema
    )
    pq.write_table(table, path)


def read_tasks(path: Path) -> list[str]:
    """The task texts in task_index order."""
    table = pq.read_table(path)
    order = np.argsort(table.column("task_index").to_numpy())
    texts = table.column(TASK_COLUMN).to_pylist()
    return [texts[i] for i in order]
