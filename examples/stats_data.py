# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # stats_data: how the data is spread
#
# The seed's third notebook: the power distributions, a PCA of the hardware parameters, and the
# k-means on the hardware parameters whose centroids the hardware search uses as starting points.
# Every figure comes from `hwpower.report` (command line: `hwpower stats PROCESSED --out DIR`, or
# the full `hwpower report`).

# %%
import os
from pathlib import Path

from hwpower.processing import load_processed, process
from hwpower.report import (centroids_table, hardware_kmeans, hardware_pca, kmeans_figure, kmeans_scores, pca_figure,
                            power_histograms, power_summary, space_of)

RAW = Path(os.environ.get("HWPOWER_EXAMPLES_RAW") or ("data/raw" if Path("data/raw").is_dir() else "examples/data/raw"))
OUT = Path(os.environ.get("HWPOWER_EXAMPLES_OUT", "examples-output"))
PROCESSED = OUT / "processed"
ds = load_processed(PROCESSED) if (PROCESSED / "manifest.json").is_file() else process(RAW, PROCESSED, progress=False)
space = space_of(ds)  # the hardware space the raw data was drawn from (recorded in the manifest)

# %% [markdown]
# ## 1) Power distributions (histograms)
#
# P, P_core and P_bw in train and val, on shared bins; log axes, since powers span decades.

# %%
power_summary(ds)

# %%
fig = power_histograms(ds)
fig

# %% [markdown]
# ## 2) PCA of the hardware parameters
#
# The numeric parameters are normalized as the search sees them (each mapped to [0, 1] between the
# space's bounds, on a log axis for the log-scaled ones). A uniform, space-filling sample has
# nearly equal variance on every component: the hardware has no low-dimensional structure, which is
# why the seed did not use the PCA further.

# %%
pca = hardware_pca(ds, space)
pca.components.round(3)

# %% [markdown]
# ## 3) k-means on the hardware parameters (the search's initial points)
#
# One implementation, shared with the search (`hwpower.search.starts.kmeans_starts`): k is chosen
# by the silhouette score, the inertia is shown for the elbow; the centroids, in hardware units,
# are saved in the file format the search reads (`StartPoints.load`).

# %%
starts = hardware_kmeans(ds, space)
kmeans_scores(starts)

# %%
fig = kmeans_figure(starts)
fig

# %%
fig = pca_figure(pca, starts)  # the centroids drawn in the PCA plane
fig

# %%
starts.save(OUT / "kmeans_starts.json")
centroids_table(starts)
