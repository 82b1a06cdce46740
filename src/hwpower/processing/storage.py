"""How the processed tables are stored: float32 targets where that loses nothing, Parquet encodings.

Targets are stored as float32 when every value of the column (train and val together) has at most
6 significant digits (``hwpower generate`` writes 6; real measurements carry no more): float32
holds any decimal of up to 6 significant digits to within half a unit of its 6th digit (C's
``FLT_DIG`` = 6), so the written value is recovered exactly by rounding to 6 digits. A column with
more digits anywhere stays float64 and the manifest says so (``storage``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

FLOAT32_DIGITS = 6  # FLT_DIG
# A value "has at most 6 digits" when rounding it to 6 significant digits moves it by less than this
# (relative): far above float64 rounding noise (~1e-16), far below a 7th to 12th written digit.
_DIGITS_RTOL = 1e-13
ZSTD_LEVEL = 3  # level 1 is no faster here once floats are byte-stream split, and slightly larger

FLOAT32_RULE = (f"a target is stored as float32 when every value (train and val) has at most {FLOAT32_DIGITS} "
                "significant digits and its float32 round trip is within half a unit of the 6th digit; "
                "otherwise float64")


def fits_float32(values: np.ndarray) -> bool:
    """Whether every value survives float32 storage: at most 6 significant digits, recovered exactly."""
    a = np.abs(np.asarray(values, dtype=np.float64))
    a = a[a != 0]
    if not len(a):
        return True
    if not np.isfinite(a).all() or a.max() > np.finfo(np.float32).max or a.min() < np.finfo(np.float32).tiny:
        return False
    unit = 10.0 ** (np.floor(np.log10(a)) - (FLOAT32_DIGITS - 1))  # one unit of the 6th significant digit
    rounded = np.round(a / unit) * unit
    if not (np.abs(rounded - a) <= _DIGITS_RTOL * a).all():
        return False
    back = a.astype(np.float32).astype(np.float64)
    return bool((np.abs(back - a) < 0.5 * unit).all())


def target_dtypes(tables: list[pa.Table], targets: list[str]) -> dict[str, str]:
    """``float32`` or ``float64`` per target column, decided over all tables (train and val alike)."""
    return {t: "float32" if all(fits_float32(tab[t].to_numpy()) for tab in tables) else "float64" for t in targets}


def write_table(table: pa.Table, path: str | os.PathLike[str], split: Sequence[str] = ()) -> None:
    """zstd Parquet. ``split``: near-unique float columns (the targets), byte-stream split, which zstd
    compresses far better than plain floats, and without min/max statistics (costly, never used to skip
    row groups); every other column gets dictionary pages (keys, hardware grids, block fields)."""
    split = [n for n in split if n in table.column_names]
    others = [n for n in table.column_names if n not in split]
    pq.write_table(table, path, compression="zstd", compression_level=ZSTD_LEVEL, use_dictionary=others,
                   use_byte_stream_split=split or False, write_statistics=others)
