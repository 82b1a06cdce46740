"""How the processed dataset is stored: Parquet tables, exact decimal targets, networks normalised.

Sample tables: hardware columns, the network key (dictionary-encoded: each key's text once per file)
and the targets. Targets are stored exactly (:mod:`.decimal`): an integer significand and a power of
ten per value, and a derived target (``P = P_core + P_bw``, ``energy_mj = P * latency_ms``) as its
residual against the correctly rounded formula, almost always 0. Reading gives back the very float64
values parsed from the text. Network tables: each distinct block, layer and operator once, each network
as its sequences of block and operator numbers (:class:`~.features.NetworkParts`); reading expands them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .. import __version__
from ..errors import InputError
from .targets import decode_targets
from .features import NetworkParts

ZSTD_LEVEL = 1  # level 3: 0.3 % smaller files, 15 % slower writes (measured on 900,000 rows)
PARTS = ("networks", "network_blocks", "unique_blocks", "unique_layers", "network_ops", "unique_ops")  # one file each
_METADATA = {b"hwpower_version": __version__.encode()}


def _options(schema: pa.Schema, split: Sequence[str], no_statistics: Sequence[str]) -> dict[str, Any]:
    # min/max statistics only on plain numbers: on the string dictionaries they cost 4x the column's
    # whole encoding (network keys: 31 of 39 ms per 900,000 rows) for row-group skipping nobody does
    names = [f.name for f in schema if not pa.types.is_dictionary(f.type) and not pa.types.is_string(f.type)]
    return {"compression": "zstd", "compression_level": ZSTD_LEVEL,
            "use_dictionary": [n for n in schema.names if n not in split],
            "use_byte_stream_split": [n for n in split if n in schema.names] or False,
            "write_statistics": [n for n in names if n not in split and n not in no_statistics]}


def write_table(table: pa.Table, path: str | os.PathLike[str], *, split: Sequence[str] = (),
                no_statistics: Sequence[str] = ()) -> None:
    """zstd Parquet. ``split``: near-unique numbers (target significands), byte-stream split, which zstd
    compresses far better, and no dictionary; every other column gets dictionary pages (keys, hardware
    grids, exponents, residuals, block fields). ``split`` and ``no_statistics`` columns get no min/max
    statistics (costly to write, and no reader skips row groups by near-unique numbers)."""
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), **_METADATA})
    pq.write_table(table, path, **_options(table.schema, split, no_statistics))


def samples_table(files: Sequence[Mapping[str, np.ndarray]], stored: Sequence[Mapping[str, np.ndarray]],
                  numeric: Sequence[str], categorical: Mapping[str, Sequence], keys: Sequence[str] | pa.Array) -> pa.Table:
    """One split's Arrow table from its checked files, one chunk per file (no copy of the rows):
    numeric columns as parsed, categoricals and the network key as dictionaries (codes into the
    allowed values and into ``keys``, the networks table's order), the targets as stored."""
    key_dictionary = keys if isinstance(keys, pa.Array) else pa.array(list(keys), pa.string())
    columns: dict[str, pa.ChunkedArray] = {}
    for name in numeric:
        columns[name] = pa.chunked_array([pa.array(f[name]) for f in files])
    for name, values in categorical.items():
        allowed = pa.array(list(values))
        columns[name] = pa.chunked_array([pa.DictionaryArray.from_arrays(f[name], allowed) for f in files])
    columns["network"] = pa.chunked_array([pa.DictionaryArray.from_arrays(f["network"], key_dictionary) for f in files])
    for name in stored[0]:
        columns[name] = pa.chunked_array([pa.array(s[name]) for s in stored])
    return pa.table(columns)


def _target_options(storage: Mapping[str, dict]) -> dict[str, list[str]]:
    """Target significands (and float64 fallbacks) byte-stream split; no statistics on any stored target."""
    return {"split": [c for s in storage.values() if s["encoding"] in ("decimal", "float64") for c in s["columns"][:1]],
            "no_statistics": [c for s in storage.values() for c in s["columns"]]}


def write_samples(table: pa.Table, path: Path, storage: Mapping[str, dict]) -> None:
    write_table(table, path, **_target_options(storage))


class SplitWriter:
    """One split's Parquet file written file by file as the shards are checked (a row group each), so
    compression overlaps the reading of the next shards."""

    def __init__(self, path: Path, numeric: Sequence[str], categorical: Mapping[str, Sequence], keys: Sequence[str]):
        self.path, self.numeric, self.categorical = path, numeric, categorical
        self.keys = pa.array(list(keys), pa.string())  # one dictionary object for every row group
        self.writer: pq.ParquetWriter | None = None

    def add(self, columns: Mapping[str, np.ndarray], stored: Mapping[str, np.ndarray],
            storage: Mapping[str, dict]) -> None:
        """One checked file; every file of a split must come with the same ``storage``."""
        table = samples_table([columns], [stored], self.numeric, self.categorical, self.keys)
        if self.writer is None:
            schema = table.schema.with_metadata(_METADATA)
            self.writer = pq.ParquetWriter(self.path, schema, **_options(schema, **_target_options(storage)))
        self.writer.write_table(table)

    def close(self) -> bool:
        """Finish the file; False when nothing was added (the caller writes the empty split)."""
        if self.writer is None:
            return False
        self.writer.close()
        return True


def frame_columns(frame: pd.DataFrame, numeric: Sequence[str], categorical: Mapping[str, Sequence],
                  key_type: pd.CategoricalDtype) -> dict[str, np.ndarray]:
    """A sample frame back into the checked-file columns :func:`samples_table` takes."""
    out = {name: frame[name].to_numpy() for name in numeric}
    for name, values in categorical.items():
        out[name] = pd.Categorical(frame[name], categories=list(values)).codes
    out["network"] = pd.Categorical(frame["network"], dtype=key_type).codes.astype(np.int32)
    return out


def read_samples(path: Path, targets: Sequence[str], storage: Mapping[str, dict]) -> pd.DataFrame:
    return samples_frame(_read(path), targets, storage)


def samples_frame(table: pa.Table, targets: Sequence[str], storage: Mapping[str, dict]) -> pd.DataFrame:
    """A sample table as stored (all of a file, or some of its rows) -> pandas, targets decoded."""
    stored = {c: table[c].to_numpy() for s in storage.values() for c in s["columns"]}
    values = decode_targets(stored, dict(storage))
    frame = {n: _to_pandas(table[n]) for n in table.column_names if n not in stored}
    frame.update({t: values[t] for t in targets})
    return pd.DataFrame(frame, copy=False)


def read_table(path: Path) -> pd.DataFrame:
    """A plain table (e.g. rejects) as pandas."""
    table = _read(path)
    return pd.DataFrame({n: _to_pandas(table[n]) for n in table.column_names}, copy=False)


def _to_pandas(column: pa.ChunkedArray) -> Any:
    """Words with few values as pandas categoricals, integer categoricals as their values."""
    if pa.types.is_dictionary(column.type):
        col = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
        codes = col.indices.to_numpy(zero_copy_only=False)
        if pa.types.is_integer(col.type.value_type):
            return col.dictionary.to_numpy()[codes]
        return pd.Categorical.from_codes(codes, categories=col.dictionary.to_pandas())
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return pd.array(column, dtype="str")
    return column.to_numpy()


def _read(path: Path) -> pa.Table:
    if not path.is_file():
        raise InputError(f"missing {path.name}", file=str(path.parent))
    try:
        return pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"cannot read Parquet: {exc}", file=str(path)) from None


def write_parts(parts: NetworkParts, folder: Path) -> None:
    for name in PARTS:
        write_table(pa.Table.from_pandas(getattr(parts, name), preserve_index=False), folder / f"{name}.parquet")


def read_parts(folder: Path) -> NetworkParts:
    tables = {name: read_table(folder / f"{name}.parquet") for name in PARTS}
    # one key dictionary, every network in the networks table's order (as ``process`` makes it)
    key_type = pd.CategoricalDtype(pd.Index(np.asarray(tables["networks"]["network"].astype(str)), dtype="str"))
    for name in ("networks", "network_blocks", "network_ops"):
        tables[name]["network"] = pd.Categorical(tables[name]["network"], dtype=key_type)
    return NetworkParts(**tables)
