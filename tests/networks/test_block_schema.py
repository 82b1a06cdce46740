"""The block field schema (blockbase.py) word for word, and the expander's public extension point."""

from __future__ import annotations

import json

import pytest

from hwpower.networks import Network, block_from_dict, parse_networks
from hwpower.networks.blocks import AddBlock, ConvBlock, MBConvBlock
from hwpower.networks.expand import INPUT, Expander, expand_network, image_shape
from hwpower.networks.layers import Layer

MB = {"type": "mbconv", "in_channels": 16, "out_channels": 16, "expand_ratio": 4, "kernel": 3, "stride": 1,
      "input_size": 8}


@pytest.mark.parametrize("changes, message", [
    # the offending value as JSON gave it: 0, not 0.0
    ({"expand_ratio": 0}, "field 'expand_ratio' must be positive, got 0"),
    ({"expand_ratio": float("inf")}, "field 'expand_ratio' must be a number, got inf"),
    ({"expand_ratio": float("nan")}, "field 'expand_ratio' must be a number, got nan"),
    ({"expand_ratio": "4"}, "field 'expand_ratio' must be a number, got '4'"),
    ({"se_channels": 0}, "field 'se_channels' must be positive, got 0"),
    ({"se": 1}, "field 'se' must be true or false, got 1"),
    ({"zeta": 1, "alpha": 2}, "unknown field(s) ['alpha', 'zeta'] for block type 'mbconv'"),
    ({"expand_ratio": 0.5}, "expand_ratio must be >= 1, got 0.5"),
])
def test_field_messages(changes, message):
    with pytest.raises(ValueError) as info:
        block_from_dict({**MB, **changes})
    assert str(info.value) == message


def test_nonneg_and_optional_null():
    conv = {"type": "conv", "in_channels": 3, "out_channels": 8, "kernel": 3, "input_size": 8}
    with pytest.raises(ValueError, match=r"^field 'padding' must be >= 0, got -1$"):
        block_from_dict({**conv, "padding": -1})
    # null stands for an optional field's None default: the same block as leaving it out
    assert block_from_dict({**conv, "padding": None}) == block_from_dict(conv) == ConvBlock(3, 8, 3, 8)
    assert block_from_dict({**conv, "padding": 0}).out_shape == (8, 6)


def test_positive_float_is_stored_as_float():
    block = block_from_dict(MB)
    assert isinstance(block, MBConvBlock) and block.expand_ratio == 4.0 and type(block.expand_ratio) is float
    assert block.mid == 64


def test_non_finite_float_in_a_file_names_network_and_block():
    text = json.dumps({"0": {"input_resolution": 8, "blocks": [
        {"type": "conv", "in_channels": 3, "out_channels": 16, "kernel": 3, "input_size": 8},
        {**MB, "expand_ratio": float("inf")}]}})  # json writes Infinity, which Python's reader accepts
    with pytest.raises(ValueError, match=r"network 0: block 1: field 'expand_ratio' must be a number, got inf"):
        parse_networks(text, file="nets_inf.json")


class _StandIn(Expander):
    """Expands a block alone: an add with an earlier block reads a stand-in tensor of its shape."""

    def second_input(self, layer: Layer, block_in: str, branch: str | None, se_input: str | None) -> str | None:
        if layer.joins == "earlier":
            self.shapes["earlier"] = image_shape(layer.out_channels, layer.out_size)
            return "earlier"
        return super().second_input(layer, block_in, branch, se_input)


def test_expander_is_extended_by_overriding_second_input():
    walker = _StandIn(8)
    walker.shapes[INPUT] = image_shape(16, 8)
    walker.block(0, AddBlock(16, 8))
    [add] = walker.ops
    assert (add.inputs, add.in_shapes, add.out_shape) == ((INPUT, "earlier"), ((1, 16, 8, 8),) * 2, (1, 16, 8, 8))
    # The base class finds no earlier tensor of that shape and says so.
    with pytest.raises(ValueError, match=r"b1\.add: no earlier tensor of shape \[1, 8, 8, 8\] to add"):
        expand_network(Network.build([ConvBlock(3, 8, 3, 8), AddBlock(8, 8)], 8))
