"""GraphBuilder: inferred shapes, counts by formula, names, and clear errors."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwpower.networks import GraphNetwork
from hwpower.networks.builder import GraphBuilder
from hwpower.networks.ops import conv_out


def test_docstring_example_counts_by_hand():
    b = GraphBuilder()
    x = b.input((1, 3, 224, 224))
    x = b.conv(x, 32, 3, stride=2)
    y = b.conv(x, 32, 3, groups=32)
    x = b.act(b.add(x, b.conv(y, 32, 1, act="none")), "relu")
    out = b.linear(b.flatten(b.global_pool(x)), 1000)
    net = b.build("tiny")
    assert isinstance(net, GraphNetwork) and net.name == "tiny" and out == "linear0"
    assert [op.name for op in net.ops] == ["conv0", "conv1", "conv2", "add0", "relu0", "pool0", "view0", "linear0"]
    assert b.shape("conv0") == (1, 32, 112, 112)
    plane = 112 * 112
    assert net.counts.macs == plane * 32 * 27 + plane * 32 * 9 + plane * 32 * 32 + 32 * 1000
    # conv weights + 2 folded batch-norm parameters per channel; linear with bias
    assert net.counts.weights == (32 * 27 + 64) + (32 * 9 + 64) + (32 * 32 + 64) + 32 * 1000 + 1000
    assert net.depth == 4  # three convolutions on the longest path and the classifier


def test_scopes_nest_and_explicit_names():
    b = GraphBuilder()
    x = b.input((1, 8, 4, 4))
    with b.scope("s0"), b.scope("b1"):
        assert b.conv(x, 8) == "s0.b1.conv0"
        assert b.conv(x, 8) == "s0.b1.conv1"
    assert b.conv(x, 8, name="mine") == "mine"
    with pytest.raises(ValueError, match="'mine' is already used"):
        b.conv(x, 8, name="mine")
    assert b.conv(x, 8, name="conv0") == "conv0"
    assert b.conv(x, 8) == "conv1"  # automatic names skip the ones given


@settings(max_examples=60, deadline=None)
@given(c_per_group=st.integers(1, 8), groups=st.integers(1, 4), out_per_group=st.integers(1, 8),
       size=st.integers(1, 20), kernel=st.integers(1, 5), stride=st.integers(1, 3), dilation=st.integers(1, 2),
       bias=st.booleans(), norm=st.booleans())
def test_conv_counts_follow_the_formula(c_per_group, groups, out_per_group, size, kernel, stride, dilation, bias, norm):
    c_in, c_out = c_per_group * groups, out_per_group * groups
    if size + 2 * (dilation * (kernel - 1) // 2) < dilation * (kernel - 1) + 1:
        return  # the kernel does not fit
    b = GraphBuilder()
    y = b.conv(b.input((2, c_in, size, size)), c_out, kernel, stride=stride, groups=groups, dilation=dilation,
               bias=bias, norm=norm)
    op = b.build().ops[0]
    out = conv_out(size, kernel, stride, dilation * (kernel - 1) // 2, dilation)
    assert b.shape(y) == (2, c_out, out, out)
    assert op.macs == 2 * out * out * c_out * c_per_group * kernel * kernel
    assert op.weights == c_out * c_per_group * kernel * kernel + c_out * (int(bias) + 2 * int(norm))


@settings(max_examples=40, deadline=None)
@given(channels=st.lists(st.integers(1, 64), min_size=1, max_size=6), params=st.integers(0, 3))
def test_concat_adds_up_the_channels(channels, params):
    b = GraphBuilder()
    xs = [b.input((1, c, 5, 7), name=f"x{i}") for i, c in enumerate(channels)]
    y = b.concat(xs, params=params * 35)  # a parameter tensor of ``params`` channels joins too
    assert b.shape(y) == (1, sum(channels) + params, 5, 7)
    assert b.build().counts.weights == params * 35


@settings(max_examples=40, deadline=None)
@given(sizes=st.lists(st.integers(1, 16), min_size=1, max_size=5), dim=st.sampled_from([1, -1]))
def test_split_gives_the_sizes_and_moves_everything_once(sizes, dim):
    b = GraphBuilder()
    shape = (1, sum(sizes), 3) if dim == 1 else (1, 3, sum(sizes))
    parts = b.split(b.input(shape), sizes, dim=dim)
    assert [b.shape(p)[dim] for p in parts] == sizes
    assert sum(op.out_act for op in b.build().ops) == 3 * sum(sizes)


@settings(max_examples=40, deadline=None)
@given(m=st.integers(1, 9), k=st.integers(1, 9), n=st.integers(1, 9), heads=st.integers(1, 4),
       broadcast=st.booleans())
def test_matmul_macs_and_batch_broadcast(m, k, n, heads, broadcast):
    b = GraphBuilder()
    a = b.input((2, heads, m, k), name="a")
    w = b.input((1, 1, k, n) if broadcast else (2, heads, k, n), name="w")
    y = b.matmul(a, w)
    assert b.shape(y) == (2, heads, m, n)
    assert b.build().counts.macs == 2 * heads * m * k * n


@pytest.mark.parametrize("size, kernel, stride, padding, ceil_mode", [
    (7, 3, 2, 1, False), (7, 3, 2, 0, True), (8, 2, 2, 0, True), (10, 3, 3, 1, True), (112, 3, 2, 1, False)])
def test_pool_sizes_match_pytorch(size, kernel, stride, padding, ceil_mode):
    torch = pytest.importorskip("torch")
    b = GraphBuilder()
    y = b.pool(b.input((1, 2, size, size)), kernel, stride=stride, padding=padding, ceil_mode=ceil_mode)
    want = torch.nn.functional.max_pool2d(torch.zeros(1, 2, size, size), kernel, stride, padding, ceil_mode=ceil_mode)
    assert b.shape(y) == tuple(want.shape)


def test_tokens_embedding_norm_permute_view():
    b = GraphBuilder()
    ids = b.input((1, 16), name="ids")
    x = b.embedding(ids, 1000, 64)
    assert b.shape(x) == (1, 16, 64)
    x = b.norm(x)  # layer norm: scale and shift per feature
    heads = b.permute(b.view(x, (1, 16, 4, -1)), (0, 2, 1, 3))
    assert b.shape(heads) == (1, 4, 16, 16)
    r = b.norm(b.input((1, 8, 4, 4), name="img"), "rms")
    g = b.norm(r, "batch", act="relu")
    net = b.build()
    assert net.counts.weights == 1000 * 64 + 2 * 64 + 4 + 2 * 8  # table, layer norm, rms norm (on W=4), batch norm
    assert b.shape(b.upsample(g, 2)) == (1, 8, 8, 8)
    assert b.shape(b.shuffle(g, 2)) == (1, 8, 4, 4)


def test_act_none_adds_nothing_and_softmax_keeps_the_shape():
    b = GraphBuilder()
    x = b.input((1, 2, 5, 5))
    assert b.act(x, "none") == x and not b.ops
    assert b.shape(b.softmax(x)) == (1, 2, 5, 5)


@pytest.mark.parametrize("build, message", [
    (lambda b, x: b.conv("nope", 4), "no tensor named 'nope'"),
    (lambda b, x: b.concat([x, b.input((1, 4, 3, 3), name="y")]), "differ outside dimension 1"),
    (lambda b, x: b.view(x, (1, 5, -1)), "cannot be viewed"),
    (lambda b, x: b.split(x, (3, 3)), "do not add up"),
    (lambda b, x: b.permute(x, (0, 1, 1, 2)), "is not an order"),
    (lambda b, x: b.norm(x, "weird"), "fn must be one of"),
    (lambda b, x: b.matmul(x, b.input((1, 8, 3, 4), name="y")), "do not multiply"),
    (lambda b, x: b.conv(x, 6, 3, groups=4), "conv0.*groups=4 must divide"),
    (lambda b, x: b.eltwise("frobnicate", x), "frobnicate0.*fn must be one of"),
    (lambda b, x: b.shuffle(x, 3), "3 groups do not divide 8 channels"),
])
def test_errors_name_the_problem(build, message):
    b = GraphBuilder()
    x = b.input((1, 8, 4, 4))
    with pytest.raises(ValueError, match=message):
        build(b, x)


def test_general_op_adds_any_kind():
    b = GraphBuilder()
    x = b.input((1, 4, 6, 6))
    y = b.op("move", [x], (1, 4, 8, 8), fn="pad", base="pad")
    assert y == "pad0" and b.build().ops[0].attr("fn") == "pad"
