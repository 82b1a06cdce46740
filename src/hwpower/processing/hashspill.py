"""The rows' 64-bit hashes on disk, for the duplicate and overlap checks of :mod:`.integrity`.

``hwpower process`` hashes every row (:func:`.shardstats.hash_columns`) to find identical rows within a
split and validation rows that repeat training rows. Held in memory until the end, the hashes would
grow with the rows (8 bytes a row, 16 with a sorted copy). Instead each shard's hashes are written to
disk as it is checked, each with its row number within the split (little-endian (uint64 hash, int64
row) records, 16 bytes a row), in one file per shard (``train_00003.bin``) grouped by bucket, the
hash's top :data:`BUCKET_BITS` bits; where each bucket starts in each file is kept (2 kB a shard).
Equal hashes share a bucket, so the checks read a range of buckets at a time from every file (about
:data:`RANGE_ROWS` rows of a split, 4 MB) and find, range by range, how many rows repeat and the first
row that does (the smallest row number over the ranges) with the earlier row it repeats: nothing
held grows with the rows, not even with the number of repeated rows.

The folder lives inside the run's temporary output folder (removed before the output is renamed into
place; a killed run's leftovers go with that folder, :func:`hwpower.io.remove_stale`), or in the
system's temporary folder when the run writes no output.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

BUCKET_BITS = 8
BUCKETS = 1 << BUCKET_BITS  # 20M rows: ~80,000 rows a bucket; 2M rows a bucket at 500M rows
_SHIFT = np.uint64(64 - BUCKET_BITS)
RANGE_ROWS = 1 << 18  # rows of a split read at once, about: 4 MB of records (20M rows: 128 reads of each file)
RECORD = np.dtype([("hash", "<u8"), ("row", "<i8")])


@dataclass
class Repeats:
    """Rows whose hash an earlier row has (or, for the overlap, validation rows whose hash a training row
    has): how many, the first of them (a row number within its split) and the first row with its hash
    (within the split repeated); -1 when there are none."""

    count: int = 0
    first: int = -1
    earlier: int = -1

    def take(self, count: int, first: int, earlier: int) -> None:
        """Add one range of buckets' findings."""
        self.count += count
        if count and (self.first < 0 or first < self.first):
            self.first, self.earlier = first, earlier


class HashSpill:
    """Each shard's row hashes on disk, per split (``role``), in buckets of the hash's top bits.

    Use as a context manager (or call :meth:`close`): the folder is removed on leaving."""

    def __init__(self, folder: str | Path | None = None):
        """``folder``: made here (it must not exist) and removed by :meth:`close`; None: a new folder in
        the system's temporary folder."""
        if folder is None:
            self.folder = Path(tempfile.mkdtemp(prefix="hwpower-row-hashes-"))
        else:
            self.folder = Path(folder)
            self.folder.mkdir()
        self.rows: dict[str, list[int]] = {}  # per role, each shard's rows, in the order added
        self.offsets: dict[str, list[np.ndarray]] = {}  # per role and shard: where each bucket starts in its file
        self.closed = False

    def __enter__(self) -> HashSpill:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Remove the folder and everything in it (again: nothing)."""
        if not self.closed:
            self.closed = True
            shutil.rmtree(self.folder, ignore_errors=True)

    def add(self, role: str, hashes: np.ndarray) -> None:
        """Write the hashes of the next shard of ``role``, in row order: one file (one write, so that a
        busy process does not wait on many small ones), its records grouped by bucket."""
        hashes = np.asarray(hashes, dtype=np.uint64)
        shards = self.rows.setdefault(role, [])
        first_row = sum(shards)
        buckets = (hashes >> _SHIFT).astype(np.uint8 if BUCKET_BITS <= 8 else np.uint16)
        order = np.argsort(buckets, kind="stable")  # by bucket, rows in order within each
        records = np.empty(len(hashes), dtype=RECORD)
        records["hash"] = hashes[order]
        order += first_row
        records["row"] = order
        del order
        with open(self._shard_path(role, len(shards)), "wb") as f:
            records.tofile(f)
        self.offsets.setdefault(role, []).append(
            np.concatenate([[0], np.cumsum(np.bincount(buckets, minlength=BUCKETS))]))
        shards.append(len(hashes))

    def shard_rows(self, role: str) -> list[int]:
        """Each shard's rows, in the order added."""
        return list(self.rows.get(role, []))

    def bucket(self, role: str, b: int, stop: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(hashes, rows) of ``role`` whose hash's top bits are ``b`` (to ``stop``, not included), sorted
        by hash, then row; read from every shard's file."""
        stop = b + 1 if stop is None else stop
        parts = []
        for k, offsets in enumerate(self.offsets.get(role, [])):
            count = int(offsets[stop] - offsets[b])
            if count:
                parts.append(np.fromfile(self._shard_path(role, k), dtype=RECORD, count=count,
                                         offset=int(offsets[b]) * RECORD.itemsize))
        records = np.concatenate(parts) if parts else np.empty(0, dtype=RECORD)
        del parts
        # equal hashes (one bucket) come in row order, shard after shard: a stable sort keeps them so
        order = np.argsort(records["hash"], kind="stable")
        return records["hash"][order], records["row"][order]

    def ranges(self) -> list[tuple[int, int]]:
        """The buckets read together, ``(first, stop)``: about :data:`RANGE_ROWS` rows of a split each (at
        least one bucket), so that a large run reads each shard's file a few times, a small one once."""
        most = max((sum(r) for r in self.rows.values()), default=0)
        n = 1
        while n < BUCKETS and most > n * RANGE_ROWS:
            n *= 2
        step = BUCKETS // n
        return [(b, b + step) for b in range(0, BUCKETS, step)]

    def repeats(self) -> dict[str, Repeats]:
        """One pass over the buckets: ``train`` and ``val``, rows repeating an earlier row of their split;
        ``val_in_train``: validation rows repeating a training row (``earlier``: that training row)."""
        found = {"train": Repeats(), "val": Repeats(), "val_in_train": Repeats()}
        for b, stop in self.ranges():  # equal hashes share a bucket, so a range holds all rows of its hashes
            (train, train_rows), (val, val_rows) = self.bucket("train", b, stop), self.bucket("val", b, stop)
            found["train"].take(*_repeats(train, train_rows))
            found["val"].take(*_repeats(val, val_rows))
            if len(train) and len(val):
                pos = np.minimum(np.searchsorted(train, val), len(train) - 1)  # the first train row of each hash
                in_train = train[pos] == val
                if in_train.any():
                    i = int(np.argmin(np.where(in_train, val_rows, np.iinfo(np.int64).max)))
                    found["val_in_train"].take(int(in_train.sum()), int(val_rows[i]), int(train_rows[pos[i]]))
        return found

    def _shard_path(self, role: str, k: int) -> Path:
        return self.folder / f"{role}_{k:05d}.bin"


def _repeats(hashes: np.ndarray, rows: np.ndarray) -> tuple[int, int, int]:
    """Given hashes sorted (equal ones by row): how many rows repeat an earlier row's hash, the first
    of them, and the first row with its hash; (0, -1, -1) if none."""
    same = hashes[1:] == hashes[:-1]
    count = int(same.sum())
    if not count:
        return 0, -1, -1
    later = np.flatnonzero(same) + 1
    i = int(later[np.argmin(rows[later])])
    return count, int(rows[i]), int(rows[np.searchsorted(hashes, hashes[i])])
