"""Per-episode and aggregated feature statistics, computed the way LeRobot 0.4.4 computes them.

Numeric features: per dimension over all frames. Images and videos: per channel over a sample of
the episode's frames (about L**0.75 of them, at least 100), each downsampled to ~150 px, values
normalised to 0..1 and shaped (C, 1, 1). Depth maps (as LeRobot 0.6 does): the same, but in the
recorded millimetres (the feature's `depth_unit`), not rescaled. Quantiles come from a 5000-bin
histogram spanning [min - 1e-10, max + 1e-10] with linear interpolation inside the bin.

One deliberate difference: LeRobot 0.4.4 squares uint8 pixels without widening them, so the
square wraps around at 256 and its image `std` is wrong (usually 0). Here pixels are widened first
and `std` is the true standard deviation.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

QUANTILES = (0.01, 0.10, 0.50, 0.90, 0.99)
QUANTILE_KEYS = tuple(f"q{round(q * 100):02d}" for q in QUANTILES)
STAT_KEYS = ("min", "max", "mean", "std", "count", *QUANTILE_KEYS)
NUM_BINS = 5000
EDGE_PADDING = 1e-10

Stats = dict[str, np.ndarray]


def num_stat_samples(length: int, minimum: int = 100, maximum: int = 10_000, power: float = 0.75) -> int:
    """How many frames of an episode of `length` frames the image statistics look at."""
    minimum = min(minimum, length)
    return max(minimum, min(int(length**power), maximum))


def stat_sample_indices(length: int) -> np.ndarray:
    return np.round(np.linspace(0, length - 1, num_stat_samples(length))).astype(int)


def downsample_factor(height: int, width: int, target: int = 150, threshold: int = 300) -> int:
    """Stride that brings an image to ~`target` px on its long side (1 below `threshold` px)."""
    longest = max(height, width)
    return 1 if longest < threshold else int(longest / target)


def _quantile(hist: np.ndarray, edges: np.ndarray, target: float) -> float:
    cumsum = np.cumsum(hist)
    idx = int(np.searchsorted(cumsum, target))
    if idx == 0:
        return float(edges[0])
    if idx >= len(cumsum):
        return float(edges[-1])
    before = cumsum[idx - 1]
    inside = cumsum[idx] - before
    if inside == 0:
        return float(edges[idx])
    return float(edges[idx] + (target - before) / inside * (edges[idx + 1] - edges[idx]))


def _value_histogram(counts: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """`np.histogram` of uint8 values given their counts per value (same half-open bins, last one closed)."""
    values = np.flatnonzero(counts)
    bins = np.clip(np.searchsorted(edges, values.astype(np.float64), side="right") - 1, 0, len(edges) - 2)
    return np.bincount(bins, weights=counts[values], minlength=len(edges) - 1)


def _uint8_table_stats(table: np.ndarray, count: int) -> Stats:
    """`_table_stats` for uint8 pixels from per-channel value counts: the same numbers, a fraction of the time.

    Sums of integers are exact in float64 either way, so mean and mean of squares equal numpy's.
    """
    rows = table.shape[0]
    counts = [np.bincount(table[:, column], minlength=256) for column in range(table.shape[1])]
    levels = np.arange(256, dtype=np.float64)
    present = [np.flatnonzero(c) for c in counts]
    minimum = np.array([p[0] for p in present], dtype=np.uint8)
    maximum = np.array([p[-1] for p in present], dtype=np.uint8)
    mean = np.array([(c * levels).sum() for c in counts]) / rows
    mean_of_squares = np.array([(c * levels**2).sum() for c in counts]) / rows
    stats = {
        "min": minimum,
        "max": maximum,
        "mean": mean,
        "std": np.sqrt(np.maximum(0, mean_of_squares - mean**2)),
        "count": np.array([count]),
    }
    quantiles: list[list[float]] = [[] for _ in QUANTILES]
    for column, column_counts in enumerate(counts):
        edges = np.linspace(minimum[column] - EDGE_PADDING, maximum[column] + EDGE_PADDING, NUM_BINS + 1)
        hist = _value_histogram(column_counts, edges)
        for i, q in enumerate(QUANTILES):
            quantiles[i].append(_quantile(hist, edges, q * rows))
    for key, values in zip(QUANTILE_KEYS, quantiles, strict=True):
        stats[key] = np.array(values)
    return stats


def _table_stats(table: np.ndarray, count: int) -> Stats:
    """Stats of a (rows, columns) table, per column; `count` is what LeRobot reports as the sample count."""
    if table.shape[0] < 2:
        mean = np.mean(table, axis=0)
        stats = {
            "min": np.min(table, axis=0),
            "max": np.max(table, axis=0),
            "mean": mean,
            "std": np.std(table, axis=0),
            "count": np.array([count]),
        }
        stats.update({key: mean.copy() for key in QUANTILE_KEYS})
        return stats
    if table.dtype == np.uint8:
        return _uint8_table_stats(table, count)
    mean = np.mean(table, axis=0)
    mean_of_squares = np.mean(table**2, axis=0)
    minimum = np.min(table, axis=0)
    maximum = np.max(table, axis=0)
    std = np.sqrt(np.maximum(0, mean_of_squares - mean**2))
    stats = {"min": minimum, "max": maximum, "mean": mean, "std": std, "count": np.array([count])}
    rows = table.shape[0]
    quantiles: list[list[float]] = [[] for _ in QUANTILES]
    for column in range(table.shape[1]):
        edges = np.linspace(minimum[column] - EDGE_PADDING, maximum[column] + EDGE_PADDING, NUM_BINS + 1)
        hist = np.histogram(table[:, column], bins=edges)[0]
        for i, q in enumerate(QUANTILES):
            quantiles[i].append(_quantile(hist, edges, q * rows))
    for key, values in zip(QUANTILE_KEYS, quantiles, strict=True):
        stats[key] = np.array(values)
    return stats


def vector_stats(values: np.ndarray) -> Stats:
    """Stats of a numeric feature: `values` is (frames,) or (frames, dims) in the feature's dtype."""
    stats = _table_stats(values.reshape(len(values), -1), len(values))
    if values.ndim == 1:
        stats = {k: v if k == "count" else np.asarray(v).reshape(1) for k, v in stats.items()}
    return stats


