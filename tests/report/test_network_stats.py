"""Per-network power, errors and their rank correlation with network size."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hwpower.errors import InputError
from hwpower.report import network_stats as ns


def test_power_by_network_quartiles(ds):
    table = ns.power_by_network(ds)
    key = ds.train["network"].iloc[0]
    row = table[(table.split == "train") & (table.network == key) & (table.target == "P_bw")].iloc[0]
    sub = ds.train.loc[ds.train.network == key, "P_bw"]
    assert row.n == len(sub)
    assert row.median_w == pytest.approx(sub.median())
    assert row.q25_w <= row.median_w <= row.q75_w
    # unseen networks appear in val only
    held_out = set(ds.val.network) - set(ds.train.network)
    assert held_out and held_out.isdisjoint(table[table.split == "train"].network)
    assert held_out <= set(table[table.split == "val"].network)


def test_power_by_network_figure(ds, assert_labelled):
    fig = ns.power_by_network_figure(ns.power_by_network(ds))
    assert_labelled(fig)
    assert [ax.get_ylabel() for ax in fig.axes] == ["P_core (W)", "P_bw (W)"]


def test_val_errors_of_a_uniform_bias(ds):
    errors = ns.val_errors(ds, ds.val["P"] * 1.1)
    assert errors["error_pct"].to_numpy() == pytest.approx(np.full(len(ds.val), 10.0))
    assert errors["abs_error_pct"].to_numpy() == pytest.approx(np.full(len(ds.val), 10.0))
    # the split follows the dataset's unseen-network mask
    assert (errors["split"] == ns.UNSEEN_NET).to_numpy().tolist() == ds.unseen_network_mask().tolist()


def test_val_errors_refuses_misaligned_predictions(ds):
    with pytest.raises(InputError, match=f"expected {len(ds.val)} predictions"):
        ns.val_errors(ds, np.ones(len(ds.val) - 1))


def test_errors_by_network_and_correlation_with_flops(ds, assert_labelled):
    """An error growing with a network's FLOPs: MAPE per network is that error, rho(flops) = +1."""
    flops = ds.val["network"].map(ds.networks.set_index("network")["flops"]).to_numpy(float)
    rel = flops / flops.max() * 0.2  # 0..20 %
    errors = ns.val_errors(ds, ds.val["P"].to_numpy() * (1 + rel))
    per = ns.errors_by_network(ds, errors)
    assert set(per.network) == set(ds.val.network)
    assert per["n"].sum() == len(ds.val)
    first = per.iloc[0]
    assert first.mape_pct == pytest.approx(100 * 0.2 * first.flops / flops.max())
    assert first.bias_pct == pytest.approx(first.mape_pct)
    assert per["mape_pct"].is_monotonic_increasing
    corr = ns.error_correlations(per).set_index(["split", "feature"])
    for split in (ns.UNSEEN_HW, ns.UNSEEN_NET):
        assert corr.loc[(split, "flops"), "spearman_rho"] == pytest.approx(1.0)
    assert corr.loc[(ns.UNSEEN_NET, "flops"), "n_networks"] == len(set(ds.val.network) - set(ds.train.network))
    assert_labelled(ns.errors_by_network_figure(per))
    assert_labelled(ns.error_vs_features_figure(per, ns.error_correlations(per)))


def test_correlation_needs_three_networks():
    per = pd.DataFrame({"split": ns.UNSEEN_NET, "network": ["a", "b"], "mape_pct": [1.0, 2.0],
                        "flops": [1, 2], "weights": [1, 2], "depth": [3, 3], "input_resolution": [160, 176]})
    corr = ns.error_correlations(per)
    assert corr["spearman_rho"].isna().all() and (corr["n_networks"] == 2).all()


# Sizes are distinct after the log too: 1000 and 1000.0000000000001 collapse to one float under
# log, a tie the transform made, not one the ranking has to preserve.
@given(st.lists(st.tuples(st.floats(1e3, 1e9), st.floats(0.0, 50.0)), min_size=3, max_size=30,
                unique_by=lambda t: float(np.log(t[0]))))
def test_spearman_invariant_to_monotone_feature_transform(rows):
    """Rank correlation: a network size on a log or linear scale gives the same rho."""
    per = pd.DataFrame({"split": ns.UNSEEN_HW, "network": [str(i) for i in range(len(rows))],
                        "flops": [r[0] for r in rows], "mape_pct": [r[1] for r in rows],
                        "weights": 1, "depth": 1, "input_resolution": 1})
    rho = ns.error_correlations(per).set_index("feature").loc["flops", "spearman_rho"]
    rho_log = ns.error_correlations(per.assign(flops=np.log(per.flops))).set_index("feature").loc["flops", "spearman_rho"]
    assert (np.isnan(rho) and np.isnan(rho_log)) or rho == pytest.approx(rho_log)
    assert np.isnan(rho) or -1.0 - 1e-9 <= rho <= 1.0 + 1e-9
