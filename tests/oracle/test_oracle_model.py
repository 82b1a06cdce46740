"""The cost model on hand-computed layers, its constants, and the public evaluation API."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hwpower.errors import InputError
from hwpower.networks import Layer, LayerOp, LayerTable, sample_networks
from hwpower.oracle import HardwareSpace, Oracle, OracleSettings
from hwpower.oracle import constants as K
from hwpower.oracle.calibration import alexnet

HW = {"pe_rows": 4, "pe_cols": 4, "rf_bytes": 64, "glb_kib": 64, "dram_gbps": 8.0, "freq_mhz": 500,
      "bits": 8, "dataflow": "ws"}


def one(**changes):
    return {k: np.asarray([v]) for k, v in {**HW, **changes}.items()}


def costs(layer: Layer, **changes) -> dict[str, float]:
    c = Oracle().evaluate_layers(LayerTable.from_layers([layer]), one(**changes))
    return {k: float(v[0, 0]) for k, v in c.items()}


def test_constants_reproduce_published_figures():
    assert K.mac_energy_pj(8) == pytest.approx(0.2 + 0.05, rel=1e-3)  # 8-bit mult + 16-bit add
    assert K.mult_energy_pj(32) == pytest.approx(3.1)
    assert K.add_energy_pj(16) == pytest.approx(0.05, rel=0.01)
    assert K.sram_read_energy_pj(8 * 1024, 64) == pytest.approx(10.0)
    assert K.sram_read_energy_pj(32 * 1024, 64) == pytest.approx(20.0, rel=0.05)
    assert K.sram_read_energy_pj(1024 * 1024, 64) == pytest.approx(100.0)
    assert K.dram_energy_pj_per_bit("lpddr4") == 8.0
    assert K.energy_scale(1.0, 65) == pytest.approx(65 / 45 / 0.81)
    # dynamic energy ~ V^2
    assert K.mac_energy_pj(16, 0.45) == pytest.approx(K.mac_energy_pj(16) / 4)
    with pytest.raises(ValueError, match="unknown DRAM type 'sdram'"):
        K.dram_energy_pj_per_bit("sdram")


def test_dvfs_curve():
    node = K.NODES[45]
    assert K.voltage_for_frequency(node.f_nom_mhz, node) == pytest.approx(node.v_nom, abs=1e-3)
    v = K.voltage_for_frequency(np.arange(100, 1001, 100), node)
    assert np.all(np.diff(v) >= 0) and v[0] == K.V_MIN and 1.0 < v[-1] < K.V_MAX
    with pytest.raises(ValueError, match="needs more than 1.3 V"):
        K.voltage_for_frequency(3000, node)


def test_dense_conv_mapping_and_ceil_loss():
    conv = Layer("c", LayerOp.CONV, 16, 32, 8, 8, kernel=1)  # 1x1, C=16, K=32, 8x8 outputs
    ws = costs(conv, pe_rows=3, pe_cols=5)  # rows <- C*RS = 16 (6 folds), cols <- K = 32 (7 folds)
    # each of the 42 weight tiles streams 64 positions plus the pipeline skew R + C - 2 = 6
    assert ws["cycles"] == 6 * 7 * 64 + 42 * 6
    assert ws["utilisation"] == pytest.approx(16 * 32 * 64 / (15 * (6 * 7 * 64 + 42 * 6)))
    os_ = costs(conv, pe_rows=3, pe_cols=5, dataflow="os")  # rows <- PQ = 64 (22 folds), cols <- K (7)
    assert os_["cycles"] == 22 * 7 * 16 + 22 * 7 * 6
    # a 2-word register file cannot hold a second stationary value: R cycles of reload per tile
    assert costs(conv, pe_rows=3, pe_cols=5, rf_bytes=2)["cycles"] == 6 * 7 * 64 + 42 * (6 + 3)


def test_depthwise_maps_poorly_on_weight_stationary():
    dw = Layer("dw", LayerOp.CONV, 64, 64, 16, 16, kernel=3, groups=64)
    ws = costs(dw, pe_rows=16, pe_cols=16)
    os_ = costs(dw, pe_rows=16, pe_cols=16, dataflow="os")
    # ws: 9 of 256 PEs, 64 channel tiles of 256 positions, each with a skew of 30 cycles
    assert ws["cycles"] == 64 * 256 + 64 * 30
    assert ws["utilisation"] == pytest.approx(9 * 64 * 256 / (256 * (64 * 256 + 64 * 30)))
    # os: all PEs busy but each of the 16 x 4 output tiles streams only 9 taps: skew dominates
    assert os_["cycles"] == 16 * 4 * 9 + 64 * 30
    assert os_["utilisation"] == pytest.approx(9 * 64 * 256 / (256 * 2496))
    assert ws["compute_s"] > 7 * os_["compute_s"] and ws["latency_s"] > 2 * os_["latency_s"]


def test_dram_traffic_compulsory_when_it_fits_and_refetched_otherwise():
    conv = Layer("c", LayerOp.CONV, 64, 64, 16, 16, kernel=3)
    w, i, o = 64 * 64 * 9, 64 * 256, 64 * 256
    assert costs(conv, glb_kib=1024)["dram_words"] == w + i + o
    # 16 KiB at 8 bit: half-buffer tiles of 8192 words -> weights in 5 tiles, inputs in 2
    assert costs(conv, glb_kib=16)["dram_words"] == min(w + 5 * i, 2 * w + i) + o


def test_latency_overlaps_compute_and_dram_in_double_buffered_tiles():
    conv = Layer("c", LayerOp.CONV, 64, 64, 16, 16, kernel=3)
    c = costs(conv, dram_gbps=1.0, glb_kib=1024)
    words = 64 * 64 * 9 + 2 * 64 * 256
    assert c["dram_s"] == pytest.approx(words / 1e9)  # 8-bit words = bytes
    tiles = 144 * 16  # (576 / 4) x (64 / 4) weight tiles of 256 positions, skew 4 + 4 - 2
    assert c["compute_s"] == pytest.approx((tiles * 256 + tiles * 6) / 500e6)
    # everything fits one half-buffer tile (512 KiB): no double buffering, load then compute
    assert c["latency_s"] == pytest.approx(c["compute_s"] + c["dram_s"])
    # a 16 KiB buffer moves the traffic in 8 KiB tiles: the first one's load is not hidden
    s = costs(conv, dram_gbps=1.0, glb_kib=16)
    n = s["dram_words"] / 8192  # tiles, counted fractionally
    bound = max(s["compute_s"], s["glb_s"])
    assert n > 1 and s["latency_s"] == pytest.approx(max(bound, s["dram_s"]) + min(bound, s["dram_s"]) / n)


def test_energy_is_the_sum_of_levels_and_rises_with_bits():
    conv = Layer("c", LayerOp.CONV, 32, 32, 14, 14, kernel=3)
    c8, c16 = costs(conv), costs(conv, bits=16)
    levels = sum(c8[f"e_{x}_pj"] for x in ("mac", "rf", "noc", "clk", "glb", "leak", "dram", "dram_bg"))
    assert levels == pytest.approx(c8["e_core_pj"] + c8["e_bw_pj"])
    v = OracleSettings().voltage(500)
    assert 0.6 < v < 0.75  # 500 MHz sits below the 0.9 V / 800 MHz nominal point
    assert c8["e_mac_pj"] == pytest.approx(32 * 32 * 9 * 196 * K.mac_energy_pj(8, v))
    assert c16["e_core_pj"] > 2 * c8["e_core_pj"]


@pytest.fixture(scope="module")
def nets():
    return list(sample_networks("ofa-mbv3", 3, seed=5).values())


def test_evaluate_matches_layer_sums_and_single_rows(nets):
    hw = HardwareSpace.default().sample(64, seed=1)
    oracle = Oracle(OracleSettings(schedule="layer"))  # a bare layer table is costed layer by layer
    out = oracle.evaluate(nets[0], hw)
    assert list(out.columns) == ["P_core", "P_bw", "P", "latency_ms", "energy_mj", "area_mm2"]
    c = oracle.evaluate_layers(nets[0].layer_table(), hw)
    np.testing.assert_allclose(out["energy_mj"], (c["e_core_pj"] + c["e_bw_pj"]).sum(1) * 1e-9, rtol=1e-12)
    np.testing.assert_allclose(out["P"], out["P_core"] + out["P_bw"], rtol=1e-12)
    np.testing.assert_allclose(out["energy_mj"], out["P"] * out["latency_ms"], rtol=1e-12)
    for i in (0, 17, 63):
        pd.testing.assert_frame_equal(oracle.evaluate(nets[0], hw.iloc[[i]]), out.iloc[[i]])


def test_evaluate_many_groups_by_network(nets):
    hw = HardwareSpace.default().sample(90, seed=2)
    hw.index = np.arange(100, 190)
    idx = np.random.default_rng(0).integers(0, 3, size=90)
    oracle = Oracle()
    many = oracle.evaluate_many(nets, idx, hw)
    assert list(many.index) == list(hw.index)
    for k in range(3):
        pd.testing.assert_frame_equal(many[idx == k], oracle.evaluate(nets[k], hw[idx == k]))
    with pytest.raises(InputError, match="net_index values must lie in"):
        oracle.evaluate_many(nets, idx + 1, hw)


def test_breakdown_adds_up(nets):
    hw = {**HW, "dataflow": "os"}
    oracle = Oracle(OracleSettings(schedule="layer"))  # fused lists the expanded graph's operators
    b = oracle.breakdown(nets[1], hw)
    total = oracle.evaluate(nets[1], pd.DataFrame({k: [v] for k, v in hw.items()}))
    assert len(b) == len(nets[1].layers) and b["name"].iloc[0] == "b0.conv"
    assert b["energy_mj"].sum() == pytest.approx(total["energy_mj"].iloc[0], rel=1e-9)
    assert b["latency_ms"].sum() == pytest.approx(total["latency_ms"].iloc[0], rel=1e-9)
    assert set(b["bound"]) <= {"compute", "buffer", "dram"}
    assert (b.loc[b["op"] == "conv", "utilisation"] > 0).all()


@pytest.mark.parametrize("changes,message", [
    ({"dataflow": "rs"}, r"row 0: dataflow='rs' must be one of \['ws', 'os'\]"),
    ({"bits": 4}, r"bits=4 must be one of \[8, 16\]"),
    ({"glb_kib": -1}, r"glb_kib=-1 must be a positive finite number"),
    ({"freq_mhz": 5000}, r"freq_mhz: frequency 5000 MHz needs more than"),
])
def test_bad_hardware(changes, message):
    with pytest.raises(InputError, match=message):
        Oracle().evaluate(alexnet(), pd.DataFrame(one(**changes)))
    with pytest.raises(InputError, match=r"missing hardware parameter\(s\) \['bits'\]"):
        Oracle().evaluate(alexnet(), pd.DataFrame(one()).drop(columns=["bits"]))


def test_settings_validation_and_tech_node():
    with pytest.raises(InputError, match="unknown DRAM type 'sdram'"):
        OracleSettings(dram="sdram")
    with pytest.raises(InputError, match="no built-in DVFS point for 7 nm"):
        OracleSettings(tech_nm=7)
    hw = pd.DataFrame(one(freq_mhz=200))
    p45 = Oracle().evaluate(alexnet(), hw)["P_core"].iloc[0]
    p65 = Oracle(OracleSettings(tech_nm=65)).evaluate(alexnet(), hw)["P_core"].iloc[0]
    assert p65 > p45
    hbm = Oracle(OracleSettings(dram="hbm2")).evaluate(alexnet(), hw)["P_bw"].iloc[0]
    assert hbm < Oracle().evaluate(alexnet(), hw)["P_bw"].iloc[0]
