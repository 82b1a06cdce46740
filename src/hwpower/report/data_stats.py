"""Data statistics (the seed's stats_data notebook): power histograms and a PCA of the hardware.

The k-means on the hardware parameters lives in :mod:`hwpower.report.kmeans`, which calls the
search's own implementation (one k-means for both).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure
from sklearn.decomposition import PCA

from ..errors import InputError
from ..oracle.space import HardwareSpace
from ..processing import ProcessedDataset
from ..search.gridview import GridView
from ..search.starts import StartPoints
from .figures import SPLIT_COLORS, bins_for, new_figure, spans_decades, styled

log = logging.getLogger(__name__)

POWER_TARGETS = ("P", "P_core", "P_bw")


def power_summary(ds: ProcessedDataset, targets: tuple[str, ...] = POWER_TARGETS) -> pd.DataFrame:
    """Count, mean, quantiles and range of each power target in train and val (watts)."""
    rows = []
    for split, df in (("train", ds.train), ("val", ds.val)):
        for target in targets:
            s = df[target]
            rows.append({
                "split": split, "target": target, "n": int(s.size), "mean_w": s.mean(), "std_w": s.std(),
                "min_w": s.min(), "q25_w": s.quantile(0.25), "median_w": s.median(),
                "q75_w": s.quantile(0.75), "max_w": s.max(),
            })
    return pd.DataFrame(rows)


def power_histograms(ds: ProcessedDataset, targets: tuple[str, ...] = POWER_TARGETS) -> Figure:
    """One panel per target, train and val overlaid on shared bins; log axes when values span decades."""
    with styled():
        fig, axes = new_figure(1, len(targets), width=4.0 * len(targets), height=3.8)
        for ax, target in zip(axes, targets):
            both = np.concatenate([ds.train[target].to_numpy(float), ds.val[target].to_numpy(float)])
            log_x = spans_decades(both)
            bins = bins_for(both, log_x)
            for split, df in (("train", ds.train), ("val", ds.val)):
                # density, so that splits of different sizes compare
                ax.hist(df[target], bins=bins, density=True, alpha=0.55, color=SPLIT_COLORS[split],
                        label=f"{split} (n={len(df)})")
            if log_x:
                ax.set_xscale("log")
            ax.set_title(f"{target} distribution")
            ax.set_xlabel(f"{target} (W){', log scale' if log_x else ''}")
            ax.set_ylabel("density (1/W)")
            ax.legend()
        fig.suptitle("Power distributions, train vs val")
    return fig


@dataclass
class HardwarePCA:
    """PCA of the numeric hardware parameters in the search's unit cube (train and val together).

    The unit cube (:class:`~hwpower.search.gridview.GridView`: each parameter mapped to [0, 1]
    between the space's bounds, on a log axis for log-scaled ones) is the normalization the
    search's k-means uses, so its centroids can be drawn in the same projection. Categorical
    parameters are left out, as they are from the k-means.
    """

    features: list[str]
    explained_variance_ratio: np.ndarray
    components: pd.DataFrame  # loadings: one row per component, one column per feature
    projection: np.ndarray  # (n_samples, 2): the first two components
    power_w: np.ndarray  # P of each projected sample, for colouring
    pca: PCA  # fitted, to project other points (the k-means centroids)
    view: GridView

    def project(self, hardware: pd.DataFrame) -> np.ndarray:
        return self.pca.transform(self.view.to_unit(hardware))[:, :2]


def hardware_pca(ds: ProcessedDataset, space: HardwareSpace, *, max_points: int = 20000, seed: int = 0) -> HardwarePCA:
    """Fit a PCA on the unit-cube numeric hardware parameters of train and val."""
    both = pd.concat([ds.train, ds.val], ignore_index=True)
    if len(both) > max_points:  # a subsample keeps the scatter readable and the fit fast
        both = both.sample(max_points, random_state=seed)
    view = GridView.from_space(space)
    X = view.to_unit(both)
    pca = PCA(random_state=seed).fit(X)
    Z = pca.transform(X)
    if Z.shape[1] < 2:
        raise InputError(f"a 2-D projection needs two numeric hardware parameters, the space has {Z.shape[1]}")
    comps = pd.DataFrame(pca.components_, columns=list(view.numeric),
                         index=[f"PC{i + 1}" for i in range(pca.n_components_)])
    return HardwarePCA(list(view.numeric), pca.explained_variance_ratio_, comps, Z[:, :2],
                       both["P"].to_numpy(float), pca, view)


def pca_figure(result: HardwarePCA, starts: StartPoints | None = None) -> Figure:
    """Explained variance per component and the 2-D projection coloured by P, with the k-means
    starting points (when given) drawn in the same plane."""
    with styled():
        fig, (ax_var, ax_proj) = new_figure(1, 2, width=11.5, height=4.4)
        ratio = result.explained_variance_ratio * 100
        idx = np.arange(1, ratio.size + 1)
        ax_var.bar(idx, ratio, color="#1f77b4", label="per component")
        ax_var.plot(idx, np.cumsum(ratio), "o-", color="#d62728", label="cumulative")
        ax_var.set_xticks(idx)
        ax_var.set_ylim(0, 105)
        ax_var.set_title("Explained variance of the hardware PCA")
        ax_var.set_xlabel("principal component")
        ax_var.set_ylabel("explained variance (%)")
        ax_var.legend()
        norm = LogNorm() if spans_decades(result.power_w) else Normalize()
        sc = ax_proj.scatter(result.projection[:, 0], result.projection[:, 1], c=result.power_w, s=6,
                             cmap="viridis", norm=norm, alpha=0.7, linewidths=0)
        fig.colorbar(sc, ax=ax_proj, label="P (W)")
        if starts is not None:
            c = result.project(starts.centroids)
            ax_proj.scatter(c[:, 0], c[:, 1], marker="X", s=90, color="#d62728", edgecolors="white",
                            label=f"k-means starting points (k={starts.k})")
            ax_proj.legend(loc="upper right")
        ax_proj.set_title("Hardware parameters projected on PC1-PC2")
        ax_proj.set_xlabel(f"PC1 ({ratio[0]:.0f}% of variance, unit-cube units)")
        ax_proj.set_ylabel(f"PC2 ({ratio[1]:.0f}% of variance, unit-cube units)" if ratio.size > 1 else "PC2")
        fig.suptitle("PCA of the normalized numeric hardware parameters (log axes for log-scaled ones)")
    return fig


def pca_tables(result: HardwarePCA) -> dict[str, pd.DataFrame]:
    variance = pd.DataFrame({
        "component": [f"PC{i + 1}" for i in range(result.explained_variance_ratio.size)],
        "explained_variance_pct": result.explained_variance_ratio * 100,
        "cumulative_pct": np.cumsum(result.explained_variance_ratio) * 100,
    })
    return {"pca_variance": variance, "pca_loadings": result.components.reset_index(names="component")}
