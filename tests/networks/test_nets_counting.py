"""Counting: hand-computed MACs, weights and other ops per block type, and counting invariants."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hwpower.networks import Counts, Layer, LayerOp, LayerTable, Network
from hwpower.networks.blocks import AddBlock, ConvBlock, LinearBlock, MBConvBlock, PoolBlock, ResidualBlock
from hwpower.networks.network import block_counts


def counts(block) -> Counts:
    return Counts.of(block.layers())


def test_dense_conv_stem():
    # 3 -> 16, 3x3, stride 2, 224 px: 112 x 112 outputs, 16 filters of 3 x 3 x 3.
    c = counts(ConvBlock(3, 16, 3, 224, stride=2, activation="hswish"))
    assert c.macs == 112 * 112 * 16 * 27 == 5_419_008
    assert c.weights == 16 * 27 + 2 * 16  # kernel + batch-norm scale and shift
    assert c.flops == 2 * c.macs
    assert (c.in_act, c.out_act, c.depth, c.n_layers) == (3 * 224 * 224, 16 * 112 * 112, 1, 1)


def test_depthwise_conv_is_groups_fewer_macs():
    dw = counts(ConvBlock(32, 32, 3, 56, groups=32))
    assert dw.macs == 56 * 56 * 32 * 9 == 903_168
    assert dw.weights == 32 * 9 + 64
    dense = counts(ConvBlock(32, 32, 3, 56))
    assert dense.macs == 32 * dw.macs


def test_conv_bias_without_norm_and_explicit_padding():
    c = counts(ConvBlock(64, 192, 5, 27, padding=2, bias=True, norm=False))
    assert c.macs == 27 * 27 * 192 * 64 * 25
    assert c.weights == 192 * 64 * 25 + 192


def test_mbconv_without_se():
    # mid = 16 x 4 = 64; out size (80 + 4 - 5) // 2 + 1 = 40; no residual (stride 2).
    block = MBConvBlock(16, 24, 4.0, 5, 2, 80)
    c = counts(block)
    assert [layer.name for layer in block.layers()] == ["expand", "dw", "project"]
    assert c.macs == 80 * 80 * 64 * 16 + 40 * 40 * 64 * 25 + 40 * 40 * 24 * 64 == 11_571_200
    assert c.weights == (64 * 16 + 128) + (64 * 25 + 128) + (24 * 64 + 48) == 4_464
    assert c.other_ops == 0
    assert block.out_shape == (24, 40)


def test_mbconv_with_se_adds_squeeze_layers():
    block = MBConvBlock(16, 24, 4.0, 5, 2, 80, se=True)
    c = counts(block)
    assert block.squeeze == 16  # make_divisible(64 // 4, 8)
    assert c.macs == 11_571_200 + 64 * 16 + 16 * 64
    assert c.weights == 4_464 + (64 * 16 + 16) + (16 * 64 + 64)  # SE convolutions have bias, no norm
    assert c.other_ops == 40 * 40 * 64 + 40 * 40 * 64  # global pool adds, then the scale multiply
    assert c.depth == 5


def test_mbconv_residual_and_no_expand():
    res = counts(MBConvBlock(24, 24, 3.0, 3, 1, 56))
    assert res.other_ops == 56 * 56 * 24  # the residual add
    no_expand = MBConvBlock(16, 16, 1.0, 3, 1, 112)
    assert [layer.name for layer in no_expand.layers()] == ["dw", "project", "add"]
    assert counts(no_expand).macs == 112 * 112 * 16 * 9 + 112 * 112 * 16 * 16


def test_resblock_basic_with_projection_shortcut():
    c = counts(ResidualBlock(64, 128, 128, 56, stride=2))
    assert c.macs == 28 * 28 * 128 * 64 * 9 + 28 * 28 * 128 * 128 * 9 + 28 * 28 * 128 * 64 == 179_830_784
    assert c.weights == (128 * 64 * 9 + 256) + (128 * 128 * 9 + 256) + (128 * 64 + 256) == 230_144
    assert c.depth == 2  # the shortcut projection is not on the main path
    assert c.other_ops == 28 * 28 * 128


def test_resblock_bottleneck():
    # torchvision ResNet-50 layer1[0]: 75,008 parameters.
    c = counts(ResidualBlock(64, 256, 64, 56, kind="bottleneck"))
    assert c.weights == 75_008
    assert c.macs == 56 * 56 * (64 * 64 + 64 * 64 * 9 + 256 * 64 + 256 * 64) == 231_211_008
    assert c.depth == 3


def test_linear_and_pools():
    fc = counts(LinearBlock(1280, 1000))
    assert (fc.macs, fc.weights, fc.flops) == (1_280_000, 1_281_000, 2_560_000)
    pool = PoolBlock(64, 112, mode="max", kernel=3, stride=2, padding=1)
    assert pool.out_shape == (64, 56)
    assert counts(pool).other_ops == 56 * 56 * 64 * 9 and counts(pool).macs == 0 and counts(pool).weights == 0
    gap = PoolBlock(512, 7, global_pool=True)
    assert gap.out_shape == (512, 1) and counts(gap).other_ops == 512 * 49
    assert counts(AddBlock(8, 4)).other_ops == 8 * 16


def test_network_counts_are_block_sums():
    net = Network.build([ConvBlock(3, 8, 3, 32, stride=2), MBConvBlock(8, 8, 3.0, 3, 1, 16, se=True),
                         PoolBlock(8, 16, global_pool=True), LinearBlock(8, 10)], 32)
    assert net.counts == Counts.of(net.layers)
    assert net.counts == Counts.total(net.block_counts())
    assert block_counts(net.blocks[1]) == counts(net.blocks[1])
    table, direct = net.layer_table(), LayerTable.from_layers(net.layers)
    assert len(table) == net.counts.n_layers == 11
    for name in LayerTable.columns():
        assert getattr(table, name).tolist() == getattr(direct, name).tolist()
    assert table.macs.sum() == net.counts.macs and table.op.tolist()[-1] == LayerOp.LINEAR


layers = st.builds(
    lambda op, c_in, c_out, size, k, s, dw, bias, norm: Layer(
        "x", op, c_in if dw else c_in, c_in if dw else c_out, size, max(1, size // s), k, s,
        groups=c_in if dw else 1, bias=bias, norm=norm),
    st.sampled_from([LayerOp.CONV, LayerOp.LINEAR, LayerOp.POOL, LayerOp.ELTWISE]),
    st.integers(1, 512), st.integers(1, 512), st.integers(1, 64), st.sampled_from([1, 3, 5, 7]),
    st.sampled_from([1, 2]), st.booleans(), st.booleans(), st.booleans(),
)


@given(layers)
def test_flops_are_twice_macs_and_counts_are_nonnegative(layer):
    assert layer.flops == 2 * layer.macs
    assert min(layer.macs, layer.other_ops, layer.weights, layer.in_act, layer.out_act) >= 0
    if layer.op in (LayerOp.POOL, LayerOp.ELTWISE):
        assert layer.macs == 0 and layer.weights == 0


@given(st.integers(1, 64), st.integers(1, 64), st.sampled_from([1, 3, 5]), st.integers(4, 64), st.sampled_from([1, 2]))
def test_conv_macs_are_outputs_times_weights_per_output(c_in, c_out, k, size, stride):
    # Each output element takes one MAC per kernel weight of its filter.
    c = counts(ConvBlock(c_in, c_out, k, size, stride=stride, norm=False))
    out = ConvBlock(c_in, c_out, k, size, stride=stride).out_shape[1]
    assert c.macs == out * out * c.weights
    assert out == -(-size // stride)  # "same" padding: ceil(size / stride)


@pytest.mark.parametrize("ratio", [3.0, 4.0, 6.0])
def test_mbconv_mid_channels_follow_make_divisible(ratio):
    block = MBConvBlock(40, 40, ratio, 3, 1, 14)
    assert block.mid == int(40 * ratio) and block.mid % 8 == 0
