"""The oracle on every operator kind of graph networks (docs/oracle.md, "Operator kinds"), and graph
networks through `hwpower oracle`, the generator's shard evaluation and `hwpower process`."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from hwpower.cli import app
from hwpower.errors import InputError
from hwpower.networks import GraphNetwork, LayerTable, Op, expand_network, reference_networks, write_networks
from hwpower.networks.layers import LayerOp
from hwpower.networks.ops import NORM_FNS, SOFTMAX_OPS
from hwpower.oracle import HardwareSpace, Oracle, OracleSettings
from hwpower.oracle.constants import add_energy_pj

HW = {"pe_rows": 16, "pe_cols": 8, "rf_bytes": 64, "glb_kib": 256, "dram_gbps": 8.0, "freq_mhz": 500,
      "bits": 8, "dataflow": "ws"}
SPACE = HardwareSpace.default()
CONFIGS = SPACE.sample(32, 5).reset_index(drop=True)  # both dataflows, 8 and 16 bit, corners included
ORACLE = Oracle()


def costs(ops: list[Op], hw: pd.DataFrame | dict = CONFIGS) -> dict[str, np.ndarray]:
    """(N, L) per-operator costs of ``ops`` on every configuration of ``hw``."""
    hw = {k: np.atleast_1d(np.asarray(v)) for k, v in (hw.items() if isinstance(hw, dict) else hw.items())}
    return ORACLE.evaluate_layers(LayerTable.from_rows([LayerTable.row(op) for op in ops]), hw)


def energy(c: dict[str, np.ndarray]) -> np.ndarray:
    return c["e_core_pj"] + c["e_bw_pj"]


def matmul(m: int, k: int, n: int, heads: int = 2) -> Op:
    return Op.build("mm", "matmul", ["a", "b"], [(1, heads, m, k), (1, heads, k, n)], (1, heads, m, n))


def softmax(rows: int, cols: int) -> Op:
    return Op.build("sm", "softmax", ["x"], [(1, rows, cols)], (1, rows, cols))


def every_kind() -> list[Op]:
    """One operator of every kind (and of the data-movement functions that matter)."""
    img, tok = (1, 16, 8, 8), (1, 32, 64)
    return [
        Op.build("conv", "conv2d", ["x"], [img], (1, 32, 8, 8), kernel=3, padding=1, norm="batch", act="relu"),
        Op.build("linear", "linear", ["t"], [tok], (1, 32, 128), bias=True),
        Op.build("matmul", "matmul", ["a", "b"], [(1, 4, 32, 16), (1, 4, 16, 32)], (1, 4, 32, 32)),
        Op.build("add", "eltwise", ["x", "y"], [img, img], img, fn="add"),
        Op.build("gelu", "eltwise", ["t"], [tok], tok, fn="gelu"),
        Op.build("ln", "norm", ["t"], [tok], tok, fn="layer", affine=128),
        Op.build("pool", "pool", ["x"], [img], (1, 16, 4, 4), fn="max", kernel=2, stride=2),
        Op.build("softmax", "softmax", ["s"], [(1, 4, 32, 32)], (1, 4, 32, 32)),
        Op.build("embed", "embedding", ["ids"], [(1, 32)], tok, num=1000),
        Op.build("up", "upsample", ["x"], [img], (1, 16, 16, 16), fn="bilinear"),
        Op.build("concat", "move", ["x", "y"], [img, img], (1, 32, 8, 8), fn="concat"),
        Op.build("permute", "move", ["t"], [tok], (1, 64, 32), fn="permute"),
        Op.build("view", "move", ["x"], [img], (1, 1024), fn="view"),
    ]


def test_every_kind_costs_finite_positive_energy_and_latency():
    ops = every_kind()
    c = costs(ops)
    kinds = {op.kind for op in ops}
    assert kinds == set(LayerOp)  # every kind is exercised
    costed = [i for i, op in enumerate(ops) if op.name != "view"]
    for key in ("latency_s", "e_core_pj", "e_bw_pj"):
        assert np.isfinite(c[key]).all()
        assert (c[key][:, costed] > 0).all(), key


def test_a_view_costs_nothing():
    view = every_kind()[-1]
    c = costs([view])
    for key in ("latency_s", "e_core_pj", "e_bw_pj", "dram_words", "glb_words", "cycles"):
        assert (c[key] == 0).all(), key


def test_data_movement_costs_traffic_only():
    concat = next(op for op in every_kind() if op.name == "concat")
    c = costs([concat])
    for key in ("e_mac_pj", "e_rf_pj", "e_noc_pj", "cycles", "array_words"):
        assert (c[key] == 0).all(), key
    words = 2 * 16 * 64 + 32 * 64  # both inputs read, the output written
    assert (c["dram_words"] == words).all() and (c["glb_words"] == words).all()
    assert (energy(c) > 0).all()


def test_embedding_gathers_rows_from_dram():
    embed = next(op for op in every_kind() if op.name == "embed")
    c = costs([embed])
    assert (c["e_mac_pj"] == 0).all() and (c["e_rf_pj"] == 0).all() and (c["e_noc_pj"] == 0).all()
    # 32 gathered rows of 64, the 32 indices, the 32 x 64 output: the table's other rows stay in DRAM
    assert (c["dram_words"] == 32 * 64 + 32 + 32 * 64).all()


def test_vector_unit_has_one_lane_per_column_at_the_add_energy():
    ln = next(op for op in every_kind() if op.name == "ln")
    c = costs([ln], HW)
    ops = 32 * 64 * NORM_FNS["layer"]
    assert c["cycles"][0, 0] == np.ceil(ops / HW["pe_cols"])  # 8 lanes, one op per lane per cycle
    v = ORACLE.settings.voltage(np.asarray([HW["freq_mhz"]]))
    assert c["e_mac_pj"][0, 0] == pytest.approx(ops * add_energy_pj(8, v)[0])
    assert c["e_rf_pj"][0, 0] == 0 and c["e_noc_pj"][0, 0] == 0  # buffer to vector unit directly
    assert c["glb_words"][0, 0] == 2 * (32 * 64) + c["dram_words"][0, 0]  # read, write, DRAM fills
    # The same op count on the PE adders (an element-wise operator) takes R*C lanes instead of C.
    gelu = next(op for op in every_kind() if op.name == "gelu")
    assert costs([gelu], HW)["cycles"][0, 0] == np.ceil(gelu.other_ops / (16 * 8))


@given(m=st.integers(1, 96), k=st.integers(1, 96), n=st.integers(1, 96), which=st.sampled_from("mkn"),
       row=st.integers(0, len(CONFIGS) - 1))
def test_matmul_cost_grows_with_every_dimension(m, k, n, which, row):
    bigger = {"m": (m + 1, k, n), "k": (m, k + 1, n), "n": (m, k, n + 1)}[which]
    c = costs([matmul(m, k, n), matmul(*bigger)], CONFIGS.iloc[[row]])
    e, t = energy(c)[0], c["latency_s"][0]
    assert e[1] > e[0]
    assert t[1] >= t[0]


@given(rows=st.integers(1, 64), cols=st.integers(1, 256), row=st.integers(0, len(CONFIGS) - 1))
def test_doubling_a_softmax_raises_its_energy(rows, cols, row):
    c = costs([softmax(rows, cols), softmax(2 * rows, cols)], CONFIGS.iloc[[row]])
    assert energy(c)[0, 1] > energy(c)[0, 0]
    assert c["latency_s"][0, 1] >= c["latency_s"][0, 0]
    assert c["e_mac_pj"][0, 1] == pytest.approx(2 * c["e_mac_pj"][0, 0])  # 5 ops per element, twice the elements
    assert softmax(rows, cols).other_ops == SOFTMAX_OPS * rows * cols


def transformer_block(tokens: int = 32, d: int = 64, heads: int = 4) -> GraphNetwork:
    """Pre-norm encoder block: layernorm, QKV linear, Q K^T, softmax, A V, output linear, residual,
    layernorm, MLP (linear, GELU, linear), residual."""
    dh, tok = d // heads, (1, tokens, d)
    qkv, q4, kt4, att = (1, tokens, 3 * d), (1, heads, tokens, dh), (1, heads, dh, tokens), (1, heads, tokens, tokens)
    hid = (1, tokens, 4 * d)
    ops = [
        Op.build("ln1", "norm", ["x"], [tok], tok, fn="layer", affine=2 * d),
        Op.build("qkv", "linear", ["ln1"], [tok], qkv, bias=True),
        Op.build("q", "move", ["qkv"], [qkv], q4, fn="slice"),
        Op.build("kt", "move", ["qkv"], [qkv], kt4, fn="slice"),
        Op.build("v", "move", ["qkv"], [qkv], q4, fn="slice"),
        Op.build("scores", "matmul", ["q", "kt"], [q4, kt4], att),
        Op.build("attn", "softmax", ["scores"], [att], att),
        Op.build("ctx", "matmul", ["attn", "v"], [att, q4], q4),
        Op.build("merge", "move", ["ctx"], [q4], tok, fn="permute"),
        Op.build("proj", "linear", ["merge"], [tok], tok, bias=True),
        Op.build("res1", "eltwise", ["x", "proj"], [tok, tok], tok, fn="add"),
        Op.build("ln2", "norm", ["res1"], [tok], tok, fn="layer", affine=2 * d),
        Op.build("fc1", "linear", ["ln2"], [tok], hid, bias=True),
        Op.build("gelu", "eltwise", ["fc1"], [hid], hid, fn="gelu"),
        Op.build("fc2", "linear", ["gelu"], [hid], tok, bias=True),
        Op.build("res2", "eltwise", ["res1", "fc2"], [tok, tok], tok, fn="add"),
    ]
    return GraphNetwork.build(ops, {"x": tok}, name="encoder_block")


def test_transformer_block_breakdown_adds_up_to_the_totals():
    net = transformer_block()
    for dataflow in ("ws", "os"):
        hw = {**HW, "dataflow": dataflow}
        b = ORACLE.breakdown(net, hw)
        total = ORACLE.evaluate(net, pd.DataFrame({k: [v] for k, v in hw.items()})).iloc[0]
        assert list(b["name"]) == [op.name for op in net.ops]
        assert b["energy_mj"].sum() == pytest.approx(total["energy_mj"], rel=1e-9)
        assert b["latency_ms"].sum() == pytest.approx(total["latency_ms"], rel=1e-9)
        assert int(b["macs"].sum()) == net.counts.macs
        units = dict(zip(b["name"], b["unit"], strict=True))
        assert {units[x] for x in ("qkv", "scores", "ctx", "proj", "fc1", "fc2", "res1", "gelu")} == {"array"}
        assert {units[x] for x in ("ln1", "attn", "ln2")} == {"vector"}
        assert {units[x] for x in ("q", "kt", "v", "merge")} == {"memory"}
        assert (b.loc[b["op"] == "matmul", "utilisation"] > 0).all()
        assert np.isfinite(total.to_numpy()).all() and (total.to_numpy() > 0).all()


def test_breakdown_bound_is_none_for_a_view():
    ops = [Op.build("flat", "move", ["x"], [(1, 8, 2, 2)], (1, 32), fn="view"),
           Op.build("fc", "linear", ["flat"], [(1, 32)], (1, 10))]
    b = ORACLE.breakdown(GraphNetwork.build(ops, {"x": (1, 8, 2, 2)}), HW)
    assert list(b["bound"].iloc[:1]) == ["none"] and b["bound"].iloc[1] in ("compute", "buffer", "dram")
    assert b["energy_mj"].iloc[0] == 0


@pytest.mark.parametrize("name", ["resnet18", "resnet50", "mobilenet_v2", "mobilenet_v3_large", "efficientnet_b0"])
def test_expanded_reference_networks_cost_as_their_blocks(name):
    block = reference_networks()[name]
    layer = Oracle(OracleSettings(schedule="layer"))  # the fused schedule costs both as the graph
    a = layer.evaluate(block, CONFIGS)
    b = layer.evaluate(expand_network(block), CONFIGS)
    ratio = (b / a)[["energy_mj", "latency_ms"]].to_numpy()
    if name in ("mobilenet_v3_large", "efficientnet_b0"):
        # The squeeze-excite scale's second input is (1, C, 1, 1) in the graph, a full C x H x W
        # tensor in the block form: the graph moves less (measured: 0.93-0.99 in energy).
        assert (ratio <= 1 + 1e-12).all() and (ratio > 0.9).all()
        assert (ratio < 1 - 1e-6).any()
    else:
        np.testing.assert_allclose(ratio, 1.0, rtol=1e-12)


@pytest.fixture(scope="module")
def graph_nets_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("nets") / "nets_graph.json"
    write_networks(path, {0: transformer_block(), 1: reference_networks()["resnet18"]})
    return path


def test_oracle_command_on_a_graph_network(graph_nets_file):
    hw = ",".join(f"{k}={v}" for k, v in HW.items())
    result = CliRunner().invoke(app, ["oracle", str(graph_nets_file), "--id", "0", "--hw", hw],
                                env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for text in ("scores", "softmax", "vector", "memory", "matmul", "latency_ms"):
        assert text in result.output


def test_generator_shards_evaluate_graph_networks():
    from hwpower.generate.shards import ShardTask, evaluate_rows
    from hwpower.oracle import OracleSettings

    nets = [transformer_block(), expand_network(reference_networks()["resnet18"])]
    hw = CONFIGS.iloc[:6].copy()
    hw["net"] = [0, 1, 0, 1, 0, 1]
    out = evaluate_rows(nets, ShardTask(hw, ["g/0", "g/1"], 0.0, 0, "analytical", OracleSettings()))
    direct = pd.concat([ORACLE.evaluate(nets[k], hw.iloc[[i]]) for i, k in enumerate(hw["net"])])
    np.testing.assert_allclose(out["latency_ms"], direct["latency_ms"], rtol=1e-5)  # 6 significant digits
    np.testing.assert_allclose(out["P"], direct["P"], rtol=1e-5)


def test_process_reads_graph_networks(graph_nets_file):
    """Issue 12: process stores graph networks as their operators (no blocks)."""
    from hwpower.processing.netread import NetworkSet

    nets = NetworkSet()
    nets.add_file(graph_nets_file)
    assert nets.keys[0] == "nets_graph/0" and nets.block_ids[0] == []
