"""The hardware parameter space: ranges, scales and the discrete grid a designer can pick from.

The default space is documented in docs/oracle.md; another one can be read from a TOML file:

```toml
[pe_rows]
kind = "int"        # int | float | categorical
low = 4
high = 64
scale = "log"       # linear | log (numeric only)
grid = [4, 8, 16, 32, 64]
unit = "PEs"
```

Every parameter of :data:`HW_PARAMS` must be present; categorical ones list their values in ``grid``.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import qmc

from ..errors import InputError

HW_PARAMS = ("pe_rows", "pe_cols", "rf_bytes", "glb_kib", "dram_gbps", "freq_mhz", "bits", "dataflow")
KINDS = ("int", "float", "categorical")
SCALES = ("linear", "log")
# Values the cost model implements for the categorical parameters.
SUPPORTED = {"bits": (8, 16), "dataflow": ("ws", "os")}
NUMERIC_DTYPES = {"int": np.int64, "float": np.float64}


@dataclass(frozen=True)
class Param:
    """One hardware parameter: its kind, range, sampling scale, grid and unit."""

    name: str
    kind: str  # "int" | "float" | "categorical"
    low: float | None = None
    high: float | None = None
    scale: str = "linear"  # "linear" | "log"
    grid: tuple = ()
    unit: str = ""

    @property
    def is_categorical(self) -> bool:
        return self.kind == "categorical"


def _check_param(p: Param, file: str | None) -> None:
    where = f"parameter {p.name!r}"

    def bad(problem: str) -> InputError:
        return InputError(problem, file=file, where=where)

    if p.kind not in KINDS:
        raise bad(f"kind must be one of {list(KINDS)}, got {p.kind!r}")
    if not p.grid:
        raise bad("grid must list at least one value")
    if len(set(p.grid)) != len(p.grid):
        raise bad(f"grid has duplicate values: {list(p.grid)}")
    if p.is_categorical:
        allowed = SUPPORTED.get(p.name)
        if allowed is not None and not set(p.grid) <= set(allowed):
            raise bad(f"values {sorted(set(p.grid) - set(allowed), key=str)} not supported (allowed: {list(allowed)})")
        return
    if p.scale not in SCALES:
        raise bad(f"scale must be one of {list(SCALES)}, got {p.scale!r}")
    for label, value in (("low", p.low), ("high", p.high)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad(f"{label} must be a number, got {value!r}")
        if value <= 0:
            raise bad(f"{label} must be positive (sizes, rates and clocks are > 0), got {value}")
    if p.low > p.high:
        raise bad(f"low {p.low} > high {p.high}")
    for value in p.grid:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad(f"grid value {value!r} is not a number")
        if p.kind == "int" and value != int(value):
            raise bad(f"grid value {value!r} is not an integer")
        if not p.low <= value <= p.high:
            raise bad(f"grid value {value} outside [{p.low}, {p.high}]")
    if list(p.grid) != sorted(p.grid):
        raise bad(f"grid must be increasing: {list(p.grid)}")


def _pow2(lo: int, hi: int) -> tuple[int, ...]:
    return tuple(2 ** k for k in range(int(np.log2(lo)), int(np.log2(hi)) + 1))


@dataclass(frozen=True)
class HardwareSpace:
    """The accelerator template's parameters in :data:`HW_PARAMS` order."""

    params: tuple[Param, ...]

    def __post_init__(self) -> None:
        names = [p.name for p in self.params]
        if tuple(names) != HW_PARAMS:
            raise ValueError(f"parameters must be exactly {list(HW_PARAMS)} in this order, got {names}")

    @classmethod
    def default(cls) -> HardwareSpace:
        """The default space (docs/oracle.md). Grid: 5*5*7*9*7*10*2*2 = 441,000 configurations."""
        return cls((
            Param("pe_rows", "int", 4, 64, "log", _pow2(4, 64), "PEs"),
            Param("pe_cols", "int", 4, 64, "log", _pow2(4, 64), "PEs"),
            Param("rf_bytes", "int", 16, 1024, "log", _pow2(16, 1024), "bytes"),
            Param("glb_kib", "int", 16, 4096, "log", _pow2(16, 4096), "KiB"),
            Param("dram_gbps", "float", 1, 64, "log", tuple(float(x) for x in _pow2(1, 64)), "GB/s"),
            Param("freq_mhz", "int", 100, 1000, "linear", tuple(range(100, 1001, 100)), "MHz"),
            Param("bits", "categorical", grid=(8, 16), unit="bits"),
            Param("dataflow", "categorical", grid=("ws", "os"), unit="-"),
        ))

    @classmethod
    def from_dict(cls, data: Any, *, file: str | None = None) -> HardwareSpace:
        if not isinstance(data, dict):
            raise InputError("a space must be a table of parameters", file=file)
        unknown = sorted(set(data) - set(HW_PARAMS))
        if unknown:
            raise InputError(f"unknown parameter(s) {unknown} (known: {list(HW_PARAMS)})", file=file)
        missing = [n for n in HW_PARAMS if n not in data]
        if missing:
            raise InputError(f"missing parameter(s) {missing}", file=file)
        params = []
        for name in HW_PARAMS:
            raw = data[name]
            if not isinstance(raw, dict):
                raise InputError("must be a table", file=file, where=f"parameter {name!r}")
            extra = sorted(set(raw) - {"kind", "low", "high", "scale", "grid", "unit"})
            if extra:
                raise InputError(f"unknown field(s) {extra}", file=file, where=f"parameter {name!r}")
            grid = raw.get("grid", ())
            if not isinstance(grid, list | tuple):
                raise InputError(f"grid must be a list, got {grid!r}", file=file, where=f"parameter {name!r}")
            p = Param(name, raw.get("kind", ""), raw.get("low"), raw.get("high"), raw.get("scale", "linear"),
                      tuple(grid), str(raw.get("unit", "")))
            _check_param(p, file)
            params.append(p)
        return cls(tuple(params))

    @classmethod
    def from_toml(cls, path: str | os.PathLike[str]) -> HardwareSpace:
        """Read a space file; every problem raises :class:`InputError` naming the file and parameter."""
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise InputError(f"cannot read: {exc.strerror}", file=str(path)) from None
        except UnicodeDecodeError:
            raise InputError("not UTF-8", file=str(path)) from None
        except tomllib.TOMLDecodeError as exc:
            raise InputError(f"malformed TOML: {exc}", file=str(path)) from None
        return cls.from_dict(data, file=str(path))

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return {p.name: {k: (list(v) if k == "grid" else v) for k, v in asdict(p).items() if k != "name"}
                for p in self.params}

    def to_toml(self) -> str:
        lines = []
        for p in self.params:
            lines.append(f"[{p.name}]")
            lines.append(f'kind = "{p.kind}"')
            if not p.is_categorical:
                lines += [f"low = {p.low}", f"high = {p.high}", f'scale = "{p.scale}"']
            grid = ", ".join(f'"{v}"' if isinstance(v, str) else str(v) for v in p.grid)
            lines += [f"grid = [{grid}]", f'unit = "{p.unit}"', ""]
        return "\n".join(lines)

    def __getitem__(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    @property
    def numeric_names(self) -> list[str]:
        return [p.name for p in self.params if not p.is_categorical]

    @property
    def categorical(self) -> dict[str, tuple]:
        return {p.name: p.grid for p in self.params if p.is_categorical}

    @property
    def grid_size(self) -> int:
        return int(np.prod([len(p.grid) for p in self.params]))

    def _frame(self, columns: dict[str, np.ndarray]) -> pd.DataFrame:
        df = pd.DataFrame({name: columns[name] for name in HW_PARAMS})
        for p in self.params:
            if not p.is_categorical:
                df[p.name] = df[p.name].astype(NUMERIC_DTYPES[p.kind])
        return df

    def grid_frame(self) -> pd.DataFrame:
        """Every grid point, in row-major order of the parameters (the last varies fastest)."""
        index = np.indices([len(p.grid) for p in self.params]).reshape(len(self.params), -1)
        return self._frame({p.name: np.asarray(p.grid, dtype=object if p.is_categorical else float)[i]
                            for p, i in zip(self.params, index, strict=True)})

    def sample(self, n: int, seed: int) -> pd.DataFrame:
        """``n`` space-filling configurations: a scrambled Sobol sequence, uniform on linear and
        log-uniform on log-scale parameters, snapped to the grid. The sampled interval runs half a
        grid step beyond the end values, so every value of an evenly spaced grid gets an equal share
        (plain [low, high] sampling would give the end values half a share)."""
        if n < 1:
            raise ValueError(f"n must be positive, got {n}")
        # random_base2 then a prefix: the same points as random(n), without scipy's balance warning
        m = max(int(np.ceil(np.log2(n))), 0)
        return self.from_unit(qmc.Sobol(d=len(self.params), scramble=True, seed=seed).random_base2(m)[:n])

    def from_unit(self, u: np.ndarray) -> pd.DataFrame:
        """Configurations from points of the unit cube (rows of ``u``, one column per parameter), as
        :meth:`sample` maps its Sobol points (``hwpower.generate`` draws them a block at a time)."""
        cols: dict[str, np.ndarray] = {}
        for j, p in enumerate(self.params):
            grid = np.asarray(p.grid, dtype=object if p.is_categorical else float)
            if p.is_categorical or len(grid) == 1:
                k = np.minimum((u[:, j] * len(grid)).astype(np.int64), len(grid) - 1)
            else:
                g = np.log(grid) if p.scale == "log" else grid
                lo, hi = g[0] - (g[1] - g[0]) / 2, g[-1] + (g[-1] - g[-2]) / 2
                k = np.searchsorted((g[1:] + g[:-1]) / 2, lo + u[:, j] * (hi - lo))
            cols[p.name] = grid[k]
        return self._frame(cols)

    def snap(self, df: pd.DataFrame) -> pd.DataFrame:
        """Move every numeric value to the nearest grid value (in log distance on log-scale
        parameters); categorical values must already be grid values."""
        self.validate(df, on_grid=False)
        cols = {}
        for p in self.params:
            if p.is_categorical:
                cols[p.name] = df[p.name].to_numpy()
                continue
            cols[p.name] = np.asarray(p.grid, dtype=float)[self.grid_index(p, df[p.name].to_numpy(dtype=float))]
        return self._frame(cols)

    @staticmethod
    def grid_index(p: Param, values: np.ndarray) -> np.ndarray:
        """Index of the nearest grid value of numeric ``p`` for each value."""
        grid = np.asarray(p.grid, dtype=float)
        tf = np.log if p.scale == "log" else (lambda x: x)
        g, v = tf(grid), tf(np.asarray(values, dtype=float))
        if len(grid) == 1:
            return np.zeros(len(v), dtype=np.int64)
        mid = (g[1:] + g[:-1]) / 2  # nearest value: compare with midpoints between grid values
        return np.searchsorted(mid, v, side="left").astype(np.int64)

    def codes(self, df: pd.DataFrame) -> np.ndarray:
        """Mixed-radix grid index of each (on-grid) row: equal configurations have equal codes."""
        code = np.zeros(len(df), dtype=np.int64)
        for p in self.params:
            if p.is_categorical:
                idx = pd.Categorical(df[p.name], categories=list(p.grid)).codes.astype(np.int64)
            else:
                idx = self.grid_index(p, df[p.name].to_numpy(dtype=float))
            code = code * len(p.grid) + idx
        return code

    def validate(self, df: pd.DataFrame, *, file: str | None = None, on_grid: bool = False) -> None:
        """Check columns, numeric ranges and categorical values; ``on_grid`` also requires grid values.
        Raises :class:`InputError` naming the file, the row and the column."""
        missing = [n for n in HW_PARAMS if n not in df.columns]
        if missing:
            raise InputError(f"missing hardware column(s) {missing}", file=file)
        for p in self.params:
            col = df[p.name]
            if p.is_categorical:
                allowed = set(p.grid)
                bad = ~col.map(lambda v, a=allowed: v in a).to_numpy(dtype=bool)
                problem = f"must be one of {list(p.grid)}"
            else:
                values = pd.to_numeric(col, errors="coerce").to_numpy(dtype=float)
                bad = ~np.isfinite(values) | (values < p.low) | (values > p.high)
                problem = f"must be a number in [{p.low}, {p.high}] {p.unit}"
                if on_grid and not bad.any():
                    bad = ~np.isin(values, np.asarray(p.grid, dtype=float))
                    problem = f"must be a grid value {list(p.grid)}"
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                value = col.iloc[i]
                value = value.item() if isinstance(value, np.generic) else value  # 100, not np.int64(100)
                raise InputError(f"{p.name}={value!r} {problem}", file=file, where=f"row {i}")
