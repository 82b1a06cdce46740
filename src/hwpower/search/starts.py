"""Starting points for the hardware search: k-means centroids of the training hardware (the seed's
stats_data notebook), with k chosen by the silhouette criterion, plus random points.

This is the one implementation of the k-means starts; the report calls it too.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score
from threadpoolctl import threadpool_limits

from .. import __version__
from ..errors import InputError
from ..io import write_json_atomic
from .gridview import GridView

log = logging.getLogger(__name__)

DEFAULT_K_RANGE = tuple(range(2, 17))
SILHOUETTE_SAMPLE = 4000  # silhouette is O(n^2): score on a fixed-seed subsample


@dataclass(frozen=True)
class KChoice:
    """The chosen k and the scores that chose it (silhouette: higher is better; inertia for the elbow)."""

    k: int
    criterion: str
    silhouette: dict[int, float]
    inertia: dict[int, float]

    def to_dict(self) -> dict[str, Any]:
        return {
            "k": self.k,
            "criterion": self.criterion,
            "silhouette": {str(k): v for k, v in self.silhouette.items()},
            "inertia": {str(k): v for k, v in self.inertia.items()},
        }


@dataclass
class StartPoints:
    """k-means centroids of the training hardware, numeric parameters in hardware units (not snapped)."""

    centroids: pd.DataFrame
    choice: KChoice | None
    seed: int
    n_points: int
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def k(self) -> int:
        return len(self.centroids)

    def to_dict(self) -> dict[str, Any]:
        return {
            "hwpower_version": __version__,
            "method": "k-means (scikit-learn) on the unit-cube training hardware (log axis for log parameters)",
            "k": self.k,
            "seed": self.seed,
            "n_points": self.n_points,
            "k_choice": self.choice.to_dict() if self.choice else None,
            "centroids": self.centroids.to_dict(orient="records"),
            **self.meta,
        }

    def save(self, path: str | Path) -> None:
        write_json_atomic(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> StartPoints:
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            centroids = pd.DataFrame(data["centroids"])
            kc = data.get("k_choice")
            choice = None
            if kc:
                choice = KChoice(int(kc["k"]), kc["criterion"], {int(k): float(v) for k, v in kc["silhouette"].items()},
                                 {int(k): float(v) for k, v in kc["inertia"].items()})
            return cls(centroids, choice, int(data["seed"]), int(data["n_points"]))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise InputError(f"not a valid starts file ({exc})", file=str(path)) from None


def choose_k(X: np.ndarray, k_range: tuple[int, ...] | range = DEFAULT_K_RANGE, seed: int = 0) -> KChoice:
    """Pick k by the highest silhouette score over ``k_range`` (inertia also kept, for an elbow plot).

    Silhouette is chosen over the elbow because it gives a maximum to pick without a
    judgment call; it is scored on a fixed-seed subsample so large training sets stay fast.
    """
    X = np.asarray(X, dtype=float)
    ks = [k for k in k_range if 2 <= k < len(X)]
    if not ks:
        raise InputError(f"need more points than k to choose k: {len(X)} points, k range {list(k_range)}")
    rng = np.random.default_rng(seed)
    sample = rng.choice(len(X), size=min(SILHOUETTE_SAMPLE, len(X)), replace=False)
    with threadpool_limits(1):  # small problems: OpenMP threads only spin on a shared machine
        return _scan(X, ks, sample, seed)


def _scan(X: np.ndarray, ks: list[int], sample: np.ndarray, seed: int) -> KChoice:
    sil, inertia = {}, {}
    for k in ks:
        km = KMeans(n_clusters=k, n_init=4, random_state=seed).fit(X)
        inertia[k] = float(km.inertia_)
        labels = km.labels_[sample]
        sil[k] = float(silhouette_score(X[sample], labels)) if len(set(labels)) > 1 else -1.0
    best = max(ks, key=lambda k: (sil[k], -k))
    return KChoice(best, "silhouette", sil, inertia)


def kmeans_starts(
    train_hw_df: pd.DataFrame,
    space: Any,
    k: int | None = None,
    seed: int = 0,
    k_range: tuple[int, ...] | range = DEFAULT_K_RANGE,
    max_points: int = 20_000,
) -> StartPoints:
    """k-means centroids of the training hardware's numeric parameters, in hardware units.

    Categorical parameters are not clustered: the search enumerates their few values for every
    start. ``k=None`` chooses k with :func:`choose_k`. At most ``max_points`` rows (fixed-seed
    subsample) are clustered.
    """
    view = GridView.from_space(space)
    if len(train_hw_df) == 0:
        raise InputError("no training hardware rows to cluster")
    rng = np.random.default_rng(seed)
    rows = train_hw_df
    if len(rows) > max_points:
        rows = rows.iloc[np.sort(rng.choice(len(rows), size=max_points, replace=False))]
    X = view.to_unit(rows)
    if not np.all(np.isfinite(X)):
        raise InputError("training hardware has non-finite or non-positive values")
    choice = choose_k(X, k_range, seed) if k is None else None
    k_final = choice.k if choice else int(k)
    if not 1 <= k_final <= len(X):
        raise InputError(f"k must be between 1 and the number of points ({len(X)}), got {k_final}")
    with threadpool_limits(1):
        km = KMeans(n_clusters=k_final, n_init=4, random_state=seed).fit(X)
    centroids = view.from_unit(km.cluster_centers_)
    log.info("k-means starts: k=%d from %d points", k_final, len(X))
    return StartPoints(centroids, choice, seed, len(X))


def random_starts(space: Any, n: int, seed: int, low: np.ndarray | None = None, high: np.ndarray | None = None) -> pd.DataFrame:
    """``n`` uniform points (on each parameter's axis) between ``low`` and ``high`` (unit-cube coords)."""
    view = GridView.from_space(space)
    rng = np.random.default_rng(seed)
    lo = np.zeros(len(view.numeric)) if low is None else low
    hi = np.ones(len(view.numeric)) if high is None else high
    return view.from_unit(lo + rng.random((n, len(view.numeric))) * (hi - lo))
