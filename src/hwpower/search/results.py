"""A search's answer: ranked candidates (predicted and, with --verify, oracle values) and extra
tables (per-measurement details, parameter spread), as data frames and JSON. The command line
renders them as tables (:mod:`hwpower.cli.search_tables`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

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
