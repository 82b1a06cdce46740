"""A numeric view of the hardware space for the search: unit-cube coordinates and grid indices.

The oracle's :class:`~hwpower.oracle.space.HardwareSpace` says which values each parameter may
take; the search works in two coordinate systems derived from it:

* the *unit cube*: each numeric parameter mapped to [0, 1] between the space's bounds, on a log
  axis for log-scaled parameters (so 16 -> 32 PEs is as far as 32 -> 64), used for k-means,
  distances and random starts;
* *grid indices*: the position of each numeric value in its sorted grid, used for snapping and for
  the neighbour moves of the discrete polish and the black-box optimisers.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError


@dataclass(frozen=True)
class GridView:
    """Numeric parameters (with their grids and scales) and categorical parameters of a space."""

    numeric: tuple[str, ...]
    grids: tuple[np.ndarray, ...]  # sorted allowed values per numeric parameter
    log: tuple[bool, ...]
    low: np.ndarray  # (Nn,) space bounds in hardware units
    high: np.ndarray
    categorical: dict[str, tuple]
    order: tuple[str, ...]  # every parameter, in the space's column order

    @classmethod
    def from_space(cls, space: Any) -> GridView:
        numeric = [p for p in space.params if p.kind != "categorical"]
        return cls(
            numeric=tuple(p.name for p in numeric),
            grids=tuple(np.sort(np.asarray(p.grid, dtype=float)) for p in numeric),
            log=tuple(p.scale == "log" for p in numeric),
            low=np.array([min(p.grid) for p in numeric], dtype=float),
            high=np.array([max(p.grid) for p in numeric], dtype=float),
            categorical={p.name: tuple(p.grid) for p in space.params if p.kind == "categorical"},
            order=tuple(p.name for p in space.params),
        )

    def _axis(self, values: np.ndarray) -> np.ndarray:
        """Values (N, Nn) on the axis where distances are measured (log for log parameters)."""
        out = np.asarray(values, dtype=float).copy()
        for j, is_log in enumerate(self.log):
            if is_log:
                out[:, j] = np.log(out[:, j])
        return out

    def to_unit(self, df: pd.DataFrame) -> np.ndarray:
        """Numeric columns of ``df`` as (N, Nn) unit-cube coordinates."""
        self.require_columns(df, self.numeric)
        lo, hi = self._axis(self.low[None]), self._axis(self.high[None])
        span = np.where(hi > lo, hi - lo, 1.0)
        return (self._axis(df[list(self.numeric)].to_numpy(dtype=float)) - lo) / span

    def from_unit(self, unit: np.ndarray) -> pd.DataFrame:
        """(N, Nn) unit-cube coordinates back to numeric hardware values (not snapped)."""
        lo, hi = self._axis(self.low[None])[0], self._axis(self.high[None])[0]
        values = lo + np.clip(unit, 0.0, 1.0) * (hi - lo)
        is_log = np.array(self.log)
        values[:, is_log] = np.exp(values[:, is_log])
        return pd.DataFrame(values, columns=list(self.numeric))

    def grid_index(self, df: pd.DataFrame) -> np.ndarray:
        """(N, Nn) index of the nearest grid value of each numeric parameter (on its own axis)."""
        self.require_columns(df, self.numeric)
        out = np.empty((len(df), len(self.numeric)), dtype=np.int64)
        for j, (name, grid, is_log) in enumerate(zip(self.numeric, self.grids, self.log)):
            axis = np.log(grid) if is_log else grid
            v = df[name].to_numpy(dtype=float)
            v = np.log(np.maximum(v, 1e-300)) if is_log else v
            pos = np.clip(np.searchsorted(axis, v), 1, len(axis) - 1)
            out[:, j] = np.where(np.abs(v - axis[pos - 1]) <= np.abs(axis[pos] - v), pos - 1, pos)
        return out

    def from_index(self, index: np.ndarray) -> pd.DataFrame:
        """(N, Nn) grid indices to numeric hardware values."""
        cols = {}
        for j, (name, grid) in enumerate(zip(self.numeric, self.grids)):
            vals = grid[np.clip(index[:, j], 0, len(grid) - 1)]
            cols[name] = vals.astype(np.int64) if np.all(grid == np.round(grid)) else vals
        return pd.DataFrame(cols)

    def snap(self, df: pd.DataFrame) -> pd.DataFrame:
        """Numeric columns snapped to their nearest grid values; other columns kept."""
        out = df.copy()
        snapped = self.from_index(self.grid_index(df))
        for name in self.numeric:
            out[name] = snapped[name].to_numpy()
        return out

    def n_grid(self) -> np.ndarray:
        return np.array([len(g) for g in self.grids])

    def combos(self, fixed: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Every combination of categorical values, restricted by ``fixed`` ones."""
        fixed = fixed or {}
        choices = [(fixed[n],) if n in fixed else vals for n, vals in self.categorical.items()]
        return [dict(zip(self.categorical, c)) for c in itertools.product(*choices)]

    def frame(self, numeric: pd.DataFrame, cats: pd.DataFrame) -> pd.DataFrame:
        """Assemble numeric and categorical columns in the space's column order."""
        both = pd.concat([numeric.reset_index(drop=True), cats.reset_index(drop=True)], axis=1)
        return both[list(self.order)]

    @staticmethod
    def require_columns(df: pd.DataFrame, names: tuple[str, ...] | list[str], *, file: str | None = None) -> None:
        missing = [n for n in names if n not in df.columns]
        if missing:
            raise InputError(f"missing hardware column(s) {missing}", file=file)
