"""Where the predictor is trustworthy: the training data's bounds and its density.

A candidate's out-of-domain score is its distance (unit cube, log axis for log parameters) to the
nearest training hardware point, divided by the 99th percentile of the same distance among
training points themselves. Scores above 1 mean "further from the data than almost any training
point is from its neighbour": the candidate is flagged, ranked after in-domain ones, and the output
says so. The frozen predictor is only as good as its data near the candidate.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.neighbors import NearestNeighbors

from .. import __version__
from ..errors import InputError
from ..io import atomic_path
from .gridview import GridView

QUANTILE = 0.99


@dataclass
class Domain:
    """Training hardware (a fixed-seed subsample, unit cube) with bounds and a distance scale."""

    points: np.ndarray  # (N, Nn) unit-cube training hardware
    low: pd.Series  # data bounds in hardware units, per numeric parameter
    high: pd.Series
    scale: float  # QUANTILE of training nearest-neighbour distances
    view: GridView

    @classmethod
    def fit(cls, train_hw: pd.DataFrame, space: Any, max_points: int = 20_000, seed: int = 0) -> Domain:
        view = GridView.from_space(space)
        if len(train_hw) < 3:
            raise InputError(f"need at least 3 training hardware rows for the domain, got {len(train_hw)}")
        rng = np.random.default_rng(seed)
        rows = train_hw.drop_duplicates(subset=list(view.numeric))
        if len(rows) > max_points:
            rows = rows.iloc[np.sort(rng.choice(len(rows), size=max_points, replace=False))]
        points = view.to_unit(rows)
        nn_dist = NearestNeighbors(n_neighbors=2).fit(points).kneighbors(points)[0][:, 1]
        scale = float(np.quantile(nn_dist, QUANTILE))
        num = train_hw[list(view.numeric)]
        return cls(points, num.min(), num.max(), max(scale, 1e-9), view)

    def score(self, hw: pd.DataFrame) -> np.ndarray:
        """Out-of-domain score per row (<= 1: as close to the data as training points are)."""
        dist = NearestNeighbors(n_neighbors=1).fit(self.points).kneighbors(self.view.to_unit(hw))[0][:, 0]
        return dist / self.scale

    def inside_bounds(self, hw: pd.DataFrame) -> np.ndarray:
        num = hw[list(self.view.numeric)]
        return ((num >= self.low) & (num <= self.high)).all(axis=1).to_numpy()

    def annotate(self, hw: pd.DataFrame) -> pd.DataFrame:
        """Add ``ood_score`` and ``in_domain`` (inside the data bounds and score <= 1)."""
        out = hw.copy()
        out["ood_score"] = self.score(hw)
        out["in_domain"] = self.inside_bounds(hw) & (out["ood_score"] <= 1.0)
        return out

    def save(self, path: str | Path) -> None:
        """Parquet of the points, bounds and scale in the file's metadata (no pickle)."""
        table = pd.DataFrame(self.points, columns=list(self.view.numeric))
        meta = {"hwpower_version": __version__, "scale": self.scale, "quantile": QUANTILE,
                "low": self.low.to_dict(), "high": self.high.to_dict()}
        table.attrs["hwpower_domain"] = json.dumps(meta)
        with atomic_path(path) as tmp:
            table.to_parquet(tmp)

    @classmethod
    def load(cls, path: str | Path, space: Any) -> Domain:
        view = GridView.from_space(space)
        try:
            table = pd.read_parquet(path)
            meta = json.loads(table.attrs["hwpower_domain"])
            return cls(table[list(view.numeric)].to_numpy(), pd.Series(meta["low"], dtype=float),
                       pd.Series(meta["high"], dtype=float), float(meta["scale"]), view)
        except (OSError, KeyError, ValueError) as exc:
            raise InputError(f"not a valid domain file ({exc})", file=str(path)) from None
