"""The report's k-means goes through the search's implementation and saves what the search reads."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hwpower.oracle.space import HardwareSpace
from hwpower.processing import ProcessedDataset
from hwpower.report import kmeans
from hwpower.search.starts import StartPoints


def _three_clusters(n: int = 90) -> ProcessedDataset:
    """Hardware drawn around three well-separated configurations."""
    rng = np.random.default_rng(0)
    centers = [(4, 4, 16, 16, 1.0, 100), (16, 16, 128, 256, 8.0, 500), (64, 64, 1024, 4096, 64.0, 1000)]
    rows = [centers[i % 3] for i in range(n)]
    hw = pd.DataFrame(rows, columns=["pe_rows", "pe_cols", "rf_bytes", "glb_kib", "dram_gbps", "freq_mhz"])
    hw["freq_mhz"] = hw["freq_mhz"] + rng.integers(-5, 6, n)
    hw = hw.assign(bits="8", dataflow="ws", network="n/0", P=1.0)
    return ProcessedDataset(hw, hw.iloc[:0], pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), {})


def test_kmeans_finds_the_three_configurations(tmp_path, assert_labelled):
    starts = kmeans.hardware_kmeans(_three_clusters(), HardwareSpace.default(), k_range=range(2, 7))
    assert starts.k == 3
    scores = kmeans.kmeans_scores(starts)
    assert scores.loc[scores.chosen, "k"].tolist() == [3]
    assert scores.set_index("k")["silhouette"].idxmax() == 3
    assert scores["inertia"].is_monotonic_decreasing
    cent = kmeans.centroids_table(starts).sort_values("pe_rows")
    assert cent["pe_rows"].to_numpy() == pytest.approx([4, 16, 64], rel=1e-6)
    assert cent["glb_kib"].to_numpy() == pytest.approx([16, 256, 4096], rel=1e-6)
    assert_labelled(kmeans.kmeans_figure(starts))
    # the saved form is the search's own: it loads back as StartPoints
    starts.save(tmp_path / "starts.json")
    again = StartPoints.load(tmp_path / "starts.json")
    assert again.k == 3 and again.choice.k == 3


def test_edge_note_flags_a_boundary_k_and_weak_clusters():
    from hwpower.search.starts import KChoice

    sil = {2: 0.10, 3: 0.12, 4: 0.14}
    starts = StartPoints(pd.DataFrame({"pe_rows": [1.0] * 4}), KChoice(4, "silhouette", sil, {2: 3.0, 3: 2.0, 4: 1.0}), 0, 100)
    note = kmeans.edge_note(starts)
    assert "k = 4 is at the edge of the range tried (2 to 4)" in note and "0.14 (< 0.25)" in note
    clear = StartPoints(pd.DataFrame({"pe_rows": [1.0] * 3}), KChoice(3, "silhouette", {2: 0.5, 3: 0.8, 4: 0.6}, {}), 0, 100)
    assert kmeans.edge_note(clear) == ""
