"""Rich tables of a search's answer (:class:`~hwpower.search.results.SearchResult`): the ranked
candidates (predicted and, with --verify, oracle values) and the extra tables (per-measurement
details, parameter spread, a Pareto front). The search hands back data frames; ``hwpower recover``,
``identify``, ``design`` and the demo render them here."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from rich.table import Table

if TYPE_CHECKING:
    from ..search.results import SearchResult

SHORT = {"pe_rows": "", "pe_cols": "x", "rf_bytes": " rf", "glb_kib": " glb", "dram_gbps": " dram", "freq_mhz": " ",
         "bits": " ", "dataflow": " "}
SUFFIX = {"freq_mhz": "MHz", "bits": "b"}


def search_tables(result: SearchResult) -> list[Table]:
    """The candidates table, then one table per extra table of the result."""
    title = f"{result.task}: candidates" + (" (oracle-verified)" if result.verified else " (not verified)")
    out = [result_table(compact_hardware(result.candidates, result.hw_columns), title)]
    out += [result_table(df, f"{result.task}: {name}") for name, df in result.tables.items()]
    return out


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


def result_table(df: pd.DataFrame, title: str, max_rows: int = 40) -> Table:
    """A search table: short headers, numbers right-aligned, at most ``max_rows`` rows (the JSON has all)."""
    table = Table(title=title, show_lines=False)
    for col in df.columns:
        table.add_column(_header(col), justify="right" if pd.api.types.is_numeric_dtype(df[col]) else "left")
    for row in df.head(max_rows).itertuples(index=False):
        table.add_row(*(_fmt(v) for v in row))
    if len(df) > max_rows:
        table.caption = f"{len(df) - max_rows} more rows in the JSON output"
    return table


def _num(v: Any) -> str:
    return f"{v:g}" if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) else str(v)


def _header(col: str) -> str:
    """Short table headers: ``pred_err_P_pct`` -> ``pred err P %``."""
    return str(col).replace("_pct", " %").replace("_", " ").replace("P core", "P_core").replace("P bw", "P_bw").replace(
        "latency ms", "latency_ms").replace("energy mj", "energy_mj")


def _fmt(v: Any) -> str:
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "NO"
    if isinstance(v, (float, np.floating)):
        if math.isnan(v):
            return "-"
        return f"{v:.4g}" if abs(v) >= 1e-3 or v == 0 else f"{v:.2e}"
    return str(v)
