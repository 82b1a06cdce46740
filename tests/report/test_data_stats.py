"""Power histograms, summary and the hardware PCA on the synthetic processed dataset."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hwpower.oracle.space import HardwareSpace
from hwpower.report import data_stats
from hwpower.report.figures import bins_for, spans_decades


def test_power_summary_matches_pandas(ds):
    summary = data_stats.power_summary(ds).set_index(["split", "target"])
    assert summary.loc[("train", "P"), "n"] == len(ds.train) == 600
    assert summary.loc[("val", "P_bw"), "median_w"] == pytest.approx(ds.val["P_bw"].median())
    assert summary.loc[("train", "P_core"), "max_w"] == pytest.approx(ds.train["P_core"].max())


def test_histograms_use_log_axes_for_powers_spanning_decades(ds, assert_labelled):
    fig = data_stats.power_histograms(ds)
    assert_labelled(fig)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["P distribution", "P_core distribution", "P_bw distribution"]
    # the stand-in power spans two decades: every panel is on a log axis, labelled in watts
    assert all(ax.get_xscale() == "log" and "(W)" in ax.get_xlabel() for ax in fig.axes)
    # two overlaid histograms per panel, with the split sizes in the legend
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["train (n=600)", "val (n=300)"]


def test_hardware_pca_variance_and_projection(ds, assert_labelled):
    space = HardwareSpace.default()
    result = data_stats.hardware_pca(ds, space)
    assert result.features == space.numeric_names
    assert result.explained_variance_ratio.sum() == pytest.approx(1.0)
    assert np.all(np.diff(result.explained_variance_ratio) <= 1e-12)  # sorted, largest first
    assert result.projection.shape == (len(ds.train) + len(ds.val), 2)
    # unit vectors: loadings rows are normalized
    assert np.linalg.norm(result.components.to_numpy(), axis=1) == pytest.approx(np.ones(len(result.features)))
    # projecting the fitted rows again gives the same coordinates
    both = pd.concat([ds.train, ds.val], ignore_index=True)
    assert result.project(both) == pytest.approx(result.projection)
    assert_labelled(data_stats.pca_figure(result))


def test_pca_separates_the_parameter_that_varies_most():
    """With only the clock varying widely, PC1 is the clock."""
    space = HardwareSpace.default()
    rng = np.random.default_rng(1)
    n = 200
    hw = pd.DataFrame({"pe_rows": 16, "pe_cols": 16, "rf_bytes": 64, "glb_kib": 256,
                       "dram_gbps": rng.choice([8.0, 16.0], n), "freq_mhz": rng.choice([100, 1000], n),
                       "bits": "8", "dataflow": "ws", "network": "n/0", "P": 1.0})
    from hwpower.processing import ProcessedDataset
    ds = ProcessedDataset(hw, hw.iloc[:0], pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), {})
    result = data_stats.hardware_pca(ds, space)
    pc1 = result.components.loc["PC1"].abs()
    assert pc1.idxmax() == "freq_mhz" and pc1["freq_mhz"] > 0.999


@given(st.lists(st.floats(1e-3, 1e3), min_size=2, max_size=50), st.booleans())
def test_bins_cover_every_value(values, log):
    values = np.array(values)
    bins = bins_for(values, log)
    assert np.all(np.diff(bins) > 0)
    assert bins[0] <= values.min() * (1 + 1e-9) and bins[-1] >= values.max() * (1 - 1e-9)


@given(st.floats(1e-6, 1e6), st.one_of(st.floats(1.0, 29.0), st.floats(31.0, 1e4)))
def test_spans_decades_is_the_range_ratio(low, ratio):
    assert spans_decades(np.array([low, low * ratio, low * 1.5]), ratio=30.0) == (ratio > 30.0)
