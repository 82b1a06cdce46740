"""A search's answer: ranked candidates (predicted and, with --verify, oracle values), extra
tables (per-measurement details, parameter spread), as rich tables and JSON."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.table import Table

from .. import __version__
from ..io import write_json_atomic


@dataclass
class SearchResult:
    """``candidates``: one row per returned hardware configuration (``query``, ``rank``, hardware
    columns, ``pred_*``, ``oracle_*`` when verified, ``ood_score``, ``in_domain``).
    ``tables``: further named tables (e.g. ``spread`` for identify, ``details`` per network)."""

    task: str
    candidates: pd.DataFrame
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    hw_columns: list[str] = field(default_factory=list)  # shown as one compact column in tables

    @property
    def front(self) -> pd.DataFrame | None:
        """The Pareto front of a multi-objective design (``tables["front"]``), else ``None``."""
        return self.tables.get("front")

    @property
    def verified(self) -> bool:
        return any(c.startswith("oracle_") for c in self.candidates.columns)

    def to_dict(self) -> dict[str, Any]:
        return {
            "hwpower_version": __version__,
            "task": self.task,
            "verified": self.verified,
            "meta": _jsonable(self.meta),
            "candidates": _records(self.candidates),
            **{name: _records(df) for name, df in self.tables.items()},
        }

    def save_json(self, path: str | Path) -> None:
        write_json_atomic(path, self.to_dict())

    def rich_tables(self) -> list[Table]:
        title = f"{self.task}: candidates" + (" (oracle-verified)" if self.verified else " (not verified)")
        out = [frame_table(compact_hardware(self.candidates, self.hw_columns), title)]
        out += [frame_table(df, f"{self.task}: {name}") for name, df in self.tables.items()]
        return out

    def table(self) -> Table:
        """The candidates table (the demo prints this)."""
        return self.rich_tables()[0]


SHORT = {"pe_rows": "", "pe_cols": "x", "rf_bytes": " rf", "glb_kib": " glb", "dram_gbps": " dram", "freq_mhz": " ",
         "bits": " ", "dataflow": " "}
SUFFIX = {"freq_mhz": "MHz", "bits": "b"}


def compact_hardware(df: pd.DataFrame, hw_columns: list[str]) -> pd.DataFrame:
    """Hardware columns as one readable string, e.g. ``16x8 rf64 glb128 dram8 600MHz 8b ws``."""
    cols = [c for c in hw_columns if c in df.columns]
    if not cols:
        return df
    text = [" ".join(f"{SHORT.get(c, c + '=').strip()}{_num(v)}{SUFFIX.get(c, '')}" for c, v in zip(cols, row)).replace(" x", "x")
            for row in df[cols].itertuples(index=False)]
    out = df.drop(columns=cols)
    out.insert(min(2, len(out.columns)), "hardware", text)
    return out


def _num(v: Any) -> str:
    return f"{v:g}" if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) else str(v)


def _header(col: str) -> str:
    """Short table headers: ``pred_err_P_pct`` -> ``pred err P %``."""
    return str(col).replace("_pct", " %").replace("_", " ").replace("P core", "P_core").replace("P bw", "P_bw").replace(
        "latency ms", "latency_ms").replace("energy mj", "energy_mj")


def frame_table(df: pd.DataFrame, title: str, max_rows: int = 40) -> Table:
    table = Table(title=title, show_lines=False)
    for col in df.columns:
        table.add_column(_header(col), justify="right" if pd.api.types.is_numeric_dtype(df[col]) else "left")
    for row in df.head(max_rows).itertuples(index=False):
        table.add_row(*(_fmt(v) for v in row))
    if len(df) > max_rows:
        table.caption = f"{len(df) - max_rows} more rows in the JSON output"
    return table


def _fmt(v: Any) -> str:
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "NO"
    if isinstance(v, (float, np.floating)):
        if math.isnan(v):
            return "-"
        return f"{v:.4g}" if abs(v) >= 1e-3 or v == 0 else f"{v:.2e}"
    return str(v)


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return [_jsonable(r) for r in df.to_dict(orient="records")]


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        return None if math.isnan(obj) else float(obj)
    return obj
