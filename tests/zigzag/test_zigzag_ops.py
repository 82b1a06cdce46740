"""ZigZag on operator-level (graph) networks: matmul translation, graph networks through the
backend, and the cross-check on attention matmuls. Small shapes: ZigZag is slow."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("zigzag", reason="the ZigZag backend needs zigzag-dse")

from hwpower.errors import InputError  # noqa: E402
from hwpower.networks import GraphNetwork, Layer, LayerOp, Op  # noqa: E402
from hwpower.oracle import Oracle, OracleSettings  # noqa: E402
from hwpower.oracle.zigzag_backend import ZigZagOracle, cross_check, run_layer, zigzag_hardware  # noqa: E402
from hwpower.oracle.zigzag_check import attention_matmuls  # noqa: E402
from hwpower.oracle.zigzag_translate import loop_nest, workload_data  # noqa: E402

pytestmark = pytest.mark.zigzag

HW = {"pe_rows": 8, "pe_cols": 8, "rf_bytes": 64, "glb_kib": 128, "dram_gbps": 8.0, "freq_mhz": 500,
      "bits": 8, "dataflow": "ws"}
QK = Op.build("qk", "matmul", ["q", "kt"], [(1, 4, 16, 8), (1, 4, 8, 16)], (1, 4, 16, 16))


def test_matmul_is_a_grouped_pointwise_loop_nest_of_two_activations():
    w = workload_data(QK, 8)[0]
    sizes = dict(zip(w["loop_dims"], w["loop_sizes"], strict=True))
    assert sizes == {"B": 1, "K": 16, "G": 4, "OX": 16, "OY": 1, "C": 8, "FX": 1, "FY": 1}
    assert math.prod(sizes.values()) == QK.macs
    assert set(w["operand_source"]) == {"I", "W"} and 0 not in w["operand_source"].values()  # nothing constant
    assert loop_nest(QK).kind == "matmul"


def test_operator_convolutions_and_block_layers_translate_alike():
    op = Op.build("c", "conv2d", ["x"], [(1, 16, 14, 14)], (1, 32, 7, 7), kernel=3, stride=2, padding=1)
    layer = Layer("c", LayerOp.CONV, 16, 32, 14, 7, kernel=3, stride=2)
    assert loop_nest(op).key == loop_nest(layer).key
    assert workload_data(op, 8) == workload_data(layer, 8)
    with pytest.raises(InputError, match="sm.*convolution, linear and matmul operators only, not SOFTMAX"):
        loop_nest(Op.build("sm", "softmax", ["x"], [(1, 4)], (1, 4)))


def test_matmul_cost_close_to_the_oracle():
    zz = zigzag_hardware(HW)[0]
    res = run_layer(QK, zz)
    assert res.mac_pj == pytest.approx(QK.macs * zz.mac_pj)
    an = Oracle().evaluate_layers(GraphNetwork.build([QK], {"q": (1, 4, 16, 8), "kt": (1, 4, 8, 16)}).layer_table(),
                                  {k: np.asarray([v]) for k, v in HW.items()})
    assert 0.67 < res.energy_pj / float(an["e_core_pj"][0, 0] + an["e_bw_pj"][0, 0]) < 1.5


def test_graph_network_through_the_zigzag_backend():
    tok, q4, kt4, att = (1, 16, 32), (1, 2, 16, 16), (1, 2, 16, 16), (1, 2, 16, 16)
    ops = [Op.build("ln", "norm", ["x"], [tok], tok, fn="layer"),
           Op.build("q", "move", ["ln"], [tok], q4, fn="permute"),
           Op.build("kt", "move", ["ln"], [tok], kt4, fn="permute"),
           Op.build("s", "matmul", ["q", "kt"], [q4, kt4], att),
           Op.build("a", "softmax", ["s"], [att], att),
           Op.build("o", "linear", ["x"], [tok], tok)]
    net = GraphNetwork.build(ops, {"x": tok})
    hw = pd.DataFrame([HW, {**HW, "dataflow": "os"}], index=[4, 9])
    zz = ZigZagOracle()
    # ZigZag costs one layer at a time: compare with the analytical oracle's layer-by-layer schedule
    out, ref = zz.evaluate(net, hw), Oracle(OracleSettings(schedule="layer")).evaluate(net, hw)
    assert list(out.index) == [4, 9] and np.allclose(out["P"], out["P_core"] + out["P_bw"])
    assert ((out / ref).to_numpy() > 0.5).all() and ((out / ref).to_numpy() < 2).all()
    assert len(zz.cache_) == 4  # matmul and linear on 2 configurations; the rest stays analytical


@pytest.mark.slow
def test_cross_check_covers_attention_matmuls():
    res = cross_check(n_pairs=8, seed=0, layers=attention_matmuls())
    assert set(res["table"]["kind"]) == {"matmul"}
    assert res["term_ratios"]["mac"] == pytest.approx(1.0)  # same MAC energy by construction
    # Measured: Spearman 0.95 (energy) / 0.98 (latency), median ratios 1.05 / 1.04 (docs/oracle.md).
    assert res["spearman_energy"] > 0.8 and res["spearman_latency"] > 0.8
    assert 0.8 < res["median_ratio_energy"] < 1.25 and 0.8 < res["median_ratio_latency"] < 1.25
