"""Memory realism (issue 13): banked SRAM, DRAM power states, nodes and technology overrides."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hwpower.errors import InputError
from hwpower.networks import Layer, LayerOp, LayerTable
from hwpower.oracle import Oracle, OracleSettings
from hwpower.oracle import constants as K
from hwpower.oracle import memory as M
from hwpower.oracle.cost import Residency

T45 = K.tech_constants(45)
KIB = 1024


def access(kib, bits=8, v=0.9, tech=T45):
    return float(M.sram_access_pj(kib * KIB, bits, v, tech))


def test_bank_access_reproduces_horowitz_up_to_one_bank():
    # 8 KB and 32 KB are single banks: Horowitz's 10 pJ and ~20 pJ per 64 bit, no H-tree
    assert access(8, bits=64) == pytest.approx(10.0)
    assert access(32, bits=64) == pytest.approx(K.sram_read_energy_pj(32 * KIB, 64))
    assert float(M.htree_mm(32 * KIB)) == 0.0


def test_banked_access_energy_is_bounded():
    # 4 MiB costs 2.0x a 64 KiB access (the unbanked capacity^0.475 law gave 7.2x)
    ratio = access(4096) / access(64)
    assert ratio == pytest.approx(2.0, rel=0.03)
    assert K.sram_read_energy_pj(4096 * KIB, 8) / K.sram_read_energy_pj(64 * KIB, 8) > 7
    # per 8-bit word: 32 KiB bank 2.41 pJ + 4.0 mm of H-tree at 0.081 pJ per bit and mm
    assert access(4096) == pytest.approx(2.41 + 8 * 0.081 * 4.01, rel=0.01)
    assert access(4096) / float(K.mac_energy_pj(8)) < 25  # was 96 MACs before banking


@given(st.floats(1, 8192), st.floats(1, 8192), st.sampled_from([8, 16, 64]), st.floats(0.5, 1.3))
def test_bigger_buffer_never_cheaper_per_access(a_kib, b_kib, bits, v):
    lo, hi = sorted((a_kib, b_kib))
    assert access(hi, bits, v) >= access(lo, bits, v)
    assert access(hi, bits, v) <= access(lo, bits, v) * (1 + 4 * np.sqrt(hi / max(lo, 32)))


def test_sram_leakage_per_kib():
    assert float(M.sram_leakage_w(8192, 0.9, T45)) == pytest.approx(164e-9, rel=0.01)  # 20 pW/bit


HW = {"pe_rows": 16, "pe_cols": 16, "rf_bytes": 64, "glb_kib": 256, "dram_gbps": 8.0, "freq_mhz": 500,
      "bits": 8, "dataflow": "ws"}
CONV = Layer("c", LayerOp.CONV, 64, 64, 28, 28, kernel=3)  # compute-bound on HW


def costs(settings=OracleSettings(), residency=None, **changes):
    hw = {k: np.asarray([v]) for k, v in {**HW, **changes}.items()}
    c = Oracle(settings).evaluate_layers(LayerTable.from_layers([CONV]), hw)
    return {k: float(v[0, 0]) for k, v in c.items()}


def test_dram_background_power_falls_when_the_link_is_idle():
    c = costs()
    active, down = (float(x) for x in M.dram_power_w("lpddr4", 8.0, T45))
    assert active == pytest.approx(0.024) and down == pytest.approx(0.0024)
    expected = (down * c["latency_s"] + (active - down) * c["dram_s"]) * 1e12
    assert c["e_dram_bg_pj"] == pytest.approx(expected)
    assert c["dram_s"] < 0.1 * c["latency_s"]  # idle 90 % of the time
    # 64 GB/s provisioned and idle 99 % of the time: about a tenth of its always-on 192 mW
    wide = costs(dram_gbps=64.0)
    p_wide = wide["e_dram_bg_pj"] / wide["latency_s"] * 1e-12
    assert wide["dram_s"] < 0.01 * wide["latency_s"]
    assert 0.1 * 0.192 < p_wide < 0.11 * 0.192
    # a DRAM-bound layer keeps its link busy: close to the active-standby power
    busy = costs(dram_gbps=1.0, glb_kib=16)
    p_busy = busy["e_dram_bg_pj"] / busy["latency_s"] * 1e-12
    assert busy["dram_s"] > 0.8 * busy["latency_s"] and p_busy > 0.8 * 0.003


def test_residency_scales_activation_traffic_only():
    from hwpower.oracle.cost import Geometry, energies, hw_arrays, layer_costs

    g = Geometry.of(LayerTable.from_layers([CONV]))
    h = hw_arrays({k: np.asarray([v]) for k, v in HW.items()})
    e = energies(h, OracleSettings().voltage(h.freq_mhz), 45, "lpddr4")
    full = layer_costs(g, h, e, True, True)
    none = layer_costs(g, h, e, True, True, Residency(np.zeros((1, 1)), np.zeros((1, 1))))
    half_out = layer_costs(g, h, e, True, True, Residency(np.ones((1, 1)), np.full((1, 1), 0.5)))
    w, i, o = 64 * 64 * 9, 64 * 28 * 28, 64 * 28 * 28
    assert full["dram_words"][0, 0] == w + i + o
    assert none["dram_words"][0, 0] == w  # weights still come from DRAM
    assert half_out["dram_words"][0, 0] == w + i + o / 2


def test_nodes_and_their_scaling():
    assert set(K.NODES) == {16, 28, 45, 65}
    assert K.node_energy_factor(65) == pytest.approx(65 / 45)
    assert K.node_energy_factor(28) == pytest.approx(28 / 45)
    assert K.node_energy_factor(16) == pytest.approx(22 / 45 * (16 / 22) ** 0.5)  # Accelergy's rule
    assert K.tech_constants(16).sram_area == pytest.approx(0.07 / 0.346)
    # MAC energy at equal voltage follows the node factor
    e = {nm: costs(OracleSettings(tech_nm=nm, v_nom=0.9, f_nom_mhz=800))["e_mac_pj"] for nm in (16, 28, 45, 65)}
    assert e[16] < e[28] < e[45] < e[65]
    assert e[28] / e[45] == pytest.approx(28 / 45)


def test_tech_overrides():
    base = costs()
    doubled = costs(OracleSettings(tech=K.TechConstants(logic=2.0, sram=1.0, wire=1.0)))
    assert doubled["e_mac_pj"] == pytest.approx(2 * base["e_mac_pj"])
    assert doubled["e_glb_pj"] == pytest.approx(base["e_glb_pj"])
    dram = costs(OracleSettings(tech=K.TechConstants(dram_pj_per_bit=4.0)))
    assert dram["e_dram_pj"] == pytest.approx(base["e_dram_pj"] / 2)
    with pytest.raises(ValueError, match="positive finite"):
        K.TechConstants(sram=0.0)
    with pytest.raises(InputError, match="TechConstants"):
        OracleSettings(tech=1.0)
    # a manifest's dict comes back as TechConstants
    assert OracleSettings(tech={"logic": 0.5}).tech == K.TechConstants(logic=0.5)
