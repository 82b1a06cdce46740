"""Everything a search query needs, built once: the predictor, the space, the training domain, the
k-means starts and (for ``--verify``) the oracle; plus the construction of a batch of starts."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch

from ..errors import InputError
from .descent import DescentConfig
from .domain import Domain
from .gridview import GridView
from .starts import StartPoints, random_starts
from .surrogate import DifferentiablePredictor, Layout, SearchSurrogate, probe_layout

log = logging.getLogger(__name__)


@dataclass
class SearchContext:
    """A frozen predictor with its data domain and starting points; ``oracle`` is for verification."""

    predictor: DifferentiablePredictor
    space: Any
    domain: Domain
    starts: StartPoints
    oracle: Any | None = None
    n_random: int = 8  # random starts besides the k-means centroids, per categorical combination
    config: DescentConfig = field(default_factory=DescentConfig)
    train_networks: frozenset[str] = frozenset()  # keys of networks seen in training, for the output
    _layout: Layout | None = field(default=None, repr=False)

    @property
    def view(self) -> GridView:
        return GridView.from_space(self.space)

    def surrogate(self, nets: Sequence[Any]) -> SearchSurrogate:
        if self._layout is None:
            self._layout = probe_layout(self.predictor.hw_encoder, self.view)
        return SearchSurrogate(self.predictor, self.space, nets, layout=self._layout)

    def index_bounds(self, fixed: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        """Allowed grid index range per numeric parameter: the data bounds, or a fixed value."""
        view = self.view
        lo, hi = np.empty(len(view.numeric), np.int64), np.empty(len(view.numeric), np.int64)
        for j, (name, grid) in enumerate(zip(view.numeric, view.grids)):
            if name in fixed:
                lo[j] = hi[j] = int(np.flatnonzero(grid == float(fixed[name]))[0])
                continue
            inside = np.flatnonzero((grid >= self.domain.low[name] - 1e-9) & (grid <= self.domain.high[name] + 1e-9))
            if len(inside) == 0:
                raise InputError(f"no grid value of {name} lies inside the training data's range")
            lo[j], hi[j] = inside[0], inside[-1]
        return lo, hi

    def start_points(self, sur: SearchSurrogate, fixed: dict[str, Any], seed: int) -> tuple[torch.Tensor, torch.Tensor, np.ndarray, np.ndarray]:
        """Starts for one query: (k centroids + n_random points) x allowed categorical combinations.

        Returns normalized numeric starts (S, Nn), combination ids (S,), index bounds lo/hi (Nn,).
        """
        view = self.view
        lo, hi = self.index_bounds(fixed)
        unit_lo = view.to_unit(view.from_index(lo[None]))[0]
        unit_hi = view.to_unit(view.from_index(hi[None]))[0]
        points = pd.concat([self.starts.centroids[list(view.numeric)],
                            random_starts(self.space, self.n_random, seed, unit_lo, unit_hi)], ignore_index=True)
        norm = _numeric_norm(sur, points)
        allowed = [i for i, c in enumerate(sur.layout.combos) if all(c[k] == fixed[k] for k in c if k in fixed)]
        if not allowed:
            raise InputError(f"no categorical combination matches the fixed values {fixed}")
        combo = torch.tensor(allowed, dtype=torch.long).repeat_interleave(len(norm))
        return norm.repeat(len(allowed), 1), combo, lo, hi


def _numeric_norm(sur: SearchSurrogate, points: pd.DataFrame) -> torch.Tensor:
    """Continuous numeric points to normalized values by interpolating the encoded grid (monotone)."""
    cols = []
    for j, (name, grid) in enumerate(zip(sur.view.numeric, sur.view.grids)):
        axis = np.log(grid) if sur.view.log[j] else grid
        v = points[name].to_numpy(dtype=float)
        v = np.log(v) if sur.view.log[j] else v
        cols.append(np.interp(v, axis, sur.layout.grid_norm[j].numpy()))
    return torch.tensor(np.stack(cols, axis=1), dtype=torch.float32)
