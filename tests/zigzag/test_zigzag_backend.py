"""ZigZag backend: translation, one-layer evaluations, the network backend and the cross-check.

ZigZag takes a fraction of a second to seconds per layer, so these tests use small layers and a
handful of evaluations. They are skipped where zigzag-dse is not installed.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

pytest.importorskip("zigzag", reason="the ZigZag backend needs zigzag-dse")

from hwpower.errors import InputError  # noqa: E402
from hwpower.networks import Layer, LayerOp, LayerTable, Network  # noqa: E402
from hwpower.networks.blocks import ConvBlock, LinearBlock, PoolBlock  # noqa: E402
from hwpower.oracle import Oracle, OracleSettings  # noqa: E402
from hwpower.oracle.constants import DRAM_PJ_PER_BIT  # noqa: E402
from hwpower.oracle.cost import energies, hw_arrays  # noqa: E402
from hwpower.oracle.zigzag_backend import (  # noqa: E402
    ZigZagOracle, cross_check, run_layer, zigzag_hardware, zigzag_layer_seconds,
)
from hwpower.oracle.zigzag_translate import accelerator_data, workload_data  # noqa: E402

pytestmark = pytest.mark.zigzag

HW = {"pe_rows": 8, "pe_cols": 8, "rf_bytes": 64, "glb_kib": 128, "dram_gbps": 8.0, "freq_mhz": 500,
      "bits": 8, "dataflow": "ws"}
POINTWISE = Layer("pw", LayerOp.CONV, 16, 32, 14, 14, kernel=1)


def analytical(layer: Layer, hw: dict) -> tuple[float, float]:
    c = Oracle().evaluate_layers(LayerTable.from_layers([layer]), {k: np.asarray([v]) for k, v in hw.items()})
    return float(c["e_core_pj"][0, 0] + c["e_bw_pj"][0, 0]), float(c["latency_s"][0, 0])


def test_translation_keeps_the_oracle_energies():
    zz, p_leak, p_bg = zigzag_hardware(HW)
    acc = accelerator_data(zz)
    dram = acc["memories"]["dram"]
    width = dram["ports"][0]["bandwidth_max"]
    assert width == round(8.0 * 8000 / 500)  # 8 GB/s at 500 MHz = 128 bits per cycle
    assert dram["r_cost"] / width == pytest.approx(DRAM_PJ_PER_BIT["lpddr4"])
    assert acc["operational_array"]["sizes"] == [8, 8]
    assert acc["memories"]["rf"]["size"] == 64 * 8
    assert acc["memories"]["glb"]["size"] == 128 * 1024 * 8
    # Every energy is the analytical oracle's own, at the same DVFS voltage.
    settings = OracleSettings()
    arrays = hw_arrays({k: np.asarray([v]) for k, v in HW.items()})
    e = energies(arrays, settings.voltage(arrays.freq_mhz), settings.tech_nm, settings.dram)
    assert (zz.mac_pj, zz.rf_pj, zz.glb_pj) == pytest.approx(
        (e.mac[0, 0], e.rf[0, 0], e.glb[0, 0] + e.noc[0, 0]), rel=1e-12)
    clock_w = e.clk[0, 0] * HW["freq_mhz"] * 1e6 * 1e-12  # the array's clock tree (oracle 2.0)
    assert (p_leak, p_bg) == pytest.approx((e.p_leak_w[0, 0] + clock_w, e.p_dram_bg_w[0, 0]), rel=1e-12)
    assert acc["memories"]["glb"]["r_cost"] == pytest.approx(zz.glb_pj * (8 + 8))  # (R + C) words per access


@given(cin=st.integers(1, 64), cout=st.integers(1, 64), size=st.integers(1, 40),
       kernel=st.sampled_from([1, 3, 5, 7]), stride=st.sampled_from([1, 2]), depthwise=st.booleans())
def test_workload_reproduces_shape_and_macs(cin, cout, size, kernel, stride, depthwise):
    out = (size + 2 * (kernel // 2) - kernel) // stride + 1
    groups = cin if depthwise else 1
    layer = Layer("x", LayerOp.CONV, cin, cin if depthwise else cout, size, out, kernel, stride, groups)
    w = workload_data(layer, 8)[0]
    sizes = dict(zip(w["loop_dims"], w["loop_sizes"], strict=True))
    assert math.prod(sizes.values()) == layer.macs
    pad = sum(w["padding"][0])
    assert (sizes["OX"] - 1) * stride + sizes["FX"] <= size + pad  # every output window inside
    assert pad < stride + kernel  # ... and no more padding than that needs


def test_one_layer_is_positive_and_close_to_the_oracle():
    cost = ZigZagOracle().layer_cost(POINTWISE, HW)
    e_an, t_an = analytical(POINTWISE, HW)
    assert np.isfinite(cost.energy_pj) and cost.energy_pj > 0 and cost.latency_s > 0
    # Same constants, different mapping search: within 2x (the 60-pair cross-check's median is ~1.03).
    assert 0.5 < cost.energy_pj / e_an < 2.0
    assert 0.5 < cost.latency_s / t_an < 2.0
    assert cost.zigzag.mac_pj == pytest.approx(POINTWISE.macs * zigzag_hardware(HW)[0].mac_pj)


def test_energy_rises_by_the_mac_energy_difference():
    zz = zigzag_hardware(HW)[0]
    base = run_layer(POINTWISE, zz)
    dearer = run_layer(POINTWISE, dataclasses.replace(zz, mac_pj=zz.mac_pj * 3))
    # MAC energy does not depend on the mapping, so the chosen mapping and all else stay put.
    assert dearer.energy_pj - base.energy_pj == pytest.approx(POINTWISE.macs * zz.mac_pj * 2, rel=1e-9)
    assert dearer.latency_cycles == base.latency_cycles


def test_non_mac_layers_are_refused():
    pool = Layer("pool", LayerOp.POOL, 16, 16, 14, 7, kernel=2, stride=2)
    with pytest.raises(InputError, match="pool.*convolution, linear and matmul operators only"):
        ZigZagOracle().layer_cost(pool, HW)


def test_network_backend_matches_the_oracle_interface():
    net = Network.build([ConvBlock(3, 8, 3, 16, stride=2), PoolBlock(8, 8, global_pool=True),
                         LinearBlock(8, 10)], 16)
    hw = pd.DataFrame([HW, {**HW, "dataflow": "os", "bits": 16}], index=[7, 3])
    zz = ZigZagOracle()
    out = zz.evaluate(net, hw)
    ref = Oracle().evaluate(net, hw)
    assert list(out.columns) == list(ref.columns) and list(out.index) == [7, 3]
    assert np.allclose(out["P"], out["P_core"] + out["P_bw"])
    assert np.allclose(out["energy_mj"], out["P"] * out["latency_ms"])  # W x ms = mJ
    assert ((out / ref).to_numpy() > 0.2).all() and ((out / ref).to_numpy() < 5).all()
    n_cached = len(zz.cache_)
    zz.evaluate(net, hw)  # identical evaluations come from the cache
    assert len(zz.cache_) == n_cached == 4  # 2 MAC layers x 2 configurations


def test_cross_check_on_three_pairs():
    res = cross_check(n_pairs=3, seed=3)
    table = res["table"]
    assert len(table) == 3 and set(table["dataflow"]) <= {"ws", "os"}
    assert -1.0 <= res["spearman_energy"] <= 1.0 and -1.0 <= res["spearman_latency"] <= 1.0
    assert res["median_ratio_energy"] > 0 and res["median_ratio_latency"] > 0
    assert (table["energy_zz_mj"] > 0).all() and (table["latency_an_ms"] > 0).all()
    with pytest.raises(ValueError, match="at least 3"):
        cross_check(n_pairs=2)


def test_layer_seconds_is_a_positive_time():
    assert 0 < zigzag_layer_seconds(n_layers=1, seed=3) < 60
