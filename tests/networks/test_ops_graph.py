"""Operators and operator graphs: counting, validation, JSON form, and the expansion of blocks."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwpower.errors import InputError
from hwpower.networks import GraphNetwork, Op, expand_network, parse_networks, reference_networks
from hwpower.networks.jsonio import dumps_networks
from hwpower.networks.layers import LayerOp
from hwpower.networks.ops import conv_out


def _attention_block() -> GraphNetwork:
    """One self-attention head group on (1, 16, 64) tokens: the kinds a transformer needs."""
    b, length, d, heads = 1, 16, 64, 4
    tok = (b, length, d)
    ops = [
        Op.build("ln", "norm", ["x"], [tok], tok, fn="layer", affine=2 * d),
        Op.build("q", "linear", ["ln"], [tok], tok, bias=True),
        Op.build("k", "linear", ["ln"], [tok], tok, bias=True),
        Op.build("qh", "move", ["q"], [tok], (b, heads, length, d // heads), fn="permute"),
        Op.build("kt", "move", ["k"], [tok], (b, heads, d // heads, length), fn="permute"),
        Op.build("qk", "matmul", ["qh", "kt"], [(b, heads, length, d // heads), (b, heads, d // heads, length)],
                 (b, heads, length, length)),
        Op.build("sm", "softmax", ["qk"], [(b, heads, length, length)], (b, heads, length, length)),
        Op.build("av", "matmul", ["sm", "qh"], [(b, heads, length, length), (b, heads, length, d // heads)],
                 (b, heads, length, d // heads)),
        Op.build("merge", "move", ["av"], [(b, heads, length, d // heads)], tok, fn="permute"),
        Op.build("res", "eltwise", ["x", "merge"], [tok, tok], tok, fn="add"),
        Op.build("act", "eltwise", ["res"], [tok], tok, fn="gelu"),
    ]
    return GraphNetwork.build(ops, {"x": tok}, name="attention")


def test_conv_counts_match_resnet_stem():
    op = Op.build("c", "conv2d", ["x"], [(1, 3, 224, 224)], (1, 64, 112, 112), kernel=7, stride=2, padding=3,
                  norm="batch", act="relu")
    assert op.macs == 118_013_952  # 112*112*64*3*7*7
    assert op.weights == 64 * 3 * 49 + 2 * 64  # folded batch norm: scale and shift
    assert op.other_ops == 0  # a fused activation costs no separate pass
    assert op.to_dict()["kernel"] == [7, 7]


def test_attention_counts():
    net = _attention_block()
    macs = {op.name: op.macs for op in net.ops}
    assert macs["q"] == 16 * 64 * 64
    assert macs["qk"] == 4 * 16 * 16 * 16  # heads x L x L x d_head
    assert macs["av"] == 4 * 16 * 16 * 16
    assert net.counts.weights == 2 * 64 + 2 * (64 * 64 + 64)
    assert net.depth == 3  # q -> qk -> av on the longest path
    sm = next(op for op in net.ops if op.kind is LayerOp.SOFTMAX)
    assert sm.other_ops == 5 * 4 * 16 * 16


def test_views_move_nothing_but_copies_do():
    view = Op.build("v", "move", ["x"], [(1, 8, 4, 4)], (1, 128), fn="view")
    copy = Op.build("p", "move", ["x"], [(1, 8, 4, 4)], (1, 4, 4, 8), fn="permute")
    assert (view.geometry().i_words, view.geometry().o_words) == (0, 0)
    assert (copy.geometry().i_words, copy.geometry().o_words) == (128, 128)
    assert view.macs == copy.macs == 0


@pytest.mark.parametrize("build, message", [
    (lambda: Op.build("c", "conv2d", ["x"], [(1, 3, 8, 8)], (1, 4, 7, 7), kernel=3, padding=1), "expected [1, 4, 8, 8]"),
    (lambda: Op.build("c", "conv2d", ["x"], [(1, 6, 8, 8)], (1, 4, 8, 8), groups=4), "groups=4 must divide"),
    (lambda: Op.build("m", "matmul", ["a", "b"], [(1, 4, 8), (1, 7, 2)], (1, 4, 2)), "do not multiply"),
    (lambda: Op.build("e", "eltwise", ["x"], [(1, 3)], (1, 3), fn="frobnicate"), "fn must be one of"),
    (lambda: Op.build("e", "warp", ["x"], [(1, 3)], (1, 3)), "unknown operator kind 'warp'"),
    (lambda: Op.build("e", "softmax", ["x"], [(1, 3)], (1, 3), dim=1), "unknown attribute(s) ['dim']"),
    (lambda: Op.build("c", "conv2d", ["x"], [(1, 3, 8, 8)], (1, 3, 8, 8), bias=1), "must be of type bool"),
    (lambda: Op.build("v", "move", ["x"], [(1, 3, 2)], (1, 5), fn="view"), "keeps the element count"),
])
def test_bad_operators_say_what_is_wrong(build, message):
    with pytest.raises(ValueError) as info:
        build()
    assert message in str(info.value)


def test_graph_rejects_undefined_inputs_and_shape_mismatches():
    a = Op.build("a", "eltwise", ["x"], [(1, 4)], (1, 4), fn="relu")
    with pytest.raises(ValueError, match="input 'y' has shape undefined"):
        GraphNetwork.build([Op.build("b", "eltwise", ["y"], [(1, 4)], (1, 4), fn="relu")], {"x": (1, 4)})
    with pytest.raises(ValueError, match="the name is already used"):
        GraphNetwork.build([a, a], {"x": (1, 4)})
    with pytest.raises(ValueError, match=r"input 'x' has shape \[1, 5\]"):
        GraphNetwork.build([a], {"x": (1, 5)})


def test_json_round_trip_and_located_errors():
    net = _attention_block()
    text = dumps_networks({3: net})
    back = parse_networks(text)[3]
    assert back == net
    data = json.loads(text)
    data["3"]["ops"][5]["shape"] = [1, 4, 16, 17]
    with pytest.raises(InputError) as info:
        parse_networks(json.dumps(data), file="nets_x.json")
    assert "nets_x.json: network 3: operator 5: qk" in str(info.value)


@pytest.mark.parametrize("name", ["resnet18", "resnet50", "mobilenet_v2", "mobilenet_v3_large", "efficientnet_b0"])
def test_blocks_expand_into_operators_with_the_same_counts(name):
    net = reference_networks()[name]
    graph = expand_network(net)
    assert graph.counts.macs == net.counts.macs
    assert graph.counts.weights == net.counts.weights
    assert graph.depth == net.counts.depth
    assert parse_networks(dumps_networks({0: graph}))[0] == graph


@settings(max_examples=60, deadline=None)
@given(c=st.integers(1, 64), k=st.integers(1, 64), size=st.integers(1, 40), kernel=st.integers(1, 7),
       stride=st.integers(1, 3), dilation=st.integers(1, 3), groups=st.sampled_from([1, 2, 4]))
def test_conv_macs_follow_the_loop_nest(c, k, size, kernel, stride, dilation, groups):
    c, k = c * groups, k * groups
    pad = kernel // 2 * dilation
    out = conv_out(size, kernel, stride, pad, dilation)
    if out < 1:
        return
    op = Op.build("c", "conv2d", ["x"], [(2, c, size, size)], (2, k, out, out), kernel=kernel, stride=stride,
                  padding=pad, dilation=dilation, groups=groups)
    assert op.macs == 2 * k * out * out * (c // groups) * kernel * kernel
    assert op.weights == k * (c // groups) * kernel * kernel
    g = op.geometry()
    assert g.groups * g.red * g.kout * g.pos == op.macs


def test_predictor_commands_read_graph_networks_with_their_keys(tmp_path):
    """Issue 12: the predictor and its search read operator graphs (no more block-only guard)."""
    from hwpower.cli.predict_inputs import load_networks
    from hwpower.networks import GraphNetwork, write_networks
    from hwpower.search.inputs import pick_networks

    path = tmp_path / "nets_g.json"
    write_networks(path, {7: _attention_block()})
    loaded = load_networks([path])
    assert list(loaded) == ["nets_g/7"] and isinstance(loaded["nets_g/7"], GraphNetwork)
    assert pick_networks(path, [7]) == [loaded["nets_g/7"]]