def image_stats(frames: np.ndarray, scale: float = 255.0) -> Stats:
    """Per-channel stats of sampled (N, H, W, C) frames, divided by `scale`, shaped (C, 1, 1)."""
    n, h, w, c = frames.shape
    table = frames.reshape(n * h * w, c)
    if table.dtype != np.uint8:  # e.g. uint16 depth: squares must not wrap around
        table = table.astype(np.float64)
    stats = _table_stats(table, n)
    return {k: v if k == "count" else (np.asarray(v) / scale).reshape(c, 1, 1) for k, v in stats.items()}


def aggregate(stats_list: list[Stats]) -> Stats:
    """Combine per-episode stats of one feature: count-weighted mean/variance/quantiles, global min/max."""
    means = np.stack([s["mean"] for s in stats_list])
    variances = np.stack([s["std"] ** 2 for s in stats_list])
    counts = np.stack([s["count"] for s in stats_list])
    total = counts.sum(axis=0)
    while counts.ndim < means.ndim:
        counts = np.expand_dims(counts, axis=-1)
    mean = (means * counts).sum(axis=0) / total
    variance = ((variances + (means - mean) ** 2) * counts).sum(axis=0) / total
    out = {
        "min": np.min(np.stack([s["min"] for s in stats_list]), axis=0),
        "max": np.max(np.stack([s["max"] for s in stats_list]), axis=0),
        "mean": mean,
        "std": np.sqrt(variance),
        "count": total,
    }
    for key in QUANTILE_KEYS:
        out[key] = (np.stack([s[key] for s in stats_list]) * counts).sum(axis=0) / total
    return out


def aggregate_into(running: dict[str, Stats] | None, episode: Mapping[str, Stats]) -> dict[str, Stats]:
    """Dataset stats after one more episode (pairwise, in the order LeRobot folds them)."""
    if running is None:
        return {key: dict(value) for key, value in episode.items()}
    keys = list(running) + [k for k in episode if k not in running]
    out = {}
    for key in keys:
        parts = [s[key] for s in (running, episode) if key in s]
        out[key] = aggregate(parts) if len(parts) > 1 else dict(parts[0])
    return out


def to_json(stats: Mapping[str, Stats]) -> dict:
    return {key: {name: np.asarray(v).tolist() for name, v in value.items()} for key, value in stats.items()}


def from_columns(row: Mapping[str, object], keys: list[str]) -> dict[str, Stats]:
    """Per-episode stats back from an episodes-parquet row (`stats/<feature>/<stat>` columns)."""
    out: dict[str, Stats] = {}
    for key in keys:
        values = {name: row.get(f"stats/{key}/{name}") for name in STAT_KEYS}
        if all(v is not None for v in values.values()):
            out[key] = {name: np.array(v) for name, v in values.items()}
    return out
