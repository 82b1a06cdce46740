"""k-means on the hardware parameters (the seed's stats_data step 3), through the search's own
implementation (:mod:`hwpower.search.starts`): one k-means, shared by the report and the search.

The centroids are saved by :meth:`StartPoints.save`, the file the search reads as starting points.
"""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from ..errors import InputError
from ..oracle.space import HardwareSpace
from ..processing import ProcessedDataset
from ..search.starts import DEFAULT_K_RANGE, StartPoints, kmeans_starts
from .figures import new_figure, styled


def hardware_kmeans(ds: ProcessedDataset, space: HardwareSpace, *, seed: int = 0,
                    k_range: tuple[int, ...] | range = DEFAULT_K_RANGE) -> StartPoints:
    """Cluster the training hardware, choosing k by silhouette over ``k_range``."""
    return kmeans_starts(ds.train, space, k=None, seed=seed, k_range=k_range)


def kmeans_scores(starts: StartPoints) -> pd.DataFrame:
    """Silhouette and inertia per k tried (inertia in squared unit-cube units)."""
    if starts.choice is None:
        raise InputError("these starting points were made with a fixed k: there are no scores to show")
    c = starts.choice
    ks = sorted(c.silhouette)
    return pd.DataFrame({"k": ks, "silhouette": [c.silhouette[k] for k in ks],
                         "inertia": [c.inertia.get(k, float("nan")) for k in ks], "chosen": [k == c.k for k in ks]})


def kmeans_figure(starts: StartPoints) -> Figure:
    """The choice of k: silhouette (the criterion) and inertia (the elbow) against k."""
    scores = kmeans_scores(starts)
    k = starts.choice.k
    with styled():
        fig, (ax_sil, ax_in) = new_figure(1, 2, width=11.0, height=3.9)
        ax_sil.plot(scores.k, scores.silhouette, "o-", color="#1f77b4")
        ax_sil.set_title("Silhouette score (higher is better)")
        ax_sil.set_ylabel("mean silhouette (dimensionless)")
        ax_in.plot(scores.k, scores.inertia, "o-", color="#ff7f0e")
        ax_in.set_title("Inertia (elbow)")
        ax_in.set_ylabel("inertia (squared unit-cube distance)")
        for ax in (ax_sil, ax_in):
            ax.axvline(k, color="#d62728", ls="--", label=f"chosen k = {k}")
            ax.set_xlabel("number of clusters k")
            ax.set_xticks(scores.k)
            ax.legend()
        fig.suptitle(f"k-means on the training hardware: choice of k ({starts.n_points} points)")
    return fig


def edge_note(starts: StartPoints) -> str:
    """A warning when the chosen k lies at the edge of the range tried, or the clusters are weak."""
    scores = kmeans_scores(starts)
    notes = []
    if starts.k in (scores.k.min(), scores.k.max()):
        notes.append(f" k = {starts.k} is at the edge of the range tried ({scores.k.min()} to {scores.k.max()}):"
                     " the silhouette has no interior maximum.")
    best = scores.silhouette.max()
    if best < 0.25:  # Kaufman & Rousseeuw: below 0.25 no substantial structure has been found
        notes.append(f" The best silhouette is {best:.2f} (< 0.25): the hardware has no strong cluster structure"
                     " (as expected of a space-filling sample); the centroids serve as spread-out starting points.")
    return "".join(notes)


def centroids_table(starts: StartPoints) -> pd.DataFrame:
    """The starting points in hardware units, one row per cluster."""
    return starts.centroids.reset_index(names="cluster")
