"""process() on nets files mixing block networks and operator graphs: every network stored as
operators, distinct operators once, the ops table true to each network's counts and operators."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hwpower.networks import GraphNetwork, Op, read_networks
from hwpower.networks.expand import expand_network
from hwpower.processing import load_processed, process
from hwpower.processing.opfeatures import OP_FEATURES, op_row

from .rawfiles import NETS, make_rows, write_raw


def tiny_attention() -> GraphNetwork:
    """Token embedding, one attention head and an MLP: kinds a block network never has."""
    x = (1, 16, 32)
    ops = [
        Op.build("q", "linear", ["x"], [x], x),
        Op.build("k", "linear", ["x"], [x], x),
        Op.build("kt", "move", ["k"], [x], (1, 32, 16), fn="permute"),
        Op.build("s", "matmul", ["q", "kt"], [x, (1, 32, 16)], (1, 16, 16)),
        Op.build("a", "softmax", ["s"], [(1, 16, 16)], (1, 16, 16)),
        Op.build("o", "matmul", ["a", "x"], [(1, 16, 16), x], x),
        Op.build("n", "norm", ["o"], [x], x, fn="layer", affine=64),
        Op.build("fc", "linear", ["n"], [x], (1, 16, 10)),
    ]
    return GraphNetwork.build(ops, {"x": x}, name="tiny-attention")


MIXED = {0: NETS[0], 1: NETS[1], 2: tiny_attention(), 3: expand_network(NETS[2])}


@pytest.fixture(scope="module")
def processed(tmp_path_factory):
    raw = write_raw(tmp_path_factory.mktemp("raw"), [make_rows(40, 1, net_ids=(0, 1, 2))],
                    [make_rows(12, 2, net_ids=(1, 3))], nets=MIXED)
    out = tmp_path_factory.mktemp("out") / "processed"
    process(raw, out, progress=False)
    return raw, load_processed(out)


def test_every_network_is_stored_as_its_operators(processed):
    raw, ds = processed
    nets = read_networks(raw / "nets_0.json")
    assert ds.manifest["counts"]["graph_networks"] == 2
    for net_id, net in nets.items():
        graph = net if isinstance(net, GraphNetwork) else expand_network(net)
        rows = ds.ops[ds.ops["network"] == f"nets_0/{net_id}"].sort_values("op_index")
        assert rows["op_index"].tolist() == list(range(len(graph.ops)))
        assert rows["kind"].astype(str).tolist() == [op.kind_name for op in graph.ops]
        want = np.array([op_row(op)[1:1 + len(OP_FEATURES)] for op in graph.ops])
        np.testing.assert_array_equal(rows[OP_FEATURES].to_numpy(), want)


def test_ops_table_matches_the_networks_counts(processed):
    _, ds = processed
    sums = ds.ops.groupby("network", observed=True)[["macs", "weights", "other_ops"]].sum()
    table = ds.networks.set_index("network")
    for key in table.index:
        for name in ("macs", "weights", "other_ops"):
            assert sums.loc[key, name] == table.loc[key, name], (key, name)
        assert table.loc[key, "n_ops"] == (ds.ops["network"] == key).sum()
    attention = table.loc["nets_0/2"]
    assert attention["n_blocks"] == 0 and attention["macs"] == tiny_attention().counts.macs == 2 * 16 * 32 * 32 + 2 * 16 * 16 * 32 + 16 * 32 * 10
    assert json.loads(attention["definition"]) == tiny_attention().to_dict()
    # graph networks have no blocks
    assert (ds.blocks["network"] == "nets_0/2").sum() == 0 and (ds.blocks["network"] == "nets_0/3").sum() == 0


def test_distinct_operators_are_stored_once(processed, tmp_path):
    _, ds = processed
    unique = ds.parts.unique_ops
    assert len(unique) == len(unique.drop(columns="op_id").drop_duplicates())
    assert len(ds.parts.network_ops) == len(ds.ops) > len(unique)
    # network 3 is a block network written as its expanded graph: only the kinds blocks expand into
    assert set(ds.ops[ds.ops["network"] == "nets_0/3"]["kind"].astype(str)) <= {"conv2d", "eltwise", "pool", "linear", "move"}


def test_block_fields_hold_no_minus_one(processed):
    _, ds = processed
    fields = [c for c in ds.blocks.columns if c.endswith("_given")]
    assert fields  # a block field left at its derived default is 0 with its indicator at 0
    values = ds.blocks.drop(columns=["network", "type"]).to_numpy(dtype=float)
    assert (values >= 0).all()
    mbconv = ds.blocks[ds.blocks["type"] == "mbconv"]
    assert ((mbconv["mid_channels_given"] == 0) == (mbconv["mid_channels"] == 0)).all()


def test_graph_networks_in_samples_and_in_memory_tables_agree(processed):
    """Operators computed from the definitions (in-memory datasets) equal the processed ones."""
    from hwpower.processing.features import ops_from_definitions

    _, ds = processed
    again = ops_from_definitions(ds.networks)
    np.testing.assert_array_equal(again[OP_FEATURES].to_numpy(), ds.ops[OP_FEATURES].to_numpy())
    assert again["kind"].astype(str).tolist() == ds.ops["kind"].astype(str).tolist()
