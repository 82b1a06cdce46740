"""What the folder checks and the manifest need of one checked shard, kept once its rows are written.

``hwpower process`` writes each shard's rows to Parquet as soon as they are checked and keeps only this
summary (a 64-bit hash of each row and, after rejects, the lines without a row; per column its range;
rows per network; hardware values outside the plausible bounds). The hashes go to disk as soon as the shard is
checked (:class:`.hashspill.HashSpill`, ``hashes`` is then None), so its memory does not grow with the
rows (docs/scale.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..plausibility import HARDWARE_BOUNDS
from .checks import CheckedFile
from .schema import DatasetSchema

_MIX = np.uint64(0x9E3779B97F4A7C15)  # splitmix64's constants: each column's bits mixed into the row's hash
_MIX2 = np.uint64(0xBF58476D1CE4E5B9)


@dataclass
class ShardStats:
    rows: int
    hashes: np.ndarray | None  # uint64 per row: every column the schema reads; None once spilled to disk
    ranges: dict[str, list | np.ndarray]  # numeric: [min, max] ([] without rows); categorical: which values occur
    networks: np.ndarray  # rows per network (index into the networks table; as long as the largest index + 1)
    outside: dict[str, tuple[int, int, float]]  # hardware column -> (rows outside its bounds, the first row, its value)
    # the lines before the last row that hold no row (rejected), sorted, each less its index (so row i
    # is on line i + 2 + how many of these are <= i + 2): 8 bytes a rejected line, not a row; None: none
    skipped: np.ndarray | None = None

    def line(self, row: int) -> int:
        if self.skipped is not None:
            return row + 2 + int(np.searchsorted(self.skipped, row + 2, side="right"))
        return row + 2


def _skipped(lines: np.ndarray) -> np.ndarray | None:
    """Each row's line (increasing, from 2) -> :attr:`ShardStats.skipped`."""
    if not len(lines):
        return None
    gaps = np.setdiff1d(np.arange(2, int(lines[-1]) + 1), lines)
    return gaps - np.arange(len(gaps))


def hash_columns(columns: dict[str, np.ndarray], names: list[str]) -> np.ndarray:
    """A 64-bit hash of each row over the columns ``names``; vectorised."""
    h = np.zeros(len(columns["network"]), dtype=np.uint64)
    for name in names:
        col = columns[name]
        bits = col.astype(np.float64 if col.dtype.kind == "f" else np.int64, copy=False).view(np.uint64)
        h = (h ^ bits) * _MIX
        h ^= h >> np.uint64(31)
        h *= _MIX2
    return h


def shard_stats(checked: CheckedFile, schema: DatasetSchema) -> ShardStats:
    cols = checked.columns
    targets = [t.name for t in schema.targets]
    names = [*schema.numeric_names, *schema.categorical_values, "network", *targets]
    ranges: dict[str, list | np.ndarray] = {}
    for name in (*schema.numeric_names, *targets):
        v = cols[name]
        ranges[name] = [v.min().item(), v.max().item()] if len(v) else []
    for name, allowed in schema.categorical_values.items():
        ranges[name] = np.bincount(cols[name], minlength=len(allowed)) > 0
    outside = {}
    for name in (n for n in schema.numeric_names if n in HARDWARE_BOUNDS):
        low, high = HARDWARE_BOUNDS[name]
        rows = np.flatnonzero((cols[name] < low) | (cols[name] > high))
        if len(rows):
            outside[name] = (len(rows), int(rows[0]), float(cols[name][rows[0]]))
    skipped = _skipped(checked.lines) if checked.lines is not None else None  # not a line per row: kept to the end
    return ShardStats(len(cols["network"]), hash_columns(cols, names), ranges, np.bincount(cols["network"]), outside,
                      skipped)


def merged_range(stats: list[ShardStats], name: str, allowed: tuple | None = None) -> list:
    """[min, max] of a numeric column over the shards, or the sorted allowed values present."""
    found = [s.ranges[name] for s in stats if s.rows]
    if not found:
        return []
    if allowed is not None:
        present = np.logical_or.reduce(found)
        return sorted(v for v, here in zip(allowed, present) if here)
    return [min(r[0] for r in found), max(r[1] for r in found)]


def network_rows(stats: list[ShardStats], n: int) -> np.ndarray:
    """Rows per network over the shards (``n`` networks)."""
    out = np.zeros(n, dtype=np.int64)
    for s in stats:
        out[: len(s.networks)] += s.networks
    return out
