"""Encoders fitted on training data only and stored as plain numbers (JSON), never pickled.

- :class:`HardwareEncoder`: numeric hardware columns (log2 when they span octaves) standardised
  with saved mean/std, categorical ones one-hot; keeps the trained range and value grid.
- :class:`ElementEncoder`: per-operator, per-block or per-layer features (log for counts that span
  decades), standardised, plus a one-hot of the operator kind / block type / layer op and of the
  operator's words (fn, act, norm); builds padded (N, L, F) arrays + mask.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch

from ..errors import InputError
from ..processing.opfeatures import NEED_COLUMNS

log = logging.getLogger(__name__)

# Per-element tables: the type column (one-hot) and the ordering column. Every other numeric column
# is a feature; columns reaching 64 or more (channels, sizes, counts) are log-transformed.
ELEMENT_COLUMNS = {
    "ops": {"type_col": "kind", "index_col": "op_index"},
    "blocks": {"type_col": "type", "index_col": "block_index"},
    "layers": {"type_col": "op", "index_col": "layer_index"},
}
# Identifiers, and the residency needs of the fused schedule: those may be inf ("never on chip") and
# only enter the physics features (roofline.py), compared with each configuration's buffer.
ID_COLUMNS = {"network", "block_index", "layer_index", "op_index", "type", "type_code", "op", "kind", *NEED_COLUMNS}
WORD_COLUMNS = ("fn", "act", "norm")  # operator words, one-hot over the values seen in training
LOG_FROM = 64
GRID_MAX_VALUES = 64  # a numeric column with at most this many distinct values keeps its grid


class OutOfRangeWarning(UserWarning):
    """A hardware value outside the range the model was trained on: the prediction extrapolates."""


@dataclass
class NumericSpec:
    name: str
    log2: bool
    mean: float
    std: float
    min: float
    max: float
    grid: list[float] | None = None  # the distinct training values, when few (for grid search)


@dataclass
class HardwareEncoder:
    """Hardware columns -> normalised (n, H) array: numeric first, then one-hot categoricals."""

    numeric: list[NumericSpec] = field(default_factory=list)
    categorical: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def fit(cls, frame: pd.DataFrame, numeric: list[str], categorical: dict[str, list]) -> HardwareEncoder:
        specs = []
        for name in numeric:
            v = frame[name].to_numpy(dtype=np.float64)
            use_log = bool(v.min() > 0 and v.max() / v.min() >= 8)  # spans three octaves or more
            t = np.log2(v) if use_log else v
            uniq = np.unique(v)
            specs.append(NumericSpec(name, use_log, float(t.mean()), float(t.std() or 1.0), float(v.min()),
                                     float(v.max()), [float(x) for x in uniq] if len(uniq) <= GRID_MAX_VALUES else None))
        cats = {k: [str(x) for x in vals] for k, vals in categorical.items()}
        return cls(specs, cats)

    @property
    def columns(self) -> list[str]:
        return [s.name for s in self.numeric] + list(self.categorical)

    @property
    def feature_names(self) -> list[str]:
        return [s.name for s in self.numeric] + [f"{k}={v}" for k, vals in self.categorical.items() for v in vals]

    @property
    def width(self) -> int:
        return len(self.numeric) + sum(len(v) for v in self.categorical.values())

    def bounds(self) -> dict[str, Any]:
        """Trained range and grid of every numeric column, in raw and normalised units (for search)."""
        out = {}
        for s in self.numeric:
            lo, hi = (np.log2(s.min), np.log2(s.max)) if s.log2 else (s.min, s.max)
            out[s.name] = {"min": s.min, "max": s.max, "grid": s.grid, "log2": s.log2,
                           "norm_min": (lo - s.mean) / s.std, "norm_max": (hi - s.mean) / s.std}
        return out

    def check(self, frame: pd.DataFrame, *, source: str = "hardware", out_of_range: str = "warn") -> None:
        """Unknown or missing columns and unknown categories raise; values outside the trained range
        warn (``out_of_range="warn"``), raise (``"error"``) or pass (``"ignore"``), naming the row."""
        extra = sorted(set(frame.columns) - set(self.columns) - {"network"})
        if extra:
            raise InputError(f"unknown hardware parameter(s) {extra} (known: {self.columns})", file=source)
        missing = [c for c in self.columns if c not in frame.columns]
        if missing:
            raise InputError(f"missing hardware parameter(s) {missing}", file=source)
        for name, cats in self.categorical.items():
            bad = ~frame[name].astype(str).isin(cats)
            if bad.any():
                row = int(np.flatnonzero(bad.to_numpy())[0])
                raise InputError(f"{name}={frame[name].iloc[row]!r} is not one of {cats}", file=source, where=f"row {row}")
        for s in self.numeric:
            v = pd.to_numeric(frame[s.name], errors="coerce").to_numpy(dtype=np.float64)
            if np.isnan(v).any():
                row = int(np.flatnonzero(np.isnan(v))[0])
                raise InputError(f"{s.name}={frame[s.name].iloc[row]!r} is not a number", file=source, where=f"row {row}")
            if s.log2 and (v <= 0).any():
                row = int(np.flatnonzero(v <= 0)[0])
                raise InputError(f"{s.name}={v[row]:g} must be positive", file=source, where=f"row {row}")
            outside = (v < s.min) | (v > s.max)
            if outside.any() and out_of_range != "ignore":
                row = int(np.flatnonzero(outside)[0])
                msg = (f"{s.name}={v[row]:g} is outside the trained range [{s.min:g}, {s.max:g}] "
                       f"({int(outside.sum())} row(s)); the prediction extrapolates")
                if out_of_range == "error":
                    raise InputError(msg, file=source, where=f"row {row}")
                warnings.warn(f"{source}: row {row}: {msg}", OutOfRangeWarning, stacklevel=3)

    def encode(self, frame: pd.DataFrame, *, source: str = "hardware", out_of_range: str = "warn") -> np.ndarray:
        self.check(frame, source=source, out_of_range=out_of_range)
        parts = []
        for s in self.numeric:
            v = frame[s.name].to_numpy(dtype=np.float64)
            parts.append(((np.log2(v) if s.log2 else v) - s.mean) / s.std)
        for name, cats in self.categorical.items():
            codes = pd.Categorical(frame[name].astype(str), categories=cats).codes
            parts.extend((codes == i).astype(np.float64) for i in range(len(cats)))
        return np.stack(parts, axis=1).astype(np.float32)

    def decode(self, hw_norm: torch.Tensor | np.ndarray) -> pd.DataFrame:
        """Normalised (n, H) -> raw hardware values; categoricals take the arg-max of their block."""
        a = hw_norm.detach().cpu().numpy() if isinstance(hw_norm, torch.Tensor) else np.asarray(hw_norm)
        out: dict[str, Any] = {}
        for j, s in enumerate(self.numeric):
            t = a[:, j] * s.std + s.mean
            out[s.name] = np.exp2(t) if s.log2 else t
        j = len(self.numeric)
        for name, cats in self.categorical.items():
            out[name] = np.asarray(cats, dtype=object)[a[:, j:j + len(cats)].argmax(axis=1)]
            j += len(cats)
        return pd.DataFrame(out)

    def to_dict(self) -> dict[str, Any]:
        return {"numeric": [asdict(s) for s in self.numeric], "categorical": self.categorical}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> HardwareEncoder:
        return cls([NumericSpec(**s) for s in d["numeric"]], {k: list(v) for k, v in d["categorical"].items()})


@dataclass
class ElementEncoder:
    """Operator, block or layer rows -> standardised features; one-hots of the type and of the words
    (an operator word never seen in training encodes as all zeros: the support check warns of it)."""

    kind: str  # "ops", "blocks" or "layers"
    types: list[str]
    numeric: list[str]
    log: list[bool]
    mean: list[float]
    std: list[float]
    words: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def fit(cls, table: pd.DataFrame, kind: str) -> ElementEncoder:
        spec = ELEMENT_COLUMNS[kind]
        numeric = [c for c in table.columns if c not in ID_COLUMNS and
                   (pd.api.types.is_numeric_dtype(table[c]) or pd.api.types.is_bool_dtype(table[c]))]
        raw = table[numeric].astype(np.float64).fillna(0.0)
        logs = [bool(raw[c].min() >= 0 and raw[c].max() >= LOG_FROM) for c in numeric]
        t = cls._transform(table, numeric, logs)
        std = t.std(axis=0)
        words = {w: sorted(v for v in table[w].astype(str).unique() if v) for w in WORD_COLUMNS if w in table.columns}
        return cls(kind, sorted(str(x) for x in table[spec["type_col"]].unique()), numeric, logs,
                   [float(x) for x in t.mean(axis=0)], [float(x) if x > 1e-12 else 1.0 for x in std], words)

    @staticmethod
    def _transform(table: pd.DataFrame, numeric: list[str], logs: list[bool]) -> np.ndarray:
        missing = [c for c in numeric if c not in table.columns]
        if missing:
            raise InputError(f"network tables lack the feature column(s) {missing} the model was trained with")
        v = table[numeric].astype(np.float64).fillna(0.0).to_numpy()
        return np.where(np.asarray(logs)[None, :], np.log1p(np.maximum(v, 0.0)), v)

    @property
    def width(self) -> int:
        return len(self.numeric) + len(self.types) + sum(len(v) for v in self.words.values())

    @property
    def feature_names(self) -> list[str]:
        return (self.numeric + [f"type={t}" for t in self.types]
                + [f"{w}={v}" for w, values in self.words.items() for v in values])

    def _onehots(self, sub: pd.DataFrame, type_col: str) -> np.ndarray:
        parts = [pd.Categorical(sub[type_col].astype(str), categories=self.types).codes[:, None]
                 == np.arange(len(self.types))[None, :]]
        for w, values in self.words.items():  # a value never seen in training: all zeros (-1 matches none)
            parts.append(pd.Index(values, dtype=object).get_indexer(sub[w].astype(str).to_numpy(dtype=object))[:, None]
                         == np.arange(len(values))[None, :])
        return np.concatenate(parts, axis=1)

    def encode(self, table: pd.DataFrame, keys: list[str], *, source: str = "networks") -> tuple[np.ndarray, np.ndarray]:
        """Rows of the networks ``keys`` -> x (N, L, F) float32 zero-padded and mask (N, L) bool."""
        spec = ELEMENT_COLUMNS[self.kind]
        sub = table[table["network"].isin(keys)]
        missing = sorted(set(keys) - set(sub["network"].unique()))
        if missing:
            raise InputError(f"network(s) {missing[:5]} have no {self.kind}", file=source)
        types = sub[spec["type_col"]].astype(str)
        unknown = ~types.isin(self.types)
        if unknown.any():
            row = sub[unknown].iloc[0]
            raise InputError(f"{spec['type_col']} {row[spec['type_col']]!r} was never seen in training (the model "
                             f"knows {self.types}): it cannot be predicted", file=source,
                             where=f"network {row['network']}, {spec['index_col']} {row[spec['index_col']]}")
        sub = sub.sort_values(["network", spec["index_col"]], kind="stable")
        net_idx = pd.Categorical(sub["network"].astype(str), categories=keys).codes
        pos = sub.groupby("network", sort=False).cumcount().to_numpy()
        feats = (self._transform(sub, self.numeric, self.log) - np.asarray(self.mean)) / np.asarray(self.std)
        onehot = self._onehots(sub, spec["type_col"])
        length = int(pos.max()) + 1 if len(pos) else 1
        x = np.zeros((len(keys), length, self.width), dtype=np.float32)
        mask = np.zeros((len(keys), length), dtype=bool)
        x[net_idx, pos] = np.concatenate([feats, onehot], axis=1)
        mask[net_idx, pos] = True
        return x, mask

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ElementEncoder:
        return cls(**{**d, "words": {k: list(v) for k, v in d.get("words", {}).items()}})


@dataclass
class NetworkBatch:
    """Encoded networks: x (N, L, F) zero-padded, mask (N, L), and the key -> row index."""

    keys: list[str]
    x: torch.Tensor
    mask: torch.Tensor
    lay: torch.Tensor | None = None  # roofline inputs: (N, L, M, 9) layers of blocks, or (N, C, L) operators
    lmask: torch.Tensor | None = None  # (N, L, M)
    lw: torch.Tensor | None = None  # (N, L) log multiplicity (identical operators as one element), -inf at padding

    @property
    def index(self) -> dict[str, int]:
        return {k: i for i, k in enumerate(self.keys)}

    def lookup(self, networks: pd.Series | list[str], *, source: str = "samples") -> torch.Tensor:
        """Network keys -> (B,) int64 row indices into ``x``; unknown keys raise."""
        idx = pd.Categorical(pd.Series(networks).astype(str), categories=self.keys).codes
        if (idx < 0).any():
            bad = pd.Series(networks).iloc[int(np.flatnonzero(idx < 0)[0])]
            raise InputError(f"network {bad!r} is not among the encoded networks", file=source)
        return torch.as_tensor(idx.astype(np.int64))

    def to(self, device: torch.device | str) -> NetworkBatch:
        move = lambda t: None if t is None else t.to(device)  # noqa: E731
        return NetworkBatch(self.keys, self.x.to(device), self.mask.to(device), move(self.lay), move(self.lmask),
                            move(self.lw))

    def replace_x(self, x: torch.Tensor) -> NetworkBatch:
        return NetworkBatch(self.keys, x, self.mask, self.lay, self.lmask, self.lw)

    def rows(self, net_index: torch.Tensor, length: int | None = None) -> tuple[torch.Tensor | None, ...]:
        """The model inputs of networks ``net_index`` (B,): x, mask, lay, lmask, lw; only the first
        ``length`` elements (all when None: the rest must be padding)."""
        # narrow (a view) before the gather: one copy of (B, length, ...), not a gather then a slice copy;
        # index_select copies whole rows (2-5x faster than indexing with a tensor, which gathers elements)
        def pick(t: torch.Tensor | None, dim: int = 1) -> torch.Tensor | None:
            return None if t is None else (t if length is None else t.narrow(dim, 0, length)).index_select(0, net_index)

        lay_dim = 2 if self.lay is not None and self.lay.dim() == 3 else 1  # operators' lay is (N, C, L)
        return pick(self.x), pick(self.mask), pick(self.lay, lay_dim), pick(self.lmask), pick(self.lw)

    def lengths(self) -> torch.Tensor:
        """(N,) number of elements of each network."""
        return self.mask.sum(dim=1)


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda asked for, but no CUDA GPU is available")
    if device not in ("cpu", "cuda"):
        raise InputError(f"unknown device {device!r} (auto, cpu or cuda)")
    return torch.device(device)


def log_targets(frame: pd.DataFrame, targets: list[str], *, source: str) -> np.ndarray:
    missing = [t for t in targets if t not in frame.columns]
    if missing:
        raise InputError(f"target column(s) {missing} missing", file=source)
    y = frame[targets].to_numpy(dtype=np.float64)
    if not np.isfinite(y).all() or (y <= 0).any():
        row, col = np.argwhere(~np.isfinite(y) | (y <= 0))[0]
        raise InputError(f"{targets[col]}={y[row, col]} must be a positive number", file=source, where=f"row {row}")
    return np.log(y).astype(np.float32)


@dataclass
class Encoded:
    """Samples ready for the model: normalised hardware, network row index, log targets."""

    hw: torch.Tensor  # (n, H)
    net: torch.Tensor  # (n,) int64 into NetworkBatch.x
    y: torch.Tensor | None  # (n, T) natural-log trained targets
