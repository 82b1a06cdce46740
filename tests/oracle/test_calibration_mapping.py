"""The chip mappings calibration may ask of the oracle (OracleSettings.overlap, .weights_resident):
their defaults are the oracle's own model, and each does what it says."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hwpower.errors import InputError
from hwpower.networks import reference_networks
from hwpower.oracle.model import Oracle, OracleSettings

HW = {"pe_rows": 16, "pe_cols": 16, "rf_bytes": 64, "glb_kib": 256, "dram_gbps": 2.0, "freq_mhz": 500, "bits": 8,
      "dataflow": "ws"}


@pytest.fixture(scope="module")
def net():
    return reference_networks()["mobilenet_v2"]  # 3.5 M weights: 3.4 MiB at 8 bit


def test_defaults_are_the_oracle_and_stay_out_of_manifests(net):
    hw = pd.DataFrame([HW, {**HW, "dataflow": "os", "glb_kib": 8192}])
    plain = Oracle(OracleSettings()).evaluate(net, hw)
    spelled = Oracle(OracleSettings(overlap="tiled", weights_resident=False)).evaluate(net, hw)
    assert np.array_equal(plain.to_numpy(), spelled.to_numpy())
    assert "overlap" not in OracleSettings().to_dict() and "weights_resident" not in OracleSettings().to_dict()
    assert OracleSettings(overlap="perfect").to_dict()["overlap"] == "perfect"
    with pytest.raises(InputError, match="overlap must be one of"):
        OracleSettings(overlap="ideal")


def test_perfect_overlap_is_the_slower_bound_per_operator(net):
    tiled = Oracle(OracleSettings()).breakdown(net, HW)
    perfect = Oracle(OracleSettings(overlap="perfect")).breakdown(net, HW)
    c = Oracle(OracleSettings(overlap="perfect"))._costed(net)
    bounds = Oracle(OracleSettings(overlap="perfect")).evaluate_layers(
        c.net.layer_table(), {k: np.asarray([v]) for k, v in HW.items()}, c.plan)
    slowest = np.maximum(np.maximum(bounds["compute_s"], bounds["glb_s"]), bounds["dram_s"])[0]
    assert np.allclose(perfect["latency_ms"].to_numpy(), slowest * 1e3)
    assert (perfect["latency_ms"] <= tiled["latency_ms"] + 1e-12).all()
    assert perfect["latency_ms"].sum() < 0.95 * tiled["latency_ms"].sum()  # DRAM-heavy at 2 GB/s
    assert np.array_equal(perfect["dram_bytes"], tiled["dram_bytes"])  # traffic unchanged


def test_resident_weights_leave_dram_only_where_all_fit(net):
    from hwpower.networks import expand_network
    from hwpower.networks.layers import LayerOp

    t = expand_network(net).layer_table()  # the operators the fused schedule costs
    weights = float(t.w_words[np.isin(t.op, [int(LayerOp.CONV), int(LayerOp.LINEAR)])].sum())  # bytes at 8 bit
    big = {**HW, "glb_kib": 8192}  # 8 MiB holds the 3.4 MiB of weights
    dram = {}
    for resident in (False, True):
        o = Oracle(OracleSettings(weights_resident=resident))
        dram[resident] = (o.breakdown(net, big)["dram_bytes"].sum(), o.breakdown(net, HW)["dram_bytes"].sum())
    assert dram[False][0] - dram[True][0] == pytest.approx(weights, rel=1e-9)  # each weight byte once
    assert dram[True][1] == dram[False][1]  # 256 KiB cannot hold them: from DRAM as before
    fast = Oracle(OracleSettings(weights_resident=True)).evaluate(net, pd.DataFrame([big]))
    slow = Oracle(OracleSettings()).evaluate(net, pd.DataFrame([big]))
    assert fast["latency_ms"].iloc[0] < slow["latency_ms"].iloc[0]
