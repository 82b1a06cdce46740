"""Training rows streamed from a processed split's Parquet file, for datasets larger than memory.

``ParquetBatches(folder).batches(epoch, batch_size)`` yields the split's rows once per epoch as pandas
frames with the columns of ``load_processed(folder).train`` (targets decoded bit for bit). The order is
shuffled at two levels, deterministically from (seed, epoch): the row groups (one per raw file) in a
random order, then the rows within a buffer of ``buffer_rows`` (1M by default) -- the usual
approximation of a full shuffle when the rows do not fit in memory. Memory holds the buffer, not the
split. ``load_processed(folder, stream=True)`` gives a dataset whose ``train`` is a sample
(:meth:`ParquetBatches.sample`, to fit encoders on) and whose ``train_stream`` is the source.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import InputError
from .storage import samples_frame

BUFFER_ROWS = 1 << 20
READ_ROWS = 1 << 16  # rows per record batch read from a row group
MEMORY_BUDGET = 4 << 30  # bytes: a split estimated above this is better streamed (should_stream)
BYTES_PER_ROW = 160  # a row in memory for training: the pandas row (~100 B) plus its encoded tensors


class ParquetBatches:
    """One split of a processed folder, read a record batch at a time (docs/scale.md)."""

    def __init__(self, folder: str | os.PathLike[str], manifest: dict, key_type: pd.CategoricalDtype, *,
                 split: str = "train", seed: int = 0, buffer_rows: int = BUFFER_ROWS):
        self.path = Path(folder) / f"{split}.parquet"
        try:
            self.file = pq.ParquetFile(self.path)
        except (OSError, pa.ArrowInvalid) as exc:
            raise InputError(f"cannot read Parquet: {exc}", file=str(self.path)) from None
        self.rows = self.file.metadata.num_rows
        self.targets = list(manifest["columns"]["targets"])
        self.storage = manifest["storage"]["targets"]
        self.key_type, self.seed, self.buffer_rows = key_type, seed, max(1, buffer_rows)

    def __len__(self) -> int:
        return self.rows

    def _frame(self, table: pa.Table) -> pd.DataFrame:
        frame = samples_frame(table, self.targets, self.storage)
        frame["network"] = pd.Categorical(frame["network"], dtype=self.key_type)
        return frame

    def batches(self, epoch: int, batch_size: int) -> Iterator[pd.DataFrame]:
        """Every row once, in frames of ``batch_size`` rows (the last may be shorter); the same
        (seed, epoch), the same frames."""
        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(self.file.num_row_groups).tolist()
        buffer: list[pd.DataFrame] = []
        have = 0
        for batch in self.file.iter_batches(batch_size=READ_ROWS, row_groups=order, use_threads=False):
            buffer.append(self._frame(pa.Table.from_batches([batch])))
            have += batch.num_rows
            if have >= self.buffer_rows:
                rest = yield from _drain(buffer, rng, batch_size, keep_tail=True)
                buffer, have = [rest], len(rest)
        if have:
            yield from _drain(buffer, rng, batch_size, keep_tail=False)

    def sample(self, n: int) -> pd.DataFrame:
        """About ``n`` rows drawn evenly from every row group (all rows when ``n`` >= the split's),
        in file order; deterministic from the seed."""
        if n >= self.rows:
            return self._frame(self.file.read(use_threads=False))
        rng = np.random.default_rng([self.seed, 1 << 31])
        parts = []
        for g in range(self.file.num_row_groups):
            group = self.file.read_row_group(g, use_threads=False)
            k = round(n * group.num_rows / self.rows)
            parts.append(self._frame(group.take(np.sort(rng.choice(group.num_rows, k, replace=False)))))
        return pd.concat(parts, ignore_index=True)


def _drain(buffer: list[pd.DataFrame], rng: np.random.Generator, batch_size: int,
           keep_tail: bool) -> Iterator[pd.DataFrame]:
    """The buffer's rows shuffled, in batches; returns the rows short of a full batch when ``keep_tail``."""
    rows = pd.concat(buffer, ignore_index=True) if len(buffer) > 1 else buffer[0].reset_index(drop=True)
    rows = rows.take(rng.permutation(len(rows))).reset_index(drop=True)
    full = len(rows) - len(rows) % batch_size if keep_tail else len(rows)
    for start in range(0, full, batch_size):
        yield rows.iloc[start: start + batch_size]
    return rows.iloc[full:]


def should_stream(manifest: dict, budget: int = MEMORY_BUDGET) -> bool:
    """Whether a processed dataset's training split is estimated not to fit ``budget`` bytes in memory."""
    return manifest["counts"]["train_rows"] * BYTES_PER_ROW > budget


def split_too_large(parquet_file: Path) -> bool:
    """Whether a split's Parquet file (its row count, from the footer) is estimated not to fit
    :data:`MEMORY_BUDGET` in memory; read at call time, so a caller may lower the budget."""
    return pq.read_metadata(parquet_file).num_rows * BYTES_PER_ROW > MEMORY_BUDGET
